"""Map pages: the cluster map and the patrol planner, with Leaflet served locally.

The pages work with no internet: every script and style comes from ``/maps/static`` (the npm
packages installed by ``scripts/setup.sh``). Boundaries, border zones, junctions and named
hotspots are public. Incidents need an analyst key:

- a browser user opens ``/maps/clusters/{id}`` and types the key into the page's
  "Vụ việc / Incidents" box once; the page keeps it in the tab's ``sessionStorage`` (the
  planner page reads the same entry) and fetches ``/maps/clusters/{id}/incidents`` with the
  ``X-API-Key`` header. No cookie carries the key or a session, so no other site can make
  the browser send it (no CSRF), and it never appears in a URL, a log or a referrer;
- a client that sends ``X-API-Key`` with the page request (curl, a script) gets the
  incidents drawn into the page itself.

The hotspot overlays (significant Gi* cells, emerging trends; :mod:`maps.analytics_layers`)
follow the incidents: fetched by the page from ``GET /clusters/{id}/hotspots`` with the same
key, or drawn into a keyed page.

Either way the incidents and their lead units are the decisions stored with them
(:func:`maps.layers.stored_incidents`), not a judgement made again for the map. Pages carry
a Content-Security-Policy that lets them talk to this origin only (scripts, styles, images
and ``fetch``), so even injected script could not send the key elsewhere; they are not
cached, since a keyed page holds incident data.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from api.auth_store import role_allows
from api.deps import (
    ClusterAnalystDep,
    ContextDep,
    OptionalCaller,
    SettingsDep,
    StoreDep,
)
from api.problems import problems
from api.services import maps as service
from geozone.errors import DataNotFoundError

router = APIRouter(prefix="/maps", tags=["maps"])
#: Most incidents one map page carries (the browser clusters them).
MAX_MAP_INCIDENTS = 50_000
#: Incidents a map page carries unless asked otherwise (the newest).
DEFAULT_MAP_INCIDENTS = 20_000
Limit = Annotated[
    int,
    Query(ge=0, le=MAX_MAP_INCIDENTS, description="Most incidents drawn (the newest first)."),
]


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
    "/clusters/{cluster_id}",
    response_class=HTMLResponse,
    responses=problems(401, 404),
    summary="The map of a cluster (HTML)",
)
def cluster_page(
    request: Request,
    cluster_id: str,
    context: ContextDep,
    store: StoreDep,
    caller: OptionalCaller,
    settings: SettingsDep,
    limit: Limit = DEFAULT_MAP_INCIDENTS,
) -> HTMLResponse:
    """Render the cluster map: members, boundaries, zones, junctions, hotspots, incidents.

    With an analyst key in ``X-API-Key`` the newest ``limit`` incidents are drawn into the
    page; without one the page asks for the key and fetches them itself (see the module
    notes).
    """
    from maps import cluster_layers, cluster_map, stored_incidents, to_html

    territory = context.territory(cluster_id)
    layers = cluster_layers(
        territory.cluster, territory.bset, zones=territory.zones, attribution=territory.attribution
    )
    # A scoped key draws nothing here (the page's own requests are refused for it).
    keyed = caller is not None and role_allows(caller.role, "analyst") and not caller.scopes
    incidents = (
        stored_incidents(store, cluster_id, limit=limit, territory=territory).layer
        if keyed
        else None
    )
    analytics = service.map_analytics(store, context, cluster_id) if keyed else None
    url = request.url_for("cluster_incidents", cluster_id=cluster_id)
    page = cluster_map(
        units=layers.units,
        boundaries_lines=layers.boundaries_lines,
        zones=layers.zones,
        junctions=layers.junctions,
        hotspots=layers.hotspots,
        incidents=incidents,
        title=layers.title,
        attribution=layers.attribution,
        incidents_url=None if keyed else f"{url.path}?limit={limit}",
        analytics=analytics,
        hotspots_url=None if keyed else f"/clusters/{quote(cluster_id, safe='')}/hotspots",
        tiles=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
    )
    return HTMLResponse(to_html(page, inline_assets=False), headers=service.page_headers(settings))


@router.get(
    "/clusters/{cluster_id}/incidents",
    name="cluster_incidents",
    responses={
        200: {
            "description": "The incident table of the cluster map",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "returned": {"type": "integer"},
                            "total": {"type": "integer"},
                            "synthetic": {"type": "boolean"},
                            "summary": {"type": "string"},
                            "data": {"type": ["object", "null"]},
                            "legend": {"type": "array", "items": {"type": "object"}},
                            "notice_html": {"type": ["string", "null"]},
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
    cluster_id: str,
    caller: ClusterAnalystDep,
    context: ContextDep,
    store: StoreDep,
    limit: Limit = DEFAULT_MAP_INCIDENTS,
) -> Response:
    """Return the newest incidents of a cluster with their stored decisions, for its map.

    ``data`` is the compact table the page draws (coordinates, indexes into tables of
    HTML-escaped category, lead unit, rule and explanation texts); ``summary`` says how many
    of how many, ``notice_html`` marks synthetic (dữ liệu mô phỏng) incidents.
    """
    from maps import incident_payload, stored_incidents

    territory = context.territory(cluster_id)
    found = stored_incidents(store, cluster_id, limit=limit, territory=territory)
    units = None
    if found.layer is not None and "lead_unit" in found.layer:
        frame = territory.bset.frame
        units = frame[frame["code"].isin(found.layer["lead_unit"].dropna().unique())]
    payload: dict[str, Any] = incident_payload(found.layer, found.total, units)
    payload["cluster_id"] = cluster_id
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, media_type="application/json", headers=service.PAGE_HEADERS)


@router.get(
    "/planner/{cluster_id}",
    response_class=HTMLResponse,
    responses=problems(404),
    summary="The patrol-zone planner of a cluster (HTML)",
)
def planner_page(cluster_id: str, context: ContextDep, settings: SettingsDep) -> HTMLResponse:
    """Render the patrol planner: draw, edit and delete patrol zones saved through the API."""
    from maps import cluster_layers, planner_map, to_html

    territory = context.territory(cluster_id)
    layers = cluster_layers(
        territory.cluster, territory.bset, zones=territory.zones, attribution=territory.attribution
    )
    page = planner_map(
        units=layers.units,
        zones=layers.zones,
        cluster_id=cluster_id,
        attribution=layers.attribution,
        tiles=settings.tiles_url,
        tiles_attribution=settings.tiles_attribution,
    )
    return HTMLResponse(to_html(page, inline_assets=False), headers=service.page_headers(settings))
