"""Sign-in for browsers: ``GET``/``POST /login`` and ``POST /logout``.

A browser user signs in with the name and the API key an admin gave them (``geozone users
add``). The service then keeps a session **in the store** (:meth:`api.auth_store.KeyStore.
open_session`: table ``web_sessions``), so every worker answers the same cookie, and sets
two cookies:

- ``gz_session``: the session's random token (only its SHA-256 is stored); ``HttpOnly`` (no
  script reads it), ``SameSite=Strict`` (no other site's link, form or script makes the
  browser send it), ``Path`` the service's root, ``Max-Age`` the session's life
  (``GEOZONE_SESSION_TTL_S``, default 8 hours, also enforced by the server);
- ``gz_csrf``: the session's CSRF token, readable by the service's own pages, which send it
  back in ``X-CSRF-Token`` on every write (a synchronizer token: the server compares it with
  the one stored with the session). A write by cookie without it is refused with 403.

Both carry ``Secure`` when the request came over https (``GEOZONE_SESSION_COOKIE_SECURE``:
``auto``, the default; ``always``; ``never``). On plain http, as on the loopback address a
single machine serves itself on, ``auto`` leaves ``Secure`` off so that the browser keeps the
cookie at all; the key then travels in clear only over loopback. Serve other hosts over
https (a proxy with ``X-Forwarded-Proto``: see the README).

The sign-in form is itself protected against forged sign-ins: ``GET /login`` sets a short
``gz_login`` cookie whose value the form must send back. The key stays usable by scripts in
``X-API-Key``, which never looks at cookies; the pages' key box stays as a fallback.

Signing out (``POST /logout``, with the CSRF token in the form or the header) deletes the
session from the store and clears both cookies.
"""

from __future__ import annotations

import hmac
import html
import secrets
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.auth_store import KeyStore
from api.deps import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE, Caller
from api.problems import problems
from api.settings import ApiSettings

router = APIRouter(tags=["session"])

#: The sign-in form's own anti-forgery cookie.
LOGIN_COOKIE = "gz_login"
#: The sign-in page's headers: this origin only, no script at all.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Đăng nhập / Sign in – geozone</title>
<link rel="stylesheet" href="{root}/maps/static/geozone.css">
</head>
<body class="gz-key-page gz-login-page">
<main>
<h1>Đăng nhập / Sign in</h1>
{body}
<p><a href="{root}/">Trang chủ / Index</a></p>
</main>
</body>
</html>
"""

_FORM = """<p>Nhập tên người dùng và khoá API do quản trị viên cấp. Phiên đăng nhập giữ trong
{hours} giờ trên trình duyệt này. / Enter the user name and the API key your administrator
gave you. You stay signed in for {hours} hours in this browser.</p>
{message}
<form class="gz-key-box gz-login-form" method="post" action="{root}/login" autocomplete="off">
<input type="hidden" name="csrf" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<label for="gz-login-name">Tên người dùng / User name</label>
<input id="gz-login-name" name="name" type="text" required maxlength="64" value="{name}"
 autocomplete="username">
<label for="gz-login-key">Khoá API / API key</label>
<input id="gz-login-key" name="key" type="password" required maxlength="200"
 autocomplete="current-password">
<button type="submit">Đăng nhập / Sign in</button>
</form>
"""

_SIGNED_IN = """<p class="gz-done">Đã đăng nhập: <b>{name}</b> ({role}). / Signed in as
<b>{name}</b> ({role}).</p>
<p><a href="{root}{next}">Tiếp tục / Continue</a></p>
<form method="post" action="{root}/logout">
<input type="hidden" name="csrf" value="{csrf}">
<button type="submit">Đăng xuất / Sign out</button>
</form>
"""


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def safe_next(value: str | None) -> str:
    r"""Return ``value`` if it is a path of this service (``/…``), else ``/``.

    Refuses other hosts (``//host``, ``/\host``, a scheme) and control characters, so that
    the sign-in page cannot send anyone elsewhere (no open redirect).
    """
    if (
        not value
        or not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or any(ord(c) < 32 or c == "\\" for c in value)
    ):
        return "/"
    return value


def _secure(request: Request, settings: ApiSettings) -> bool:
    if settings.session_cookie_secure == "auto":
        return request.url.scheme == "https"
    return settings.session_cookie_secure == "always"


def _set_cookie(
    response: Response,
    request: Request,
    settings: ApiSettings,
    name: str,
    value: str,
    max_age: int,
    *,
    http_only: bool = True,
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=_root(request) or "/",
        secure=_secure(request, settings),
        httponly=http_only,
        samesite="strict",
    )


def _clear_cookies(response: Response, request: Request, settings: ApiSettings) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(
            name,
            path=_root(request) or "/",
            secure=_secure(request, settings),
            httponly=name == SESSION_COOKIE,
            samesite="strict",
        )


def _page(request: Request, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        _PAGE.format(root=html.escape(_root(request)), body=body),
        status_code=status,
        headers=PAGE_HEADERS,
    )


def _form(
    request: Request,
    settings: ApiSettings,
    next_path: str,
    *,
    name: str = "",
    message: str = "",
    status: int = 200,
) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    body = _FORM.format(
        hours=settings.session_ttl_s // 3600 or 1,
        message=f'<p class="gz-error" role="alert">{html.escape(message)}</p>' if message else "",
        root=html.escape(_root(request)),
        csrf=token,
        next=html.escape(next_path),
        name=html.escape(name),
    )
    response = _page(request, body, status)
    _set_cookie(response, request, settings, LOGIN_COOKIE, token, 1800)
    return response


async def _session_of(request: Request) -> dict[str, Any] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    key_store: KeyStore = request.app.state.key_store
    found: dict[str, Any] | None = await run_in_threadpool(key_store.find_session, token)
    return found


@router.get(
    "/login",
    response_class=HTMLResponse,
    summary="The sign-in page for browsers (HTML)",
)
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    """Show the sign-in form (user name and API key), or who is signed in and a sign-out."""
    settings: ApiSettings = request.app.state.settings
    target = safe_next(next)
    session = await _session_of(request)
    if session is not None:
        body = _SIGNED_IN.format(
            name=html.escape(session["name"]),
            role=html.escape(session["role"]),
            root=html.escape(_root(request)),
            next=html.escape(target),
            csrf=html.escape(session["csrf_token"]),
        )
        return _page(request, body)
    return _form(request, settings, target)


async def _form_fields(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return {name: values[0] for name, values in parse_qs(body, max_num_fields=10).items()}


@router.post(
    "/login",
    response_class=HTMLResponse,
    status_code=303,
    responses={
        303: {"description": "Signed in: on to the page asked for (``next``) (no body)"},
        401: {
            "description": "Unknown user name or key: the form again, with the reason",
            "content": {"text/html": {}},
        },
        403: {
            "description": "The form did not come from this service's sign-in page",
            "content": {"text/html": {}},
        },
    },
    summary="Sign in (an HTML form: name, key)",
)
async def login(request: Request) -> Response:
    """Check the user name and key, open a session in the store, set the cookies."""
    settings: ApiSettings = request.app.state.settings
    fields = await _form_fields(request)
    target = safe_next(fields.get("next"))
    name = fields.get("name", "").strip()[:64]
    expected = request.cookies.get(LOGIN_COOKIE, "")
    sent = fields.get("csrf", "")
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        return _form(
            request,
            settings,
            target,
            name=name,
            message="Biểu mẫu đăng nhập đã hết hạn hoặc không đến từ trang này; hãy thử lại. / "
            "The sign-in form expired or did not come from this page; try again.",
            status=403,
        )
    key_store: KeyStore = request.app.state.key_store
    ttl = timedelta(seconds=settings.session_ttl_s)
    session = await run_in_threadpool(
        key_store.open_session, name, fields.get("key", "").strip(), ttl
    )
    if session is None:
        return _form(
            request,
            settings,
            target,
            name=name,
            message="Tên người dùng hoặc khoá không đúng, hoặc khoá đã bị thu hồi. / "
            "Unknown user name or key, or the key was revoked.",
            status=401,
        )
    record = await run_in_threadpool(key_store.find_session, session.token)
    if record is not None:  # the audit row names who signed in
        request.state.caller = Caller(record["name"], record["role"], tuple(record["scopes"]))
    request.state.audit_summary = f"signed in until {session.expires_at.isoformat()}"
    response = RedirectResponse(_root(request) + target, status_code=303)
    response.headers["Cache-Control"] = "no-store"
    _set_cookie(response, request, settings, SESSION_COOKIE, session.token, settings.session_ttl_s)
    _set_cookie(
        response,
        request,
        settings,
        CSRF_COOKIE,
        session.csrf_token,
        settings.session_ttl_s,
        http_only=False,
    )
    response.delete_cookie(LOGIN_COOKIE, path=_root(request) or "/")
    return response


@router.post(
    "/logout",
    status_code=303,
    response_class=Response,
    responses={
        303: {"description": "Signed out: on to the sign-in page (no body)"},
        **problems(403),
    },
    summary="Sign out (the session's CSRF token in the form or X-CSRF-Token)",
)
async def logout(request: Request) -> Response:
    """End the session in the store and clear its cookies."""
    settings: ApiSettings = request.app.state.settings
    session = await _session_of(request)
    if session is not None:
        sent = request.headers.get(CSRF_HEADER) or (await _form_fields(request)).get("csrf", "")
        if not sent or not hmac.compare_digest(sent, str(session["csrf_token"])):
            from api.problems import problem

            return problem(
                403,
                "đăng xuất cần mã chống giả mạo (CSRF) của phiên / signing out needs the "
                f"session's CSRF token (form field csrf or the {CSRF_HEADER} header)",
            )
        key_store: KeyStore = request.app.state.key_store
        await run_in_threadpool(key_store.close_session, request.cookies[SESSION_COOKIE])
        request.state.caller = Caller(session["name"], session["role"], tuple(session["scopes"]))
        request.state.audit_summary = "signed out"
    response = RedirectResponse(
        f"{_root(request)}/login?next={quote(safe_next(request.query_params.get('next')))}",
        status_code=303,
    )
    response.headers["Cache-Control"] = "no-store"
    _clear_cookies(response, request, settings)
    return response
