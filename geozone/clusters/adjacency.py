"""Adjacency of administrative units: shared boundaries, point contacts and junctions.

:func:`adjacency` finds, for one level of a boundary set (or a subset of its units), every
pair of units that touch, how long their shared boundary is in metres, and the points where
three or more units meet (junctions, like the T11 bridge where four Hà Nội wards met).

How it works
------------
The real layers are (almost) clean coverages: neighbouring units are digitised from the same
linework, so a shared edge is the same sequence of vertices in both polygons. In the 2025
wards 6.58 M of the 7.06 M boundary segments are shared exactly; most of the rest lie on the
coast or the national border. The work therefore runs in three vectorised passes, with no
Python loop over units or pairs:

1. **Coincident edges.** Every ring is cut into segments; each vertex gets an id (coordinates
   quantised to 1e-8°, about 1 mm) and each undirected segment a key. A key held by two
   units is a shared edge. Consecutive shared segments of a ring are chained into lines.
2. **Near edges.** Segments held by one unit only are matched against the unmatched segments
   of the other units within the snapping tolerance (an STRtree on their boxes, widened by
   :func:`geozone.crs.degrees_bound` as a prefilter). For each candidate, the part of a
   segment that runs alongside the other (within ``tolerance_m`` of it, its foot on it, and
   within 30° of parallel) is computed exactly in metres. This absorbs slivers, tiny gaps
   and vertices one side lacks, while corners and boundaries that merely continue one
   another add nothing. The near length of a pair is the mean of what each side measures.
3. **Point contacts.** Pairs whose bounding boxes (widened by the tolerance) meet but that
   were not found above are tested with ``dwithin`` in degrees, then in metres: those within
   the tolerance touch at a point (diagonal neighbours of a four-way junction).

Lengths are measured in the UTM zone of the pair (the zone of the mean longitude of its
shared boundary; see :mod:`geozone.crs`). Junctions are found from the ends of the shared
lines and the point contacts: ends within the tolerance of one another are clustered and a
cluster that gathers three or more units is a junction.

Tolerances
----------
``DEFAULT_SNAP_M`` (2 m): units closer than this touch. In the national ward layer about
100 km of shared boundary (in 413 of 9,450 pairs; most in Tây Ninh, An Giang, Thanh Hoá,
Hồ Chí Minh and Đồng Tháp) is not coincident: the two sides cross or run a few decimetres
apart. Any tolerance from 1 to 5 m finds the same 9,283 line pairs (0 m loses 6 of them),
and at 2 m the pairs are exactly those a brute-force metric ``dwithin`` finds; 2 m sits in
that plateau, well below a street's width.
``MIN_LINE_M`` (1 m): a pair whose shared boundary is shorter than this is a point contact,
not a line contact (a corner, or two boundaries crossing in a sliver).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.crs import WGS84, degrees_bound, project_geometries, project_xy, utm_epsg
from geozone.errors import InvalidParameterError, NoGeometryError, UnitLevelError, UnknownUnitError

if TYPE_CHECKING:  # libpysal takes seconds to import; only building a graph needs it
    from libpysal.graph import Graph

ContactFilter = Literal["line", "point", "any"]

#: Units closer than this many metres count as touching (see the module notes).
DEFAULT_SNAP_M = 2.0
#: A shared boundary shorter than this many metres is a point contact, not a line.
MIN_LINE_M = 1.0
#: Largest snapping tolerance accepted, in metres; beyond it "touching" loses its meaning.
MAX_SNAP_M = 100.0
#: Coordinates are quantised to this many degrees (about 1 mm) before vertices are matched.
_QUANTUM_DEG = 1e-8
#: Near edges count as shared only where they run within this angle of parallel (degrees).
_MAX_TURN_DEG = 30.0
#: Odd multipliers of the 64-bit segment hash.
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))

PAIR_COLUMNS = [
    "code_a",
    "code_b",
    "name_a",
    "name_b",
    "shared_length_m",
    "near_length_m",
    "contact",
    "cross_parent",
    "cross_province",
    "utm_epsg",
]


@dataclass(frozen=True)
class Adjacency:
    """Which units of one level touch, along what length, and where three or more meet.

    Attributes
    ----------
    set_id, level
        The boundary set and the level the units belong to.
    tolerance_m
        Snapping tolerance used: units closer than this (metres) touch.
    min_line_m
        Shared boundaries shorter than this (metres) are point contacts.
    units
        The units considered (``code``, ``name``, ``full_name``, ``parent_code``,
        ``province_code``), sorted by code; neighbours are found among them only.
    pairs
        One row per unordered pair that touches, ``code_a < code_b``: ``name_a``, ``name_b``
        (full names, with the type word),
        ``shared_length_m`` (metres, in the pair's UTM zone ``utm_epsg``), ``near_length_m``
        (the part of it where the edges are within the tolerance but not identical),
        ``contact`` ("line" or "point"), ``cross_parent`` (different parent units) and
        ``cross_province``. Sorted by codes.
    lines
        The shared boundary of every line pair (EPSG:4326), as drawn on ``code_a``'s side,
        with the pair columns.
    graph
        A :class:`libpysal.graph.Graph` over the unit codes whose edges are the **line**
        contacts only, weighted by the shared length in metres. Point contacts are not
        edges (they are listed in ``pairs``); units without a line neighbour are isolates.
    junctions
        Points where three or more units meet (EPSG:4326): ``junction_id``, ``codes``
        (sorted list), ``n_units``.
    """

    set_id: str
    level: Level
    tolerance_m: float
    min_line_m: float
    units: pd.DataFrame
    pairs: pd.DataFrame
    lines: gpd.GeoDataFrame
    junctions: gpd.GeoDataFrame

    @cached_property
    def graph(self) -> Graph:
        """The line-contact graph (built on first use: libpysal takes seconds to import)."""
        return _graph(self.units["code"], self.pairs)

    def _check_codes(self, codes: Sequence[str]) -> list[str]:
        wanted = [str(code) for code in codes]
        unknown = sorted(set(wanted) - set(self.units["code"]))
        if unknown:
            raise UnknownUnitError(
                f"units {unknown} are not among the {len(self.units)} {self.level} units of "
                f"this adjacency ({self.set_id})"
            )
        return list(dict.fromkeys(wanted))

    def _contact_pairs(self, contact: ContactFilter) -> pd.DataFrame:
        if contact not in ("line", "point", "any"):
            raise InvalidParameterError(
                f"contact must be 'line', 'point' or 'any', not {contact!r}"
            )
        if contact == "any":
            return self.pairs
        return self.pairs[self.pairs["contact"] == contact]

    def neighbours(self, code: str, contact: ContactFilter = "line") -> list[str]:
        """Return the codes of the units touching ``code``, sorted.

        Parameters
        ----------
        code
            A unit of this adjacency.
        contact
            "line" (share a boundary line; the default), "point" (touch at a point only) or
            "any".
        """
        (code,) = self._check_codes([code])
        pairs = self._contact_pairs(contact)
        found = pd.concat(
            [
                pairs.loc[pairs["code_a"] == code, "code_b"],
                pairs.loc[pairs["code_b"] == code, "code_a"],
            ]
        )
        return sorted(str(other) for other in found)

    def pair(self, code_a: str, code_b: str) -> pd.Series | None:
        """Return the ``pairs`` row of two units (either order); None if they do not touch."""
        low, high = sorted(self._check_codes([code_a, code_b]))
        rows = self.pairs[(self.pairs["code_a"] == low) & (self.pairs["code_b"] == high)]
        return None if rows.empty else rows.iloc[0]

    def shared_length(self, code_a: str, code_b: str) -> float:
        """Return the shared boundary length of two units in metres (0 when they do not touch)."""
        row = self.pair(code_a, code_b)
        return 0.0 if row is None else float(row["shared_length_m"])

    def components(
        self, codes: Sequence[str] | None = None, contact: ContactFilter = "line"
    ) -> list[list[str]]:
        """Split units into groups connected through contacts among themselves.

        Parameters
        ----------
        codes
            The units to consider (all units of the adjacency when None). Paths may only
            run through these units.
        contact
            Which contacts connect: "line" (the graph's edges; default), "point" or "any".

        Returns
        -------
        list of list of str
            Each group's codes sorted; largest group first.
        """
        members = self._check_codes(codes) if codes is not None else list(self.units["code"])
        position = pd.Series(np.arange(len(members)), index=pd.Index(members))
        pairs = self._contact_pairs(contact)
        inside = pairs["code_a"].isin(position.index) & pairs["code_b"].isin(position.index)
        left = position[pairs.loc[inside, "code_a"]].to_numpy()
        right = position[pairs.loc[inside, "code_b"]].to_numpy()
        labels = _components(len(members), left, right)
        groups = pd.Series(members).groupby(labels).agg(lambda codes: sorted(codes))
        return sorted(groups.tolist(), key=lambda group: (-len(group), group[0]))

    def is_connected(
        self, codes: Sequence[str] | None = None, contact: ContactFilter = "line"
    ) -> bool:
        """Tell whether ``codes`` form one connected group through contacts among themselves.

        An empty selection is not connected; a single unit is.
        """
        if codes is not None and len(codes) == 0:
            return False
        return len(self.components(codes, contact)) == 1


# -- public entry point -----------------------------------------------------------------------


def adjacency(
    bset: BoundarySet,
    level: Level | None = None,
    codes: Sequence[str] | None = None,
    tolerance_m: float = DEFAULT_SNAP_M,
    min_line_m: float = MIN_LINE_M,
) -> Adjacency:
    """Find the units of one level that touch, their shared boundaries and their junctions.

    Parameters
    ----------
    bset
        The boundary set.
    level
        The level to work on; defaults to the set's leaf level (the finest with geometry).
    codes
        Restrict to these units (all of ``level``); neighbours are found among them only.
        Defaults to every unit of the level that has geometry.
    tolerance_m
        Snapping tolerance in metres: units closer than this touch, and edges within it of
        each other count as shared. 0 keeps exactly coincident edges and crossings only.
    min_line_m
        Shared boundaries shorter than this many metres are point contacts.

    Returns
    -------
    Adjacency

    Raises
    ------
    UnitLevelError
        When the set has no geometry at ``level`` or a code is of another level.
    UnknownUnitError
        When a code is not in the set.
    NoGeometryError
        When a requested unit has no geometry.
    InvalidParameterError
        When a tolerance is negative, not finite or above :data:`MAX_SNAP_M`.
    """
    tolerance_m = _check_metres("tolerance_m", tolerance_m, MAX_SNAP_M)
    min_line_m = _check_metres("min_line_m", min_line_m, math.inf)
    level = level or bset.leaf_level
    units = select_units(bset, level, codes)
    geoms = units.geometry.to_numpy()
    segments = _Segments.of(geoms)
    exact = _exact_pairs(segments)
    near = _near_pairs(segments, exact, tolerance_m)
    found = _assemble_pairs(segments, exact, near, len(units))
    points = _point_contacts(geoms, found, tolerance_m, min_line_m)
    pairs, lines = _pair_frames(units, found, points, min_line_m)
    junctions = _junctions(units, lines, points, tolerance_m)
    return Adjacency(
        set_id=bset.id,
        level=level,
        tolerance_m=tolerance_m,
        min_line_m=min_line_m,
        units=pd.DataFrame(units[["code", "name", "full_name", "parent_code", "province_code"]]),
        pairs=pairs,
        lines=lines,
        junctions=junctions,
    )


def select_units(
    bset: BoundarySet, level: Level, codes: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """Return the units of ``level`` (or the listed ones), with geometry, sorted by code.

    Raises
    ------
    UnitLevelError, UnknownUnitError, NoGeometryError
        As for :func:`adjacency`.
    """
    if level not in bset.levels:
        raise UnitLevelError(
            f"boundary set {bset.id} has no geometry at level {level!r} "
            f"(levels with geometry: {', '.join(bset.levels)})"
        )
    frame = bset.units(level)
    if codes is None:
        chosen = frame[frame["has_geometry"]]
    else:
        wanted = list(dict.fromkeys(str(code) for code in codes))
        every = bset.frame.set_index("code")
        unknown = [code for code in wanted if code not in every.index]
        if unknown:
            raise UnknownUnitError(f"no units with codes {unknown} in boundary set {bset.id}")
        levels = every.loc[wanted, "level"]
        other = levels[levels != level]
        if len(other):
            listed = ", ".join(f"{code} is a {lvl}" for code, lvl in other.items())
            raise UnitLevelError(f"expected {level} units of {bset.id}: {listed}")
        chosen = frame[frame["code"].isin(wanted)]
        shapeless = chosen.loc[~chosen["has_geometry"], "code"].tolist()
        if shapeless:
            raise NoGeometryError(
                f"units {shapeless} of boundary set {bset.id} have no geometry "
                "(known from the register only)"
            )
    return chosen.sort_values("code").reset_index(drop=True)


def _check_metres(name: str, value: float, upper: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or value > upper:
        raise InvalidParameterError(
            f"{name} must be a number of metres in [0, {upper:g}], not {value!r}"
        )
    return value


# -- pass 0: segments -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segments:
    """Every ring segment of the units, keyed so that identical undirected segments match."""

    xy: NDArray[np.float64]  # ring coordinates, lon/lat
    start: NDArray[np.intp]  # index in xy of each segment's first point (the end is start + 1)
    unit: NDArray[np.intp]  # unit (row of the units frame) of each segment
    low: NDArray[np.int64]  # vertex keys of the two ends, lower first
    high: NDArray[np.int64]
    key: NDArray[np.intp]  # id of the hashed (low, high), in order of first appearance
    count: NDArray[np.intp]  # occurrences of each key

    @classmethod
    def of(cls, geoms: NDArray[np.object_]) -> _Segments:
        parts, part_unit = shapely.get_parts(geoms, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        xy, coord_ring = shapely.get_coordinates(rings, return_index=True)
        vertex = _vertex_keys(xy)
        start = np.flatnonzero(coord_ring[1:] == coord_ring[:-1])
        first, second = vertex[start], vertex[start + 1]
        proper = first != second  # drop segments shorter than the quantum
        start, first, second = start[proper], first[proper], second[proper]
        low, high = np.minimum(first, second), np.maximum(first, second)
        # One 64-bit hash per undirected segment; matches are verified on (low, high) later.
        mixed = (low.view(np.uint64) * _MIX[0]) ^ (high.view(np.uint64) * _MIX[1])
        key, uniques = pd.factorize(mixed)
        unit = part_unit[ring_part[coord_ring[start]]]
        return cls(xy, start, unit, low, high, key, np.bincount(key, minlength=len(uniques)))

    def lonlat(self, rows: NDArray[np.intp], end: bool = False) -> NDArray[np.float64]:
        return self.xy[self.start[rows] + int(end)]


def _vertex_keys(xy: NDArray[np.float64]) -> NDArray[np.int64]:
    """Give equal int64 keys to vertices equal to within the quantum."""
    if not len(xy):
        return np.zeros(0, dtype=np.int64)
    grid = np.rint(xy / _QUANTUM_DEG).astype(np.int64)
    grid -= grid.min(axis=0)
    rows = int(grid[:, 1].max()) + 1
    if int(grid[:, 0].max()) < (2**62) // rows:
        return grid[:, 0] * rows + grid[:, 1]
    # A layer spanning too many degrees for one int64 key: factorise each axis first.
    fx, _ = pd.factorize(grid[:, 0])
    fy, uy = pd.factorize(grid[:, 1])
    return fx.astype(np.int64) * len(uy) + fy


# -- pass 1: coincident edges -----------------------------------------------------------------


@dataclass(frozen=True)
class _Exact:
    """Shared segments: the row on the lower unit's side and the units of the pair."""

    row: NDArray[np.intp]
    unit_a: NDArray[np.intp]
    unit_b: NDArray[np.intp]
    unmatched: NDArray[np.intp]  # rows shared with no other unit


def _exact_pairs(seg: _Segments) -> _Exact:
    key, count = seg.key, seg.count
    previous_max = np.maximum.accumulate(np.concatenate(([-1], key[:-1])))
    is_first = key > previous_max  # keys are numbered in order of first appearance
    first_row = np.flatnonzero(is_first)
    twice = np.flatnonzero((count[key] == 2) & ~is_first)
    rows = [np.stack([twice, first_row[key[twice]]])]
    many = np.flatnonzero(count[key] > 2)  # the same edge in three or more units: overlaps
    if len(many):
        table = pd.DataFrame({"key": key[many], "unit": seg.unit[many], "row": many})
        table = table.drop_duplicates(["key", "unit"])
        joined = table.merge(table, on="key")
        joined = joined[joined["unit_x"] < joined["unit_y"]]
        rows.append(np.stack([joined["row_x"].to_numpy(), joined["row_y"].to_numpy()]))
    left, right = np.concatenate(rows, axis=1)
    unit_l, unit_r = seg.unit[left], seg.unit[right]
    same_edge = (seg.low[left] == seg.low[right]) & (seg.high[left] == seg.high[right])
    keep = same_edge & (unit_l != unit_r)
    left, right, unit_l, unit_r = left[keep], right[keep], unit_l[keep], unit_r[keep]
    shared = np.zeros(len(key), dtype=bool)
    shared[left] = True
    shared[right] = True
    on_a = np.where(unit_l < unit_r, left, right)
    return _Exact(
        on_a, np.minimum(unit_l, unit_r), np.maximum(unit_l, unit_r), np.flatnonzero(~shared)
    )


# -- pass 2: near edges -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Near:
    """Unmatched segment P near unit Q: merged parameter intervals of P within the tolerance."""

    row: NDArray[np.intp]  # the segment P
    unit_p: NDArray[np.intp]
    unit_q: NDArray[np.intp]
    t0: NDArray[np.float64]  # interval along P, 0..1
    t1: NDArray[np.float64]
    length_m: NDArray[np.float64]  # metric length of the interval


def _near_pairs(seg: _Segments, exact: _Exact, tolerance_m: float) -> _Near:
    lonely = exact.unmatched
    # Prefilter in degrees: segments whose boxes, widened by the bound, meet. Each box is made
    # as its diagonal (a 2-point line), the cheapest geometry with that envelope.
    pad = degrees_bound(tolerance_m) if tolerance_m > 0 else 0.0
    p0, p1 = seg.lonlat(lonely), seg.lonlat(lonely, end=True)
    diagonals = np.stack([np.minimum(p0, p1) - pad / 2, np.maximum(p0, p1) + pad / 2], axis=1)
    boxes = shapely.linestrings(diagonals)
    i, j = shapely.STRtree(boxes).query(boxes)
    unit = seg.unit[lonely]
    differ = unit[i] != unit[j]
    p_row, q_row = lonely[i[differ]], lonely[j[differ]]
    unit_p, unit_q = seg.unit[p_row], seg.unit[q_row]
    # Metric coordinates in the zone of the pair (from the mean longitude of its candidates).
    pair_key = np.minimum(unit_p, unit_q).astype(np.int64) * (int(seg.unit.max(initial=0)) + 1)
    pair_key += np.maximum(unit_p, unit_q)
    pair_id, pair_keys = pd.factorize(pair_key)
    mid_lon = (seg.lonlat(p_row)[:, 0] + seg.lonlat(q_row)[:, 0]) / 2
    zone_lon = np.bincount(pair_id, mid_lon, len(pair_keys)) / np.maximum(
        np.bincount(pair_id, minlength=len(pair_keys)), 1
    )
    zone = utm_epsg(zone_lon)[pair_id]
    p0m, p1m, q0m, q1m = (
        np.column_stack(project_xy(c[:, 0], c[:, 1], zone))
        for c in (
            seg.lonlat(p_row),
            seg.lonlat(p_row, True),
            seg.lonlat(q_row),
            seg.lonlat(q_row, True),
        )
    )
    t0, t1 = _slab_interval(p0m, p1m, q0m, q1m, tolerance_m)
    hit = t0 <= t1
    p_len = np.hypot(*(p1m - p0m).T)
    table = pd.DataFrame(
        {
            "row": p_row[hit],
            "unit_q": unit_q[hit],
            "t0": t0[hit],
            "t1": t1[hit],
            "seg_m": p_len[hit],
        }
    )
    merged = _merge_intervals(table)
    return _Near(
        row=merged["row"].to_numpy(np.intp),
        unit_p=seg.unit[merged["row"].to_numpy(np.intp)],
        unit_q=merged["unit_q"].to_numpy(np.intp),
        t0=merged["t0"].to_numpy(),
        t1=merged["t1"].to_numpy(),
        length_m=((merged["t1"] - merged["t0"]) * merged["seg_m"]).to_numpy(),
    )


def _slab_interval(
    p0: NDArray[np.float64],
    p1: NDArray[np.float64],
    q0: NDArray[np.float64],
    q1: NDArray[np.float64],
    radius: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the part of each segment P that runs alongside segment Q within ``radius``.

    The part is [t0, t1] along P(t) = p0 + t (p1 - p0), t in [0, 1]; empty where t0 > t1.
    "Alongside" means within ``radius`` of Q with its foot on Q (the rectangle of Q's
    buffer, without the end discs), and P no more than :data:`_MAX_TURN_DEG` away from
    parallel to Q. The discs and the angle limit would otherwise count, as shared, the
    stretch where two boundaries merely meet at a corner or continue one another.
    """
    d = p1 - p0
    e = q1 - q0
    length_p = np.hypot(d[:, 0], d[:, 1])
    length_q = np.hypot(e[:, 0], e[:, 1])
    with np.errstate(divide="ignore", invalid="ignore"):
        sine = np.abs(d[:, 0] * e[:, 1] - d[:, 1] * e[:, 0]) / (length_p * length_q)
        u = e / length_q[:, None]
        v = np.column_stack([-u[:, 1], u[:, 0]])
        w = p0 - q0
        low = np.zeros(len(p0))
        high = np.ones(len(p0))
        for axis, lower, upper in ((u, 0.0, length_q), (v, -radius, radius)):
            a = np.einsum("ij,ij->i", w, axis)
            rate = np.einsum("ij,ij->i", d, axis)
            moving = rate != 0
            ta = (lower - a) / rate
            tb = (upper - a) / rate
            stays = (a >= lower) & (a <= upper)
            low = np.where(
                moving, np.maximum(low, np.minimum(ta, tb)), np.where(stays, low, np.inf)
            )
            high = np.where(
                moving, np.minimum(high, np.maximum(ta, tb)), np.where(stays, high, -np.inf)
            )
    parallel = (sine <= math.sin(math.radians(_MAX_TURN_DEG))) & (length_q > 0) & (length_p > 0)
    return np.where(parallel, low, np.inf), np.where(parallel, high, -np.inf)


def _merge_intervals(table: pd.DataFrame) -> pd.DataFrame:
    """Merge overlapping intervals of the same (row, unit_q); columns row, unit_q, t0, t1, seg_m."""
    if table.empty:
        return table
    table = table.sort_values(["row", "unit_q", "t0"], kind="stable").reset_index(drop=True)
    group = (table["row"].diff().ne(0) | table["unit_q"].diff().ne(0)).cumsum()
    reach = table["t1"].groupby(group).cummax()
    previous = reach.groupby(group).shift(1)
    starts = previous.isna() | (table["t0"] > previous)
    run = starts.cumsum()
    return (
        table.groupby(run)
        .agg(
            row=("row", "first"),
            unit_q=("unit_q", "first"),
            t0=("t0", "min"),
            t1=("t1", "max"),
            seg_m=("seg_m", "first"),
        )
        .reset_index(drop=True)
    )


# -- assembly of the line pairs ---------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    """Every pair found by passes 1 and 2: units, zone, lines (lon/lat) and lengths."""

    unit_a: NDArray[np.intp]
    unit_b: NDArray[np.intp]
    zone: NDArray[np.int64]
    line: NDArray[np.object_]  # merged shared line (None when only a point was found)
    length_m: NDArray[np.float64]
    near_m: NDArray[np.float64]


def _assemble_pairs(seg: _Segments, exact: _Exact, near: _Near, n_units: int) -> _Found:
    near_a = np.minimum(near.unit_p, near.unit_q)
    near_b = np.maximum(near.unit_p, near.unit_q)
    keys = np.concatenate(
        [
            exact.unit_a.astype(np.int64) * n_units + exact.unit_b,
            near_a.astype(np.int64) * n_units + near_b,
        ]
    )
    pair_id, pair_keys = pd.factorize(keys)
    n_pairs = len(pair_keys)
    exact_pair, near_pair = pair_id[: len(exact.row)], pair_id[len(exact.row) :]
    # The zone of a pair: the mean longitude of its shared segments.
    lon = np.concatenate([seg.lonlat(exact.row)[:, 0], seg.lonlat(near.row)[:, 0]])
    zone = utm_epsg(np.bincount(pair_id, lon, n_pairs) / np.bincount(pair_id, minlength=n_pairs))
    # Lines on side a: runs of consecutive exact segments plus near pieces of a's segments.
    runs, run_pair = _exact_runs(seg, exact.row, exact_pair)
    on_a = near.unit_p < near.unit_q
    piece_rows = near.row[on_a]
    t0, t1 = near.t0[on_a][:, None], near.t1[on_a][:, None]
    start, end = seg.lonlat(piece_rows), seg.lonlat(piece_rows, end=True)
    first = np.where(t0 == 0, start, start + t0 * (end - start))
    last = np.where(t1 == 1, end, start + t1 * (end - start))
    long_enough = near.length_m[on_a] > 0
    pieces = shapely.linestrings(np.stack([first, last], axis=1)[long_enough])
    all_lines = np.concatenate([runs, pieces])
    all_pair = np.concatenate([run_pair, near_pair[on_a][long_enough]])
    line = np.full(n_pairs, None, dtype=object)
    if len(all_lines):
        order = np.argsort(all_pair, kind="stable")
        with_lines, index = np.unique(all_pair[order], return_inverse=True)
        line[with_lines] = shapely.line_merge(
            shapely.multilinestrings(all_lines[order], indices=index)
        )
    # Near length: mean of both sides' measures; the line holds side a's.
    side_a = np.bincount(near_pair[on_a], near.length_m[on_a], n_pairs)
    side_b = np.bincount(near_pair[~on_a], near.length_m[~on_a], n_pairs)
    length = np.zeros(n_pairs)
    has_line = ~shapely.is_missing(line)
    if has_line.any():
        length[has_line] = shapely.length(project_geometries(line[has_line], zone[has_line]))
    near_m = (side_a + side_b) / 2
    length = length - side_a + near_m
    unit_a, unit_b = np.divmod(pair_keys.astype(np.int64), n_units)
    return _Found(
        unit_a.astype(np.intp), unit_b.astype(np.intp), zone, line, np.maximum(length, 0.0), near_m
    )


def _exact_runs(
    seg: _Segments, rows: NDArray[np.intp], pair: NDArray[np.intp]
) -> tuple[NDArray[np.object_], NDArray[np.intp]]:
    """Chain consecutive shared segments of one ring and one pair into linestrings."""
    if not len(rows):
        return np.zeros(0, dtype=object), np.zeros(0, dtype=np.intp)
    start = seg.start[rows]
    order = np.lexsort((start, pair))
    start, pair = start[order], pair[order]
    new_run = np.ones(len(start), dtype=bool)
    new_run[1:] = (pair[1:] != pair[:-1]) | (start[1:] != start[:-1] + 1)
    run = np.cumsum(new_run) - 1
    last = np.ones(len(start), dtype=bool)
    last[:-1] = new_run[1:]
    coords = np.concatenate([seg.xy[start], seg.xy[start[last] + 1]])
    line_of = np.concatenate([run, run[last]])
    position = np.concatenate([2 * np.arange(len(start)), 2 * np.flatnonzero(last) + 1])
    order = np.argsort(position)
    lines = shapely.linestrings(coords[order], indices=line_of[order])
    return lines, pair[new_run]


# -- pass 3: point contacts ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """Pairs that touch at a point: units, location (lon/lat) and what length they share."""

    unit_a: NDArray[np.intp]
    unit_b: NDArray[np.intp]
    location: NDArray[np.object_]
    length_m: NDArray[np.float64]
    near_m: NDArray[np.float64]
    zone: NDArray[np.int64]


def _point_contacts(
    geoms: NDArray[np.object_], found: _Found, tolerance_m: float, min_line_m: float
) -> _Points:
    """Collect the point contacts.

    They are pairs found by passes 1-2 with a shared line shorter than ``min_line_m`` or none
    at all (boundaries crossing at a point), and pairs within the tolerance that passes 1-2
    did not see (corners: pass 3, ``dwithin`` in degrees as a prefilter, then metres).
    """
    n = len(geoms)
    pad = degrees_bound(tolerance_m) if tolerance_m > 0 else 0.0
    bounds = shapely.bounds(geoms)
    tree = shapely.STRtree(geoms)
    i, j = tree.query(shapely.box(*(bounds + np.array([-pad, -pad, pad, pad])).T))
    i, j = i[i < j], j[i < j]
    known = pd.Index(found.unit_a.astype(np.int64) * n + found.unit_b)
    fresh = ~pd.Index(i.astype(np.int64) * n + j).isin(known)
    i, j = i[fresh], j[fresh]
    close = np.zeros(len(i), dtype=bool)
    if len(i):
        # Prepared geometry makes dwithin indexed (0.3 ms a pair instead of 10 ms); undo after.
        fresh_prep = np.unique(i)[~shapely.is_prepared(geoms[np.unique(i)])]
        shapely.prepare(geoms[fresh_prep])
        close = shapely.dwithin(geoms[i], geoms[j], pad)
        shapely.destroy_prepared(geoms[fresh_prep])
    i, j = i[close], j[close]
    lineless = np.flatnonzero(shapely.is_missing(found.line))
    a = np.concatenate([i, found.unit_a[lineless]])
    b = np.concatenate([j, found.unit_b[lineless]])
    location, distance = _nearest_point(geoms[a], geoms[b])
    within = distance <= tolerance_m
    within[len(i) :] = True  # pass 2 measured those in metres already
    short = np.flatnonzero(~shapely.is_missing(found.line) & (found.length_m < min_line_m))
    middle = shapely.line_interpolate_point(found.line[short], 0.5, normalized=True)
    zero = np.zeros(int(within.sum()))
    location = np.concatenate([location[within], middle])
    return _Points(
        unit_a=np.concatenate([a[within], found.unit_a[short]]),
        unit_b=np.concatenate([b[within], found.unit_b[short]]),
        location=location,
        length_m=np.concatenate([zero, found.length_m[short]]),
        near_m=np.concatenate([zero, found.near_m[short]]),
        zone=utm_epsg(shapely.get_x(location)) if len(location) else np.zeros(0, np.int64),
    )


def _nearest_point(
    left: NDArray[np.object_], right: NDArray[np.object_]
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Closest approach of two lon/lat polygons: a point between them and the distance (m).

    Both are first cut to the overlap of their boxes (widened by :data:`MAX_SNAP_M`), which
    keeps the exact distance cheap for large polygons touching at a corner; the distance is
    then measured in the UTM zone of that window.
    """
    if not len(left):
        return np.zeros(0, dtype=object), np.zeros(0)
    lb, rb = shapely.bounds(left), shapely.bounds(right)
    pad = degrees_bound(MAX_SNAP_M)
    low = np.maximum(lb[:, :2], rb[:, :2]) - pad
    high = np.minimum(lb[:, 2:], rb[:, 2:]) + pad
    window = shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1])
    left = shapely.intersection(left, window)
    right = shapely.intersection(right, window)
    middle = shapely.line_interpolate_point(
        shapely.shortest_line(left, right), 0.5, normalized=True
    )
    zone = utm_epsg((low[:, 0] + high[:, 0]) / 2)
    distance = shapely.distance(project_geometries(left, zone), project_geometries(right, zone))
    return middle, np.nan_to_num(distance, nan=np.inf)


# -- frames -------------------------------------------------------------------------------------


def _pair_frames(
    units: gpd.GeoDataFrame, found: _Found, points: _Points, min_line_m: float
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    code = units["code"].to_numpy(dtype=object)
    name = units["full_name"].to_numpy(dtype=object)
    parent = units["parent_code"].to_numpy(dtype=object)
    province = units["province_code"].to_numpy(dtype=object)
    is_line = ~shapely.is_missing(found.line) & (found.length_m >= min_line_m)
    n_points = len(points.unit_a)
    a = np.concatenate([found.unit_a[is_line], points.unit_a])
    b = np.concatenate([found.unit_b[is_line], points.unit_b])
    pairs = pd.DataFrame(
        {
            "code_a": code[a],
            "code_b": code[b],
            "name_a": name[a],
            "name_b": name[b],
            "shared_length_m": np.round(
                np.concatenate([found.length_m[is_line], points.length_m]), 3
            ),
            "near_length_m": np.round(np.concatenate([found.near_m[is_line], points.near_m]), 3),
            "contact": np.repeat(["line", "point"], [int(is_line.sum()), n_points]),
            "cross_parent": pd.Series(parent[a]).fillna("").to_numpy()
            != pd.Series(parent[b]).fillna("").to_numpy(),
            "cross_province": province[a] != province[b],
            "utm_epsg": np.concatenate([found.zone[is_line], points.zone]).astype(np.int64),
            "_line": np.concatenate([found.line[is_line], np.full(n_points, None, dtype=object)]),
        }
    )
    pairs = pairs.sort_values(["code_a", "code_b"]).reset_index(drop=True)
    line_rows = pairs["contact"] == "line"
    lines = gpd.GeoDataFrame(
        pairs.loc[line_rows, [c for c in PAIR_COLUMNS if c not in ("contact", "near_length_m")]],
        geometry=pairs.loc[line_rows, "_line"].to_numpy(),
        crs=WGS84,
    ).reset_index(drop=True)
    return pairs[PAIR_COLUMNS], lines


def _junctions(
    units: gpd.GeoDataFrame, lines: gpd.GeoDataFrame, points: _Points, tolerance_m: float
) -> gpd.GeoDataFrame:
    """Cluster line ends and point contacts within the tolerance; keep clusters of 3+ units."""
    code_index = pd.Series(np.arange(len(units)), index=units["code"].to_numpy())
    parts, line_of = shapely.get_parts(lines.geometry.to_numpy(), return_index=True)
    is_open = ~shapely.is_closed(parts)
    parts, line_of = parts[is_open], line_of[is_open]
    ends = np.concatenate([shapely.get_point(parts, 0), shapely.get_point(parts, -1)])
    end_a = np.tile(code_index[lines["code_a"].to_numpy()[line_of]].to_numpy(), 2)
    end_b = np.tile(code_index[lines["code_b"].to_numpy()[line_of]].to_numpy(), 2)
    nodes = np.concatenate([ends, points.location])
    node_a = np.concatenate([end_a, points.unit_a])
    node_b = np.concatenate([end_b, points.unit_b])
    empty = gpd.GeoDataFrame(
        {
            "junction_id": pd.Series(dtype=np.int64),
            "codes": pd.Series(dtype=object),
            "n_units": pd.Series(dtype=np.int64),
        },
        geometry=gpd.GeoSeries([], crs=WGS84),
    )
    if not len(nodes):
        return empty
    x, y = shapely.get_x(nodes), shapely.get_y(nodes)
    pad = degrees_bound(tolerance_m) if tolerance_m > 0 else 0.0
    i, j = shapely.STRtree(nodes).query(nodes, predicate="dwithin", distance=pad)
    i, j = i[i < j], j[i < j]
    zone = utm_epsg(x[i])
    xi, yi = project_xy(x[i], y[i], zone)
    xj, yj = project_xy(x[j], y[j], zone)
    close = np.hypot(xi - xj, yi - yj) <= tolerance_m
    cluster = _components(len(nodes), i[close], j[close])
    members = pd.DataFrame(
        {"cluster": np.concatenate([cluster, cluster]), "unit": np.concatenate([node_a, node_b])}
    ).drop_duplicates()
    size = members.groupby("cluster")["unit"].size()
    kept = size.index[size >= 3]
    if not len(kept):
        return empty
    members = members[members["cluster"].isin(kept)].sort_values(["cluster", "unit"])
    members["code"] = units["code"].to_numpy(dtype=object)[members["unit"].to_numpy()]
    codes = members.groupby("cluster")["code"].agg(list)  # units are sorted by code
    where = pd.DataFrame({"cluster": cluster, "x": x, "y": y}).groupby("cluster")[["x", "y"]].mean()
    where = where.loc[codes.index]
    frame = gpd.GeoDataFrame(
        {"codes": codes.to_numpy(), "n_units": codes.map(len).to_numpy(np.int64)},
        geometry=shapely.points(where["x"].to_numpy(), where["y"].to_numpy()),
        crs=WGS84,
    )
    frame["_key"] = frame["codes"].map(lambda c: "|".join(c))
    frame = frame.assign(_x=where["x"].to_numpy(), _y=where["y"].to_numpy())
    frame = frame.sort_values(["_key", "_x", "_y"]).drop(columns=["_key", "_x", "_y"])
    frame.insert(0, "junction_id", np.arange(len(frame), dtype=np.int64))
    return frame.reset_index(drop=True)


def _graph(codes: pd.Series, pairs: pd.DataFrame) -> Graph:
    """Build the line-contact graph, weighted by shared length; isolates as zero self-weights."""
    from libpysal.graph import Graph  # imported on first use: seconds off the service's start

    lines = pairs[pairs["contact"] == "line"]
    linked = set(lines["code_a"]) | set(lines["code_b"])
    alone = [code for code in codes if code not in linked]
    focal = np.concatenate([lines["code_a"], lines["code_b"], alone]).astype(str)
    neighbor = np.concatenate([lines["code_b"], lines["code_a"], alone]).astype(str)
    weight = np.concatenate(
        [lines["shared_length_m"], lines["shared_length_m"], np.zeros(len(alone))]
    ).astype(np.float64)
    order = np.lexsort((neighbor, focal))
    return Graph.from_arrays(focal[order], neighbor[order], weight[order])


def _components(n: int, left: NDArray[np.intp], right: NDArray[np.intp]) -> NDArray[np.intp]:
    """Label the connected components of an undirected graph on ``n`` nodes (0..k-1)."""
    labels = np.arange(n)
    while len(left):
        low = np.minimum(labels[left], labels[right])
        hooked = labels.copy()
        np.minimum.at(hooked, labels[left], low)
        np.minimum.at(hooked, labels[right], low)
        while True:  # pointer jumping: every node to its root
            jumped = hooked[hooked]
            if np.array_equal(jumped, hooked):
                break
            hooked = jumped
        if np.array_equal(hooked, labels):
            break
        labels = hooked
    return np.unique(labels, return_inverse=True)[1].astype(np.intp)
