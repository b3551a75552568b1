"""OGC API – Features (Part 1 core + GeoJSON): units, zones, incidents, patrols, hotspots.

``limit`` is clamped to 1..10,000 (default 10), never refused; ``next`` links page on with
``offset``. The incidents, patrol-zones and hotspots collections need an analyst key.

``hotspots`` holds the significant hot and cold Getis–Ord Gi* cells (250 m squares, 999
permutations, FDR at 0.05) of one cluster's incidents, named with the ``cluster`` parameter
(required for this collection); ``datetime`` (an interval) sets the period, by default the
365 days ending today (see :mod:`api.routers.analytics`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep, OptionalCaller, PlannerStoreDep, StoreDep
from api.problems import problems
from api.services import ogc as service
from geozone.store.base import MAX_QUERY_OFFSET

router = APIRouter(tags=["OGC API Features"])


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, list[str]]:
    """Return the conformance classes implemented."""
    return {"conformsTo": service.CONFORMANCE}


@router.get("/collections", summary="OGC API collections")
def collections(request: Request) -> dict[str, Any]:
    """Return the feature collections."""
    return {
        "collections": [service.collection_info(request, cid) for cid in service.COLLECTIONS],
        "links": [{"href": str(request.url), "rel": "self"}],
    }


@router.get(
    "/collections/{collection_id}", responses=problems(404), summary="One OGC API collection"
)
def collection(request: Request, collection_id: str) -> dict[str, Any]:
    """Return one collection's description."""
    service.check_collection(collection_id)
    return service.collection_info(request, collection_id)


@router.get(
    "/collections/{collection_id}/items",
    responses=problems(401, 403, 404, 422),
    summary="Features of a collection (GeoJSON)",
)
def items(
    request: Request,
    collection_id: str,
    context: ContextDep,
    store: StoreDep,
    planner_store: PlannerStoreDep,
    caller: OptionalCaller,
    bbox: Annotated[str | None, Query(max_length=200)] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100)] = None,
    limit: Annotated[int, Query(description="Clamped to 1..10000")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
    cluster: Annotated[
        str | None,
        Query(max_length=80, description="hotspots: the cluster whose hot spots to list."),
    ] = None,
) -> dict[str, Any]:
    """Return one page of a collection's features with ``next`` links.

    ``hotspots`` needs ``cluster`` and an analyst key; ``datetime`` then sets the period
    (default: the 365 days ending today).
    """
    return service.items_page(
        request,
        collection_id,
        context,
        store,
        planner_store,
        caller,
        bbox,
        datetime_,
        limit,
        offset,
        cluster,
    )
