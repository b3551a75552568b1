"""Clusters: placed ones, their border zones and migration (public); definitions (planner).

Reads are public: a cluster's definition, members and border zones are public facts (no
incident data). A key with scopes writes only its own clusters (those its scopes cover:
:func:`api.scopes.cluster_covered`) and defines clusters of its own units only.
``POST /clusters`` and ``PUT /clusters/{id}`` (planner key) define and
replace clusters planners own; the committed clusters are read-only (see
:mod:`geozone.clusters.registry`). After a write the new context is in force at once and a
background job (``GET /jobs/{id}``) reassigns the stored incidents.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Body, Path, Query, Request

from api.deps import (
    ClusterPlannerDep,
    ContextDep,
    JobsDep,
    RegistryDep,
    ScopedPlannerDep,
    SettingsDep,
    StoreDep,
    check_owner,
    summarise,
)
from api.jobs import Job, Jobs
from api.problems import problems
from api.schemas import CLUSTER_EXAMPLE, ConfirmationIn, FeatureCollection
from api.services import clusters as service
from api.services.common import jsonable
from api.services.patrol_zones import check_area_geometry
from geozone.clusters.model import Cluster
from geozone.clusters.registry import ClusterRegistry, Defined, confirmation_of
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


def _in_force(
    request: Request,
    registry: ClusterRegistry,
    changed: set[str],
    store: IncidentStore,
    jobs: Jobs,
    tasks: BackgroundTasks,
    what: str,
    by: str,
) -> Job:
    """Put the registry's new context in force and queue the reassignment job."""
    request.app.state.context = registry.context
    live = {t.cluster.id for t in registry.context.territories}
    cache: dict[str, BorderZones] = request.app.state.zone_cache
    for key in list(cache):
        if key in changed or key not in live:
            cache.pop(key, None)
    job = jobs.new("reassign", what, by)
    tasks.add_task(service.run_reassign, job, store, registry)
    return job


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
    cluster = defined.cluster
    job = _in_force(
        request, registry, defined.ids, store, jobs, tasks, f"cluster {cluster.id} {verb}", by
    )
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
    caller: ScopedPlannerDep,
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
    ``reassign_job`` (follow it with ``GET /jobs/{id}``). A key with scopes defines clusters
    of its own units only (403 naming the members beyond them).
    """
    service.check_members_scope(registry.base, caller.scopes, body)
    defined = registry.create(body, caller.name)
    return _written(request, registry, defined, store, jobs, tasks, "created", caller.name)


@router.put(
    "/clusters/{cluster_id}",
    responses={**_WRITE_PROBLEMS, **problems(404)},
    summary="Replace a cluster defined through the API (planner)",
)
def update_cluster(
    request: Request,
    caller: ClusterPlannerDep,
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
    service.check_members_scope(registry.base, caller.scopes, body)
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


@router.post(
    "/clusters/{cluster_id}/confirm",
    responses=problems(400, 401, 403, 404, 422),
    summary="Confirm that a carried cluster applies from a date (planner)",
)
def confirm_cluster(
    request: Request,
    caller: ClusterPlannerDep,
    registry: RegistryDep,
    store: StoreDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    settings: SettingsDep,
    cluster_id: Annotated[str, Path(max_length=120)],
    body: ConfirmationIn,
) -> dict[str, Any]:
    """Confirm a carried cluster (``<id>-<set>``), as ``geozone clusters confirm`` does.

    Until a planner confirms it, a carried cluster is a proposal (its decisions say so and go
    to review) or, when its original had ended before the reform, lapsed (no decisions). From
    ``from`` (not before the reform date: 400) it decides as the original did, along the
    ``zone`` drawn here if one is given. Confirming again replaces the confirmation. Stored
    incidents are reassigned by the background job ``reassign_job``.
    """
    zone = None
    if body.zone is not None:
        drawn = check_area_geometry(body.zone, registry.base.current, settings.api_max_vertices)
        zone = str(drawn.wkt)
    confirmation = confirmation_of(
        registry.base, cluster_id, body.from_date, caller.name, body.note, zone
    )
    context = registry.confirm(store, confirmation)
    job = _in_force(
        request,
        registry,
        {cluster_id},
        store,
        jobs,
        tasks,
        f"cluster {cluster_id} confirmed",
        caller.name,
    )
    summarise(
        request, f"confirmed cluster {cluster_id} from {body.from_date}; reassign job {job.id}"
    )
    return {
        "cluster": _summary(registry, context.territory(cluster_id)),
        "confirmation": confirmation.to_dict(),
        "reassign_job": jsonable(job.to_dict()),
    }


@router.delete(
    "/clusters/{cluster_id}/confirm",
    responses=problems(401, 403, 404),
    summary="Withdraw a carried cluster's confirmation (planner)",
)
def withdraw_confirmation(
    request: Request,
    caller: ClusterPlannerDep,
    registry: RegistryDep,
    store: StoreDep,
    jobs: JobsDep,
    tasks: BackgroundTasks,
    cluster_id: Annotated[str, Path(max_length=120)],
) -> dict[str, Any]:
    """Withdraw the confirmation: the carried cluster is a proposal or lapsed again.

    ``withdrawn`` says whether there was a confirmation. Stored incidents are reassigned by
    the background job ``reassign_job``.
    """
    withdrawn = registry.withdraw(store, cluster_id)
    job = _in_force(
        request,
        registry,
        {cluster_id},
        store,
        jobs,
        tasks,
        f"cluster {cluster_id} withdrawn",
        caller.name,
    )
    summarise(request, f"withdrew the confirmation of cluster {cluster_id}; reassign job {job.id}")
    return {
        "cluster": _summary(registry, registry.context.territory(cluster_id)),
        "withdrawn": withdrawn,
        "reassign_job": jsonable(job.to_dict()),
    }
