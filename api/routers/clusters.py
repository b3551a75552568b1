"""Clusters: placed ones, their border zones and migration (public); definitions (planner).

Reads are public. ``POST /clusters`` and ``PUT /clusters/{id}`` (planner key) define and
replace clusters planners own; the committed clusters are read-only (see
:mod:`geozone.clusters.registry`). After a write the new context is in force at once and a
background job (``GET /jobs/{id}``) reassigns the stored incidents.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query, Request

from api.deps import (
    ContextDep,
    JobsDep,
    PlannerDep,
    RegistryDep,
    StoreDep,
    check_owner,
    summarise,
)
from api.jobs import Jobs
from api.problems import problems
from api.schemas import CLUSTER_EXAMPLE, FeatureCollection
from api.services import clusters as service
from api.services.common import jsonable
from geozone.clusters.model import Cluster
from geozone.clusters.registry import ClusterRegistry, Defined
from geozone.clusters.zones import BorderZones
from geozone.store import IncidentStore

router = APIRouter(tags=["clusters"])
_WRITE_PROBLEMS = problems(401, 403, 409, 422)
ClusterBody = Annotated[
    Cluster,
    Body(
        description="A cluster definition (the model of `data/clusters/*.toml`, as JSON).",
        openapi_examples={"ward cluster": {"value": CLUSTER_EXAMPLE}},
    ),
]


def _summary(registry: ClusterRegistry, territory: Any) -> dict[str, Any]:
    cluster_id = territory.cluster.id
    return service.cluster_summary(
        territory, registry.source(cluster_id), registry.is_defined(cluster_id)
    )


@router.get("/clusters", summary="Placed clusters")
def list_clusters(context: ContextDep, registry: RegistryDep) -> list[dict[str, Any]]:
    """Return every placed cluster (originals and those carried into the current set).

    ``source`` tells a committed cluster (``file``) from one a planner defined (``api``);
    ``editable`` marks those ``PUT /clusters/{id}`` may replace.
    """
    return [_summary(registry, t) for t in context.territories]


@router.get("/clusters/{cluster_id}", responses=problems(404), summary="One placed cluster")
def get_cluster(context: ContextDep, registry: RegistryDep, cluster_id: str) -> dict[str, Any]:
    """Return a placed cluster with its full definition."""
    territory = context.territory(cluster_id)
    data = _summary(registry, territory)
    data["definition"] = jsonable(territory.cluster.model_dump(mode="json"))
    return data


def _written(
    request: Request,
    registry: ClusterRegistry,
    defined: Defined,
    store: IncidentStore,
    jobs: Jobs,
    tasks: BackgroundTasks,
    verb: str,
    by: str,
) -> dict[str, Any]:
    """Put the new context in force, queue the reassignment, describe the write."""
    request.app.state.context = registry.context
    live = {t.cluster.id for t in registry.context.territories}
    cache: dict[str, BorderZones] = request.app.state.zone_cache
    for key in list(cache):
        if key in defined.ids or key not in live:
            cache.pop(key, None)
    cluster = defined.cluster
    job = jobs.new("reassign", f"cluster {cluster.id} {verb}", by)
    tasks.add_task(service.run_reassign, job, store, registry)
    placed = [t.cluster.id for t in defined.territories]
    summarise(
        request,
        f"{verb} cluster {cluster.id} ({len(cluster.members)} members in "
        f"{cluster.boundary_set}; placed as {', '.join(placed)}); reassign job {job.id}",
    )
    record = defined.record
    return {
        "id": cluster.id,
        "source": "api",
        "editable": True,
        "definition": jsonable(cluster.model_dump(mode="json")),
        "placed": [
            service.cluster_summary(t, "api", t.cluster.id == cluster.id)
            for t in defined.territories
        ],
        "created_at": jsonable(record["created_at"]),
        "created_by": record["created_by"],
        "updated_at": jsonable(record["updated_at"]),
        "updated_by": record["updated_by"],
        "reassign_job": jsonable(job.to_dict()),
    }


@router.post(
    "/clusters",
    status_code=201,
    responses=_WRITE_PROBLEMS,
    summary="Define a cluster (planner)",
)
def create_cluster(
    request: Request,
    caller: PlannerDep,
    registry: RegistryDep,
    store: StoreDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    body: ClusterBody,
) -> dict[str, Any]:
    """Check a cluster against its boundary set, store it and judge incidents with it.

    Every unit member must exist at the cluster's level in its ``boundary_set`` and be named
    as the set names it (422 naming the member otherwise). A cluster named in an older set
    is also carried into the current set's units (``<id>-<set>``). The ids of committed
    clusters are refused (409). Stored incidents are reassigned by the background job
    ``reassign_job`` (follow it with ``GET /jobs/{id}``).
    """
    defined = registry.create(body, caller.name)
    return _written(request, registry, defined, store, jobs, tasks, "created", caller.name)


@router.put(
    "/clusters/{cluster_id}",
    responses={**_WRITE_PROBLEMS, **problems(404)},
    summary="Replace a cluster defined through the API (planner)",
)
def update_cluster(
    request: Request,
    caller: PlannerDep,
    registry: RegistryDep,
    store: StoreDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    cluster_id: Annotated[str, Path(max_length=80)],
    body: ClusterBody,
) -> dict[str, Any]:
    """Replace a cluster a planner defined (same checks as ``POST /clusters``).

    Committed clusters and carried versions are read-only (409); the body's ``id`` must be
    the URL's (422). Only the key that created the cluster and admin keys may replace it (403).
    """
    record = registry.record(cluster_id)
    if record is not None:
        check_owner(record["created_by"], caller, f"cluster {cluster_id}")
    defined = registry.update(cluster_id, body, caller.name)
    return _written(request, registry, defined, store, jobs, tasks, "updated", caller.name)


@router.get(
    "/clusters/{cluster_id}/zones",
    response_model=FeatureCollection,
    responses=problems(404),
    summary="A cluster's border zones (GeoJSON)",
)
def get_zones(request: Request, cluster_id: str) -> dict[str, Any]:
    """Return the pair and junction border zones of a placed cluster.

    ``areas`` gives the border zone's area (``union_km2``, each place counted once) and each
    zone's own area; zones overlap, so their sum is not the border zone's area.
    """
    zones = service.zones_of(request, cluster_id)
    features = service.zone_features(zones, cluster_id)
    return {
        "type": "FeatureCollection",
        "features": features,
        "areas": zones.area_summary(),
        "numberMatched": len(features),
        "numberReturned": len(features),
    }


@router.get(
    "/clusters/{cluster_id}/migrate",
    responses=problems(400, 404),
    summary="Carry a committed cluster into another set",
)
def migrate(
    context: ContextDep,
    cluster_id: str,
    into: Annotated[str | None, Query(max_length=64, description="Target set (current)")] = None,
) -> dict[str, Any]:
    """Return how the cluster's members map onto the target set's units."""
    return service.migrate(context, cluster_id, into)
