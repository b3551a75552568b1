"""Judge points one by one or a few at a time: the answer of ``/locate`` and ``geozone locate``.

A point is located in the boundary set in force on its date (its unit chain and the units
within the boundary tolerance) and judged by every cluster it concerns, with the same fast
path that judges files and stored incidents, so one point gets one answer whichever output
asks (the API, the CLI, a map or an export).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geozone import vntime
from geozone.assignment.decide import cluster_columns
from geozone.assignment.jurisdiction import SetLocated, locate_incidents
from geozone.settings import get_settings

if TYPE_CHECKING:
    from geozone.context import Context

#: A point to judge: longitude, latitude (EPSG:4326), date (None: today in Vietnam) and the
#: detecting unit (a unit code, a member id or a member's name, or None).
Point = tuple[float, float, date | None, str | None]


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy/pandas scalars, NaN and NaT turned into JSON-ready ones."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def judge_points(
    context: Context, points: Sequence[Point], tolerance_m: float | None = None
) -> list[dict[str, Any]]:
    """Judge points: their unit, boundary candidates and each concerned cluster's decision.

    Parameters
    ----------
    context
        The boundary sets and placed clusters to judge with.
    points
        ``(lon, lat, date, detected_by)``; the date picks the boundary set (default today).
    tolerance_m
        The boundary tolerance in metres (default: settings).

    Returns
    -------
    list of dict
        Per point: ``lon``, ``lat``, ``detected_by``, the unit columns of
        :func:`~geozone.assignment.jurisdiction.jurisdiction` and ``clusters``, the decision
        rows (every cluster that concerns the point, a lapsed one included: its row says why
        it decides nothing).
    """
    return _judge(context, points, tolerance_m)[0]


def judge_point(
    context: Context,
    lon: float,
    lat: float,
    day: date | None = None,
    detected_by: str | None = None,
    tolerance_m: float | None = None,
) -> dict[str, Any]:
    """Judge one point as :func:`judge_points`, with its full unit chain and candidates.

    Returns
    -------
    dict
        :func:`judge_points`'s answer plus ``unit`` (the finest unit holding the point, with
        its names), ``chain`` (finest first), ``candidates`` (with
        their distances), ``description`` (one sentence) and ``tolerance_m``.
    """
    (judged,), located = _judge(context, [(lon, lat, day, detected_by)], tolerance_m)
    if located:
        (part,) = located
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
        location = jsonable(part.bset.location_at(part.columns, 0, tol, strict=True).to_dict())
        for key in ("unit", "chain", "candidates", "description", "tolerance_m"):
            judged[key] = location[key]
    else:
        judged["unit"], judged["chain"] = None, []
        judged["description"] = "No loaded boundary set is in force on that date."
    return judged


def _judge(
    context: Context, points: Sequence[Point], tolerance_m: float | None
) -> tuple[list[dict[str, Any]], list[SetLocated]]:
    """Judge points in one pass; also return the location columns (chain, distances)."""
    columns = {
        "external_id": np.array([str(i) for i in range(len(points))], dtype=object),
        "lon": np.array([p[0] for p in points], dtype=float),
        "lat": np.array([p[1] for p in points], dtype=float),
        "detected_by": np.array([p[3] for p in points], dtype=object),
    }
    days = np.array(
        [np.datetime64(p[2] or vntime.today(), "D") for p in points], dtype="datetime64[D]"
    )
    units, located = locate_incidents(columns, context.sets, tolerance_m, days)
    clusters = cluster_columns(columns, units, context.territories, tolerance_m, days)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(clusters or {}):
        by_point.setdefault(str(row.pop("external_id")), []).append(row)
    out = []
    for i, ((lon, lat, _day, detector), unit) in enumerate(zip(points, _rows(units), strict=True)):
        unit.pop("external_id", None)
        unit["candidates"] = unit.get("candidates") or []
        decided = by_point.get(str(i), [])
        day = days[i].astype(date)
        out.append(
            {
                "lon": lon,
                "lat": lat,
                "detected_by": detector,
                **unit,
                "clusters": decided,
                "notices": period_notices(context, unit, day, detector, decided),
            }
        )
    return out, located


def period_notices(
    context: Context,
    unit: Mapping[str, Any],
    day: date,
    detected_by: Any,
    decided: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Say which clusters concern an incident but do not apply on its day (none decided).

    A cluster concerns it when judged in the cluster's set and the incident lies in a
    member's unit (or the area standing in for the members) or a member detected it. Each
    such cluster outside its period gets :func:`~geozone.assignment.explain.out_of_period_notice`
    instead of silence.

    Parameters
    ----------
    context
        The placed clusters.
    unit
        The incident's assignment: ``set_id`` and its unit, ward, district and province codes.
    day
        The incident's date in Vietnam time.
    detected_by
        The detecting unit as given (None: unknown).
    decided
        The decision rows the incident has (their clusters are not said again).
    """
    from geozone.assignment.explain import out_of_period_notice

    codes = {unit.get(f"{level}_code") for level in ("unit", "ward", "district", "province")}
    codes.discard(None)
    done = {row.get("cluster_id") for row in decided}
    out = []
    for territory in context.territories:
        cluster = territory.cluster
        if territory.bset.id != unit.get("set_id") or cluster.id in done or cluster.in_force(day):
            continue
        if (
            not territory.unit_codes.isdisjoint(codes)
            or territory.table.detector_of(detected_by) >= 0
        ):
            out.append(out_of_period_notice(cluster, day))
    return out


def _rows(columns: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return equal-length column arrays as JSON-ready row dicts (no DataFrame in between)."""
    names = list(columns)
    # tolist() turns numpy scalars into Python ones in C; what is left is NaN for missing.
    lists = [np.asarray(values).tolist() for values in columns.values()]
    return [
        {name: None if value != value else value for name, value in zip(names, row, strict=True)}
        for row in zip(*lists, strict=True)
    ]


__all__ = ["Point", "jsonable", "judge_point", "judge_points", "period_notices"]
