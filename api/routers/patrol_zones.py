"""Patrol zones drawn by planners (reads need an analyst key, writes a planner key).

A zone is changed or deleted by the key that drew it, or by an admin key (403 otherwise).
A key with scopes reads and writes the zones of its own clusters (those its scopes cover)
and zones lying wholly in its units; another zone is unknown to it (404), and a write
outside them is refused (403 naming why).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from api.deps import (
    ContextDep,
    PlannerStoreDep,
    ScopedAnalystDep,
    ScopedPlannerDep,
    SettingsDep,
    check_owner,
    summarise,
)
from api.problems import problems
from api.schemas import FeatureCollection, PatrolZoneIn
from api.scopes import zone_in_scope
from api.services import patrol_zones as service

router = APIRouter(tags=["patrol zones"])
ZoneId = Annotated[int, Path(ge=1, le=2**53, description="The zone's id.")]
_AUTH = problems(401, 403)


@router.get(
    "/patrol-zones",
    response_model=FeatureCollection,
    responses=_AUTH,
    summary="Patrol zones (GeoJSON)",
)
def list_zones(
    caller: ScopedAnalystDep,
    planner_store: PlannerStoreDep,
    context: ContextDep,
    cluster_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Return the patrol zones, of one cluster when ``cluster_id`` is given.

    Each zone's ``units`` (codes) come with ``unit_names``, their names.
    """
    names = service.unit_names(context)
    zones = planner_store.list_zones(cluster_id)
    if caller.scopes:
        scopes = caller.scopes
        zones = [z for z in zones if zone_in_scope(context, scopes, z["cluster_id"], z["units"])]
    features = [service.zone_feature(z, names=names) for z in zones]
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": len(features),
        "numberReturned": len(features),
    }


@router.post(
    "/patrol-zones",
    status_code=201,
    responses={**_AUTH, **problems(400, 422)},
    summary="Create a patrol zone",
)
def create_zone(
    request: Request,
    caller: ScopedPlannerDep,
    planner_store: PlannerStoreDep,
    context: ContextDep,
    settings: SettingsDep,
    body: PatrolZoneIn,
) -> dict[str, Any]:
    """Create a zone from a GeoJSON Polygon; ``repaired`` tells if it had to be fixed."""
    checked = service.check_zone(body.cluster_id, body.geometry, context, settings.api_max_vertices)
    service.check_zone_scope(context, caller.scopes, body.cluster_id, checked.units)
    record = planner_store.add_zone(
        cluster_id=body.cluster_id,
        name=body.name,
        geometry=checked.geojson,
        units=checked.units,
        notes=body.notes,
        created_by=caller.name,
    )
    summarise(request, f"created patrol zone {record['id']} for {body.cluster_id}")
    return service.zone_feature(record, checked.repaired, service.unit_names(context))


@router.put(
    "/patrol-zones/{zone_id}",
    responses={**_AUTH, **problems(400, 404, 422)},
    summary="Replace a patrol zone",
)
def update_zone(
    request: Request,
    caller: ScopedPlannerDep,
    planner_store: PlannerStoreDep,
    context: ContextDep,
    settings: SettingsDep,
    zone_id: ZoneId,
    body: PatrolZoneIn,
) -> dict[str, Any]:
    """Replace a zone's cluster, name, geometry and notes (its maker or an admin)."""
    zone = service.scoped_zone(planner_store, context, caller.scopes, zone_id)
    check_owner(zone["created_by"], caller, f"patrol zone {zone_id}")
    checked = service.check_zone(body.cluster_id, body.geometry, context, settings.api_max_vertices)
    service.check_zone_scope(context, caller.scopes, body.cluster_id, checked.units)
    record = planner_store.update_zone(
        zone_id,
        cluster_id=body.cluster_id,
        name=body.name,
        geometry=checked.geojson,
        units=checked.units,
        notes=body.notes,
    )
    summarise(request, f"updated patrol zone {zone_id}")
    return service.zone_feature(record, checked.repaired, service.unit_names(context))


@router.delete(
    "/patrol-zones/{zone_id}",
    status_code=204,
    responses={**_AUTH, **problems(404)},
    summary="Delete a patrol zone",
)
def delete_zone(
    request: Request,
    caller: ScopedPlannerDep,
    planner_store: PlannerStoreDep,
    context: ContextDep,
    zone_id: ZoneId,
) -> Response:
    """Delete a zone (its maker or an admin)."""
    zone = service.scoped_zone(planner_store, context, caller.scopes, zone_id)
    check_owner(zone["created_by"], caller, f"patrol zone {zone_id}")
    planner_store.delete_zone(zone_id)
    summarise(request, f"deleted patrol zone {zone_id}")
    return Response(status_code=204)
