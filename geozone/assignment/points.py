"""Judge points one by one or a few at a time: the answer of ``/locate`` and ``geozone locate``.

A point is located in the boundary set in force on its date (its unit chain and the units
within the boundary tolerance) and judged by every cluster it concerns, with the same fast
path that judges files and stored incidents, so one point gets one answer whichever output
asks (the API, the CLI, a map or an export).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from geozone import vntime
from geozone.assignment.decide import cluster_columns
from geozone.assignment.jurisdiction import SetLocated, locate_incidents
from geozone.settings import get_settings

if TYPE_CHECKING:
    from geozone.boundaries.sets import Location, SetInfo
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
    """Judge points: where each lies and each concerned cluster's decision.

    A point's answer does not depend on the batch it comes in: :func:`judge_point` is this
    function for a batch of one (``GET /locate`` and ``geozone locate`` answer with it,
    ``POST /locate`` with this).

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
        :func:`~geozone.assignment.jurisdiction.jurisdiction`, ``clusters`` (the decision
        rows: every cluster that concerns the point, a lapsed one included: its row says why
        it decides nothing), ``notices`` (:func:`period_notices`: the boundary set's snapshot
        when the date lies outside it, clusters that do not apply), and where the point lies:
        ``unit`` (the finest unit holding it, with its names; None outside), ``chain``
        (finest first), ``candidates`` (every unit within the tolerance, nearest first, the
        holding unit first at 0 m, each with its code, full name and distance in metres),
        ``description`` (one sentence) and ``tolerance_m`` (the tolerance applied).
    """
    return _judge(context, points, tolerance_m)


def judge_point(
    context: Context,
    lon: float,
    lat: float,
    day: date | None = None,
    detected_by: str | None = None,
    tolerance_m: float | None = None,
) -> dict[str, Any]:
    """Judge one point: :func:`judge_points`'s answer for a batch of that point alone.

    Raises
    ------
    InvalidCoordinatesError
        When lon/lat are not finite numbers within [-180, 180] and [-90, 90].
    """
    (judged,) = _judge(context, [(lon, lat, day, detected_by)], tolerance_m, strict=True)
    return judged


#: What a point's answer says when no loaded boundary set is in force on its date.
_NO_SET = "No loaded boundary set is in force on that date."
#: The keys of a point's answer that say where it lies (see :func:`_places`).
_PLACE = ("unit", "chain", "candidates", "description", "tolerance_m")


def _judge(
    context: Context, points: Sequence[Point], tolerance_m: float | None, strict: bool = False
) -> list[dict[str, Any]]:
    """Judge points in one pass (``strict``: raise for invalid coordinates)."""
    columns = {
        "external_id": np.array([str(i) for i in range(len(points))], dtype=object),
        "lon": np.array([p[0] for p in points], dtype=float),
        "lat": np.array([p[1] for p in points], dtype=float),
        "detected_by": np.array([p[3] for p in points], dtype=object),
    }
    days = np.array(
        [np.datetime64(p[2] or vntime.today(), "D") for p in points], dtype="datetime64[D]"
    )
    tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
    units, located = locate_incidents(columns, context.sets, tol, days)
    places = _places(located, len(points), tol, strict)
    clusters = cluster_columns(columns, units, context.territories, tol, days)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(clusters or {}):
        by_point.setdefault(str(row.pop("external_id")), []).append(row)
    out = []
    for i, ((lon, lat, _day, detector), unit) in enumerate(zip(points, _rows(units), strict=True)):
        unit.pop("external_id", None)
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
                # The location's candidates (the holder first, names, distances) replace
                # the unit columns' bare codes, listed only on a boundary.
                **places[i],
            }
        )
    return out


def _places(
    located: Sequence[SetLocated], n: int, tolerance_m: float, strict: bool
) -> list[dict[str, Any]]:
    """Return where each of ``n`` points lies: unit, chain, candidates, description, tolerance.

    Each point is described from its set's location columns
    (:meth:`~geozone.boundaries.sets.BoundarySet.location_at`), without locating it again; a
    point no set covers says so.
    """
    places: list[dict[str, Any]] = [
        {
            "unit": None,
            "chain": [],
            "candidates": [],
            "description": _NO_SET,
            "tolerance_m": tolerance_m,
        }
        for _ in range(n)
    ]
    for part in located:
        units: dict[str, dict[str, Any]] = {}  # each unit's record, made once per batch
        for j, row in enumerate(part.rows.tolist()):
            location = part.bset.location_at(part.columns, j, tolerance_m, strict=strict)
            places[row] = _place(location, units)
    return places


def _place(location: Location, units: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Return a location's :data:`_PLACE` keys of ``Location.to_dict``, JSON-ready.

    ``units`` holds the JSON-ready record of each unit already met, by code: a batch of many
    points in a few units makes each record once (the records are shared, not copied).
    """
    described = location.to_dict()
    chain = []
    for unit in location.chain:
        if unit.code not in units:
            units[unit.code] = jsonable(unit.to_dict())
        chain.append(units[unit.code])
    described["chain"], described["unit"] = chain, chain[0] if chain else None
    return {
        key: described[key] if key in ("unit", "chain") else jsonable(described[key])
        for key in _PLACE
    }


def period_notices(
    context: Context,
    unit: Mapping[str, Any],
    day: date,
    detected_by: Any,
    decided: Sequence[Mapping[str, Any]] = (),
) -> list[str]:
    """Say what an incident's answer on its day rests on and which clusters do not apply.

    First, when the boundary set it was judged on is one snapshot and the day lies outside
    it (vn-legacy-districts, about February 2023, for a day of 2015),
    :func:`~geozone.assignment.explain.snapshot_notice`: the units and the sentences name the
    units as the snapshot has them. Then each cluster that concerns the incident but does not
    apply on its day (judged in the cluster's set, the incident in a member's unit or the
    area standing in for the members, or detected by a member):
    :func:`~geozone.assignment.explain.out_of_period_notice` instead of silence.

    Parameters
    ----------
    context
        The loaded sets and placed clusters.
    unit
        The incident's assignment: ``set_id`` and its unit, ward, district and province codes.
    day
        The incident's date in Vietnam time.
    detected_by
        The detecting unit as given (None: unknown).
    decided
        The decision rows the incident has (their clusters are not said again).
    """
    from geozone.assignment.explain import out_of_period_notice, snapshot_notice

    out = []
    set_id = unit.get("set_id")
    for bset in context.sets:
        if bset.id == set_id and (said := snapshot_notice(bset.info, day)) is not None:
            out.append(said)
    codes = {unit.get(f"{level}_code") for level in ("unit", "ward", "district", "province")}
    codes.discard(None)
    done = {row.get("cluster_id") for row in decided}
    for territory in context.territories:
        cluster = territory.cluster
        if territory.bset.id != set_id or cluster.id in done or cluster.in_force(day):
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


def set_periods_of(rows: pd.DataFrame) -> pd.DataFrame:
    """Return the boundary sets that judged ``rows`` and when, as the store's ``set_periods``.

    One row per set (``set_id``): the first and the last ``occurred_at`` of its rows; rows
    not assigned yet (no ``set_id``) are left out. For rows in hand (a page); an export,
    whose rows are not, asks the store
    (:meth:`~geozone.store.sql.SqlIncidentStore.set_periods`).
    """
    if rows.empty or "set_id" not in rows:
        return pd.DataFrame({"set_id": [], "first": [], "last": []})
    grouped = rows.dropna(subset=["set_id"]).groupby("set_id", sort=True)["occurred_at"]
    return grouped.agg(first="min", last="max").reset_index()


def snapshot_notices(infos: Iterable[SetInfo], periods: pd.DataFrame) -> list[str]:
    """Say, once per set, that rows were judged on a snapshot set for days outside it.

    For a list or page of stored incidents (``GET /incidents``, the OGC items page,
    ``geozone incidents list``) and an export: the notice :func:`period_notices` gives one
    incident (:func:`~geozone.assignment.explain.snapshot_notice`), said once for the rows
    together when those a set judged span a day outside its snapshot.

    Parameters
    ----------
    infos
        The boundary sets (their info).
    periods
        ``set_id``, ``first`` and ``last`` (times) of the rows: :func:`set_periods_of`, or
        the store's :meth:`~geozone.store.sql.SqlIncidentStore.set_periods`.
    """
    from geozone.assignment.explain import snapshot_notice

    known = periods.dropna(subset=["first", "last"])
    spans = dict(
        zip(
            known["set_id"].astype(str),
            zip(known["first"], known["last"], strict=True),
            strict=True,
        )
    )
    out = []
    for info in infos:
        if info.snapshot is None or info.id not in spans:
            continue
        first, last = (day.astype(date) for day in vntime.local_dates(list(spans[info.id])))
        if (said := snapshot_notice(info, first, last)) is not None:
            out.append(said)
    return out


__all__ = [
    "Point",
    "jsonable",
    "judge_point",
    "judge_points",
    "period_notices",
    "set_periods_of",
    "snapshot_notices",
]
