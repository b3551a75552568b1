"""Map pages: the cluster map and the patrol planner, with Leaflet served locally.

The pages work with no internet: every script and style comes from ``/maps/static`` (the npm
packages installed by ``scripts/setup.sh``). Boundaries, border zones, junctions and named
hotspots are public. Incidents need an analyst key:

- a browser user signs in once at ``/login`` (:mod:`api.routers.session`): the pages then
  fetch ``/maps/clusters/{id}/incidents`` and the other layers with the session cookie
  (``SameSite=Strict``, ``HttpOnly``), and send its CSRF token with every write;
- or types the key into the page's key box (the fallback): the page keeps it in the tab's
  ``sessionStorage`` (the planner page reads the same entry) and fetches with the
  ``X-API-Key`` header; the key never appears in a URL, a log or a referrer;
- a client that sends ``X-API-Key`` with the page request (curl, a script) gets the
  incidents drawn into the page itself.

The hotspot overlays (significant Gi* cells, emerging trends; :mod:`maps.analytics_layers`)
follow the incidents: fetched by the page from ``GET /clusters/{id}/hotspots`` with the same
key, or drawn into a keyed page.

Either way the incidents and their lead units are the decisions stored with them
(:func:`maps.layers.stored_incidents`), not a judgement made again for the map. The table
is built once per assignment (:class:`api.services.maps.IncidentBodies`), sent gzip-compressed,
and built in the background as soon as a public page is opened, while the user types the
key. Every incident of the cluster is drawn by default (up to :data:`MAX_MAP_INCIDENTS`; the
page says how many of how many).

The cluster map also draws the cluster's saved patrol zones, and links to its report, its
planner and the index page (``/``). The planner draws the incidents, the significant Gi*
cells and the suggested patrol zones under its drawing tools, and shows what a saved zone
covers in its popup.

A browser that opens a page needing a key by link (the report, an export) gets a page asking
for the key, not a bare 401 (:func:`install_browser_key_page`). With ``GEOZONE_BASEMAP`` the
maps draw a local PMTiles/MBTiles archive served at ``/maps/basemap/{z}/{x}/{y}``. Pages carry
a Content-Security-Policy that lets them talk to this origin only (scripts, styles, images
and ``fetch``), so even injected script could not send the key elsewhere; they are not
cached, since a keyed page holds incident data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.auth_store import role_allows
from api.deps import (
    ClusterAnalystDep,
    ContextDep,
    OptionalCaller,
    PlannerStoreDep,
    SettingsDep,
    StoreDep,
)
from api.errors import AuthenticationError
from api.problems import problems
from api.proxy import root_path
from api.schemas import NOTICES_DESCRIPTION
from api.scopes import cluster_covered
from api.services import maps as service
from geozone.errors import DataNotFoundError, NoGeometryError

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory
    from geozone.context import Context

router = APIRouter(prefix="/maps", tags=["maps"])
#: Most incidents one map page carries (a safety cap, said on the map when reached).
MAX_MAP_INCIDENTS = service.MAX_MAP_INCIDENTS
Limit = Annotated[
    int | None,
    Query(
        ge=0,
        le=MAX_MAP_INCIDENTS,
        description=f"Most incidents drawn, the newest first (default all, up to "
        f"{MAX_MAP_INCIDENTS:,}).",
    ),
]


def _limit(limit: int | None) -> int:
    return service.MAX_MAP_INCIDENTS if limit is None else limit  # read here: tests lower it


@router.get("/static/{path:path}", include_in_schema=False)
def static_asset(path: str) -> FileResponse:
    """Serve Leaflet, its plugins and geozone's own map scripts."""
    from maps import asset_routes

    found = asset_routes().get(f"/maps/static/{path}")
    if found is None:
        raise DataNotFoundError(f"no map asset {path!r}")
    return FileResponse(
        found,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )


@router.get(
    "/basemap/{z}/{x}/{y}",
    responses={
        200: {"description": "A basemap tile (PNG, JPEG, WebP or MVT)."},
        **problems(404),
    },
    summary="A tile of the offline basemap (GEOZONE_BASEMAP)",
)
def basemap_tile(
    request: Request,
    settings: SettingsDep,
    z: Annotated[int, Path(ge=0, le=30)],
    x: Annotated[int, Path(ge=0, le=2**30)],
    y: Annotated[int, Path(ge=0, le=2**30)],
) -> Response:
    """Return one tile of the local basemap archive; 204 where the archive has none."""
    archive = service.basemap_archive(settings)
    if archive is None:
        raise DataNotFoundError("no basemap is configured (set GEOZONE_BASEMAP to a .pmtiles file)")
    found = archive.tile(z, x, y)
    if found is None:
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})
    data, gzipped = found
    headers = {"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if gzipped:
        if service.wants_gzip(request.headers.get("accept-encoding")):
            headers["Content-Encoding"] = "gzip"
        else:
            from maps.basemap import ungzip

            data = ungzip(data)
    return Response(data, media_type=archive.media_type, headers=headers)


def _links(cluster_id: str, planner: bool, root: str = "") -> list[dict[str, str]]:
    quoted = quote(cluster_id, safe="")
    links = [{"href": f"{root}/", "label": "Trang chủ / Index"}]
    links.append({"href": f"{root}/maps/reports/{quoted}", "label": "Báo cáo / Report"})
    if planner:
        links.append(
            {"href": f"{root}/maps/planner/{quoted}", "label": "Lập vùng tuần tra / Planner"}
        )
    else:
        links.append(
            {"href": f"{root}/maps/clusters/{quoted}", "label": "Bản đồ cụm / Cluster map"}
        )
    return links


def _prefixed(request: Request) -> tuple[str, dict[str, Any]]:
    """Return the root path and the map builders' asset base below it (api.proxy)."""
    from maps.assets import DEFAULT_ASSET_BASE

    root = root_path(request)
    return root, {"asset_base": f"{root}{DEFAULT_ASSET_BASE}"}


@router.get(
    "/clusters/{cluster_id}",
    response_class=HTMLResponse,
    responses=problems(400, 401, 404),
    summary="The map of a cluster (HTML)",
)
def cluster_page(
    request: Request,
    cluster_id: str,
    context: ContextDep,
    store: StoreDep,
    planner_store: PlannerStoreDep,
    caller: OptionalCaller,
    settings: SettingsDep,
    limit: Limit = None,
) -> HTMLResponse:
    """Render the cluster map: members, boundaries, zones, junctions, hotspots, incidents.

    With an analyst key in ``X-API-Key`` the newest ``limit`` incidents (default all) and the
    saved patrol zones are drawn into the page; without one the page asks for the key and
    fetches them itself (see the module notes).
    """
    from geozone.incidents.notices import unfinished_import_notices
    from maps import map_of_layers, stored_incidents, to_html

    territory = _drawn(context, cluster_id)
    layers = service.served_layers(request.app.state, territory)
    # A scoped key draws the incidents of its own clusters only (api.scopes.cluster_covered).
    # A signed-in browser fetches them like a keyed tab (the fast, cached table).
    keyed = (
        caller is not None
        and not caller.session
        and role_allows(caller.role, "analyst")
        and cluster_covered(context, caller.scopes, cluster_id, store)
    )
    quoted = quote(cluster_id, safe="")
    root, prefixed = _prefixed(request)
    options: dict[str, Any] = {"links": _links(cluster_id, planner=True, root=root), **prefixed}
    if keyed:
        options["incidents"] = stored_incidents(store, cluster_id, limit=_limit(limit)).layer
        options["notices"] = unfinished_import_notices(store)
        options["analytics"] = service.map_analytics(store, context, cluster_id)
        options["patrol_zones"] = service.patrol_zone_features(planner_store, context, cluster_id)
    else:
        service.warm_up(request.app.state, store, context, cluster_id, _limit(limit))
        url = request.url_for("cluster_incidents", cluster_id=cluster_id).path
        options["incidents_url"] = url if limit is None else f"{url}?limit={limit}"
        options["hotspots_url"] = f"{root}/clusters/{quoted}/hotspots"
        options["patrol_zones_url"] = f"{root}/patrol-zones?cluster_id={quoted}"
        options["incident_url"] = f"{root}/incidents/"  # a popup's sentences
    page = map_of_layers(layers, **options, **service.basemap_options(settings, root))
    return HTMLResponse(to_html(page, inline_assets=False), headers=service.page_headers(settings))


@router.get(
    "/clusters/{cluster_id}/incidents",
    name="cluster_incidents",
    responses={
        200: {
            "description": "The incident table of the cluster map (gzip when accepted)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "returned": {"type": "integer"},
                            "total": {"type": "integer"},
                            "synthetic": {"type": "boolean"},
                            "summary": {"type": "string"},
                            "sentences": {"type": "string", "enum": ["by_incident"]},
                            "data": {"type": ["object", "null"]},
                            "legend": {"type": "array", "items": {"type": "object"}},
                            "notice_html": {"type": ["string", "null"]},
                            "notices": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": NOTICES_DESCRIPTION,
                            },
                            "notices_html": {"type": "array", "items": {"type": "string"}},
                        },
                        "required": ["returned", "total", "synthetic", "summary", "data"],
                    }
                }
            },
        },
        **problems(401, 403, 404),
    },
    summary="The incidents a cluster map draws (analyst)",
)
def cluster_incidents(
    request: Request,
    cluster_id: str,
    caller: ClusterAnalystDep,
    context: ContextDep,
    store: StoreDep,
    limit: Limit = None,
) -> Response:
    """Return the newest incidents of a cluster (default all) with their stored decisions.

    ``data`` is the compact table the page draws (coordinates, indexes into tables of
    HTML-escaped category, lead unit and rule texts); ``summary`` says how many of how many,
    ``notice_html`` marks synthetic (dữ liệu mô phỏng) incidents, ``notices`` (and
    ``notices_html``, escaped) name an unfinished import. The decisions' sentences
    are not in it (``sentences``: ``by_incident``): a popup reads its incident's from
    ``GET /incidents/{external_id}`` (the ``clusters`` row of ``cluster_id``). Built once
    per assignment and sent gzip-compressed to clients that accept it.
    """
    body = service.incident_body(request.app.state, store, context, cluster_id, _limit(limit))
    headers = {**service.PAGE_HEADERS, "Vary": "Accept-Encoding"}
    if service.wants_gzip(request.headers.get("accept-encoding")):
        headers["Content-Encoding"] = "gzip"
        return Response(body.gzip, media_type="application/json", headers=headers)
    return Response(body.json, media_type="application/json", headers=headers)


def _drawn(context: Context, cluster_id: str) -> ClusterTerritory:
    """Return a cluster's territory to draw; say plainly why there is none (as the CLI)."""
    territory = context.territory(cluster_id)
    undrawn = context.why_undrawn(territory)
    if undrawn is not None:
        raise NoGeometryError(undrawn)
    return territory


@router.get(
    "/planner/{cluster_id}",
    response_class=HTMLResponse,
    responses=problems(400, 404),
    summary="The patrol-zone planner of a cluster (HTML)",
)
def planner_page(
    request: Request,
    cluster_id: str,
    context: ContextDep,
    store: StoreDep,
    settings: SettingsDep,
) -> HTMLResponse:
    """Render the patrol planner: draw, edit and delete patrol zones saved through the API.

    Incidents, significant hot cells and suggested zones are drawn under the drawing tools
    once the planner gives a key; a saved zone's popup shows what it covers.
    """
    from maps import planner_map, to_html

    territory = _drawn(context, cluster_id)
    layers = service.served_layers(request.app.state, territory)
    service.warm_up(request.app.state, store, context, cluster_id, _limit(None))
    quoted = quote(cluster_id, safe="")
    root, prefixed = _prefixed(request)
    page = planner_map(
        units=layers.units,
        zones=layers.zones,
        cluster_id=cluster_id,
        attribution=layers.attribution,
        title=layers.title,
        incidents_url=request.url_for("cluster_incidents", cluster_id=cluster_id).path,
        hotspots_url=f"{root}/clusters/{quoted}/hotspots",
        suggestions_url=f"{root}/clusters/{quoted}/patrol-suggestions",
        incident_url=f"{root}/incidents/",
        coverage=True,
        links=_links(cluster_id, planner=False, root=root),
        api_base=root,
        **prefixed,
        **service.basemap_options(settings, root),
    )
    return HTMLResponse(to_html(page, inline_assets=False), headers=service.page_headers(settings))


@router.get(
    "/reports/{cluster_id}",
    response_class=HTMLResponse,
    responses=problems(404),
    summary="Open a cluster's review report in a browser (HTML)",
)
def report_page(
    request: Request, cluster_id: str, context: ContextDep, settings: SettingsDep
) -> HTMLResponse:
    """Open the review of the cluster's default period: the key is asked for, then it is shown.

    The period of its hotspots (:func:`~geozone.analysis.study.cluster_study_period`): the
    365 days ending today, or the cluster's own last year when it ended earlier.

    The page fetches ``GET /clusters/{id}/report?format=html`` with the key the tab holds
    (the same key box as the maps), so the report opens by link in a browser.
    """
    from geozone.analysis.study import cluster_study_period

    territory = context.territory(cluster_id)
    start, end = cluster_study_period(context, cluster_id)
    quoted = quote(cluster_id, safe="")
    root = root_path(request)
    target = f"{root}/clusters/{quoted}/report?from={start}&to={end}&format=html"
    return HTMLResponse(
        service.key_page(target, f"Báo cáo / Report: {territory.cluster.name}", root),
        headers=service.page_headers(settings),
    )


def install_browser_key_page(app: FastAPI) -> None:
    """Answer a browser's GET without a key with a page asking for it, not a bare 401.

    A request that accepts ``text/html``, gives no ``X-API-Key`` and is refused for the lack
    of a key (the report by link, an export) gets an HTML page (still status 401) with the
    page's one key box; the page then fetches the same URL with the key and shows the answer.
    Scripts (no ``text/html`` in ``Accept``) keep the problem+json answer.
    """
    from api.problems import TITLED_BY_STATUS, problem, status_of

    async def handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AuthenticationError)
        accept = request.headers.get("accept", "")
        if (
            request.method == "GET"
            and "text/html" in accept
            and not request.headers.get("x-api-key")
        ):
            settings = request.app.state.settings
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return HTMLResponse(
                service.key_page(target, "Cần khoá API / API key needed", root_path(request)),
                status_code=401,
                headers=service.page_headers(settings),
            )
        title = None if isinstance(exc, TITLED_BY_STATUS) else type(exc).__name__
        return problem(status_of(exc), str(exc), title=title)

    app.add_exception_handler(AuthenticationError, handler)
