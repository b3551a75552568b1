"""Locate points: unit chain, boundary candidates, each concerned cluster's decision."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from api.deps import ContextDep, SettingsDep
from api.errors import PayloadTooLargeError
from api.params import QueryDate
from api.problems import problems
from api.schemas import Located, PointIn
from api.services import locate as service
from api.services.common import json_response

router = APIRouter(tags=["locate"])

Tolerance = Annotated[
    float | None, Query(ge=0, le=5_000, description="Boundary tolerance in metres.")
]


@router.get(
    "/locate", response_model=Located, responses=problems(400, 422), summary="Judge a point"
)
async def locate(
    context: ContextDep,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    date: QueryDate | None = None,
    tolerance: Tolerance = None,
    detected_by: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Return where the point lies and, per concerned cluster, zone, lead and reason."""
    # One point is a millisecond of work: judged in the event loop rather than a worker
    # thread, and written straight to JSON (the answer is built to the Located schema).
    return json_response(service.locate_one(context, lon, lat, date, detected_by, tolerance))


@router.post(
    "/locate",
    response_model=list[Located],
    responses=problems(413, 422),
    summary="Judge many points",
)
def locate_many(
    context: ContextDep,
    settings: SettingsDep,
    points: Annotated[list[PointIn], Body()],
    tolerance: Tolerance = None,
) -> Response:
    """Judge a list of points (at most ``api_max_points``; more gives 413).

    Each point gets the answer ``GET /locate`` gives it alone.
    """
    if len(points) > settings.api_max_points:
        raise PayloadTooLargeError(
            f"{len(points):,} points; at most {settings.api_max_points:,} per request"
        )
    # Written to JSON as GET's answer is (built to the Located schema, not validated again).
    return json_response(
        service.locate_points(
            context, [(p.lon, p.lat, p.date, p.detected_by) for p in points], tolerance
        )
    )
