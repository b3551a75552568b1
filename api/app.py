"""The FastAPI application: :func:`create_app`.

The context (boundary sets, clusters, territories) is loaded once when the app starts (or
given), and the clusters planners defined through the API are read from the store and added
to it (:class:`api.cluster_registry.ClusterRegistry`); the store is opened per app and closed
when it stops. Every error is answered as RFC 9457 problem+json (see :mod:`api.problems`);
every write request (POST, PUT, PATCH, DELETE other than the read-only ``POST /locate``)
leaves a row in the audit log.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.cluster_registry import ClusterRegistry
from api.jobs import Jobs
from api.routers import (
    analytics,
    boundaries,
    clusters,
    incidents,
    keys,
    locate,
    maps,
    meta,
    ogc,
    patrol_zones,
    reports,
)
from geozone.context import Context, judging_context
from geozone.settings import Settings, get_settings
from geozone.store import open_store
from geozone.store.api_tables import ApiStore

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: POST routes that only read (not audited).
_READ_POSTS = frozenset({"/locate"})

DESCRIPTION = """
Spatial queries over Vietnam's administrative boundaries and the border-zone rules of the
inter-ward police clusters.

**Authentication**: send an API key in the `X-API-Key` header. Boundary, unit and locate
routes are public; incident routes need an *analyst* key, patrol-zone and cluster writes a
*planner* key, key management an *admin* key (viewer < analyst < planner < admin).

**Map pages** (`/maps/clusters/{id}`, `/maps/planner/{id}`) are public; a browser user types
the key into the page once (kept in the tab's `sessionStorage`, sent as `X-API-Key` by the
page's own requests, never in a URL or a cookie) to see incidents or save patrol zones.

**Errors** are RFC 9457 `application/problem+json` documents.

**Import jobs** are kept in memory: a restart forgets them (re-posting the same file resumes
its import batch).
"""


def create_app(
    settings: Settings | None = None,
    *,
    context: Context | None = None,
    store_url: str | None = None,
) -> FastAPI:
    """Build the geozone web service.

    Parameters
    ----------
    settings
        Limits, CORS origins and the default store URL (default: the environment's).
    context
        Boundary sets and clusters to judge with; loaded at startup with
        :func:`~geozone.context.load_context` when None.
    store_url
        The store (default ``settings.store_url``); migrated when opened.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        base = context if context is not None else judging_context(settings)
        store = open_store(store_url or settings.store_url, settings=settings)
        app.state.store = store
        app.state.api_store = ApiStore(store.engine)  # type: ignore[attr-defined]
        registry = ClusterRegistry(base, app.state.api_store)
        app.state.clusters = registry
        app.state.context = registry.context
        # The boundary sets and indexes live as long as the process: move them out of the
        # collector's reach, so that a full collection no longer walks millions of objects
        # in the middle of a request (the p99 latency of /locate).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            store.close()
            gc.unfreeze()  # an app started again in the same process (tests) frees the old one

    app = FastAPI(
        title="geozone",
        summary="Administrative boundaries, border zones and incident jurisdiction for Vietnam",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.jobs = Jobs()
    app.state.zone_cache = {}
    problems.install(app)
    routers = (
        meta,
        boundaries,
        locate,
        incidents,
        patrol_zones,
        clusters,
        reports,
        analytics,
        ogc,
        keys,
        maps,
    )
    for module in routers:
        app.include_router(module.router)

    app.add_middleware(RequestGuard, settings=settings)

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type"],
        )
    return app


class RequestGuard:
    """Refuse a declared body over the limit (413) and leave an audit row for each write.

    A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` costs every request (reads
    included) an extra task and stream, a good share of a small request's time.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection scope (HTTP requests only; others pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, method = scope["path"], scope["method"]
        limit = (
            self.settings.api_max_upload_bytes
            if path == "/incidents/import"
            else self.settings.api_max_body_bytes
        )
        length = dict(scope["headers"]).get(b"content-length", b"")
        status = 500
        if length.isdigit() and int(length) > limit:
            status = 413
            refused = problems.problem(
                413, f"the request body is larger than the {limit:,}-byte limit"
            )
            await refused(scope, receive, send)
        else:

            async def send_noting_status(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                await send(message)

            await self.app(scope, receive, send_noting_status)
        if method in _WRITES and path not in _READ_POSTS:
            await run_in_threadpool(_audit, Request(scope), status)


def _audit(request: Request, status: int) -> None:
    api_store: ApiStore | None = getattr(request.app.state, "api_store", None)
    if api_store is None:
        return
    state: dict[str, Any] = request.scope.get("state", {})
    caller = state.get("caller")
    api_store.audit(
        key_name=getattr(caller, "name", None),
        role=getattr(caller, "role", None),
        method=request.method,
        path=request.url.path,
        status=status,
        summary=str(state.get("audit_summary", "")),
    )
