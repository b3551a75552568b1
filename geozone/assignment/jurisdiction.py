"""Jurisdiction: the unit that holds each incident, by the boundary set in force on its date."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from geozone.boundaries.sets import BoundarySet
from geozone.incidents.schema import JURISDICTION_FIELDS
from geozone.vntime import local_dates

UNIT_COLUMNS = ["external_id", *JURISDICTION_FIELDS]


#: Object columns of :func:`jurisdiction` taken from ``BoundarySet.locate_arrays``.
_LOCATED = ("unit_code", "ward_code", "district_code", "province_code", "candidates")


#: Incident columns: a DataFrame, or a mapping of equal-length arrays (no frame for one point).
Columns = pd.DataFrame | Mapping[str, Any]


def as_array(table: Columns, name: str, dtype: Any = None) -> NDArray[Any]:
    """Return one column of a frame or of a mapping of arrays as a numpy array."""
    values = table[name]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=dtype)
    return np.asarray(values, dtype=dtype)


@dataclass(frozen=True)
class SetLocated:
    """One boundary set's share of a batch: the rows it judged and their located columns."""

    bset: BoundarySet
    rows: NDArray[np.intp]
    columns: dict[str, NDArray[Any]]  # as BoundarySet.locate_arrays returns them


def jurisdiction(
    incidents: pd.DataFrame, sets: Sequence[BoundarySet], tolerance_m: float | None = None
) -> pd.DataFrame:
    """Locate each incident in the boundary set in force on its date.

    Parameters
    ----------
    incidents
        Needs ``external_id``, ``occurred_at``, ``lon``, ``lat``.
    sets
        The loaded boundary sets; where several are in force, the latest ``valid_from`` wins.
    tolerance_m
        Boundary tolerance for the on-boundary flag (default: settings).

    Returns
    -------
    pandas.DataFrame
        :data:`UNIT_COLUMNS`, one row per incident in input order.
    """
    columns = locate_incidents(incidents, sets, tolerance_m)[0]
    return pd.DataFrame(
        {
            column: values
            if column in ("external_id", "locate_status", "on_boundary")
            else pd.Series(values, dtype=object, copy=False)
            for column, values in columns.items()
        }
    )


def locate_incidents(
    incidents: Columns,
    sets: Sequence[BoundarySet],
    tolerance_m: float | None = None,
    days: NDArray[np.datetime64] | None = None,
    threads: int | None = None,
) -> tuple[dict[str, NDArray[Any]], list[SetLocated]]:
    """Return :func:`jurisdiction`'s columns as arrays and, per set used, its location columns.

    The second part keeps what the unit columns leave out (candidate distances, the whole
    chain) so that a caller can describe a point without locating it again
    (:meth:`BoundarySet.location_at`). ``days`` are the incidents' dates in Vietnam time
    (:func:`local_dates`), when the caller has them already; ``incidents`` may then be a
    mapping of arrays without ``occurred_at``. ``threads``: see
    :func:`geozone.parallel.threads_for`.
    """
    days = local_dates(incidents["occurred_at"]) if days is None else days
    lon, lat = as_array(incidents, "lon", float), as_array(incidents, "lat", float)
    n = len(lon)
    chosen = np.full(n, -1)
    for i in sorted(range(len(sets)), key=lambda k: sets[k].info.valid_from):
        info = sets[i].info
        end = np.datetime64(info.valid_to or date.max)
        chosen[(days >= np.datetime64(info.valid_from)) & (days <= end)] = i
    set_id: NDArray[np.object_] = np.full(n, None, dtype=object)
    status: NDArray[np.object_] = np.full(n, "no_set", dtype=object)
    located = {column: np.full(n, None, dtype=object) for column in _LOCATED}
    on_boundary = np.zeros(n, dtype=bool)
    parts: list[SetLocated] = []
    for i, bset in enumerate(sets):
        rows = np.flatnonzero(chosen == i)
        if not len(rows):
            continue
        found = bset.locate_arrays(lon[rows], lat[rows], tolerance_m, threads)
        parts.append(SetLocated(bset, rows, found))
        set_id[rows] = bset.id
        status[rows] = found["status"]
        on_boundary[rows] = found["on_boundary"]
        for column, values in located.items():
            if column in found:
                values[rows] = found[column]
    units = {
        "external_id": as_array(incidents, "external_id"),
        "set_id": set_id,
        "locate_status": status,
        **{column: located[column] for column in _LOCATED if column != "candidates"},
        "on_boundary": on_boundary,
        "candidates": located["candidates"],
    }
    return units, parts
