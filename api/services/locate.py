"""Locating points: their unit chain, boundary candidates and each cluster's decision.

The judging is the core's (:mod:`geozone.assignment.points`), shared with ``geozone locate``
so that the API and the CLI give one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from geozone.assignment.points import Point, judge_point, judge_points
from geozone.context import Context


def locate_points(
    context: Context, points: Sequence[Point], tolerance_m: float | None
) -> list[dict[str, Any]]:
    """Judge points, each as :func:`locate_one` judges it alone."""
    return judge_points(context, points, tolerance_m)


def locate_one(
    context: Context,
    lon: float,
    lat: float,
    day: date | None,
    detected_by: str | None,
    tolerance_m: float | None,
) -> dict[str, Any]:
    """Judge one point: its unit, chain, boundary candidates and each cluster's decision."""
    return judge_point(context, lon, lat, day, detected_by, tolerance_m)
