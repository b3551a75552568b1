"""How units touch: coincident edges, near edges and point contacts, all vectorised.

The engine of :func:`geozone.clusters.adjacency.adjacency`.

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

"""

from __future__ import annotations

import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.crs import WGS84, degrees_bound, project_geometries, project_xy, utm_epsg

#: Largest snapping tolerance accepted, in metres; beyond it "touching" loses its meaning.
MAX_SNAP_M = 100.0


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


#: Coordinates are quantised to this many degrees (about 1 mm) before vertices are matched.
_QUANTUM_DEG = 1e-8


#: Near edges count as shared only where they run within this angle of parallel (degrees).
_MAX_TURN_DEG = 30.0


#: Odd multipliers of the 64-bit segment hash.
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F))


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
