"""Adjacency: shared boundaries, point contacts, junctions, graph (grid, synthetic, real data)."""

from __future__ import annotations

from datetime import date

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet, SetInfo
from geozone.clusters.adjacency import DEFAULT_SNAP_M, Adjacency, adjacency
from geozone.crs import project_geometries, project_xy
from geozone.errors import InvalidParameterError, UnitLevelError, UnknownUnitError
from tests.fixtures.grid import GRID_CELL_M, GRID_ORIGIN, grid_vertex_lonlat

T11 = (105.8064, 21.0387)
NGHIA_DO, NGOC_HA, GIANG_VO, CAU_GIAY = "00160", "00008", "00025", "00166"


def ward(col: int, row: int) -> str:
    return f"0000{row * 3 + col + 1}"


def column(code: str) -> int:
    return (int(code) - 1) % 3


def metric_distance(lon_lat_a: tuple[float, float], lon_lat_b: tuple[float, float]) -> float:
    zone = np.array([32648, 32648])
    x, y = project_xy(
        np.array([lon_lat_a[0], lon_lat_b[0]]), np.array([lon_lat_a[1], lon_lat_b[1]]), zone
    )
    return float(np.hypot(x[1] - x[0], y[1] - y[0]))


GRID_LINE_PAIRS = {
    *((ward(c, r), ward(c + 1, r)) for r in range(3) for c in range(2)),
    *((ward(c, r), ward(c, r + 1)) for r in range(2) for c in range(3)),
}
GRID_DIAGONALS = {
    *((ward(c, r), ward(c + 1, r + 1)) for r in range(2) for c in range(2)),
    *(tuple(sorted((ward(c + 1, r), ward(c, r + 1)))) for r in range(2) for c in range(2)),
}


@pytest.fixture(scope="module")
def grid_adj(grid: BoundarySet) -> Adjacency:
    return adjacency(grid)


# -- the 3×3 grid ----------------------------------------------------------------------------


def test_grid_has_exactly_the_twelve_edge_pairs_as_lines(grid_adj: Adjacency) -> None:
    lines = grid_adj.pairs[grid_adj.pairs["contact"] == "line"]
    assert set(zip(lines["code_a"], lines["code_b"], strict=True)) == GRID_LINE_PAIRS
    assert len(GRID_LINE_PAIRS) == 12
    assert lines["shared_length_m"].to_numpy() == pytest.approx(np.full(12, 1000.0), rel=0.005)
    assert (lines["near_length_m"] == 0).all()  # the grid's edges coincide exactly
    assert (grid_adj.pairs["code_a"] < grid_adj.pairs["code_b"]).all()


def test_grid_diagonal_neighbours_are_point_contacts(grid_adj: Adjacency) -> None:
    points = grid_adj.pairs[grid_adj.pairs["contact"] == "point"]
    assert set(zip(points["code_a"], points["code_b"], strict=True)) == GRID_DIAGONALS
    assert (points["shared_length_m"] == 0).all()
    assert grid_adj.pair("00005", "00001") is not None
    assert grid_adj.pair("00001", "00003") is None  # two cells apart: no contact at all
    assert grid_adj.shared_length("00001", "00009") == 0.0


def test_grid_cross_parent_only_between_columns_1_and_2(grid_adj: Adjacency) -> None:
    pairs = grid_adj.pairs
    expected = [
        {column(a), column(b)} == {1, 2}
        for a, b in zip(pairs["code_a"], pairs["code_b"], strict=True)
    ]
    assert pairs["cross_parent"].tolist() == expected
    assert sum(expected) == 3 + 4  # three line pairs and four diagonals
    assert not pairs["cross_province"].any()


def test_grid_junctions_are_the_four_interior_vertices(grid_adj: Adjacency) -> None:
    junctions = grid_adj.junctions
    assert len(junctions) == 4
    assert (junctions["n_units"] == 4).all()
    for col, row in [(1, 1), (2, 1), (1, 2), (2, 2)]:
        vertex = grid_vertex_lonlat(col, row)
        distances = [metric_distance(vertex, (p.x, p.y)) for p in junctions.geometry]
        nearest = int(np.argmin(distances))
        assert distances[nearest] < 0.01
        cells = sorted(ward(c, r) for c in (col - 1, col) for r in (row - 1, row))
        assert junctions["codes"].iloc[nearest] == cells


def test_grid_graph_and_neighbours(grid_adj: Adjacency) -> None:
    graph = grid_adj.graph
    assert graph.n_components == 1
    assert sorted(graph.unique_ids) == [f"0000{n}" for n in range(1, 10)]
    assert graph.n_edges == 2 * 12  # line contacts only, both directions
    assert graph.adjacency.loc[("00005", "00002")] == pytest.approx(1000.0, rel=0.005)
    assert grid_adj.neighbours("00005") == ["00002", "00004", "00006", "00008"]
    assert grid_adj.neighbours("00005", contact="point") == ["00001", "00003", "00007", "00009"]
    assert grid_adj.neighbours("00001", contact="any") == ["00002", "00004", "00005"]
    assert grid_adj.is_connected()
    assert not grid_adj.is_connected(["00001", "00005"])
    assert grid_adj.is_connected(["00001", "00005"], contact="any")
    assert grid_adj.components(["00001", "00003", "00002", "00009"]) == [
        ["00001", "00002", "00003"],
        ["00009"],
    ]


def test_grid_lines_lie_on_the_shared_edges(grid_adj: Adjacency) -> None:
    lines = grid_adj.lines
    assert len(lines) == 12
    assert lines.crs.to_epsg() == 4326
    metric = project_geometries(lines.geometry.to_numpy(), np.full(len(lines), 32648))
    assert shapely.length(metric) == pytest.approx(np.full(12, 1000.0), rel=1e-6)
    row = lines[(lines["code_a"] == "00001") & (lines["code_b"] == "00002")]
    x0 = GRID_ORIGIN[0] + GRID_CELL_M
    edge = shapely.LineString([(x0, GRID_ORIGIN[1]), (x0, GRID_ORIGIN[1] + GRID_CELL_M)])
    line = project_geometries(row.geometry.to_numpy(), np.array([32648]))[0]
    assert shapely.hausdorff_distance(line, edge) < 0.01


def test_subset_finds_neighbours_among_the_given_units_only(grid: BoundarySet) -> None:
    adj = adjacency(grid, codes=["00005", "00001", "00003"])
    assert list(adj.units["code"]) == ["00001", "00003", "00005"]
    assert (adj.pairs["contact"] == "point").all()
    assert set(zip(adj.pairs["code_a"], adj.pairs["code_b"], strict=True)) == {
        ("00001", "00005"),
        ("00003", "00005"),
    }
    assert sorted(adj.graph.isolates) == ["00001", "00003", "00005"]
    assert adj.junctions.empty


def test_district_level(grid: BoundarySet) -> None:
    adj = adjacency(grid, level="district")
    assert adj.pairs[["code_a", "code_b", "contact"]].values.tolist() == [["001", "002", "line"]]
    assert adj.shared_length("001", "002") == pytest.approx(3000.0, rel=0.005)
    assert adj.tolerance_m == DEFAULT_SNAP_M


def test_bad_input_names_the_problem(grid: BoundarySet) -> None:
    with pytest.raises(UnknownUnitError, match="99999"):
        adjacency(grid, codes=["00001", "99999"])
    with pytest.raises(UnitLevelError, match="001 is a district"):
        adjacency(grid, codes=["00001", "001"])
    with pytest.raises(InvalidParameterError, match="tolerance_m"):
        adjacency(grid, tolerance_m=-1)
    with pytest.raises(InvalidParameterError, match="tolerance_m"):
        adjacency(grid, tolerance_m=float("nan"))
    adj = adjacency(grid)
    with pytest.raises(UnknownUnitError, match="00042"):
        adj.neighbours("00042")
    with pytest.raises(InvalidParameterError, match="contact"):
        adj.neighbours("00001", contact="diagonal")  # type: ignore[arg-type]


# -- near edges: gaps, slivers, missing vertices ------------------------------------------


def _two_wards(left: shapely.Polygon, right: shapely.Polygon) -> BoundarySet:
    """Two wards of one district from UTM 48N polygons."""
    base = {"unit_type": "Phường", "level": "ward", "parent_code": "001", "province_code": "01"}
    records = [
        {**base, "code": "00001", "name": "Trái", "full_name": "Phường Trái"},
        {**base, "code": "00002", "name": "Phải", "full_name": "Phường Phải"},
    ]
    frame = gpd.GeoDataFrame(records, geometry=[left, right], crs=32648)
    frame["name_en"] = None
    frame["in_register"] = True
    info = SetInfo("pair", "two wards", date(2000, 1, 1), None, "CC0", "test", "test")
    return BoundarySet.from_units(info, frame.to_crs(4326))


X0, Y0 = GRID_ORIGIN


def test_gap_narrower_than_tolerance_counts_as_shared() -> None:
    left = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    right = shapely.box(X0 + 1000.5, Y0, X0 + 2000, Y0 + 1000)  # a 0.5 m gap
    bset = _two_wards(left, right)
    snapped = adjacency(bset, tolerance_m=2.0)
    assert snapped.pairs["contact"].tolist() == ["line"]
    assert snapped.shared_length("00001", "00002") == pytest.approx(1000.0, rel=0.005)
    assert snapped.pairs["near_length_m"].iloc[0] == pytest.approx(1000.0, rel=0.005)
    assert adjacency(bset, tolerance_m=0.2).pairs.empty


def test_missing_vertex_and_sliver_overlap_are_absorbed() -> None:
    # The right ward's edge has an extra vertex half-way, 0.3 m into the left ward.
    left = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    right = shapely.Polygon(
        [
            (X0 + 1000, Y0),
            (X0 + 2000, Y0),
            (X0 + 2000, Y0 + 1000),
            (X0 + 1000, Y0 + 1000),
            (X0 + 999.7, Y0 + 500),
        ]
    )
    adj = adjacency(_two_wards(left, right))
    assert adj.pairs["contact"].tolist() == ["line"]
    assert adj.shared_length("00001", "00002") == pytest.approx(1000.0, rel=0.005)


def test_corner_touch_is_a_point_contact() -> None:
    left = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    right = shapely.box(X0 + 1000, Y0 + 1000, X0 + 2000, Y0 + 2000)
    adj = adjacency(_two_wards(left, right))
    assert adj.pairs["contact"].tolist() == ["point"]
    assert adj.lines.empty
    assert adj.graph.n_components == 2


def test_units_further_apart_than_tolerance_do_not_touch() -> None:
    left = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    right = shapely.box(X0 + 1003, Y0, X0 + 2000, Y0 + 1000)  # 3 m apart
    bset = _two_wards(left, right)
    assert adjacency(bset, tolerance_m=2.0).pairs.empty
    assert adjacency(bset, tolerance_m=5.0).pairs["contact"].tolist() == ["line"]


# -- real data --------------------------------------------------------------------------------


def _code(bset: BoundarySet, name: str, level: str = "district") -> str:
    hits = bset.search(name, level=level)  # type: ignore[arg-type]
    assert len(hits) == 1, f"{name}: {[h.unit.full_name for h in hits]}"
    return hits[0].unit.code


@pytest.fixture(scope="module")
def legacy_adj(legacy: BoundarySet) -> Adjacency:
    return adjacency(legacy, level="district")


@pytest.fixture(scope="module")
def national_adj(vn2025: BoundarySet) -> Adjacency:
    return adjacency(vn2025)


@pytest.mark.realdata
def test_legacy_known_shared_lengths(legacy: BoundarySet, legacy_adj: Adjacency) -> None:
    gia_lam, long_bien = _code(legacy, "Gia Lâm"), _code(legacy, "Long Biên")
    cau_giay, ba_dinh = _code(legacy, "Cầu Giấy"), _code(legacy, "Ba Đình")
    assert legacy_adj.shared_length(gia_lam, long_bien) == pytest.approx(17_100, rel=0.05)
    assert legacy_adj.shared_length(cau_giay, ba_dinh) == pytest.approx(2_200, rel=0.05)


@pytest.mark.realdata
def test_legacy_gia_lam_cluster_is_connected_across_three_provinces(
    legacy: BoundarySet, legacy_adj: Adjacency
) -> None:
    names = [
        "Gia Lâm",
        "Long Biên",
        "Đông Anh",
        "Văn Giang",
        "Văn Lâm",
        "Từ Sơn",
        "Tiên Du",
        "Thuận Thành",
    ]
    codes = [_code(legacy, name) for name in names]
    assert legacy_adj.is_connected(codes)
    assert {legacy.get(code).province_code for code in codes} == {"01", "27", "33"}
    own = adjacency(legacy, level="district", codes=codes)
    assert own.graph.n_components == 1
    assert own.pairs["cross_province"].sum() >= 2  # Hà Nội–Bắc Ninh, Hà Nội–Hưng Yên, ...
    assert not legacy_adj.is_connected([codes[0], _code(legacy, "Quy Nhơn")])


@pytest.mark.realdata
def test_legacy_song_cau_and_quy_nhon_share_a_boundary(
    legacy: BoundarySet, legacy_adj: Adjacency
) -> None:
    song_cau, quy_nhon = _code(legacy, "Sông Cầu"), _code(legacy, "Quy Nhơn")
    row = legacy_adj.pair(song_cau, quy_nhon)
    assert row is not None
    assert row["contact"] == "line"
    assert row["cross_province"]
    assert row["shared_length_m"] > 5_000
    assert row["utm_epsg"] == 32649  # east of 108°E


@pytest.mark.realdata
def test_vn2025_nghia_do_and_ngoc_ha_share_a_boundary(vn2025: BoundarySet) -> None:
    adj = adjacency(vn2025, codes=[NGHIA_DO, NGOC_HA, GIANG_VO, CAU_GIAY])
    row = adj.pair(NGHIA_DO, NGOC_HA)
    assert row is not None and row["contact"] == "line"
    assert 1_000 < row["shared_length_m"] < 1_600
    assert row["near_length_m"] == 0  # Hà Nội wards share their edges exactly
    assert adj.neighbours(NGHIA_DO) == [NGOC_HA, GIANG_VO, CAU_GIAY]


@pytest.mark.realdata
def test_vn2025_junction_near_the_t11_bridge(national_adj: Adjacency) -> None:
    # The T11 bridge lies on the Nghĩa Đô–Ngọc Hà line (4 m from it). The nearest junction
    # is where that line meets Giảng Võ, about 196 m south of the bridge's coordinates: the
    # old four-way meeting point disappeared when the 2025 wards were merged.
    junctions = national_adj.junctions
    distances = np.array([metric_distance(T11, (p.x, p.y)) for p in junctions.geometry])
    nearest = int(np.argmin(distances))
    assert distances[nearest] < 250
    assert junctions["codes"].iloc[nearest] == [NGOC_HA, GIANG_VO, NGHIA_DO]
    line = national_adj.lines[
        (national_adj.lines["code_a"] == NGOC_HA) & (national_adj.lines["code_b"] == NGHIA_DO)
    ]
    metric = project_geometries(line.geometry.to_numpy(), np.array([32648]))[0]
    x, y = project_xy(np.array([T11[0]]), np.array([T11[1]]), np.array([32648]))
    assert metric.distance(shapely.Point(x[0], y[0])) < 10


@pytest.mark.realdata
def test_vn2025_national_ward_adjacency(vn2025: BoundarySet, national_adj: Adjacency) -> None:
    pairs = national_adj.pairs
    assert not pairs.duplicated(["code_a", "code_b"]).any()
    assert (pairs["code_a"] < pairs["code_b"]).all()
    assert (pairs["contact"] == "line").sum() > 9_000
    # Every ward has a neighbour except the island units.
    isolates = set(national_adj.graph.isolates)
    assert 0 < len(isolates) < 30
    island_names = {vn2025.get(code).name for code in isolates}
    assert {"Phú Quốc", "Côn Đảo", "Bạch Long Vĩ", "Trường Sa"} <= island_names
    assert national_adj.graph.n_components == len(isolates) + 1
    # Junctions: three or more distinct, sorted codes each.
    assert len(national_adj.junctions) > 5_000
    assert national_adj.junctions["codes"].map(lambda c: c == sorted(set(c))).all()
    assert (national_adj.junctions["n_units"] >= 3).all()
