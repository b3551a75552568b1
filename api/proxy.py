"""Serving behind a reverse proxy at a sub-path: the root path of each request.

A proxy that serves geozone at ``https://host/geozone/`` strips ``/geozone`` and forwards the
rest. Every URL the service writes (OGC links, the index page, the map pages' scripts and
API calls, the docs pages) must carry the prefix again. It comes from, first to last:

- the ``X-Forwarded-Prefix`` header, when ``GEOZONE_TRUST_FORWARDED_PREFIX`` is set (only
  behind a proxy that sets or removes it: a client could otherwise choose the prefix of
  the links written to itself);
- uvicorn's ``--root-path`` (``scope["root_path"]``);
- ``GEOZONE_ROOT_PATH``.

:class:`RootPath` puts it in the ASGI scope as uvicorn's ``--root-path`` does (``root_path``
set, ``path`` starting with it), so routing, ``request.url_for`` and ``request.base_url``
all see it; :func:`root_path` reads it for a page.
"""

from __future__ import annotations

import re

from starlette._utils import get_route_path
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

#: A root path: empty, or ``/`` and path segments of unreserved characters, no trailing ``/``.
PREFIX = re.compile(r"^(?:/[A-Za-z0-9._~-]+)*$")


def clean_prefix(text: str) -> str | None:
    """Return ``text`` as a root path (trailing ``/`` dropped), or None when it is not one."""
    text = text.strip().rstrip("/")
    if not PREFIX.fullmatch(text) or any(part in (".", "..") for part in text.split("/")):
        return None
    return text


class RootPath:
    """Give each request its root path (see the module notes).

    Parameters
    ----------
    app
        The application.
    root_path
        ``GEOZONE_ROOT_PATH``: the prefix when neither the header nor uvicorn gives one.
    trust_forwarded_prefix
        Take the prefix from ``X-Forwarded-Prefix`` when a request carries a valid one.
    """

    def __init__(self, app: ASGIApp, *, root_path: str, trust_forwarded_prefix: bool) -> None:
        self.app = app
        self.root_path = clean_prefix(root_path) or ""
        self.trust = trust_forwarded_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Set the scope's root path and path, then call the app."""
        if scope["type"] in ("http", "websocket"):
            prefix: str | None = None
            if self.trust:
                header = Headers(scope=scope).get("x-forwarded-prefix")
                prefix = clean_prefix(header) if header is not None else None
            if prefix is None and not scope.get("root_path"):
                prefix = self.root_path or None
            if prefix is not None:
                route = get_route_path(scope)
                scope = {
                    **scope,
                    "root_path": prefix,
                    "path": prefix + route,
                    "raw_path": prefix.encode("ascii") + _raw_route(scope),
                }
        await self.app(scope, receive, send)


def _raw_route(scope: Scope) -> bytes:
    """Return the raw path without the root path the server put in front of it."""
    raw: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    old = str(scope.get("root_path", "")).encode("ascii", "ignore")
    return raw[len(old) :] if old and raw.startswith(old) else raw


def root_path(request: Request) -> str:
    """Return the path the service is reached at: ``""``, or a proxy's sub-path."""
    scope = request.scope
    return str(scope.get("app_root_path", scope.get("root_path", ""))).rstrip("/")
