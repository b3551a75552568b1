"""The service root ``/``: the OGC API landing page, or the index page for a browser.

``GET /`` negotiates: ``?f=json`` or ``?f=html`` decides; otherwise a client whose ``Accept``
header ranks ``text/html`` above ``application/json`` (a browser) gets the index page, and
every other client (GDAL, QGIS, OWSLib, curl) the landing page JSON with its ``self``,
``service-desc``, ``service-doc``, ``conformance`` and ``data`` links.

The index page lists the clusters with their map, planner and report links, in Vietnamese
and English; it is one self-contained page (its style inline, no script, nothing fetched
from another host).

``GET /openapi-3.0.json`` is the OpenAPI document in its 3.0 rendering
(:mod:`api.services.openapi30`), the ``service-desc`` OGC API clients read.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import jinja2
import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from api.deps import ContextDep
from api.routers.ogc import OgcRoute
from api.services import ogc as service
from api.services.common import invalid
from api.services.openapi30 import openapi30
from geozone import vntime

router = APIRouter(tags=["OGC API Features"], route_class=OgcRoute)

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("api", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
#: The index page's headers: nothing but this origin, no script at all.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept, Cookie",
    "Cache-Control": "no-store",
}


def wants_html(request: Request, f: str | None) -> bool:
    """Decide the root's format: ``f`` first, then the ``Accept`` header's ranking."""
    if f is not None:
        return f == "html"
    ranks: dict[str, float] = {}
    for part in request.headers.get("accept", "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranks[media.lower()] = max(quality, ranks.get(media.lower(), 0.0))
    html = ranks.get("text/html", 0.0)
    json = max(ranks.get("application/json", 0.0), ranks.get("application/geo+json", 0.0))
    return html > 0 and html > json


def index_page(request: Request, context: Any) -> str:
    """Render the index page: the clusters with their map, planner and report links."""
    today = vntime.today()
    start = today - timedelta(days=364)
    base = service.base_url(request)
    clusters = [
        {
            "id": t.cluster.id,
            "name": t.cluster.name,
            "name_en": t.cluster.name_en,
            "set_id": t.bset.id,
            "members": len(t.cluster.members),
            "map": f"{base}/maps/clusters/{t.cluster.id}",
            "planner": f"{base}/maps/planner/{t.cluster.id}",
            "undrawn": context.why_undrawn(t),
            "report": (
                f"{base}/clusters/{t.cluster.id}/report?from={start.isoformat()}"
                f"&to={today.isoformat()}&format=html"
            ),
        }
        for t in sorted(context.territories, key=lambda t: t.cluster.id)
    ]
    return _TEMPLATES.get_template("index.html.j2").render(
        clusters=clusters,
        base=base,
        collections=[(cid, c.title) for cid, c in service.COLLECTIONS.items()],
        current_set=context.current.id,
        period=f"{start.strftime('%d/%m/%Y')} – {today.strftime('%d/%m/%Y')}",
        session=_session(request),
    )


def _session(request: Request) -> dict[str, Any] | None:
    """Return the browser's session (who signed in at ``/login``), or None."""
    from api.deps import SESSION_COOKIE

    token = request.cookies.get(SESSION_COOKIE)
    key_store = getattr(request.app.state, "key_store", None)
    if not token or key_store is None:
        return None
    found: dict[str, Any] | None = key_store.find_session(token)
    return found


def landing(
    request: Request,
    context: ContextDep,
    f: Annotated[
        Literal["json", "html"] | None,
        Query(description="json (the OGC API landing page) or html (the index page)."),
    ] = None,
) -> Response:
    """Answer the landing page (JSON) or, for a browser, the index page of clusters (HTML)."""
    unknown = sorted(name for name in request.query_params if name != "f")
    if unknown:
        raise invalid(unknown[0], f"unknown parameter(s): {', '.join(unknown)}; known: f")
    if wants_html(request, f):
        return HTMLResponse(index_page(request, context), headers=PAGE_HEADERS)
    return Response(
        orjson.dumps(service.landing(request)),
        media_type="application/json",
        headers={"Vary": "Accept"},
    )


_ROOT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The landing page (JSON) or the index page (HTML)",
        "content": {"application/json": {"schema": {"type": "object"}}, "text/html": {}},
    }
}
for _method, _shown in (("GET", True), ("HEAD", False)):
    router.add_api_route(
        "/",
        landing,
        methods=[_method],
        include_in_schema=_shown,
        response_class=Response,
        responses=_ROOT_RESPONSES,
        summary="Landing page (OGC API) or index page (browser)",
        dependencies=[],
    )


def openapi_30(request: Request) -> Response:
    """Return the OpenAPI document in its 3.0 rendering (cached per app and root path).

    Behind a proxy at a sub-path (``--root-path``) the document's ``servers`` names it, as
    FastAPI's ``/openapi.json`` does.
    """
    root = str(request.scope.get("root_path", "")).rstrip("/")
    cache: dict[str, bytes] | None = getattr(request.app.state, "openapi30", None)
    if cache is None:
        cache = {}
        request.app.state.openapi30 = cache
    if root not in cache:
        if len(cache) >= 8:  # prefixes come from a trusted proxy: a few at most
            cache.clear()
        document = openapi30(request.app.openapi())
        if root:
            document["servers"] = [{"url": root}]
        cache[root] = orjson.dumps(document)
    return Response(cache[root], media_type=service.OPENAPI30)


for _method in ("GET", "HEAD"):
    router.add_api_route(
        "/openapi-3.0.json", openapi_30, methods=[_method], include_in_schema=False
    )
