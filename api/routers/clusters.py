"""Clusters placed on the loaded sets, their border zones and their migration (public)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import services
from api.deps import ContextDep
from api.problems import problems
from api.schemas import FeatureCollection
from geozone.zones import BorderZones

router = APIRouter(tags=["clusters"])


def zones_of(request: Request, cluster_id: str) -> BorderZones:
    """Return a placed cluster's border zones, built once per app."""
    cache: dict[str, BorderZones] = request.app.state.zone_cache
    if cluster_id not in cache:
        territory = request.app.state.context.territory(cluster_id)
        cache[cluster_id] = services.cluster_zones(territory)
    return cache[cluster_id]


@router.get("/clusters", summary="Placed clusters")
def list_clusters(context: ContextDep) -> list[dict[str, Any]]:
    """Return every placed cluster (originals and those carried into the current set)."""
    return [services.cluster_summary(t) for t in context.territories]


@router.get("/clusters/{cluster_id}", responses=problems(404), summary="One placed cluster")
def get_cluster(context: ContextDep, cluster_id: str) -> dict[str, Any]:
    """Return a placed cluster with its full definition."""
    territory = context.territory(cluster_id)
    data = services.cluster_summary(territory)
    data["definition"] = services.jsonable(territory.cluster.model_dump(mode="json"))
    return data


@router.get(
    "/clusters/{cluster_id}/zones",
    response_model=FeatureCollection,
    responses=problems(404),
    summary="A cluster's border zones (GeoJSON)",
)
def get_zones(request: Request, cluster_id: str) -> dict[str, Any]:
    """Return the pair and junction border zones of a placed cluster."""
    features = services.zone_features(zones_of(request, cluster_id), cluster_id)
    return {
        "type": "FeatureCollection",
        "features": features,
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
    return services.migrate(context, cluster_id, into)
