"""Dependencies of the routes: settings, context, stores, the caller's API key or session.

A caller is known by the ``X-API-Key`` header (scripts) or, when it gives none, by the
session cookie a browser got at ``/login`` (:mod:`api.routers.session`). A request signed
in by cookie that writes (POST, PUT, PATCH, DELETE) must also send the session's CSRF token
in ``X-CSRF-Token`` (the pages read it from the ``gz_csrf`` cookie): a form or script of
another origin cannot, so it is refused with 403 before its body is read. Requests with
``X-API-Key`` never look at cookies.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import Scope

from api.auth_store import KeyStore, Role, role_allows
from api.errors import AuthenticationError, PermissionDeniedError
from api.jobs import Jobs
from api.scopes import cluster_covered
from api.settings import ApiSettings
from geozone.clusters.registry import ClusterRegistry
from geozone.context import Context
from geozone.store import IncidentStore
from geozone.store.planner import PlannerStore

_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key (see `geozone users add`)."
)


@dataclass(frozen=True)
class Caller:
    """The authenticated holder of an API key.

    ``scopes`` limit what the key reads (:mod:`api.scopes`); empty: the whole country.
    ``session``: known by a browser session's cookie (``/login``), not by the header.
    """

    name: str
    role: str
    scopes: tuple[str, ...] = ()
    session: bool = False


#: The browser session's cookie (HttpOnly) and the readable cookie with its CSRF token.
SESSION_COOKIE = "gz_session"
CSRF_COOKIE = "gz_csrf"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The two lookups below are coroutines so that FastAPI calls them in the event loop instead
# of a worker thread (a thread hop costs more than the lookup).


async def get_settings(request: Request) -> ApiSettings:
    """Return the app's settings."""
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_context(request: Request) -> Context:
    """Return the context loaded at startup."""
    context: Context = request.app.state.context
    return context


def get_store(request: Request) -> IncidentStore:
    """Return the app's incident store."""
    store: IncidentStore = request.app.state.store
    return store


def get_key_store(request: Request) -> KeyStore:
    """Return the app's API keys and audit log."""
    store: KeyStore = request.app.state.key_store
    return store


def get_planner_store(request: Request) -> PlannerStore:
    """Return the app's patrol zones and planners' clusters."""
    store: PlannerStore = request.app.state.planner_store
    return store


def get_registry(request: Request) -> ClusterRegistry:
    """Return the app's clusters (committed and defined through the API)."""
    registry: ClusterRegistry = request.app.state.clusters
    return registry


def get_jobs(request: Request) -> Jobs:
    """Return the app's job registry."""
    jobs: Jobs = request.app.state.jobs
    return jobs


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ContextDep = Annotated[Context, Depends(get_context)]
StoreDep = Annotated[IncidentStore, Depends(get_store)]
KeyStoreDep = Annotated[KeyStore, Depends(get_key_store)]
PlannerStoreDep = Annotated[PlannerStore, Depends(get_planner_store)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
RegistryDep = Annotated[ClusterRegistry, Depends(get_registry)]


def caller_of_key(key_store: KeyStore, key: str) -> Caller:
    """Return the holder of an API key.

    Raises
    ------
    AuthenticationError
        The key is unknown or revoked.
    """
    record = key_store.find_key(key)
    if record is None or record["revoked_at"] is not None:
        raise AuthenticationError("the API key is unknown or revoked")
    return Caller(record["name"], record["role"], tuple(record.get("scopes", ())))


def caller_of_session(
    key_store: KeyStore, token: str, method: str, headers: Headers
) -> Caller | None:
    """Return the holder of a live browser session, or None (unknown, expired, key revoked).

    Raises
    ------
    PermissionDeniedError
        (403) A write without the session's CSRF token in ``X-CSRF-Token``.
    """
    record = key_store.find_session(token)
    if record is None:
        return None
    if method.upper() not in _SAFE_METHODS:
        sent = headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(
            sent.encode("utf-8"), str(record["csrf_token"]).encode("utf-8")
        ):
            raise PermissionDeniedError(
                "yêu cầu ghi bằng phiên đăng nhập thiếu mã chống giả mạo (CSRF) / a write "
                f"signed in by cookie needs the session's CSRF token in the {CSRF_HEADER} "
                "header (the geozone pages send it; a form of another site cannot)"
            )
    return Caller(record["name"], record["role"], tuple(record["scopes"]), session=True)


#: Methods a key sent by HTTP Basic authentication may be used for: reads only, since a
#: browser that kept Basic credentials would send them with a forged cross-site write.
BASIC_METHODS = frozenset({"GET", "HEAD"})


def caller_of_basic(key_store: KeyStore, credentials: str, method: str) -> Caller:
    """Return the holder of a key sent as HTTP Basic credentials (user: the key's name).

    For GIS clients that cannot add a header of their own (QGIS 3.22's authentication
    manager has *Basic* but no *API Header* method): the user name is the key's name and the
    password the key. Reads only (:data:`BASIC_METHODS`).

    Raises
    ------
    AuthenticationError
        The credentials are not ``name:key`` in base64, the key is unknown or revoked, or the
        name is not the key's.
    PermissionDeniedError
        A write (send the key in ``X-API-Key``).
    """
    try:
        name, sep, key = (
            base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
        )
    except (ValueError, UnicodeDecodeError):
        sep, name, key = "", "", ""
    if not sep or not key:
        raise AuthenticationError(
            "the Authorization header is not HTTP Basic credentials: give the key's name as "
            "the user and the key as the password"
        )
    caller = caller_of_key(key_store, key)
    if not hmac.compare_digest(name.encode(), caller.name.encode()):
        raise AuthenticationError("the user name of the Basic credentials is not the key's name")
    if method not in BASIC_METHODS:
        raise PermissionDeniedError(
            "a key sent by HTTP Basic authentication is for reads; send it in the X-API-Key "
            "header to write"
        )
    return caller


def caller_of_scope(scope: Scope) -> Caller | None:
    """Return the caller of a request: ``X-API-Key``, HTTP Basic, the session cookie, or None.

    Raises
    ------
    AuthenticationError
        The key is unknown or revoked.
    PermissionDeniedError
        A write signed in by cookie without its CSRF token.
    """
    headers = Headers(scope=scope)
    key_store: KeyStore = scope["app"].state.key_store
    key = headers.get("x-api-key")
    if key:
        return caller_of_key(key_store, key)
    authorization = headers.get("authorization", "")
    if authorization[:6].lower() == "basic ":
        return caller_of_basic(key_store, authorization[6:], str(scope.get("method", "GET")))
    token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
    if token:
        return caller_of_session(key_store, token, str(scope.get("method", "GET")), headers)
    return None


def caller_of(
    request: Request,
    key_store: KeyStoreDep,
    key: Annotated[str | None, Security(_key_header)] = None,
) -> Caller | None:
    """Return the holder of the request's API key or session, or None when it gives neither.

    The request guard (:class:`api.app.RequestGuard`) has looked the caller up already for a
    write that needs one; its answer is reused.

    Raises
    ------
    AuthenticationError
        The key is unknown or revoked.
    PermissionDeniedError
        A write signed in by cookie without its CSRF token (see the module notes).
    """
    known: Caller | None = request.scope.get("state", {}).get("caller")
    if known is not None:
        caller: Caller | None = known
    elif key:
        caller = caller_of_key(key_store, key)
    else:
        caller = caller_of_scope(request.scope)
    if caller is not None:
        request.state.caller = caller
    return caller


OptionalCaller = Annotated[Caller | None, Depends(caller_of)]


def check_role(caller: Caller | None, role: Role, *, scoped: bool = False) -> Caller:
    """Return the caller if its role is ``role`` or above.

    A key with scopes passes only where ``scoped`` says the route honours them: everywhere
    else it is refused, so that it never reads more than its scope (:mod:`api.scopes`).

    Raises
    ------
    AuthenticationError
        No key was given (401).
    PermissionDeniedError
        The key's role is lower, or the key has scopes that this route does not honour
        (403).
    """
    if caller is None:
        raise AuthenticationError(
            "this request needs an API key in the X-API-Key header (or a browser signed in "
            "at /login)"
        )
    if not role_allows(caller.role, role):
        raise PermissionDeniedError(
            f"this request needs the {role} role; the key has {caller.role}"
        )
    if caller.scopes and not scoped:
        raise PermissionDeniedError(
            f"the key is limited to {', '.join(caller.scopes)} and this route does not "
            "honour scopes: it is refused rather than answered beyond them"
        )
    return caller


def require(role: Role, *, scoped: bool = False) -> Callable[..., Caller]:
    """Return a dependency that admits API keys of ``role`` or above.

    No key, an unknown key or a revoked key gives 401; a lower role gives 403, and so does
    a key with scopes unless ``scoped`` (the route filters what it answers by the scopes).
    The caller is recorded on the request for the audit log.
    """

    def dependency(caller: OptionalCaller) -> Caller:
        return check_role(caller, role, scoped=scoped)

    dependency.geozone_role = role  # type: ignore[attr-defined]  # read by required_role
    dependency.geozone_scoped = scoped  # type: ignore[attr-defined]  # read by honours_scopes
    return dependency


def honours_scopes(route: object) -> bool:
    """Tell whether a route's key dependency admits scoped keys (it filters by their scopes)."""
    dependant = getattr(route, "dependant", None)
    pending = list(getattr(dependant, "dependencies", ()))
    while pending:
        current = pending.pop()
        if getattr(current.call, "geozone_role", None) is not None:
            return bool(getattr(current.call, "geozone_scoped", False))
        pending.extend(current.dependencies)
    return False


def required_role(route: object) -> Role | None:
    """Return the role a route's dependencies require (:func:`require`), or None if public.

    Routes that decide the role from their parameters (the OGC items of some collections)
    check it themselves and are public here.
    """
    dependant = getattr(route, "dependant", None)
    pending = list(getattr(dependant, "dependencies", ()))
    while pending:
        current = pending.pop()
        role: Role | None = getattr(current.call, "geozone_role", None)
        if role is not None:
            return role
        pending.extend(current.dependencies)
    return None


def check_cluster(
    context: Context, caller: Caller, cluster_id: str, store: IncidentStore | None = None
) -> None:
    """Refuse (403) a scoped key a cluster whose rows its scopes do not all cover.

    A cluster's figures (its report, hotspots, border effect, map, patrol zones) are
    computed on every row of the cluster; a key reads them when its scopes cover the
    cluster (:func:`api.scopes.cluster_covered`): a ``cluster:`` scope naming it, its
    original or a carried form, or units holding every member. A key without scopes reads
    every cluster.

    Raises
    ------
    PermissionDeniedError
        The cluster is not one of the key's own (403; whether it exists is not told).
    """
    if caller.scopes and not cluster_covered(context, caller.scopes, cluster_id, store):
        raise PermissionDeniedError(
            f"the key is limited to {', '.join(caller.scopes)}; this route answers a "
            f"scoped key for its own clusters only, and {cluster_id!r} is not one"
        )


def cluster_key(role: Role) -> Callable[..., Caller]:
    """Return a dependency admitting keys of ``role`` to a route of one cluster.

    The cluster is ``{cluster_id}`` in the path; a scoped key is admitted for its own
    clusters only (:func:`check_cluster`).
    """

    def dependency(request: Request, caller: OptionalCaller) -> Caller:
        caller = check_role(caller, role, scoped=True)
        cluster_id = str(request.path_params.get("cluster_id", ""))
        state = request.app.state
        check_cluster(state.context, caller, cluster_id, state.store)
        return caller

    dependency.geozone_role = role  # type: ignore[attr-defined]  # read by required_role
    dependency.geozone_scoped = True  # type: ignore[attr-defined]  # read by honours_scopes
    return dependency


cluster_analyst = cluster_key("analyst")


AnalystDep = Annotated[Caller, Depends(require("analyst"))]
#: An analyst key; a scoped one only for a cluster its scopes cover.
ClusterAnalystDep = Annotated[Caller, Depends(cluster_analyst)]
#: A planner key; a scoped one only for a cluster its scopes cover.
ClusterPlannerDep = Annotated[Caller, Depends(cluster_key("planner"))]
#: An analyst key, scoped or not: the route answers only what the key's scopes cover.
ScopedAnalystDep = Annotated[Caller, Depends(require("analyst", scoped=True))]
PlannerDep = Annotated[Caller, Depends(require("planner"))]
#: A planner key, scoped or not: the route writes only inside the key's scopes.
ScopedPlannerDep = Annotated[Caller, Depends(require("planner", scoped=True))]
#: An admin key without scopes: a scoped key never manages keys (it could make one wider
#: than itself).
AdminDep = Annotated[Caller, Depends(require("admin"))]


def check_owner(owner: str | None, caller: Caller, what: str) -> None:
    """Let the key that made ``what`` or an admin key without scopes change or read it.

    A scoped admin key is an owner like any other: another key's job or zone may hold rows
    beyond its scopes.

    Raises
    ------
    PermissionDeniedError
        (403) ``caller`` is neither the owner nor an admin.
    """
    admin = caller.role == "admin" and not caller.scopes
    if admin or (owner is not None and owner == caller.name):
        return
    raise PermissionDeniedError(
        f"{what} belongs to another key; only the key that made it and admin keys may use it"
    )


def summarise(request: Request, summary: str) -> None:
    """Record what a write did, for the audit log row of the request."""
    request.state.audit_summary = summary
