"""Where each incident stands in a cluster.

Its member, its side, whether it is in the border zone, the nearest shared boundary and
junction: the facts the lead rule is judged on, computed for all points at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from geozone.assignment.jurisdiction import Columns, as_array
from geozone.assignment.territory import (
    _KD_THREADS_FROM,
    DENSIFY_M,
    EXACT_WITHIN_M,
    FAR_ERROR_M,
    ClusterTerritory,
    _MemberTable,
    _SharedBoundary,
    accepts_from_m,
)
from geozone.crs import project_xy
from geozone.vntime import local_dates


@dataclass(frozen=True)
class _Points:
    """The incidents one territory judges: their rows, holder, area and detector members."""

    rows: NDArray[np.intp]
    holder: NDArray[np.intp]  # index into territory members, -1 when outside every member
    detector: NDArray[np.intp]  # index into members, -1 when not a member
    detector_known: NDArray[np.bool_]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    area: NDArray[np.intp]  # coarse mode: index into territory.area_codes, -1 outside them
    side: NDArray[np.intp]  # index into territory.sides (the holder unless carried), or -1

    @classmethod
    def none(cls) -> _Points:
        """Return the selection of no incident."""
        empty = np.zeros(0, dtype=np.intp)
        return cls(
            empty, empty, empty, np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0), empty, empty
        )

    def pieces(self, size: int) -> list[_Points]:
        """Split into consecutive pieces of at most ``size`` incidents (in order)."""
        step = max(size, 1)
        return [
            _Points(
                self.rows[start : start + step],
                self.holder[start : start + step],
                self.detector[start : start + step],
                self.detector_known[start : start + step],
                self.x[start : start + step],
                self.y[start : start + step],
                self.area[start : start + step],
                self.side[start : start + step],
            )
            for start in range(0, len(self.rows), step)
        ]


#: Up to this many values are factorised with a dict: pandas' hashing costs more for a few.
_FEW = 16


def _factorized(values: Any) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
    """Return ``pd.factorize``'s codes and uniques (missing values coded -1)."""
    values = np.asarray(values, dtype=object)
    if len(values) > _FEW:
        codes, uniques = pd.factorize(values)
        return codes.astype(np.intp), np.asarray(uniques, dtype=object)
    seen: dict[Any, int] = {}
    few = [-1 if _missing(v) else seen.setdefault(v, len(seen)) for v in values]
    listed: NDArray[np.object_] = np.empty(len(seen), dtype=object)
    listed[:] = list(seen)
    return np.array(few, dtype=np.intp), listed


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


class _Coded:
    """Incident columns as arrays and integer codes, shared by every territory of a batch.

    Each is made when a territory first needs it, once: a batch the territories' gate
    (:func:`_concerns`) turns away costs next to nothing.
    """

    def __init__(
        self, incidents: Columns, units: Columns, days: NDArray[np.datetime64] | None = None
    ) -> None:
        self.incidents, self.units = incidents, units
        self.days = local_dates(incidents["occurred_at"]) if days is None else days
        self.lon = as_array(incidents, "lon", float)
        self.lat = as_array(incidents, "lat", float)
        self._levels: dict[str, tuple[NDArray[np.intp], NDArray[np.object_]]] = {}

    @cached_property
    def set_ids(self) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return the boundary set of each incident, factorised."""
        return _factorized(self.units["set_id"])

    @cached_property
    def detectors(self) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return ``detected_by``, factorised."""
        return _factorized(self.detected_by)

    @cached_property
    def detector_known(self) -> NDArray[np.bool_]:
        """Return whether each incident names a detecting unit (not missing, not blank)."""
        codes, uniques = self.detectors
        blank = np.array([not str(u).strip() for u in uniques] + [True], dtype=bool)
        return ~blank[codes]  # code -1 (missing) picks the trailing True

    @cached_property
    def external_id(self) -> NDArray[np.object_]:
        """Return the incidents' external ids."""
        return as_array(self.incidents, "external_id", object)

    @cached_property
    def detected_by(self) -> NDArray[np.object_]:
        """Return the incidents' ``detected_by`` as given."""
        return as_array(self.incidents, "detected_by", object)

    @cached_property
    def events(self) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return, factorised, each report's event: its lead report and its own detector.

        Only cooperating reports of a linked event have one (the columns ``event_lead`` and
        ``reported_by`` that :func:`geozone.incidents.events.judging_frame` adds); the
        others, and batches without those columns, are coded -1.
        """
        n = len(self.lon)
        if "event_lead" not in self.incidents:
            return np.full(n, -1, dtype=np.intp), np.empty(0, dtype=object)
        lead = as_array(self.incidents, "event_lead", object)
        own = as_array(self.incidents, "reported_by", object)
        pairs: NDArray[np.object_] = np.full(n, None, dtype=object)
        given = np.flatnonzero(pd.notna(lead))
        pairs[given] = [(str(lead[i]), own[i]) for i in given]
        return _factorized(pairs)

    @cached_property
    def unit_code(self) -> NDArray[np.object_]:
        """Return the leaf unit holding each incident."""
        return np.asarray(self.units["unit_code"], dtype=object)

    @cached_property
    def unit_ids(self) -> NDArray[np.intp]:
        """Return the leaf unit holding each incident, factorised (-1: none)."""
        return _factorized(self.unit_code)[0]

    @cached_property
    def status_inside(self) -> NDArray[np.bool_]:
        """Return whether a unit of the set holds each incident (status ``inside``)."""
        status: NDArray[np.object_] = np.asarray(self.units["locate_status"], dtype=object)
        return np.asarray(status == "inside", dtype=bool)

    @cached_property
    def on_boundary(self) -> NDArray[np.bool_]:
        """Return the on-boundary flag of each incident."""
        return np.asarray(self.units["on_boundary"], dtype=bool)

    @cached_property
    def candidates(self) -> NDArray[np.object_]:
        """Return the boundary candidates (code lists) of each incident."""
        return np.asarray(self.units["candidates"], dtype=object)

    def fill(self) -> None:
        """Make every column now (before threads share this object)."""
        for name in ("set_ids", "detectors", "detector_known", "external_id", "unit_code"):
            getattr(self, name)
        for name in ("unit_ids",):
            getattr(self, name)
        for name in ("on_boundary", "candidates", "set_names", "detector_names", "box"):
            getattr(self, name)
        for name in ("status_inside",):
            getattr(self, name)
        for level in ("province", "district", "ward"):
            if f"{level}_code" in self.units:
                self.level(level)

    def level(self, name: str) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return the unit codes of one level (``province``, ``district``, ``ward``), factorised."""
        if name not in self._levels:
            self._levels[name] = _factorized(self.units[f"{name}_code"])
        return self._levels[name]

    @cached_property
    def set_names(self) -> set[Any]:
        """Return the ids of the boundary sets the batch was judged in."""
        return set(self.set_ids[1].tolist())

    @cached_property
    def detector_names(self) -> set[Any]:
        """Return the distinct ``detected_by`` values of the batch."""
        return set(self.detectors[1].tolist())

    @cached_property
    def box(self) -> tuple[float, float, float, float] | None:
        """Return the batch's lon/lat bounds (finite coordinates only), None when none is."""
        finite = np.isfinite(self.lon) & np.isfinite(self.lat)
        if not finite.any():
            return None
        lon, lat = self.lon[finite], self.lat[finite]
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _concerns(territory: ClusterTerritory, coded: _Coded) -> bool:
    """Whether any incident of the batch may concern a territory: a cheap gate before the work.

    An incident concerns it only when judged in its set and held by a member (so inside the
    members' outline) or detected by a member; a batch missing both costs no array work. A
    lapsed carried cluster concerns the same incidents (each gets a ``no_decision`` row that
    says why), so that no output is silent about it.
    """
    if territory.bset.id not in coded.set_names:
        return False
    table = territory.table
    if not table.detectors.keys().isdisjoint(coded.detector_names):
        return True  # named by id or code: no folding
    if any(table.detector_of(name) >= 0 for name in coded.detector_names):
        return True  # by name (each distinct text folded once: detector_keys)
    box, reach = coded.box, territory.reach
    if (
        box is None
        or box[0] > reach[2]
        or box[2] < reach[0]
        or box[1] > reach[3]
        or box[3] < reach[1]
    ):
        return False
    # A few points are worth testing against the members' outline; many go on to _select.
    return len(coded.lon) > _FEW or bool(
        shapely.intersects_xy(territory.outline, coded.lon, coded.lat).any()
    )


def _member_index(
    coded: tuple[NDArray[np.intp], NDArray[np.object_]], lookup: dict[str, int]
) -> NDArray[np.intp]:
    """Member index of each row (-1 when none), looking up each distinct value once."""
    codes, uniques = coded
    per_value = np.array([lookup.get(value, -1) for value in uniques] + [-1], dtype=np.intp)
    return per_value[codes]  # code -1 (missing) picks the trailing -1


def _detector_index(
    coded: tuple[NDArray[np.intp], NDArray[np.object_]], table: _MemberTable
) -> NDArray[np.intp]:
    """Return the detecting member of each row (-1: none), naming each distinct value once."""
    codes, uniques = coded
    per_value = np.array([table.detector_of(value) for value in uniques] + [-1], dtype=np.intp)
    return per_value[codes]  # code -1 (missing) picks the trailing -1


def _active(
    member: NDArray[np.intp], days: NDArray[np.datetime64], table: _MemberTable
) -> NDArray[np.intp]:
    """Keep the member index on the days the member belongs to the cluster, else -1.

    A member is in from ``joined`` and out from ``left`` (exclusive), as
    :meth:`geozone.clusters.model.Member.active_on` says.
    """
    k = np.maximum(member, 0)
    ok = (member >= 0) & (days >= table.joined[k]) & (days < table.left[k])
    return np.where(ok, member, -1)


def _area_index(territory: ClusterTerritory, coded: _Coded) -> NDArray[np.intp]:
    """Coarse mode: the index of the unit of ``area_codes`` holding each incident, else -1."""
    lookup = {code: k for k, code in enumerate(territory.area_codes)}
    found = np.full(len(coded.lon), -1, dtype=np.intp)
    for level in reversed(territory.bset.levels):  # finest first
        if f"{level}_code" in coded.units:
            here = _member_index(coded.level(level), lookup)
            found = np.where(found >= 0, found, here)
    return found


def _select(territory: ClusterTerritory, coded: _Coded) -> _Points:
    """Return the incidents a territory judges: in its set and period, held or detected by one.

    Rows are narrowed at each step (set, period, a member's code), so a territory no incident
    of the batch concerns costs a few array operations. In coarse mode no member holds a
    point: the units standing in for the members (``area``) take their place.
    """
    set_codes, set_values = coded.set_ids
    home = np.flatnonzero(set_values == territory.bset.id)
    rows = np.flatnonzero(set_codes == home[0]) if len(home) else np.zeros(0, dtype=np.intp)
    rows = rows[territory.in_force(coded.days[rows])]
    table = territory.table
    coarse = territory.mode == "coarse"
    if coarse:
        holder = np.full(len(rows), -1, dtype=np.intp)
        area = _area_index(territory, coded)[rows]
    else:
        holder = _member_index(coded.level(territory.cluster.level), table.holders)[rows]
        area = np.full(len(rows), -1, dtype=np.intp)
    detector = _detector_index(coded.detectors, table)[rows]
    if not ((holder >= 0) | (detector >= 0) | (area >= 0)).any():
        return _Points.none()
    days = coded.days[rows]
    holder = _active(holder, days, table)
    detector = _active(detector, days, table)
    keep = (holder >= 0) | (detector >= 0) | (area >= 0)
    rows = rows[keep]
    holder = holder[keep]
    x, y = project_xy(coded.lon[rows], coded.lat[rows], np.full(len(rows), territory.epsg))
    side = holder
    if not coarse and territory.carried_sides:
        # A carried member may succeed several originals: the point's side is the original
        # member whose old polygon holds it.
        side = np.where(holder >= 0, territory.sides.side_of(coded.lon[rows], coded.lat[rows]), -1)
    return _Points(rows, holder, detector[keep], coded.detector_known[rows], x, y, area[keep], side)


def _zones(
    territory: ClusterTerritory, pts: _Points, jobs: int = 1
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """Sides whose shared boundary with the point's side lies within W of each point.

    Returns ``near`` (points × sides), the distance to the nearest boundary of the point's
    side, the side across it, and whether a junction disc holds the point. The sides are the
    members for an ordinary cluster (see :attr:`ClusterTerritory.sides`).
    Distances come from the shared boundary's vertex levels (:class:`_SharedBoundary`,
    within :data:`FAR_ERROR_M`), and from the segments themselves nearer than
    :data:`EXACT_WITHIN_M`. A point is in a pair's zone when the zone level's vertices of
    that line lie within W; in the thin band where they do not tell, the line decides.
    """
    width = territory.width_m
    near = np.zeros((len(pts.rows), len(territory.sides.codes)), dtype=bool)
    distance = np.full(len(pts.rows), np.inf)
    across = np.full(len(pts.rows), -1)
    xy = np.column_stack([pts.x, pts.y])
    jobs = jobs if len(xy) >= _KD_THREADS_FROM else 1  # a few points stay on this thread
    for k, shared in territory.boundary_index.items():
        held = np.flatnonzero(pts.side == k)
        if not len(held):
            continue
        _nearest_boundary(shared, xy, held, distance, across, jobs)
        half = shared.zone_level.spacing_m / 2
        reach = float(np.hypot(width, half)) + 1e-6
        maybe = held[distance[held] <= reach + FAR_ERROR_M]  # the distance may be that long
        for j, vertices, line in shared.lines:
            # The nearest boundary, when within W, needs no search (its distance is an upper
            # bound, or exact); the other lines are searched up to W.
            known = (across[maybe] == j) & (distance[maybe] <= width)
            near[maybe[known], k] = near[maybe[known], j] = True
            ask = maybe[~known]
            bound, _ = vertices.query(xy[ask], distance_upper_bound=reach, workers=jobs)
            band = np.flatnonzero((bound > width) & np.isfinite(bound))
            inside = bound <= width
            with territory.line_lock:  # a prepared line, used by one thread at a time
                inside[band] = shapely.dwithin(line, shapely.points(xy[ask[band]]), width)
            near[ask[inside], k] = near[ask[inside], j] = True
    junction = _junctions(territory, pts, near)
    return near, distance, across, junction


def _nearest_boundary(
    shared: _SharedBoundary,
    xy: NDArray[np.float64],
    held: NDArray[np.intp],
    distance: NDArray[np.float64],
    across: NDArray[np.intp],
    jobs: int,
) -> None:
    """Fill the distance to the nearest shared boundary (and who is across) of ``held``.

    The coarsest level bounds every distance from above and below (within its half
    spacing); each point then searches the coarsest level that measures that lower bound
    well enough, and a point found nearer than that level measures goes one level finer.
    """
    coarsest = shared.levels[0]
    gap, vertex = coarsest.tree.query(xy[held], workers=jobs)
    lower = np.maximum(gap - coarsest.spacing_m / 2, 0.0)
    accepts = np.array([accepts_from_m(level.spacing_m) for level in shared.levels])
    accepts[-1] = 0.0  # the finest level measures every point (the nearest exactly, below)
    start = np.argmax(accepts[None, :] <= lower[:, None], axis=1)
    for i, level in enumerate(shared.levels):
        mine = np.flatnonzero(start == i)
        if not len(mine):
            continue
        if i:
            bound = float(gap[mine].max()) + level.spacing_m / 2 + 1e-6
            gap[mine], vertex[mine] = level.tree.query(
                xy[held[mine]], distance_upper_bound=bound, workers=jobs
            )
        done = gap[mine] >= accepts[i]
        start[mine[~done]] = i + 1  # nearer than the level measures well: go finer
        distance[held[mine[done]]] = gap[mine[done]]
        across[held[mine[done]]] = level.other[vertex[mine[done]]]
    close = held[distance[held] <= EXACT_WITHIN_M]
    if len(close):
        nearest, exact = shared.segments.query_nearest(
            shapely.points(xy[close]),
            max_distance=EXACT_WITHIN_M + DENSIFY_M / 2,
            return_distance=True,
            all_matches=False,
        )
        distance[close[nearest[0]]] = exact
        across[close[nearest[0]]] = shared.other[nearest[1]]


def _junctions(
    territory: ClusterTerritory, pts: _Points, near: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Mark the points within W of a junction of their holder (and those members in ``near``).

    The points get a KD-tree of their own, queried once per junction (there are few).
    """
    table, width = territory.table, territory.width_m
    junction = np.zeros(len(pts.rows), dtype=bool)
    if not len(table.junction_xy) or not len(pts.rows):
        return junction
    found = cKDTree(np.column_stack([pts.x, pts.y])).query_ball_point(table.junction_xy, width)
    point = np.concatenate([np.asarray(f, dtype=np.intp) for f in found])
    meets = table.junction_members[np.repeat(np.arange(len(found)), [len(f) for f in found])]
    holder = pts.side[point]
    own = (holder >= 0) & meets[np.arange(len(point)), np.maximum(holder, 0)]
    junction[point[own]] = True
    np.logical_or.at(near, point[own], meets[own])
    return junction


def _on_boundary_members(
    territory: ClusterTerritory, coded: _Coded, pts: _Points
) -> NDArray[np.bool_]:
    """Points × members: the members among each point's boundary candidates (when ≥ 2)."""
    index = territory.table.holders
    found = np.zeros((len(pts.rows), len(territory.table.codes)), dtype=bool)
    flagged = np.flatnonzero(coded.on_boundary[pts.rows])
    listed = [c or [] for c in coded.candidates[pts.rows[flagged]]]
    sizes = np.fromiter((len(c) for c in listed), dtype=np.intp, count=len(listed))
    member = np.fromiter(
        (index.get(code, -1) for codes in listed for code in codes),
        dtype=np.intp,
        count=int(sizes.sum()),
    )
    row = np.repeat(flagged, sizes)
    keep = member >= 0
    # Only members of the day: a unit that joins later is no member yet.
    days = coded.days[pts.rows[row[keep]]]
    table = territory.table
    keep[keep] = (days >= table.joined[member[keep]]) & (days < table.left[member[keep]])
    found[row[keep], member[keep]] = True
    found[found.sum(axis=1) < 2] = False
    return found


def _code_of(codes: NDArray[np.object_], index: NDArray[np.intp]) -> NDArray[np.object_]:
    """Member codes at ``index``, None where the index is -1."""
    out: NDArray[np.object_] = np.full(len(index), None, dtype=object)
    out[index >= 0] = codes[index[index >= 0]]
    return out


def _distinct_sets(
    chosen: NDArray[np.bool_], codes: NDArray[np.object_]
) -> tuple[NDArray[np.intp], list[list[str]]]:
    """Return an id per distinct row of a points × members matrix, and its codes."""
    width = chosen.shape[1]
    if width <= 63:  # one integer per row: a 1-D unique is much faster than rows of bytes
        keys = chosen.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        distinct_keys, ids = np.unique(keys, return_inverse=True)
        bits = ((distinct_keys[:, None] >> np.arange(width)) & 1).astype(bool)
        return ids.ravel(), [list(codes[row]) for row in bits]
    packed = np.packbits(chosen, axis=1)
    distinct, ids = np.unique(packed, axis=0, return_inverse=True)
    lists = [list(codes[np.unpackbits(row)[:width].astype(bool)]) for row in distinct]
    return ids.ravel(), lists


def _lists(lists: list[list[str]], ids: NDArray[np.intp]) -> NDArray[np.object_]:
    out: NDArray[np.object_] = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out[ids]


def side_facts(
    territory: ClusterTerritory, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """Return each point's side code and the side codes of its zone (None / [] if none).

    The same zone engine as the decisions, at the level of the sides (a carried cluster's
    original members): what its border effect is counted on.
    """
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    side = territory.sides.side_of(lon, lat) if territory.sides.carried else np.full(len(lon), -1)
    x, y = project_xy(lon, lat, np.full(len(lon), territory.epsg))
    n = len(lon)
    empty = np.zeros(n, dtype=np.intp)
    pts = _Points(np.arange(n), side, empty - 1, np.ones(n, dtype=bool), x, y, empty - 1, side)
    near, _, _, _ = _zones(territory, pts)
    near[side < 0] = False
    codes = np.asarray(territory.sides.codes, dtype=object)
    ids, lists = _distinct_sets(near, codes)
    return _code_of(codes, side), _lists(lists, ids)
