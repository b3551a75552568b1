"""Boundary sets and units (public)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import ContextDep
from api.problems import problems
from api.schemas import SetOut, UnitOut, UnitPage
from api.services import address as address_service
from api.services import boundaries as service
from api.services.common import page_links, parse_bbox
from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.store.base import MAX_QUERY_OFFSET

router = APIRouter(tags=["boundaries"])

SetQuery = Annotated[
    str | None, Query(alias="set", max_length=64, description="Boundary set id (default current).")
]


def _set(context: Context, set_id: str | None) -> BoundarySet:
    return context.current if set_id is None else context.boundary_set(set_id)


@router.get("/sets", response_model=list[SetOut], summary="Loaded boundary sets")
def list_sets(context: ContextDep) -> list[SetOut]:
    """Return every loaded boundary set; ``current`` marks the one in force today."""
    current = context.current.id
    return [
        SetOut(
            id=b.info.id,
            title=b.info.title,
            valid_from=b.info.valid_from,
            valid_to=b.info.valid_to,
            licence=b.info.licence,
            attribution=b.info.attribution,
            attribution_en=b.info.attribution_en,
            levels=list(b.levels),
            current=b.id == current,
            title_vi=b.info.title_vi,
            as_of=b.info.as_of,
        )
        for b in context.sets
    ]


@router.get("/units", response_model=UnitPage, responses=problems(404, 422), summary="Units")
def list_units(
    request: Request,
    context: ContextDep,
    set_id: SetQuery = None,
    level: Level | None = None,
    parent: Annotated[str | None, Query(max_length=64)] = None,
    bbox: Annotated[
        str | None, Query(description="minx,miny,maxx,maxy in degrees", max_length=200)
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="Name search")] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
) -> dict[str, Any]:
    """Return units of a set filtered by level, parent, bbox and name search, paged.

    A name search without ``set`` also answers, in ``former``, the earlier units of that
    name that no longer exist, with their validity and today's successors.
    """
    units, total = service.list_units(
        _set(context, set_id),
        level=level,
        parent=parent,
        bbox=parse_bbox(bbox),
        q=q,
        limit=limit,
        offset=offset,
    )
    former = address_service.former_units(context, q, level) if q and set_id is None else []
    return {
        "numberMatched": total,
        "numberReturned": len(units),
        "units": units,
        "former": former,
        "links": page_links(request.url, offset, limit, len(units), total, "application/json"),
    }


@router.get("/units/{code}", responses=problems(404), summary="One unit (GeoJSON Feature)")
def get_unit(context: ContextDep, code: str, set_id: SetQuery = None) -> dict[str, Any]:
    """Return a unit with its geometry and its chain of parent codes."""
    return service.unit_feature(_set(context, set_id), code)


@router.get(
    "/units/{code}/neighbours",
    response_model=list[UnitOut],
    responses=problems(400, 404),
    summary="Units sharing a boundary with a unit",
)
def get_neighbours(context: ContextDep, code: str, set_id: SetQuery = None) -> list[Any]:
    """Return the units of the same level that share a boundary line with the unit."""
    return service.neighbours(_set(context, set_id), code)
