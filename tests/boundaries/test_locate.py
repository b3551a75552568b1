"""The same rows for every batch size, overlaps included.

A batch is located point by point (under ``POINT_DRIVEN_MAX`` points), with a tree of its
points (up to ``CORE_MIN_POINTS``), or through the interior cores and their grid (larger).
Where two units' polygons overlap, every unit that holds a point or lies within the tolerance
of it is a candidate and the point is on a boundary, whichever path located it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from pyproj import Transformer

from geozone.boundaries._locate import CORE_MIN_POINTS, CORE_RULE, POINT_DRIVEN_MAX, interior_cores
from geozone.boundaries.qa import check_built
from geozone.boundaries.sets import BoundarySet
from geozone.crs import project_geometries, project_xy
from geozone.settings import Settings
from tests.fixtures.grid import GRID_CELL_M, GRID_INFO, GRID_ORIGIN, grid_units

TOL = 10.0
#: The issue's point: in the overlap of Xã Tân Phong (03970) and Xã Đoàn Kết (04000).
TAN_PHONG_DOAN_KET = (104.70249, 21.04890)
#: Batch lengths that take each path: point by point, tree of points, cores and grid.
BATCHES = {"point by point": 1, "tree of points": POINT_DRIVEN_MAX, "cores": CORE_MIN_POINTS}
_TO_LONLAT = Transformer.from_crs(32648, 4326, always_xy=True)

Located = Callable[[NDArray[np.float64], NDArray[np.float64], int], pd.DataFrame]


def _padded(bset: BoundarySet, padding: tuple[NDArray[np.float64], ...]) -> Located:
    """Locate points at the head of a batch of at least ``batch`` points (real ones after)."""

    def locate(lon: NDArray[np.float64], lat: NDArray[np.float64], batch: int) -> pd.DataFrame:
        extra = max(batch - len(lon), 0)
        frame = bset.locate_many(
            np.r_[lon, padding[0][:extra]], np.r_[lat, padding[1][:extra]], tolerance_m=TOL
        )
        return frame.iloc[: len(lon)].reset_index(drop=True)

    return locate


def _assert_same_on_every_path(
    locate: Located, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> pd.DataFrame:
    """Locate on each path; every row equal, column for column. Returns the rows."""
    small, *others = [locate(lon, lat, batch) for batch in BATCHES.values()]
    for name, frame in zip(list(BATCHES)[1:], others, strict=True):
        try:
            pd.testing.assert_frame_equal(small, frame)
        except AssertionError as error:
            raise AssertionError(f"{name} differs from point by point: {error}") from error
    return small


def _reference(
    bset: BoundarySet, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> list[dict[str, float]]:
    """Per point, every leaf unit holding it or within TOL metres: code → metres (brute force).

    Independent of the index: each nearby polygon and the point are projected with pyproj
    into the unit's UTM zone and measured by GEOS; a unit holding the point is at 0.
    """
    leaves = bset.units(bset.leaf_level)
    leaves = leaves[leaves["has_geometry"]]
    geoms, codes = leaves.geometry.to_numpy(), leaves["code"].to_numpy()
    zones = leaves["utm_epsg"].to_numpy()
    pt, poly = shapely.STRtree(geoms).query(shapely.points(lon, lat), "dwithin", 1e-3)
    found: list[dict[str, float]] = [{} for _ in lon]
    for i, j in zip(pt.tolist(), poly.tolist(), strict=True):
        if shapely.intersects_xy(geoms[j], lon[i], lat[i]):
            found[i][codes[j]] = 0.0
            continue
        pair = gpd.GeoSeries([geoms[j], shapely.Point(lon[i], lat[i])], crs=4326)
        polygon, point = pair.to_crs(int(zones[j])).to_numpy()
        if (metres := shapely.distance(polygon, point)) <= TOL:
            found[i][codes[j]] = metres
    return found


def _assert_matches_reference(
    bset: BoundarySet, rows: pd.DataFrame, lon: NDArray[np.float64], lat: NDArray[np.float64]
) -> None:
    for i, expected in enumerate(_reference(bset, lon, lat)):
        row = rows.iloc[i]
        holders = sorted(code for code, metres in expected.items() if metres == 0.0)
        assert row["status"] == ("inside" if holders else "outside"), (i, expected)
        assert bool(row["on_boundary"]) == (len(expected) >= 2 or (not holders and bool(expected)))
        if row["on_boundary"]:
            got = dict(zip(row["candidates"], row["candidate_distances_m"], strict=True))
            assert got.keys() == expected.keys(), (i, got, expected)
            for code, metres in expected.items():
                assert got[code] == pytest.approx(metres, abs=0.006)
        elif holders:
            assert row["unit_code"] == holders[0]


# -- a hand-built overlap ------------------------------------------------------------------


def _overlapping_grid() -> BoundarySet:
    """The 3×3 test grid with ward 00001 reaching 60 m into ward 00002 (an overlap)."""
    units = grid_units().to_crs(32648)
    first = units.index[units["code"] == "00001"][0]
    x0, y0 = GRID_ORIGIN
    units.loc[first, "geometry"] = shapely.box(x0, y0, x0 + GRID_CELL_M + 60, y0 + GRID_CELL_M)
    return BoundarySet.from_units(GRID_INFO, units.to_crs(4326))


def _grid_lonlat(dx_m: NDArray[np.float64], dy_m: NDArray[np.float64]) -> NDArray[np.float64]:
    lon, lat = _TO_LONLAT.transform(GRID_ORIGIN[0] + dx_m, GRID_ORIGIN[1] + dy_m)
    return np.array([lon, lat])


def test_cores_keep_the_tolerance_from_an_overlapping_neighbour() -> None:
    bset = _overlapping_grid()
    wards = bset.units("ward")
    geoms, zones = wards.geometry.to_numpy(), wards["utm_epsg"].to_numpy(np.int64)
    cores = interior_cores(geoms, zones, TOL)
    metric_cores, metric_wards = project_geometries(cores, zones), project_geometries(geoms, zones)
    for i in range(len(geoms)):
        others = np.delete(metric_wards, i)
        assert (shapely.distance(metric_cores[i], others) > TOL).all(), wards["code"].iat[i]
    areas = shapely.area(metric_cores)
    # Shrunk by 20 m (tolerance, simplification, margin); then each of 00001 and 00002 loses
    # what lies within 12 m (tolerance and margin) of the other.
    side = GRID_CELL_M - 2 * 20
    np.testing.assert_allclose(areas[0], side * (GRID_CELL_M - 12 - 20), rtol=1e-3)
    np.testing.assert_allclose(areas[1], side * (GRID_CELL_M - 20 - 60 - 12), rtol=1e-3)
    np.testing.assert_allclose(areas[2:], side**2, rtol=1e-3)


def test_every_batch_size_gives_the_same_rows_in_a_hand_built_overlap() -> None:
    bset = _overlapping_grid()
    rng = np.random.default_rng(20)
    # Across the overlap strip (x 1000-1060 m) and the tolerance around it, and padding.
    lon, lat = _grid_lonlat(rng.uniform(960, 1_100, 600), rng.uniform(20, 980, 600))
    padding = _grid_lonlat(*rng.uniform(0, 3_000, (2, CORE_MIN_POINTS)))
    rows = _assert_same_on_every_path(_padded(bset, (padding[0], padding[1])), lon, lat)
    in_both = rows["candidates"].map(lambda c: isinstance(c, list) and {"00001", "00002"} <= {*c})
    assert in_both.sum() > 300  # the strip is 60 m of the 140 m sampled, plus the tolerance
    _assert_matches_reference(bset, rows, lon, lat)


def test_columns_keep_their_dtypes_whatever_the_batch_holds(grid: BoundarySet) -> None:
    inside, outside = _grid_lonlat(np.array([500.0]), np.array([500.0])), np.array([[90.0], [0.0]])
    frames = [grid.locate_many(*xy, tolerance_m=TOL) for xy in (inside, outside)]
    assert frames[0]["status"].tolist() == ["inside"] and frames[1]["status"].tolist() == [
        "outside"
    ]
    pd.testing.assert_series_equal(frames[0].dtypes, frames[1].dtypes)
    assert frames[0]["province_code"].dtype == object


def test_index_files_of_an_older_core_rule_are_never_read(tmp_path: Path) -> None:
    """A cores file of the rule before r2 (overlaps not cut out) lies beside the set: unused."""
    overlapping = _overlapping_grid()
    built = BoundarySet(GRID_INFO, overlapping.frame, tmp_path / "display.parquet", "b1")
    wards = built.units("ward")
    old_cores = interior_cores(wards.geometry.to_numpy(), wards["utm_epsg"].to_numpy(), 0.0)
    gpd.GeoDataFrame(geometry=old_cores, crs=4326).to_parquet(tmp_path / "cores-10m-s8m-b1.parquet")
    rng = np.random.default_rng(21)
    lon, lat = _grid_lonlat(rng.uniform(960, 1_100, 600), rng.uniform(20, 980, 600))
    padding = _grid_lonlat(*rng.uniform(0, 3_000, (2, CORE_MIN_POINTS)))
    _assert_same_on_every_path(_padded(built, (padding[0], padding[1])), lon, lat)
    written = sorted(path.name for path in tmp_path.glob(f"*-{CORE_RULE}-b1.*"))
    assert written == [
        f"coregrid-10m-s8m-{CORE_RULE}-b1.npz",
        f"cores-10m-s8m-{CORE_RULE}-b1.parquet",
    ]


# -- the real sets -------------------------------------------------------------------------


def _real_padding(count: int, seed: int) -> tuple[NDArray[np.float64], ...]:
    """Points over the north of Vietnam (wards, their edges, some sea and Laos)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(102.2, 107.5, count), rng.uniform(20.0, 23.3, count)


@pytest.mark.realdata
def test_the_issue_point_gets_one_row_in_batches_of_1_and_50000(vn2025: BoundarySet) -> None:
    lon, lat = np.array([TAN_PHONG_DOAN_KET[0]]), np.array([TAN_PHONG_DOAN_KET[1]])
    locate = _padded(vn2025, _real_padding(50_000, seed=1))
    alone, in_batch = locate(lon, lat, 1), locate(lon, lat, 50_000)
    pd.testing.assert_frame_equal(alone, in_batch)
    row = alone.iloc[0]
    assert row["on_boundary"] and sorted(row["candidates"]) == ["03970", "04000"]
    assert row["unit_code"] == row["candidates"][0]
    _assert_matches_reference(vn2025, alone, lon, lat)


def _overlap_pieces(bset: BoundarySet, settings: Settings) -> list[tuple[tuple[str, ...], object]]:
    """The overlaps the QA report lists at the leaf level: (codes, their common polygon)."""
    report = check_built(bset.id, settings)
    level = next(rep for rep in report.levels if rep.level == bset.leaf_level)
    return [
        (
            o.codes,
            _polygonal(shapely.intersection(bset.geometry(o.codes[0]), bset.geometry(o.codes[1]))),
        )
        for o in level.overlaps
    ]


def _polygonal(geometry: object) -> object:
    """The polygons of an intersection, without the lines or points it may also hold."""
    parts = shapely.get_parts(geometry)
    return shapely.multipolygons(shapely.get_parts(parts[shapely.get_dimensions(parts) == 2]))


def _inside(piece: object, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``count`` random points inside ``piece`` (rejection sampling in its box)."""
    x0, y0, x1, y1 = shapely.bounds(piece)
    kept = np.empty((0, 2))
    while len(kept) < count:
        xy = np.column_stack([rng.uniform(x0, x1, 4 * count), rng.uniform(y0, y1, 4 * count)])
        kept = np.vstack([kept, xy[shapely.intersects_xy(piece, xy[:, 0], xy[:, 1])]])
    return kept[:count]


def _near_outline(piece: object, count: int, rng: np.random.Generator) -> NDArray[np.float64]:
    """``count`` points along the outline of ``piece``, moved up to 3 tolerances each way."""
    along = shapely.line_interpolate_point(
        shapely.boundary(piece), rng.uniform(0, 1, count), normalized=True
    )
    return _moved(shapely.get_coordinates(along), rng.uniform(-3 * TOL, 3 * TOL, (count, 2)))


def _moved(xy: NDArray[np.float64], metres: NDArray[np.float64]) -> NDArray[np.float64]:
    """Lon/lat moved east and north by a few metres (local scale; exact enough for sampling)."""
    scale = np.column_stack([111_320 * np.cos(np.radians(xy[:, 1])), np.full(len(xy), 110_574)])
    return xy + metres / scale


@pytest.mark.realdata
@pytest.mark.parametrize("set_id", ["vn2025", "vn-legacy-districts"])
def test_every_overlap_of_the_qa_report_gets_the_same_rows_on_every_path(
    built_settings: Settings, set_id: str
) -> None:
    bset = BoundarySet.load(set_id, built_settings)
    pieces = _overlap_pieces(bset, built_settings)
    if set_id == "vn2025":
        assert {("03970", "04000"), ("02647", "02746")} <= {codes for codes, _ in pieces}
    rng = np.random.default_rng(7)
    inside = [_inside(piece, 25, rng) for _, piece in pieces]
    near = [_near_outline(piece, 25, rng) for _, piece in pieces]
    xy = np.vstack([*inside, *near]) if pieces else np.empty((0, 2))
    locate = _padded(bset, _real_padding(50_000, seed=2))
    rows = _assert_same_on_every_path(locate, xy[:, 0], xy[:, 1])
    for k, (codes, _) in enumerate(pieces):  # inside an overlap: every unit is a candidate
        for listed in rows["candidates"].iloc[25 * k : 25 * (k + 1)]:
            assert set(codes) <= set(listed)
    sample = rng.choice(len(xy), min(len(xy), 300), replace=False)
    _assert_matches_reference(
        bset, rows.iloc[sample].reset_index(drop=True), xy[sample, 0], xy[sample, 1]
    )


@pytest.mark.realdata
def test_outline_pieces_measure_to_the_last_bit_what_the_projected_polygons_do(
    vn2025: BoundarySet,
) -> None:
    """Large batches measure on outline pieces, small ones on projected polygons: same floats."""
    index, _ = vn2025._leaf
    rng = np.random.default_rng(9)
    polygon = rng.choice(np.flatnonzero(~shapely.is_missing(index.geometries)), 4_000)
    edge = shapely.line_interpolate_point(
        shapely.boundary(index.geometries[polygon]), rng.uniform(0, 1, 4_000), normalized=True
    )
    xy = _moved(shapely.get_coordinates(edge), rng.uniform(-2 * TOL, 2 * TOL, (4_000, 2)))
    outside = ~shapely.intersects_xy(index.geometries[polygon], xy[:, 0], xy[:, 1])
    lon, lat, polygon = xy[outside, 0], xy[outside, 1], polygon[outside]
    zones = index.zones[polygon]
    assert set(np.unique(zones).tolist()) == {32648, 32649}
    measured = index.outline_pieces().distance(lon, lat, polygon, zones, TOL)
    points = shapely.points(*project_xy(lon, lat, zones))
    exact = shapely.distance(project_geometries(index.geometries[polygon], zones), points)
    close = exact <= TOL
    assert close.sum() > 500
    np.testing.assert_array_equal(measured[close], exact[close])
    assert np.isinf(measured[~close]).all()


def test_segment_distances_are_geos_s_to_the_bit() -> None:
    """The numpy point-to-segment distance equals shapely.distance to a 2-point line, bit for bit.

    UTM-sized coordinates, with degenerate segments, points on the segments' lines beyond
    either end, points at the ends, and points exactly across from a segment's middle.
    """
    from geozone.boundaries._locate import _segment_distance

    rng = np.random.default_rng(21)
    n = 200_000
    a = rng.uniform([200_000, 900_000], [800_000, 2_600_000], (n, 2))
    b = a + rng.normal(0, 50, (n, 2))
    b[:2_000] = a[:2_000]  # degenerate segments
    p = a + rng.normal(0, 60, (n, 2))
    t = rng.choice([-1.0, 0.0, 0.5, 1.0, 2.0], 20_000)
    p[2_000:22_000] = a[2_000:22_000] + t[:, None] * (b[2_000:22_000] - a[2_000:22_000])
    p[22_000:24_000] = b[22_000:24_000]
    measured = _segment_distance(p[:, 0], p[:, 1], a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    exact = shapely.distance(lines, shapely.points(p))
    np.testing.assert_array_equal(measured, exact)


# -- property: random points near edges and in overlaps ------------------------------------


@dataclass(frozen=True)
class NearPlaces:
    """Outlines to sample along and overlap polygons to sample in, largest overlaps first."""

    outlines: NDArray[np.object_]
    pieces: NDArray[np.object_]

    def __repr__(self) -> str:  # hypothesis prints its arguments when a case fails
        return f"NearPlaces({len(self.outlines)} outlines, {len(self.pieces)} overlaps)"

    def place(self) -> st.SearchStrategy[tuple[int, int, float, float, float]]:
        """(0, outline, fraction along it, metres east, metres north) or (1, overlap, u, v, 0)."""
        fraction = st.floats(0, 1)
        offset = st.floats(-3 * TOL, 3 * TOL)
        return st.one_of(
            st.tuples(st.just(0), st.integers(0, len(self.outlines) - 1), fraction, offset, offset),
            st.tuples(
                st.just(1), st.integers(0, len(self.pieces) - 1), fraction, fraction, st.just(0.0)
            ),
        )

    def lonlat(self, places: list[tuple[int, int, float, float, float]]) -> NDArray[np.float64]:
        """The points that ``places`` drawn from :meth:`place` stand for, as lon/lat rows."""
        kind, which, a, b, c = (np.array(column) for column in zip(*places, strict=True))
        xy = np.empty((len(places), 2))
        on_line = kind == 0
        at = shapely.line_interpolate_point(
            self.outlines[which[on_line]], a[on_line], normalized=True
        )
        xy[on_line] = _moved(shapely.get_coordinates(at), np.column_stack([b, c])[on_line])
        box = shapely.bounds(self.pieces[which[~on_line]])
        xy[~on_line, 0] = box[:, 0] + a[~on_line] * (box[:, 2] - box[:, 0])
        xy[~on_line, 1] = box[:, 1] + b[~on_line] * (box[:, 3] - box[:, 1])
        return xy


@pytest.fixture(scope="module")
def near_places(vn2025: BoundarySet) -> NearPlaces:
    """Every overlap of two wards (none left out for being small) and the wards around.

    Outlines: those of the overlaps, of the wards that overlap, and of 300 other wards
    chosen at random.
    """
    wards = vn2025.units("ward")
    geoms = wards.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    left, right = left[left < right], right[left < right]
    overlapping = (
        shapely.overlaps(geoms[left], geoms[right])
        | shapely.contains(geoms[left], geoms[right])
        | shapely.within(geoms[left], geoms[right])
    )
    left, right = left[overlapping], right[overlapping]
    pieces = np.array(
        [_polygonal(piece) for piece in shapely.intersection(geoms[left], geoms[right])]
    )
    pieces = pieces[np.argsort(-shapely.area(pieces))]
    pieces = pieces[shapely.area(pieces) > 0]
    others = np.random.default_rng(3).choice(len(wards), 300, replace=False)
    around = np.unique(np.r_[left, right, others])
    outlines = np.concatenate([shapely.boundary(pieces), shapely.boundary(geoms[around])])
    return NearPlaces(outlines, pieces)


@pytest.mark.realdata
@settings(max_examples=100, deadline=None, database=None)
@given(data=st.data())
def test_random_points_near_edges_and_in_overlaps_get_the_same_rows_on_every_path(
    vn2025: BoundarySet, near_places: NearPlaces, data: st.DataObject
) -> None:
    places = data.draw(st.lists(near_places.place(), min_size=1, max_size=40), label="places")
    xy = near_places.lonlat(places)
    locate = _padded(vn2025, _real_padding(CORE_MIN_POINTS, seed=4))
    _assert_same_on_every_path(locate, xy[:, 0], xy[:, 1])
