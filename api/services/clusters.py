"""Clusters: summaries, border zones as GeoJSON, migration, reassignment after a write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import shapely
from fastapi import Request

from api.jobs import Job
from api.services.common import jsonable, records
from geozone.assignment import ClusterTerritory
from geozone.clusters.migrate import migrate_cluster
from geozone.clusters.model import Cluster
from geozone.clusters.registry import ClusterRegistry
from geozone.clusters.zones import BorderZones
from geozone.context import Context
from geozone.errors import DataNotFoundError, InvalidParameterError
from geozone.incidents.pipeline import assign_stale, context_stamp
from geozone.store import IncidentStore
from geozone.store.sql import write_wait


def cluster_summary(
    territory: ClusterTerritory, source: str = "file", editable: bool = False
) -> dict[str, Any]:
    """Return a placed cluster's identity and members, JSON-ready.

    Parameters
    ----------
    territory
        The placed cluster.
    source
        ``"file"`` (committed in ``data/clusters``) or ``"api"`` (defined by a planner).
    editable
        Whether ``PUT /clusters/{id}`` may replace it (a defined cluster, not a carried
        version).
    """
    cluster = territory.cluster
    members = territory.members
    return {
        "id": cluster.id,
        "name": cluster.name,
        "name_en": cluster.name_en,
        "boundary_set": cluster.boundary_set,
        "level": cluster.level,
        "zone_width_m": territory.width_m,
        "carried_from": cluster.carried_from,
        "carry_status": cluster.carry_status,
        "confirmed_from": cluster.confirmed_from.isoformat() if cluster.confirmed_from else None,
        "applies": bool(territory.applies),
        "decides": bool(territory.decides),
        "mode": territory.mode,
        "zone_basis": _zone_basis(territory),
        "source": source,
        "editable": editable,
        "members": records(members),
    }


def _zone_basis(territory: ClusterTerritory) -> dict[str, str] | None:
    """How the border zone was derived, in both languages (None for an ordinary cluster)."""
    if not territory.geometric or not territory.sides.carried:
        return None
    sides = territory.sides
    return {"basis": sides.basis, "vi": sides.basis_vi.strip(), "en": sides.basis_en.strip()}


def cluster_zones(territory: ClusterTerritory) -> BorderZones:
    """Return the border zones of a placed cluster (a carried one's along its original lines)."""
    return territory.zones


def zone_features(zones: BorderZones, cluster_id: str) -> list[dict[str, Any]]:
    """Return border zones as GeoJSON features (id ``<cluster>:<zone>``)."""
    frame = zones.zones
    rows = records(frame.drop(columns=["geometry"]))
    return [
        {
            "type": "Feature",
            "id": f"{cluster_id}:{row['zone_id']}",
            "geometry": shapely.geometry.mapping(geom),
            "properties": {**row, "cluster_id": cluster_id, "set_id": zones.set_id},
        }
        for row, geom in zip(rows, frame.geometry, strict=True)
    ]


def migrate(context: Context, cluster_id: str, into: str | None) -> dict[str, Any]:
    """Carry a committed cluster into another set's units; return the migration report."""
    cluster = context.clusters.get(cluster_id)
    if cluster is None:
        raise DataNotFoundError(
            f"no committed cluster {cluster_id!r}; known: {', '.join(sorted(context.clusters))}"
        )
    legacy = context.boundary_set(cluster.boundary_set)
    current = context.current if into is None else context.boundary_set(into)
    if current.id == legacy.id:
        raise InvalidParameterError(
            f"cluster {cluster_id} is named in {legacy.id} already; give another set as into"
        )
    data: dict[str, Any] = jsonable(migrate_cluster(cluster, legacy, current).to_dict())
    return data


def run_reassign(job: Job, store: IncidentStore, registry: ClusterRegistry) -> None:
    """Recompute the stored incidents whose assignment is stale, with the newest context.

    Runs as a background job after a cluster is created, replaced or confirmed, and after a
    ``POST /incidents`` that leaves stale incidents behind (a context change since they were
    judged); the job's progress counts incidents, its report holds the number assigned and
    the stamp they now carry.
    """
    job.status = "running"

    def progress(done: int, total: int) -> None:
        job.rows_done, job.rows_total = done, total

    try:
        with registry.reassign_lock, write_wait(None):  # a job, not a request: the full wait
            context = registry.context
            assigned = assign_stale(store, context, on_progress=progress)
        job.rows_done = job.rows_total = assigned
        job.report = {"assigned": assigned, "stamp": context_stamp(context)}
        job.status = "done"
    except Exception as exc:  # the job records every failure; the process goes on
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        job.finished_at = datetime.now(UTC)


def zones_of(request: Request, cluster_id: str) -> BorderZones:
    """Return a placed cluster's border zones, built once per app."""
    cache: dict[str, BorderZones] = request.app.state.zone_cache
    if cluster_id not in cache:
        territory = request.app.state.context.territory(cluster_id)
        cache[cluster_id] = cluster_zones(territory)
    return cache[cluster_id]


def check_members_scope(context: Context, scopes: tuple[str, ...], cluster: Cluster) -> None:
    """Refuse (403) a cluster definition whose members lie beyond a scoped key's units.

    A cluster decides the lead unit of incidents in its members' territory: a scoped key
    defines one only when its scopes hold every territorial member (or name the cluster).

    Raises
    ------
    PermissionDeniedError
        Naming the members beyond the scopes.
    """
    from api.errors import PermissionDeniedError
    from api.scopes import cluster_in_scope, covers, scope_units

    if not scopes or cluster_in_scope(context, scopes, cluster.id):
        return
    held = scope_units(context, scopes)
    beyond = [
        f"{m.id} ({m.territory_code})"
        for m in cluster.members
        if m.territory_code and not covers(context, held, cluster.boundary_set, m.territory_code)
    ]
    if beyond or not any(m.territory_code for m in cluster.members):
        raise PermissionDeniedError(
            f"the key is limited to {', '.join(scopes)}: members beyond them "
            f"({', '.join(beyond) or 'no territorial member'}); nothing was saved"
        )
