"""The FastAPI application: :func:`create_app`.

The context (boundary sets, clusters, territories) is loaded once when the app starts (or
given), and the clusters planners defined through the API are read from the store and added
to it (:class:`geozone.clusters.registry.ClusterRegistry`); the store is opened per app and closed
when it stops. Every error is answered as RFC 9457 problem+json (see :mod:`api.problems`);
every write request (POST, PUT, PATCH, DELETE other than the read-only ``POST /locate``)
leaves a row in the audit log.
"""

from __future__ import annotations

import gc
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.routing import APIRoute
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.auth_store import KeyStore, Role
from api.caching import ContextETags
from api.deps import (
    Caller,
    caller_of_scope,
    check_role,
    honours_scopes,
    required_role,
)
from api.errors import AuthenticationError, PermissionDeniedError
from api.jobs import Jobs
from api.logs import RequestLog
from api.params import single_valued_query
from api.proxy import RootPath
from api.routers import (
    address,
    analytics,
    boundaries,
    clusters,
    incidents,
    keys,
    landing,
    locate,
    maps,
    meta,
    ogc,
    patrol_zones,
    reports,
    session,
)
from api.services import incidents as incident_service
from api.settings import ApiSettings, get_api_settings
from geozone.clusters.registry import ClusterRegistry
from geozone.context import Context, judging_context
from geozone.store import IncidentStore, open_store
from geozone.store.planner import PlannerStore
from geozone.store.sql import write_wait

_log = logging.getLogger("geozone.api")
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POST routes that only read (not audited).
_READ_POSTS = frozenset({"/locate"})

DESCRIPTION = """
Spatial queries over Vietnam's administrative boundaries and the border-zone rules of the
inter-ward police clusters.

**Authentication**: send an API key in the `X-API-Key` header (a GIS client that cannot add
a header, such as QGIS 3.22, may send it for reads as HTTP Basic credentials: the key's name
as the user, the key as the password). Boundary, unit, locate and
address routes are public; incident routes need an *analyst* key, patrol-zone and cluster writes a
*planner* key, key management an *admin* key (viewer < analyst < planner < admin). A key
with scopes (`unit:CODE`, `cluster:ID`, `province:CODE`) reads and writes only within them:
rows outside are unknown (404) or refused (403 naming them), a cluster's figures are
answered for a cluster the scopes hold wholly, and key management needs an unscoped admin.

**Map pages** (`/maps/clusters/{id}`, `/maps/planner/{id}`) are public; a browser user types
the key into the page once (kept in the tab's `sessionStorage`, sent as `X-API-Key` by the
page's own requests, never in a URL or a cookie) to see incidents or save patrol zones.

**Errors** are RFC 9457 `application/problem+json` documents.

**Import jobs** are kept in memory: a restart forgets them (re-posting the same file resumes
its import batch).
"""


def create_app(
    settings: ApiSettings | None = None,
    *,
    context: Context | None = None,
    store_url: str | None = None,
) -> FastAPI:
    """Build the geozone web service.

    Parameters
    ----------
    settings
        Limits, CORS origins, the basemap and the default store URL (default: the
        environment's, :func:`api.settings.get_api_settings`).
    context
        Boundary sets and clusters to judge with; loaded at startup with
        :func:`~geozone.context.load_context` when None.
    store_url
        The store (default ``settings.store_url``); migrated when opened.
    """
    settings = settings or get_api_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        base = context if context is not None else judging_context(settings)
        incident_service.remove_stale_uploads()
        store = open_store(store_url or settings.store_url, settings=settings)
        _warn_quarantined(store)
        app.state.store = store
        app.state.key_store = KeyStore(store.engine)
        app.state.planner_store = PlannerStore(store.engine)
        registry = ClusterRegistry(base, app.state.planner_store)
        app.state.clusters = registry
        app.state.context = registry.context
        # The boundary sets and indexes live as long as the process: move them out of the
        # collector's reach, so that a full collection no longer walks millions of objects
        # in the middle of a request (the p99 latency of /locate).
        gc.collect()
        gc.freeze()
        if settings.warm_maps_at_start:
            from api.routers.maps import MAX_MAP_INCIDENTS
            from api.services.maps import warm_every_map

            # then kept built after new data (api.services.maps.watch_store) until the end
            app.state.map_watch = warm_every_map(
                app.state, store, registry.context, MAX_MAP_INCIDENTS
            )
        try:
            yield
        finally:
            watch = getattr(app.state, "map_watch", None)
            if watch is not None:
                watch.set()
            store.close()
            gc.unfreeze()  # an app started again in the same process (tests) frees the old one

    app = FastAPI(
        title="geozone",
        summary="Administrative boundaries, border zones and incident jurisdiction for Vietnam",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        dependencies=[Depends(single_valued_query)],
        docs_url=None,  # /docs and /redoc are api.routers.meta's, with their assets served here
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.jobs = Jobs()
    app.state.zone_cache = {}
    problems.install(app)
    routers = (
        landing,
        meta,
        boundaries,
        locate,
        address,
        incidents,
        patrol_zones,
        clusters,
        reports,
        analytics,
        ogc,
        keys,
        maps,
        session,
    )
    for module in routers:
        app.include_router(module.router)
    # A browser opening a keyed URL by link gets a page asking for the key (not a bare 401).
    maps.install_browser_key_page(app)

    roles = route_roles([route for module in routers for route in module.router.routes])
    app.state.route_roles = roles  # the methods of each path, for 405's Allow
    problems.document_optional_keys(app, roles)
    ogc.install(app)  # the OGC routes' invalid parameters are 400 (OGC API – Features)
    app.add_middleware(RequestGuard, settings=settings, routes=roles)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    # Boundaries, units and cluster definitions change only with the context: ETag and 304.
    app.add_middleware(ContextETags, context_of=lambda scope: scope["app"].state.context)
    # Compress JSON and GeoJSON answers (a units page: 3.5x smaller). Level 1, as nginx's
    # default: on a 65 MB units page 3.5x faster than level 6 for 17 % more bytes
    # (benchmarks/bench_ogc.py).
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=1)
    if settings.log_format == "json":  # one JSON line per request (api.logs)
        app.add_middleware(RequestLog)
    # Behind a proxy at a sub-path: every URL written carries it (api.proxy); outermost.
    app.add_middleware(
        RootPath,
        root_path=settings.root_path,
        trust_forwarded_prefix=settings.trust_forwarded_prefix,
    )
    return app


def _warn_quarantined(store: IncidentStore) -> None:
    """Log the stored incidents whose times are implausible (left out until corrected)."""
    count, ids = store.quarantined(limit=5)
    if count:
        _log.warning(
            "%d stored incident(s) have a time outside the plausible range and are left out "
            "of queries and assignment until corrected: %s%s",
            count,
            ", ".join(ids),
            ", …" if count > len(ids) else "",
        )


class RequestGuard:
    """Decide authentication before any body is read, count bodies as they stream, audit.

    - A write route that needs a key (see :func:`api.deps.require`) is answered 401 or 403
      before a byte of its body is read: a caller without a valid key cannot make the server
      read a body at all.
    - Every body is counted chunk by chunk as the app reads it, declared or chunked, and cut
      at the limit with 413 (``api_max_upload_bytes`` for ``/incidents/import``,
      ``api_max_body_bytes`` elsewhere); a declared ``Content-Length`` over the limit is
      refused before reading. The server so holds at most one limit's worth of any body.
    - Each write leaves an audit row.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs every request (reads
    included) an extra task and stream, a good share of a small request's time.
    """

    def __init__(self, app: ASGIApp, settings: ApiSettings, routes: Sequence[RouteRole]) -> None:
        self.app, self.settings = app, settings
        self._routes = [r for r in routes if r.role is not None and r.methods & _WRITES]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection scope (HTTP requests only; others pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = get_route_path(scope), scope["method"]  # without a proxy's sub-path
        with write_wait(self.settings.api_store_busy_timeout_s):
            status = await self._answer(scope, receive, send)
            if method in _WRITES and path not in _READ_POSTS:
                await run_in_threadpool(_audit, Request(scope), status)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> int:
        """Answer one request (refused early, or by the app with its body counted); its status."""
        limit = (
            self.settings.api_max_upload_bytes
            if get_route_path(scope) == "/incidents/import"
            else self.settings.api_max_body_bytes
        )
        refused = await self._refusal(scope, limit) if scope["method"] in _WRITES else None
        if refused is not None:
            await refused(scope, receive, send)
            return refused.status_code
        status, started = 500, False

        async def send_noting_status(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = int(message["status"]), True
            await send(message)

        try:
            await self.app(scope, _counting(receive, limit), send_noting_status)
        except BodyTooLargeError as exc:  # raised outside FastAPI's handlers
            if started:
                raise
            await problems.problem(413, exc.detail)(scope, receive, send)
            return 413
        return status

    async def _refusal(self, scope: Scope, limit: int) -> Response | None:
        """Return the answer to a write refused before its body is read, or None."""
        route = self._route_of(scope)
        if route is not None and route.role is not None:
            try:
                caller = await run_in_threadpool(_caller_of_scope, scope)
                scope.setdefault("state", {})["caller"] = caller  # for the audit row
                check_role(caller, route.role, scoped=route.scoped)
            except (AuthenticationError, PermissionDeniedError) as exc:
                return problems.problem(problems.status_of(exc), str(exc), title=type(exc).__name__)
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            return problems.problem(413, _too_large(limit))
        return None

    def _route_of(self, scope: Scope) -> RouteRole | None:
        """Return the keyed write route of ``scope`` (None: public)."""
        path, method = get_route_path(scope), scope["method"]
        for route in self._routes:
            if method in route.methods and route.path.match(path):
                return route
        return None


@dataclass(frozen=True)
class RouteRole:
    """The role one route needs (None: public), as the request guard matches it."""

    path: re.Pattern[str]
    methods: frozenset[str]
    role: Role | None
    template: str = ""
    #: The route admits scoped keys and answers or writes only within their scopes.
    scoped: bool = False


def route_roles(routes: Sequence[Any]) -> list[RouteRole]:
    """Return the role each API route needs, for :class:`RequestGuard`."""
    return [
        RouteRole(
            route.path_regex,
            frozenset(route.methods or ()),
            required_role(route),
            route.path,
            honours_scopes(route),
        )
        for route in routes
        if isinstance(route, APIRoute)
    ]


class BodyTooLargeError(HTTPException):
    """A request body passed its limit while it was read (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit))


def _too_large(limit: int) -> str:
    return f"the request body is larger than the {limit:,}-byte limit"


def _counting(receive: Receive, limit: int) -> Receive:
    """Wrap ``receive`` to count the body's bytes and stop at ``limit`` (413)."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLargeError(limit)
        return message

    return counted


def _caller_of_scope(scope: Scope) -> Caller | None:
    """Look up the API key or browser session of a request (None when it gives neither)."""
    return caller_of_scope(scope)


def _audit(request: Request, status: int) -> None:
    key_store: KeyStore | None = getattr(request.app.state, "key_store", None)
    if key_store is None:
        return
    state: dict[str, Any] = request.scope.get("state", {})
    caller = state.get("caller")
    row: dict[str, Any] = {
        "key_name": getattr(caller, "name", None),
        "role": getattr(caller, "role", None),
        "method": request.method,
        "path": request.url.path,
        "status": status,
        "summary": str(state.get("audit_summary", "")),
    }
    try:
        key_store.audit(**row)
    except Exception:  # the answer is sent: keep the row in the log rather than lose it
        _log.exception("audit row not written to the store: %s", row)
