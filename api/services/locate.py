"""Locating points: their unit chain, boundary candidates and each cluster's decision."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import numpy as np

from api.services.common import jsonable
from geozone import vntime
from geozone.assignment import SetLocated, cluster_columns, locate_incidents
from geozone.context import Context
from geozone.settings import get_settings


def _judged_on(day: date | None) -> np.datetime64:
    """Return the date a point is judged on: the given one, or today in Vietnam."""
    return np.datetime64(day or vntime.today(), "D")


def locate_points(
    context: Context,
    points: Sequence[tuple[float, float, date | None, str | None]],
    tolerance_m: float | None,
) -> list[dict[str, Any]]:
    """Judge points: their unit, boundary candidates and each concerned cluster's decision.

    Parameters
    ----------
    points
        ``(lon, lat, date, detected_by)``; the date picks the boundary set (default today).
    """
    return _judge(context, points, tolerance_m)[0]


def _judge(
    context: Context,
    points: Sequence[tuple[float, float, date | None, str | None]],
    tolerance_m: float | None,
) -> tuple[list[dict[str, Any]], list[SetLocated]]:
    """Judge points in one pass; also return the location columns (chain, distances)."""
    columns = {
        "external_id": np.array([str(i) for i in range(len(points))], dtype=object),
        "lon": np.array([p[0] for p in points], dtype=float),
        "lat": np.array([p[1] for p in points], dtype=float),
        "detected_by": np.array([p[3] for p in points], dtype=object),
    }
    days = np.array([_judged_on(p[2]) for p in points], dtype="datetime64[D]")
    units, located = locate_incidents(columns, context.sets, tolerance_m, days)
    clusters = cluster_columns(columns, units, context.territories, tolerance_m, days)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(clusters or {}):
        by_point.setdefault(str(row.pop("external_id")), []).append(row)
    out = []
    for i, ((lon, lat, _day, detector), unit) in enumerate(zip(points, _rows(units), strict=True)):
        unit.pop("external_id", None)
        unit["candidates"] = unit.get("candidates") or []
        out.append(
            {
                "lon": lon,
                "lat": lat,
                "detected_by": detector,
                **unit,
                "clusters": by_point.get(str(i), []),
            }
        )
    return out, located


def _rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Return equal-length column arrays as JSON-ready row dicts (no DataFrame in between)."""
    names = list(columns)
    # tolist() turns numpy scalars into Python ones in C; what is left is NaN for missing.
    lists = [np.asarray(values).tolist() for values in columns.values()]
    return [
        {name: None if value != value else value for name, value in zip(names, row, strict=True)}
        for row in zip(*lists, strict=True)
    ]


def locate_one(
    context: Context,
    lon: float,
    lat: float,
    day: date | None,
    detected_by: str | None,
    tolerance_m: float | None,
) -> dict[str, Any]:
    """Judge one point, with its full unit chain and candidate distances (one lookup)."""
    (judged,), located = _judge(context, [(lon, lat, day, detected_by)], tolerance_m)
    if located:
        (part,) = located
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
        location = part.bset.location_at(part.columns, 0, tol, strict=True)
        data = jsonable(location.to_dict())
        judged["chain"] = data["chain"]
        judged["candidates"] = data["candidates"]
        judged["description"] = data["description"]
        judged["tolerance_m"] = data["tolerance_m"]
    else:
        judged["chain"] = []
        judged["description"] = "No loaded boundary set is in force on that date."
    return judged
