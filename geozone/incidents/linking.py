"""One event reported by two members: linking reports into events.

In a border zone two members often log the same event: one detected it, the other was
called. :func:`link_reports` links reports from *different* members that lie within a
distance and a time window of each other (and share a category) into one event, with a
confidence; the earliest detection leads under the border rule, the others are cooperating
reports. :func:`count_events` counts events rather than reports and says how many were linked.

What decides a link
-------------------
1. **Candidates**: two reports of one category by two different members, within
   ``distance_m`` of each other, whose detection times *and* stated occurrence times each
   lie within ``minutes`` (both reports say when the one event happened).
2. **Chance at this place** (the density-aware test): at a hotspot, unrelated reports of the
   same kind by other members fall inside any window every day, so nearness alone proves
   little there. The local rate is counted: the same-category reports within ``distance_m``
   and ``context_hours`` either side (of the reports given and of ``context``), which gives
   ``lam``, the number of unrelated reports expected inside one window around a report
   (the mean of the pair's two counts, each less the partner). The expected number at least
   as close as the pair is ``E = lam × (d / distance_m)² × (gap / minutes)``, with ``d`` the
   distance (at least :data:`MIN_METRES`, the error of a phone's position) and ``gap`` the
   larger of the two time gaps (at least :data:`MIN_MINUTES`, the rounding of logged
   times). The link's **confidence** is ``exp(-E)``, the probability that no unrelated
   report would lie this close by chance; a candidate is linked only when the chance of a
   coincidence, ``1 - exp(-E)``, is at most ``chance`` (5 %). Away from hotspots ``lam`` is
   near 0 and every candidate inside the window links (confidence near 1: the window is the
   evidence there); at the T11 bridge a pair must be much closer than the window.
3. **Matching, strongest first, no chains**: links are taken by confidence (ties: the closer
   pair in the window); two events are joined only when *every* pair across them is a
   candidate that passed (2), and an event holds at most one report per member. So a report
   is linked to at most one report of each other member, and no event grows by a chain of
   near neighbours (A near B near C with A far from C stays two events).

Defaults (:class:`LinkWindow`), and why:

- ``distance_m = 300``: the two reports of one event carry the position each unit logged
  (a phone's GPS, 5–50 m; a point picked on a map or the address geocoded by the second
  unit, up to a block away); 300 m holds both while staying under the district zone width
  (1,000 m) and not far above the ward zone width (200 m);
- ``minutes = 120``: the called member logs the event when it arrives or when the report is
  written up, usually within the hour; two hours keeps late entries, while a repeat event
  at the same spot on another shift (the "same place, other time" case) stays apart;
- the same category is required: a theft and a traffic accident at one junction within the
  hour are two events;
- ``chance = 0.05`` and ``context_hours = 24``: a link is made when a coincidence this close
  is at most 1 in 20 at the local rate of the surrounding day (a whole day, so the rate is
  counted on enough reports; it averages the hours of the day, so at a spot busy at night
  the night's rate is under-counted about twofold).

Measured on synthetic data (``benchmarks/bench_events.py --n 50000``; the README's linking
section): at the generator's T11-bridge hotspot (7,500 reports a year within about 150 m)
the window alone, chained, linked with a precision of 39.2 % and a recall of 88.8 % (all
reports: 48.1 % / 92.1 %); the chance test and the matching give 72.3 % / 91.2 % (78.2 % /
93.8 %). Where reports are denser still (33 a day within 150 m) the test costs recall.

Both windows are set per cluster (``windows``, keyed by cluster id) when a cluster's members
log differently. A planner or analyst may unlink a wrong pair: the pairs given in
``unlinked`` are never in one event (neither directly nor through a third report, since
every pair of an event must pass).

No web framework is imported.
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
#: The least distance the chance test counts (a phone's position is good to about this).
MIN_METRES = 25.0
#: The least time gap the chance test counts (logged times are rounded to about this).
MIN_MINUTES = 10.0


@dataclass(frozen=True)
class LinkWindow:
    """How near in space and time two reports of one event are (see the module notes).

    Attributes
    ----------
    distance_m, minutes
        The window: metres between the reports; minutes between their detections and
        between their stated occurrence times.
    same_category
        Link only reports of one category.
    chance
        The largest chance of a coincidence a link may have at the local rate (0 < chance
        < 1); 1 - confidence.
    context_hours
        Hours either side of a report over which the local rate is counted.
    """

    distance_m: float = 300.0
    minutes: float = 120.0
    same_category: bool = True
    chance: float = 0.05
    context_hours: float = 24.0

    def __post_init__(self) -> None:
        if not (0 < self.distance_m <= 5_000) or not (0 < self.minutes <= 24 * 60):
            raise InvalidParameterError(
                f"a link window of {self.distance_m} m and {self.minutes} min is outside "
                "(0, 5,000 m] × (0, 1,440 min]"
            )
        if not (0 < self.chance < 1) or not (self.minutes / 60 <= self.context_hours <= 744):
            raise InvalidParameterError(
                f"a link chance of {self.chance} and a context of {self.context_hours} h are "
                f"outside (0, 1) × [the window's {self.minutes / 60:g} h, 744 h]"
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
        The links used: ``a``, ``b`` (external ids), ``distance_m``, ``minutes`` (between
        the detections), ``confidence``.
    """

    reports: pd.DataFrame
    pairs: pd.DataFrame


#: A candidate link: row a, row b, metres, minutes between detections, confidence, closeness.
_Link = tuple[int, int, float, float, float, float]


#: An event's id is this and the external id of its lead report.
EVENT_PREFIX = "ev-"


def own_events(external_ids: Iterable[Any]) -> pd.DataFrame:
    """Return the event columns of reports that are each their own event.

    ``event_id``, ``event_role``, ``event_confidence``, one row per id in order: ``ev-<id>``,
    ``single``, 1.0, as :func:`link_reports` gives a report linked with none (an import
    stores each new report so until it links them; an address-only incident stays so).
    """
    ids = [EVENT_PREFIX + str(i) for i in external_ids]
    return pd.DataFrame(
        {
            "event_id": ids,
            "event_role": ["single"] * len(ids),
            "event_confidence": np.ones(len(ids), dtype=np.float64),
        }
    )


def link_reports(
    incidents: pd.DataFrame,
    window: LinkWindow | None = None,
    *,
    clusters: NDArray[Any] | pd.Series | None = None,
    windows: Mapping[str, LinkWindow] | None = None,
    unlinked: Iterable[tuple[str, str]] = (),
    context: pd.DataFrame | None = None,
    candidates: WindowPairs | None = None,
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
        Pairs of external ids a planner or analyst unlinked: never in one event.
    context
        Further reports (same columns) counted for the local rate only, never linked: the
        stored reports around ``incidents`` (those within ``context_hours`` of them). The
        reports of ``incidents`` are counted too.
    candidates
        The pairs of :func:`window_pairs` on the same ``incidents``, window, clusters and
        windows, when the caller has them already (the store reads the context of the
        paired reports first): the window's search is not made again.
    """
    window = window or LinkWindow()
    if candidates is None:
        candidates = window_pairs(incidents, window, clusters=clusters, windows=windows)
    elif candidates.n != len(incidents):
        raise ValueError(f"pairs of {candidates.n} reports given for {len(incidents)}")
    return candidates.events(candidates.passed(unlinked, incidents, context))


def paired(
    incidents: pd.DataFrame,
    window: LinkWindow | None = None,
    *,
    clusters: NDArray[Any] | pd.Series | None = None,
    windows: Mapping[str, LinkWindow] | None = None,
) -> NDArray[np.bool_]:
    """Tell which reports have a candidate inside a window (before the chance test).

    Only these need their local rate: the store reads the context of these alone.
    Parameters as :func:`link_reports`.
    """
    return window_pairs(incidents, window, clusters=clusters, windows=windows).paired()


@dataclass(frozen=True, eq=False)
class _GroupPairs:
    """The pairs of one group inside its window (rows of the reports, before the chance test)."""

    window: LinkWindow
    a: NDArray[np.intp]
    b: NDArray[np.intp]
    metres: NDArray[np.float64]
    minutes: NDArray[np.float64]
    told: NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class WindowPairs:
    """The candidate pairs of reports inside their window, before the chance test.

    Made by :func:`window_pairs`; :meth:`paired` tells which reports have one, and
    :func:`link_reports` takes them (``candidates``) instead of searching again.
    """

    n: int
    ids: NDArray[Any]
    times: NDArray[np.float64]
    members: NDArray[Any]
    categories: NDArray[Any]
    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    groups: tuple[_GroupPairs, ...]

    def paired(self) -> NDArray[np.bool_]:
        """Return which reports have a candidate inside a window."""
        mask = np.zeros(self.n, dtype=bool)
        for group in self.groups:
            mask[group.a] = True
            mask[group.b] = True
        return mask

    def passed(
        self,
        unlinked: Iterable[tuple[str, str]],
        incidents: pd.DataFrame,
        context: pd.DataFrame | None = None,
        *,
        counted: RateCounts | None = None,
    ) -> list[_Link]:
        """Return the links that pass the chance test (parameters as :func:`link_reports`).

        ``incidents`` are the reports these pairs were searched among. ``counted``: the
        rates counted before (for a caller that counts again over more reports), kept.
        """
        return self.links(unlinked, _Rates(incidents, context, counted))

    def events(self, found: list[_Link]) -> Linked:
        """Join the reports into events by the links ``found`` (of :meth:`passed`)."""
        return _events(self.ids, self.times, self.members, found)

    def links(self, unlinked: Iterable[tuple[str, str]], rates: _Rates | None) -> list[_Link]:
        """Return the candidate links that are not refused and pass the chance test.

        Without ``rates`` the chance test is not made (confidence 1).
        """
        refused = {frozenset(pair) for pair in unlinked}
        found: list[_Link] = []
        for group in self.groups:
            found += _group_links(self, group, refused, rates)
        return found


def window_pairs(
    incidents: pd.DataFrame,
    window: LinkWindow | None = None,
    *,
    clusters: NDArray[Any] | pd.Series | None = None,
    windows: Mapping[str, LinkWindow] | None = None,
) -> WindowPairs:
    """Return the candidate pairs inside a window (parameters as :func:`link_reports`)."""
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
    stated = _occurrence_minutes(incidents)
    lon = incidents["lon"].to_numpy(dtype=float)
    lat = incidents["lat"].to_numpy(dtype=float)
    x, y = _metres(lon, lat, _lat0(lat))
    members = incidents["detected_by"].to_numpy(dtype=object)
    categories = incidents["category"].astype(str).to_numpy(dtype=object)
    found: list[_GroupPairs] = []
    for group in pd.unique(groups):
        rows = np.flatnonzero(groups == group)
        chosen = (windows or {}).get(str(group), window) if group else window
        found.append(
            _group_pairs(rows, (x, y, lon, lat), times, stated, members, categories, chosen)
        )
    return WindowPairs(n, ids, times, members, categories, lon, lat, tuple(found))


def within_reach(
    reports: pd.DataFrame,
    around: pd.DataFrame,
    metres: float,
    minutes: float,
    *,
    same_category: bool = True,
) -> NDArray[np.bool_]:
    """Tell which ``reports`` lie within ``metres`` and ``minutes`` of a report of ``around``.

    Minutes between detection times (:func:`_detection_minutes`); with ``same_category``,
    of a report of their category only. Generous, never short: the distance is searched on
    the plane of :func:`_lat0` within a square (a few reports a little farther are kept),
    and a report without a place or a time is kept.

    Returns
    -------
    numpy.ndarray of bool
        One per row of ``reports``.
    """
    keep = np.ones(len(reports), dtype=bool)
    if reports.empty:
        return keep
    lon_r, lat_r = (reports[c].to_numpy(dtype=float) for c in ("lon", "lat"))
    lon_a, lat_a = (around[c].to_numpy(dtype=float) for c in ("lon", "lat"))
    t_r, t_a = _detection_minutes(reports), _detection_minutes(around)
    finite_r = np.isfinite(lon_r) & np.isfinite(lat_r) & np.isfinite(t_r)
    finite_a = np.isfinite(lon_a) & np.isfinite(lat_a) & np.isfinite(t_a)
    keep[finite_r] = False
    lat0 = _lat0(np.concatenate([lat_r[finite_r], lat_a[finite_a]]))
    scale = metres / minutes  # a minute as metres: one square box in space and time
    points_r = np.column_stack([*_metres(lon_r, lat_r, lat0), t_r * scale])
    points_a = np.column_stack([*_metres(lon_a, lat_a, lat0), t_a * scale])
    kinds_r, kinds_a = np.zeros(len(reports), dtype=np.intp), np.zeros(len(around), dtype=np.intp)
    if same_category:
        codes, _ = pd.factorize(
            pd.concat([reports["category"], around["category"]], ignore_index=True).astype(str)
        )
        kinds_r, kinds_a = codes[: len(reports)], codes[len(reports) :]
    for kind in np.unique(kinds_a[finite_a]):
        asked = np.flatnonzero(finite_r & (kinds_r == kind))
        if not len(asked):
            continue
        tree = cKDTree(points_a[finite_a & (kinds_a == kind)])
        gap, _ = tree.query(points_r[asked], k=1, p=np.inf, distance_upper_bound=metres * 1.001)
        keep[asked] = np.isfinite(gap)
    return keep


def _lat0(lat: NDArray[np.float64]) -> float:
    """Return the latitude of the plane the trees search on: the farthest from the equator.

    On that plane an east-west distance is never longer than :func:`_apart` measures it,
    so a tree's search within a distance finds every pair within it (and a few more, which
    :func:`_apart` then leaves out).
    """
    finite = np.abs(lat[np.isfinite(lat)])
    return float(min(finite.max(), 89.0)) if len(finite) else 0.0


def _metres(
    lon: NDArray[np.float64], lat: NDArray[np.float64], lat0: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project to metres on a flat plane at latitude ``lat0`` (the trees' search only)."""
    return lon * _M_PER_DEG_LON * np.cos(np.radians(lat0)), lat * _M_PER_DEG_LAT


def _apart(
    lon_a: NDArray[np.float64],
    lat_a: NDArray[np.float64],
    lon_b: NDArray[np.float64],
    lat_b: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Return metres between points, on the flat plane at the pair's own mean latitude.

    Each pair's distance depends on its two points alone (the same whichever other reports
    are linked with them, and the same either way round): what is linked does not depend
    on which reports a store reads together, nor on their order.
    """
    across = np.cos(np.radians((lat_a + lat_b) / 2.0))
    return np.hypot((lon_a - lon_b) * _M_PER_DEG_LON * across, (lat_a - lat_b) * _M_PER_DEG_LAT)


def _minutes(values: Any) -> NDArray[np.float64]:
    times = pd.DatetimeIndex(pd.to_datetime(values, utc=True))
    minutes = np.asarray(times.as_unit("s").asi8, dtype=np.float64) / 60.0
    minutes[np.asarray(times.isna())] = np.nan
    return minutes


def _occurrence_minutes(incidents: pd.DataFrame) -> NDArray[np.float64]:
    """Return each report's stated occurrence time, in minutes."""
    return _minutes(incidents["occurred_at"])


def _detection_minutes(incidents: pd.DataFrame) -> NDArray[np.float64]:
    """Return each report's detection time (``occurred_at`` when unknown), in minutes."""
    minutes = _occurrence_minutes(incidents)
    if "detected_at" in incidents.columns:
        detected = _minutes(incidents["detected_at"])
        known = np.isfinite(detected)
        minutes[known] = detected[known]
    return minutes


class RateCounts:
    """The local rates counted so far, by report and window, kept for counting again.

    A caller that links a growing set of reports counts the rate of each report with a
    candidate once every stored report within its context is read (as
    :func:`geozone.incidents.events.link_new` does): counting it again over more reports
    finds the same, so it is kept, not counted again (at a hotspot a report has hundreds of
    reports around it).
    """

    def __init__(self) -> None:
        self._by_window: dict[tuple[float, float], pd.Series] = {}

    def known(self, window: tuple[float, float], ids: NDArray[Any]) -> NDArray[np.float64]:
        """Return the counts kept for ``ids`` in ``window`` (metres, hours); NaN if none."""
        kept = self._by_window.get(window)
        if kept is None:
            return np.full(len(ids), np.nan)
        return np.array(kept.reindex(pd.Index(ids, dtype=object)), dtype=float)  # a copy

    def keep(self, window: tuple[float, float], ids: NDArray[Any], counts: NDArray[Any]) -> None:
        """Keep the counts of ``ids`` in ``window`` (metres, hours)."""
        more = pd.Series(counts, index=pd.Index(ids, dtype=object), dtype=float)
        kept = self._by_window.get(window)
        self._by_window[window] = more if kept is None else pd.concat([kept, more])


class _Rates:
    """The local rate of reports by category: counts around a point in space and time."""

    def __init__(
        self,
        incidents: pd.DataFrame,
        context: pd.DataFrame | None,
        counted: RateCounts | None = None,
    ):
        self.counted = counted
        frames = [incidents] if context is None or context.empty else [incidents, context]
        every = pd.concat(
            [f[[c for c in _RATE_COLUMNS if c in f.columns]] for f in frames], ignore_index=True
        ).drop_duplicates("external_id")
        lon, lat = every["lon"].to_numpy(dtype=float), every["lat"].to_numpy(dtype=float)
        self.lat0 = _lat0(lat)
        x, y = _metres(lon, lat, self.lat0)
        t = _detection_minutes(every)
        keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(t)
        self.x, self.y, self.t = x[keep], y[keep], t[keep]
        self.lon, self.lat = lon[keep], lat[keep]
        self.category = every["category"].astype(str).to_numpy(dtype=object)[keep]
        codes, uniques = pd.factorize(self.category)
        order = np.argsort(codes, kind="stable")
        cuts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
        self._by_category: dict[Any, NDArray[np.intp]] = {
            category: order[cuts[k] : cuts[k + 1]] for k, category in enumerate(uniques)
        }
        self._trees: dict[tuple[Any, float], cKDTree | None] = {}

    def counts(
        self,
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
        t: NDArray[np.float64],
        categories: NDArray[Any],
        metres: float,
        hours: float,
        *,
        ids: NDArray[Any] | None = None,
    ) -> NDArray[np.int64]:
        """Count the reports of each point's category within ``metres`` and ``hours`` of it.

        A report given among the points is among its own count (the caller subtracts it).
        Each category is searched in a tree of its own reports, all its points at once; the
        points are among the reports counted (``incidents`` of :func:`link_reports`), so
        the tree's plane finds all within ``metres`` of them (see :func:`_lat0`). ``ids``:
        the points' report ids, for the counts kept (:class:`RateCounts`): a point counted
        before is not counted again.
        """
        window, kept = (metres, hours), self.counted
        found = (
            np.full(len(lon), np.nan) if kept is None or ids is None else kept.known(window, ids)
        )
        todo = np.isnan(found)
        found[todo] = 0
        x, y = _metres(lon, lat, self.lat0)
        scale = metres / (hours * 60.0)
        for category in pd.unique(categories[todo]):
            tree = self._tree(category, scale)
            if tree is None:
                continue
            own = self._by_category[category]
            every = np.flatnonzero(todo & (categories == category))
            # The pairs within the box as arrays (a sparse distance matrix of a tree of the
            # points against the reports' tree: the hits of a ball query without a Python
            # list an answer), in blocks of points: at a hotspot each point has hundreds.
            for first in range(0, len(every), _COUNT_BLOCK):
                asked = every[first : first + _COUNT_BLOCK]
                points = cKDTree(np.column_stack([x[asked], y[asked], t[asked] * scale]))
                pairs = points.sparse_distance_matrix(tree, metres, p=np.inf, output_type="ndarray")
                if not len(pairs):
                    continue
                owner = pairs["i"].astype(np.intp)
                hit = own[pairs["j"]]
                close = _apart(self.lon[hit], self.lat[hit], lon[asked][owner], lat[asked][owner])
                found[asked] = np.bincount(owner[close <= metres], minlength=len(asked))
        if kept is not None and ids is not None and todo.any():
            kept.keep(window, ids[todo], found[todo])
        return found.astype(np.int64)

    def _tree(self, category: Any, scale: float) -> cKDTree | None:
        """Return the tree of a category's reports in (x, y, scaled time) (None: it has none)."""
        key = (category, scale)
        if key not in self._trees:
            own = self._by_category.get(category)
            self._trees[key] = (
                None
                if own is None
                else cKDTree(np.column_stack([self.x[own], self.y[own], self.t[own] * scale]))
            )
        return self._trees[key]


_RATE_COLUMNS = ("external_id", "occurred_at", "detected_at", "lon", "lat", "category")
#: Points counted at once by :meth:`_Rates.counts` (bounds the pairs held at a hotspot: at
#: ~28,000 reports a day, 8,192 points held ~775 MB of pairs, 2,048 ~300 MB, in the same time).
_COUNT_BLOCK = 2_048


def _group_pairs(
    rows: NDArray[np.intp],
    place: tuple[NDArray[np.float64], ...],
    times: NDArray[np.float64],
    stated: NDArray[np.float64],
    members: NDArray[Any],
    categories: NDArray[Any],
    window: LinkWindow,
) -> _GroupPairs:
    """Return the pairs within one group inside its window (before the chance test).

    ``place``: x and y on the trees' plane (:func:`_lat0`), longitude and latitude.
    """
    x, y, lon, lat = place
    named = pd.Series(members[rows], dtype=object)
    usable = rows[
        np.isfinite(x[rows])
        & np.isfinite(y[rows])
        & np.isfinite(times[rows])
        & named.map(lambda m: isinstance(m, str) and bool(m)).to_numpy(dtype=bool)
    ]
    if len(usable) < 2:
        none = np.zeros(0, dtype=np.intp)
        empty = np.zeros(0, dtype=np.float64)
        return _GroupPairs(window, none, none, empty, empty, empty)
    # Time scaled to metres: a box query (Chebyshev) finds the pairs within both windows,
    # category by category when only reports of one category link (at a dense place most
    # pairs in the box are of two categories: never held).
    scale = window.distance_m / window.minutes
    kinds = categories[usable] if window.same_category else np.zeros(len(usable), dtype=np.int8)
    codes, _ = pd.factorize(kinds)
    found_a, found_b = [], []
    for kind in np.unique(codes):
        some = usable[codes == kind]
        if len(some) < 2:
            continue
        tree = cKDTree(np.column_stack([x[some], y[some], times[some] * scale]))
        pairs = tree.query_pairs(window.distance_m, p=np.inf, output_type="ndarray")
        found_a.append(some[pairs[:, 0]])
        found_b.append(some[pairs[:, 1]])
    a = np.concatenate(found_a) if found_a else np.zeros(0, dtype=np.intp)
    b = np.concatenate(found_b) if found_b else np.zeros(0, dtype=np.intp)
    metres = _apart(lon[a], lat[a], lon[b], lat[b])
    minutes = np.abs(times[a] - times[b])
    told = np.abs(stated[a] - stated[b])  # NaN (unknown) passes
    keep = (members[a] != members[b]) & (metres <= window.distance_m)
    keep &= (minutes <= window.minutes) & ~(told > window.minutes)
    # (Of one category when the window asks it: the pairs were searched category by category.)
    return _GroupPairs(window, a[keep], b[keep], metres[keep], minutes[keep], told[keep])


def _group_links(
    pairs: WindowPairs,
    group: _GroupPairs,
    refused: set[frozenset[str]],
    rates: _Rates | None,
) -> list[_Link]:
    """Return the links of one group's pairs that are not refused and pass the chance test.

    Without ``rates`` the chance test is not made (the candidates of the window, confidence 1).
    """
    window, ids, categories = group.window, pairs.ids, pairs.categories
    a, b, metres, minutes, told = group.a, group.b, group.metres, group.minutes, group.told
    if refused:
        keep = np.array(
            [
                frozenset((str(ids[i]), str(ids[j]))) not in refused
                for i, j in zip(a, b, strict=True)
            ],
            bool,
        )
        a, b, metres, minutes, told = a[keep], b[keep], metres[keep], minutes[keep], told[keep]
    closeness = 1.0 - (metres / window.distance_m + minutes / window.minutes) / 2.0
    confidence = np.ones(len(a))
    if rates is not None and len(a):
        lon, lat, times = pairs.lon, pairs.lat, pairs.times
        # Expected unrelated reports inside one window, per report counted over the context.
        share = window.minutes / (window.context_hours * 60.0)
        ends, at = np.unique(np.concatenate([a, b]), return_inverse=True)
        counted = rates.counts(
            lon[ends],
            lat[ends],
            times[ends],
            categories[ends],
            window.distance_m,
            window.context_hours,
            ids=ids[ends],
        )[at]
        both = counted[: len(a)] + counted[len(a) :]
        # Each count holds the report itself and its partner (when of its category).
        same = (categories[a] == categories[b]).astype(np.int64)
        lam = np.maximum(0.0, (both - 2 - 2 * same) / 2) * share
        gap = np.maximum(np.maximum(minutes, np.where(np.isfinite(told), told, 0.0)), MIN_MINUTES)
        expected = lam * (np.maximum(metres, MIN_METRES) / window.distance_m) ** 2
        confidence = np.exp(-(expected * (gap / window.minutes)))
        passes = ~(1.0 - confidence > window.chance)
        a, b, metres, minutes = a[passes], b[passes], metres[passes], minutes[passes]
        confidence, closeness = confidence[passes], closeness[passes]
    return list(
        zip(
            a.tolist(),
            b.tolist(),
            metres.tolist(),
            minutes.tolist(),
            confidence.tolist(),
            closeness.tolist(),
            strict=True,
        )
    )


def _events(
    ids: NDArray[Any],
    times: NDArray[np.float64],
    members: NDArray[Any],
    candidates: list[_Link],
) -> Linked:
    """Join reports into events, strongest links first, every pair of an event a link.

    Two events are joined only when every pair across them is a candidate link (no chains)
    and no member would be in the event twice (two reports of one member are two events of
    that member).
    """
    n = len(ids)
    label = np.arange(n)
    rows: dict[int, list[int]] = {}
    held: dict[int, set[Any]] = {}
    passed = {(min(f[0], f[1]), max(f[0], f[1])) for f in candidates}

    found = []
    # Ties by the pair's ids, the smaller first: the same order whatever the rows' order.
    order = sorted(
        candidates,
        key=lambda f: (-f[4], -f[5], *sorted((str(ids[f[0]]), str(ids[f[1]])))),
    )
    for link in order:
        ra, rb = int(label[link[0]]), int(label[link[1]])
        if ra == rb:
            continue
        mine, theirs = rows.get(ra, [ra]), rows.get(rb, [rb])
        members_a = held.get(ra, {members[ra]})
        members_b = held.get(rb, {members[rb]})
        if members_a & members_b:
            continue
        if any((min(i, j), max(i, j)) not in passed for i in mine for j in theirs):
            continue
        label[theirs] = ra
        rows[ra] = mine + theirs
        held[ra] = members_a | members_b
        rows.pop(rb, None)
        held.pop(rb, None)
        found.append(link)
    labels = label
    frame = pd.DataFrame({"row": np.arange(n), "label": labels, "t": times, "id": ids})
    # The earliest detection leads (ties: the smaller id, so the answer is stable).
    ordered = frame.sort_values(["label", "t", "id"], na_position="last")
    lead_row = ordered.groupby("label")["row"].first()
    size = frame.groupby("label")["row"].size()
    weakest = pd.Series(1.0, index=size.index)
    for f in found:
        at = labels[f[0]]
        weakest[at] = min(weakest[at], f[4])
    leads = lead_row.reindex(labels).to_numpy()
    sizes = size.reindex(labels).to_numpy()
    roles = np.where(sizes == 1, "single", np.where(leads == np.arange(n), "lead", "cooperating"))
    reports = pd.DataFrame(
        {
            "external_id": ids,
            "event_id": [EVENT_PREFIX + str(ids[r]) for r in leads],
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
    key = reports["event_id"].where(reports["event_id"].notna(), EVENT_PREFIX + ids).astype(str)
    codes, _ = pd.factorize(key)
    sizes = np.bincount(codes)[codes]
    kept = sizes == 1
    # Only the reports sharing an event with another are ordered (a few percent of them).
    shared = np.flatnonzero(~kept)
    roles = reports["event_role"] if "event_role" in reports.columns else None
    rank = roles.eq("cooperating") if roles is not None else pd.Series(False, reports.index)
    order = pd.DataFrame(
        {
            "key": codes[shared],
            "rank": rank.to_numpy(dtype=bool)[shared],
            "id": ids.to_numpy()[shared],
        }
    )
    if "occurred_at" in reports.columns:
        order["t"] = pd.to_datetime(reports["occurred_at"].iloc[shared], utc=True).to_numpy()
    columns = ["key", "rank", *(["t"] if "t" in order else []), "id"]
    first = order.sort_values(columns, kind="stable").drop_duplicates("key").index
    kept[shared[first]] = True
    counted = {
        "reports": n,
        "events": int(codes.max()) + 1,
        "linked_reports": len(shared),
        "linked_events": len(np.unique(codes[shared])),
    }
    return reports.iloc[np.flatnonzero(kept)], counted


__all__ = [
    "EVENT_PREFIX",
    "LINK_COLUMNS",
    "LinkWindow",
    "Linked",
    "WindowPairs",
    "count_events",
    "link_reports",
    "one_per_event",
    "own_events",
    "paired",
    "window_pairs",
]
