"""One event reported by two members: linking reports into events.

In a border zone two members often log the same event: one detected it, the other was
called. :func:`link_reports` links reports from *different* members that lie within a
distance and a time window of each other (and share a category) into one event, with a
confidence; the earliest detection leads under the border rule, the others are cooperating
reports. An event holds at most one report per member: links are made strongest first,
and one that would put a member in an event twice is not made. :func:`count_events`
counts events rather than reports and says how many were linked.

Defaults (:class:`LinkWindow`), and why:

- ``distance_m = 300``: the two reports of one event carry the position each unit logged
  (a phone's GPS, 5–50 m; a point picked on a map or the address geocoded by the second
  unit, up to a block away); 300 m holds both while staying under the district zone width
  (1,000 m) and not far above the ward zone width (200 m), so two events a street apart in
  a ward are kept apart by the time window as well;
- ``minutes = 120``: the called member logs the event when it arrives or when the report is
  written up, usually within the hour; two hours keeps late entries, while a repeat event
  at the same spot on another shift (the "same place, other time" case) stays apart;
- the same category is required: a theft and a traffic accident at one junction within the
  hour are two events.

Both are set per cluster (``windows``, keyed by cluster id) when a cluster's members log
differently. A planner or analyst may unlink a wrong pair: the pairs given in ``unlinked``
are never linked, directly (a chain through a third report may still join them; the
answer says which pairs it used).

Confidence of a link: ``1 - (d / distance_m + dt / minutes) / 2`` (1 for the same place and
time, 0.5 at either edge of the window, more than 0 inside it); an event's confidence is
its weakest link. No web framework is imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from geozone.errors import InvalidParameterError

#: Metres per degree of latitude, and of longitude at the equator (a local flat projection:
#: the errors are far below a metre over the distances linked).
_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0

#: Columns of :func:`link_reports`'s answer.
LINK_COLUMNS = ("external_id", "event_id", "event_role", "event_size", "link_confidence")


@dataclass(frozen=True)
class LinkWindow:
    """How near in space and time two reports of one event are (see the module notes)."""

    distance_m: float = 300.0
    minutes: float = 120.0
    same_category: bool = True

    def __post_init__(self) -> None:
        if not (0 < self.distance_m <= 5_000) or not (0 < self.minutes <= 24 * 60):
            raise InvalidParameterError(
                f"a link window of {self.distance_m} m and {self.minutes} min is outside "
                "(0, 5,000 m] × (0, 1,440 min]"
            )


@dataclass(frozen=True)
class Linked:
    """Reports linked into events.

    Attributes
    ----------
    reports
        :data:`LINK_COLUMNS`, one row per report in input order: the event it belongs to
        (``ev-`` and the leading report's id; a report alone leads its own event), its role
        (``lead``, ``cooperating`` or ``single``), the event's number of reports and the
        event's confidence (its weakest link; 1 for a single report).
    pairs
        The links used: ``a``, ``b`` (external ids), ``distance_m``, ``minutes``,
        ``confidence``.
    """

    reports: pd.DataFrame
    pairs: pd.DataFrame


def link_reports(
    incidents: pd.DataFrame,
    window: LinkWindow | None = None,
    *,
    clusters: NDArray[Any] | pd.Series | None = None,
    windows: Mapping[str, LinkWindow] | None = None,
    unlinked: Iterable[tuple[str, str]] = (),
) -> Linked:
    """Link reports of one event made by different members.

    Parameters
    ----------
    incidents
        ``external_id``, ``occurred_at``, ``lon``, ``lat``, ``detected_by``, ``category``
        and optionally ``detected_at`` (the detection time; ``occurred_at`` when missing).
        Reports without a detecting member are never linked (nothing says two members
        logged them).
    window
        The default window (:class:`LinkWindow`).
    clusters
        The cluster each report was judged under (one id per row, None for none): reports
        link only within one cluster, with that cluster's window from ``windows``. None:
        one group, the default window.
    windows
        Windows by cluster id.
    unlinked
        Pairs of external ids a planner or analyst unlinked: never linked directly.
    """
    window = window or LinkWindow()
    n = len(incidents)
    ids = incidents["external_id"].astype(str).to_numpy(dtype=object)
    groups = (
        np.full(n, "", dtype=object)
        if clusters is None
        else np.asarray(
            [("" if c is None or c != c else str(c)) for c in np.asarray(clusters)], dtype=object
        )
    )
    times = _detection_minutes(incidents)
    lon = incidents["lon"].to_numpy(dtype=float)
    lat = incidents["lat"].to_numpy(dtype=float)
    lat0 = float(np.nanmean(lat)) if n else 0.0
    x = lon * _M_PER_DEG_LON * np.cos(np.radians(lat0))
    y = lat * _M_PER_DEG_LAT
    members = incidents["detected_by"].to_numpy(dtype=object)
    categories = incidents["category"].astype(str).to_numpy(dtype=object)
    refused = {frozenset(pair) for pair in unlinked}
    found: list[tuple[int, int, float, float, float]] = []
    for group in pd.unique(groups):
        rows = np.flatnonzero(groups == group)
        chosen = (windows or {}).get(str(group), window) if group else window
        found += _group_pairs(rows, x, y, times, members, categories, ids, chosen, refused)
    return _events(ids, times, members, found)


def _detection_minutes(incidents: pd.DataFrame) -> NDArray[np.float64]:
    """Return each report's detection time (``occurred_at`` when unknown), in minutes."""
    occurred = pd.DatetimeIndex(pd.to_datetime(incidents["occurred_at"], utc=True))
    minutes = np.asarray(occurred.as_unit("s").asi8, dtype=np.float64) / 60.0
    minutes[np.asarray(occurred.isna())] = np.nan
    if "detected_at" in incidents.columns:
        detected = pd.DatetimeIndex(pd.to_datetime(incidents["detected_at"], utc=True))
        known = ~np.asarray(detected.isna())
        minutes[known] = np.asarray(detected.as_unit("s").asi8, dtype=np.float64)[known] / 60.0
    return minutes


def _group_pairs(
    rows: NDArray[np.intp],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    times: NDArray[np.float64],
    members: NDArray[Any],
    categories: NDArray[Any],
    ids: NDArray[Any],
    window: LinkWindow,
    refused: set[frozenset[str]],
) -> list[tuple[int, int, float, float, float]]:
    """Return the links (row a, row b, metres, minutes, confidence) within one group."""
    usable = rows[
        np.isfinite(x[rows])
        & np.isfinite(y[rows])
        & np.isfinite(times[rows])
        & np.array([isinstance(m, str) and bool(m) for m in members[rows]], dtype=bool)
    ]
    if len(usable) < 2:
        return []
    # Time scaled to metres: a box query (Chebyshev) finds the pairs within both windows.
    scale = window.distance_m / window.minutes
    points = np.column_stack([x[usable], y[usable], times[usable] * scale])
    tree = cKDTree(points)
    pairs = tree.query_pairs(window.distance_m, p=np.inf, output_type="ndarray")
    out = []
    for i, j in pairs:
        a, b = int(usable[i]), int(usable[j])
        if members[a] == members[b]:
            continue
        if window.same_category and categories[a] != categories[b]:
            continue
        metres = float(np.hypot(x[a] - x[b], y[a] - y[b]))
        minutes = abs(float(times[a] - times[b]))
        if metres > window.distance_m or minutes > window.minutes:
            continue
        if frozenset((str(ids[a]), str(ids[b]))) in refused:
            continue
        confidence = 1.0 - (metres / window.distance_m + minutes / window.minutes) / 2.0
        out.append((a, b, metres, minutes, confidence))
    return out


def _events(
    ids: NDArray[Any],
    times: NDArray[np.float64],
    members: NDArray[Any],
    candidates: list[tuple[int, int, float, float, float]],
) -> Linked:
    """Join reports into events, strongest links first, one report per member per event.

    Two reports of one member are two events of that member: a link that would put a
    member in an event twice is not made (the event keeps the stronger link).
    """
    n = len(ids)
    parent = np.arange(n)
    held: dict[int, set[Any]] = {}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    found = []
    for link in sorted(candidates, key=lambda f: (-f[4], str(ids[f[0]]), str(ids[f[1]]))):
        ra, rb = root(link[0]), root(link[1])
        if ra == rb:
            continue
        mine = held.get(ra, {members[ra]})
        theirs = held.get(rb, {members[rb]})
        if mine & theirs:
            continue
        parent[rb] = ra
        held[ra] = mine | theirs
        held.pop(rb, None)
        found.append(link)
    labels = np.array([root(i) for i in range(n)])
    frame = pd.DataFrame({"row": np.arange(n), "label": labels, "t": times, "id": ids})
    # The earliest detection leads (ties: the smaller id, so the answer is stable).
    ordered = frame.sort_values(["label", "t", "id"], na_position="last")
    lead_row = ordered.groupby("label")["row"].first()
    size = frame.groupby("label")["row"].size()
    weakest = pd.Series(1.0, index=size.index)
    for f in found:
        label = labels[f[0]]
        weakest[label] = min(weakest[label], f[4])
    leads = lead_row.reindex(labels).to_numpy()
    sizes = size.reindex(labels).to_numpy()
    roles = np.where(sizes == 1, "single", np.where(leads == np.arange(n), "lead", "cooperating"))
    reports = pd.DataFrame(
        {
            "external_id": ids,
            "event_id": ["ev-" + str(ids[r]) for r in leads],
            "event_role": roles,
            "event_size": sizes.astype(np.int64),
            "link_confidence": weakest.reindex(labels).to_numpy(dtype=float),
        }
    )
    pairs = pd.DataFrame(
        {
            "a": [str(ids[f[0]]) for f in found],
            "b": [str(ids[f[1]]) for f in found],
            "distance_m": [f[2] for f in found],
            "minutes": [f[3] for f in found],
            "confidence": [f[4] for f in found],
        }
    )
    return Linked(reports, pairs)


def count_events(linked: Linked) -> dict[str, int]:
    """Count events, not reports, and say how many reports were linked.

    Returns
    -------
    dict
        ``reports``, ``events``, ``linked_reports`` (reports in events of two or more) and
        ``linked_events`` (such events).
    """
    reports = linked.reports
    linked_rows = reports["event_size"] > 1
    return {
        "reports": len(reports),
        "events": int(reports["event_id"].nunique()),
        "linked_reports": int(linked_rows.sum()),
        "linked_events": int(reports.loc[linked_rows, "event_id"].nunique()),
    }


def one_per_event(reports: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, int]]:
    """Keep one report per event, so that counts count events, not reports.

    An event is kept by its lead report (the earliest detection); when its lead is not
    among ``reports`` (another period, another cluster), by its earliest report there.
    Reports without an ``event_id`` (not linked yet) are their own events.

    Parameters
    ----------
    reports
        Reports with ``external_id`` and, when linked, ``event_id`` and ``event_role``
        (the store's event columns); without ``event_id`` they are returned as they are.

    Returns
    -------
    tuple of pandas.DataFrame and dict
        The kept reports (in their order), and ``reports``, ``events``, ``linked_reports``
        (reports in events of two or more among ``reports``) and ``linked_events``.
    """
    n = len(reports)
    if "event_id" not in reports.columns or not n:
        return reports, {"reports": n, "events": n, "linked_reports": 0, "linked_events": 0}
    ids = reports["external_id"].astype(str)
    key = reports["event_id"].where(reports["event_id"].notna(), "ev-" + ids).astype(str)
    roles = reports["event_role"] if "event_role" in reports.columns else None
    rank = roles.eq("cooperating") if roles is not None else pd.Series(False, reports.index)
    order = pd.DataFrame(
        {"key": key, "rank": rank.to_numpy(dtype=bool), "id": ids}, index=reports.index
    )
    if "occurred_at" in reports.columns:
        order["t"] = pd.to_datetime(reports["occurred_at"], utc=True)
    columns = ["key", "rank", *(["t"] if "t" in order else []), "id"]
    kept = order.sort_values(columns, kind="stable").drop_duplicates("key").index
    sizes = key.map(key.value_counts())
    counted = {
        "reports": n,
        "events": int(key.nunique()),
        "linked_reports": int((sizes > 1).sum()),
        "linked_events": int(key[sizes > 1].nunique()),
    }
    return reports.loc[reports.index.isin(kept)], counted


__all__ = [
    "LINK_COLUMNS",
    "LinkWindow",
    "Linked",
    "count_events",
    "link_reports",
    "one_per_event",
]
