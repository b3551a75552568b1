"""Map pages: the cluster map and the patrol planner, with Leaflet served locally.

The pages work with no internet: every script and style comes from ``/maps/static`` (the npm
packages installed by ``scripts/setup.sh``). Boundaries, border zones, junctions and named
hotspots are public; incidents appear on the cluster map only for a caller with an analyst
key (sent in ``X-API-Key``), judged with the same rules as the API.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse

from api.deps import ContextDep, OptionalCaller, StoreDep
from geozone.assign import assign_clusters, jurisdiction
from geozone.errors import DataNotFoundError
from geozone.store import IncidentQuery
from geozone.store.api_tables import role_allows

router = APIRouter(prefix="/maps", tags=["maps"])
#: Most incidents one map page carries (the browser clusters them).
MAX_MAP_INCIDENTS = 50_000


@router.get("/static/{path:path}", include_in_schema=False)
def static_asset(path: str) -> FileResponse:
    """Serve Leaflet, its plugins and geozone's own map scripts."""
    from maps import asset_routes

    found = asset_routes().get(f"/maps/static/{path}")
    if found is None:
        raise DataNotFoundError(f"no map asset {path!r}")
    return FileResponse(found, headers={"Cache-Control": "public, max-age=86400"})


@router.get("/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(
    cluster_id: str,
    context: ContextDep,
    store: StoreDep,
    caller: OptionalCaller,
    limit: Annotated[int, Query(ge=0, le=MAX_MAP_INCIDENTS)] = 20_000,
) -> HTMLResponse:
    """Render the cluster map: members, boundaries, zones, junctions, hotspots, incidents."""
    from maps import cluster_layers, cluster_map, incident_layer, to_html

    territory = context.territory(cluster_id)
    layers = cluster_layers(territory.cluster, territory.bset)
    incidents = None
    if caller is not None and role_allows(caller.role, "analyst") and limit:
        stored, _ = store.query(IncidentQuery(cluster_id=cluster_id, limit=min(limit, 10_000)))
        if len(stored):
            frame = pd.DataFrame(stored.drop(columns="geometry"))
            units = jurisdiction(frame, context.sets)
            decided = assign_clusters(frame, units, [territory])
            incidents = incident_layer(frame, decided, cluster_id)
    page = cluster_map(
        units=layers.units,
        boundaries_lines=layers.boundaries_lines,
        zones=layers.zones,
        junctions=layers.junctions,
        hotspots=layers.hotspots,
        incidents=incidents,
        title=layers.title,
        attribution=layers.attribution,
    )
    return HTMLResponse(to_html(page, inline_assets=False))


@router.get("/planner/{cluster_id}", response_class=HTMLResponse)
def planner_page(cluster_id: str, context: ContextDep) -> HTMLResponse:
    """Render the patrol planner: draw, edit and delete patrol zones saved through the API."""
    from maps import cluster_layers, planner_map, to_html

    territory = context.territory(cluster_id)
    layers = cluster_layers(territory.cluster, territory.bset)
    page = planner_map(
        units=layers.units,
        zones=layers.zones,
        cluster_id=cluster_id,
        attribution=layers.attribution,
    )
    return HTMLResponse(to_html(page, inline_assets=False))
