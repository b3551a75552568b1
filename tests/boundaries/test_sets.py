from __future__ import annotations

from datetime import date
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet, SetInfo, _write_derived, available_sets
from geozone.crs import project_geometries, project_xy
from geozone.errors import InvalidCoordinatesError, NoBoundarySetForDateError, UnknownUnitError
from geozone.settings import Settings
from tests.fixtures.grid import GRID_CELL_M, grid_point, grid_vertex_lonlat

T11 = (105.8064, 21.0387)


# -- the grid ----------------------------------------------------------------------------


def test_point_inside_a_ward_gets_its_chain(grid: BoundarySet) -> None:
    location = grid.locate(*grid_point(1500, 1500), tolerance_m=10)
    assert location.status == "inside" and not location.on_boundary
    assert [unit.code for unit in location.chain] == ["00005", "001", "01"]
    assert [c.code for c in location.candidates] == ["00005"]


def test_point_near_an_edge_lists_both_units_with_metric_distance(grid: BoundarySet) -> None:
    point = grid_point(GRID_CELL_M + 5, 500)  # 5 m inside ward 2, east of the 1|2 edge
    location = grid.locate(*point, tolerance_m=10)
    assert location.unit is not None and location.unit.code == "00002"
    assert location.on_boundary
    assert [c.code for c in location.candidates] == ["00002", "00001"]
    assert location.candidates[1].distance_m == pytest.approx(5.0, abs=0.05)
    assert not grid.locate(*point, tolerance_m=3).on_boundary


def test_four_way_junction_gives_four_candidates(grid: BoundarySet) -> None:
    location = grid.locate(*grid_vertex_lonlat(1, 1), tolerance_m=1)
    assert location.status == "inside" and location.on_boundary
    assert sorted(c.code for c in location.candidates) == ["00001", "00002", "00004", "00005"]
    assert location.unit is not None and location.unit.code == "00001"  # ties: lowest code


def test_points_outside_are_answers_not_errors(grid: BoundarySet) -> None:
    far = grid.locate(*grid_point(-5000, 500), tolerance_m=10)
    assert far.status == "outside" and far.chain == () and not far.on_boundary
    coast = grid.locate(*grid_point(-4, 500), tolerance_m=10)
    assert coast.status == "outside" and coast.on_boundary
    assert [c.code for c in coast.candidates] == ["00001"]
    assert "Outside" in coast.describe()


def test_bad_coordinates(grid: BoundarySet) -> None:
    with pytest.raises(InvalidCoordinatesError, match="lat=nan"):
        grid.locate(105.8, float("nan"))
    with pytest.raises(InvalidCoordinatesError):
        grid.locate(200.0, 21.0)
    frame = grid.locate_many(
        [105.8, np.inf, *grid_point(1500, 1500)[:1]], [21.0, 21.0, grid_point(1500, 1500)[1]]
    )
    assert frame["status"].tolist() == ["outside", "invalid", "inside"]
    with pytest.raises(InvalidCoordinatesError, match="2 longitudes but 1 latitudes"):
        grid.locate_many([1.0, 2.0], [1.0])


def test_locate_many_agrees_with_locate(grid: BoundarySet) -> None:
    rng = np.random.default_rng(7)
    points = [grid_point(x, y) for x, y in rng.uniform(-200, 3200, size=(200, 2))]
    lon, lat = np.array(points).T
    frame = grid.locate_many(lon, lat, tolerance_m=25)
    for i in range(len(points)):
        single = grid.locate(lon[i], lat[i], tolerance_m=25)
        got = frame["unit_code"].iat[i]
        assert (None if pd.isna(got) else got) == (single.unit.code if single.unit else None)
        assert bool(frame["on_boundary"].iat[i]) == single.on_boundary
    assert set(frame.columns) >= {"ward_code", "district_code", "province_code", "candidates"}
    inside = frame[frame["status"] == "inside"]
    assert (
        inside["district_code"]
        == np.where(inside["ward_code"].isin(["00003", "00006", "00009"]), "002", "001")
    ).all()


def test_search_ignores_case_diacritics_spacing_and_type(grid: BoundarySet) -> None:
    for text in ["Ô 5", "o 5", "O5", "Phường Ô 5", "phuong o5", "P. Ô 5"]:
        assert [hit.unit.code for hit in grid.search(text)] == ["00005"], text
    assert grid.search("Một")[0].unit.code == "001"
    assert grid.search("") == []
    partial = grid.search("hai")
    assert [hit.unit.code for hit in partial] == ["002"]


def test_get_and_chain(grid: BoundarySet) -> None:
    assert grid.get("00009").parent_code == "002"
    assert [u.code for u in grid.chain("00009")] == ["00009", "002", "01"]
    with pytest.raises(UnknownUnitError, match="'12345'"):
        grid.get("12345")
    assert grid.levels == ("province", "district", "ward") and grid.leaf_level == "ward"


def test_snapshot_rule_of_a_set() -> None:
    """A set with a snapshot needs the notice for any day outside the snapshot's month; a
    stretch of days needs it when any of its days is outside; a set without none at all."""
    legacy = SetInfo(
        "old", "old set", date(2008, 8, 1), date(2025, 6, 30), "-", "-", "-", as_of="2023-02"
    )
    assert legacy.snapshot == (date(2023, 2, 1), date(2023, 2, 28))
    assert legacy.outside_snapshot(date(2015, 6, 1))
    assert legacy.outside_snapshot(date(2024, 12, 31))
    assert legacy.outside_snapshot(date(2023, 3, 1))
    assert not legacy.outside_snapshot(date(2023, 2, 1))
    assert not legacy.outside_snapshot(date(2023, 2, 28))
    assert not legacy.outside_snapshot(date(2023, 2, 1), date(2023, 2, 28))
    assert legacy.outside_snapshot(date(2023, 2, 1), date(2023, 3, 1))
    assert legacy.outside_snapshot(date(2023, 1, 31), date(2023, 2, 28))
    current = SetInfo("new", "new set", date(2025, 7, 1), None, "-", "-", "-")
    assert current.snapshot is None and not current.outside_snapshot(date(2025, 8, 1))
    # Written before the field existed: no snapshot time (the loader fills it, see below).
    old = {"id": "x", "title": "x", "valid_from": "2008-08-01", "licence": "-"}
    assert SetInfo.from_dict({**old, "attribution": "-", "attribution_en": "-"}).as_of is None


# -- the real sets -----------------------------------------------------------------------


@pytest.mark.realdata
def test_real_counts(vn2025: BoundarySet, legacy: BoundarySet) -> None:
    assert len(vn2025.units("province")) == 34 and len(vn2025.units("ward")) == 3321
    shaped = legacy.frame[legacy.frame["has_geometry"]]
    assert (shaped["level"] == "province").sum() == 62
    assert (shaped["level"] == "district").sum() == 692
    assert len(legacy.units("ward")) == 10047
    assert vn2025.frame["has_geometry"].sum() == 3355


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "province"),
    [
        ("Nghĩa Đô", "Thành phố Hà Nội"),
        ("Ngọc Hà", "Thành phố Hà Nội"),
        ("Giảng Võ", "Thành phố Hà Nội"),
        ("Cầu Giấy", "Thành phố Hà Nội"),
        ("Việt Trì", "Tỉnh Phú Thọ"),
        ("Quy Nhơn", "Tỉnh Gia Lai"),
    ],
)
def test_successor_wards_found_by_name(vn2025: BoundarySet, name: str, province: str) -> None:
    hits = vn2025.search(name, level="ward")
    assert any(hit.province == province and hit.unit.name == name for hit in hits)


@pytest.mark.realdata
def test_ambiguous_names_return_every_match_with_province(
    vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    provinces = {hit.province for hit in vn2025.search("nghia do")}
    assert {"Thành phố Hà Nội", "Tỉnh Lào Cai"} <= provinces
    quan_hoa = {(hit.unit.code, hit.unit.level) for hit in legacy.search("QuanHoa")}
    assert ("00169", "ward") in quan_hoa


@pytest.mark.realdata
def test_t11_bridge_lies_on_the_nghia_do_ngoc_ha_line(vn2025: BoundarySet) -> None:
    location = vn2025.locate(*T11, tolerance_m=150)
    assert location.unit is not None and location.unit.code in {"00160", "00008"}
    assert {"00160", "00008"} <= {c.code for c in location.candidates}
    assert location.on_boundary
    assert location.chain[-1].code == "01"


@pytest.mark.realdata
@pytest.mark.parametrize("point", [(109.5, 15.0), (102.6, 17.97)], ids=["east-sea", "vientiane"])
def test_sea_and_laos_are_outside(vn2025: BoundarySet, point: tuple[float, float]) -> None:
    assert vn2025.locate(*point).status == "outside"


@pytest.mark.realdata
def test_the_legacy_set_s_info_carries_its_snapshot_time(
    vn2025: BoundarySet, legacy: BoundarySet, built_settings: Settings
) -> None:
    assert legacy.info.as_of == "2023-02"
    assert legacy.info.snapshot == (date(2023, 2, 1), date(2023, 2, 28))
    assert legacy.info.outside_snapshot(date(2015, 6, 1))
    assert vn2025.info.as_of is None and not vn2025.info.outside_snapshot(date(2025, 8, 1))
    infos = {info.id: info for info in available_sets(built_settings)}
    assert infos["vn-legacy-districts"] == legacy.info and infos["vn2025"].as_of is None


@pytest.mark.realdata
def test_2024_point_resolves_in_the_legacy_set(built_settings: Settings) -> None:
    bset = BoundarySet.for_date(date(2024, 5, 1), built_settings)
    assert bset.id == "vn-legacy-districts"
    location = bset.locate(*T11, tolerance_m=150)
    assert location.unit is not None and location.unit.full_name in {
        "Quận Cầu Giấy",
        "Quận Ba Đình",
    }
    assert {c.full_name for c in location.candidates} == {"Quận Cầu Giấy", "Quận Ba Đình"}
    assert BoundarySet.for_date(date(2025, 7, 1), built_settings).id == "vn2025"
    with pytest.raises(NoBoundarySetForDateError, match="1990-01-01"):
        BoundarySet.for_date(date(1990, 1, 1), built_settings)


@pytest.mark.realdata
def test_locate_many_matches_geopandas_sjoin(vn2025: BoundarySet) -> None:
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(102.1, 109.5, 20_000), rng.uniform(8.5, 23.4, 20_000)
    ours = vn2025.locate_many(lon, lat, tolerance_m=0)
    wards = vn2025.units("ward")[["code", "geometry"]]
    points = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    joined = gpd.sjoin(points, wards, predicate="within", how="left")
    in_two = joined.index.duplicated(keep=False)  # the Lào Cai overlap holds some points twice
    joined = joined[~joined.index.duplicated()]
    inside = ours["status"] == "inside"
    assert inside.sum() > 3000
    same = ours["unit_code"].fillna("-").to_numpy() == joined["code"].fillna("-").to_numpy()
    assert (~same).sum() <= in_two.sum() // 2


@pytest.mark.parametrize("tolerance", [0.0, 25.0])
def test_interior_cores_path_agrees_with_the_exact_path(
    grid: BoundarySet, monkeypatch: pytest.MonkeyPatch, tolerance: float
) -> None:
    import geozone.boundaries._locate as locate_module

    rng = np.random.default_rng(5)
    lon, lat = np.array([grid_point(x, y) for x, y in rng.uniform(-100, 3100, size=(3000, 2))]).T
    monkeypatch.setattr(locate_module, "CORE_MIN_POINTS", 10**9)
    exact = grid.locate_many(lon, lat, tolerance_m=tolerance)
    monkeypatch.setattr(locate_module, "CORE_MIN_POINTS", 0)
    with_cores = grid.locate_many(lon, lat, tolerance_m=tolerance)
    pd.testing.assert_frame_equal(exact, with_cores)
    assert (exact["on_boundary"].sum() > 20) == (tolerance > 0)  # the edge band was exercised


def test_interior_cores_keep_the_tolerance_from_every_edge(grid: BoundarySet) -> None:
    from geozone.boundaries._locate import interior_cores

    wards = grid.units("ward")
    zones = wards["utm_epsg"].to_numpy(np.int64)
    cores = interior_cores(wards.geometry.to_numpy(), zones, 25.0, simplify_m=5.0)
    metric_cores = project_geometries(cores, zones)
    metric_wards = project_geometries(wards.geometry.to_numpy(), zones)
    assert shapely.within(metric_cores, metric_wards).all()
    gaps = shapely.hausdorff_distance(
        shapely.boundary(metric_cores), shapely.boundary(metric_wards)
    )
    # A 1 km square shrunk by 25 + 5 + 2 m: corners are the farthest points from the core.
    np.testing.assert_allclose(shapely.area(metric_cores), (1000 - 2 * 32) ** 2, rtol=2e-3)
    assert (gaps >= 32 - 0.5).all()
    inner = shapely.buffer(shapely.boundary(metric_wards), 25.0)
    assert not shapely.intersects(metric_cores, inner).any()


def test_outline_pieces_cover_every_segment_of_long_rings() -> None:
    from geozone.boundaries._locate import _cut

    circle = shapely.Point(500_000, 2_300_000).buffer(1_000, quad_segs=250)  # 1,001 vertices
    square = shapely.box(0, 0, 10, 10)
    rings = np.array([circle.exterior, square.exterior], dtype=object)
    xy, ring = shapely.get_coordinates(rings, return_index=True)
    vertex, sizes, owner = _cut(xy, ring, 32)
    pieces = shapely.linestrings(xy[vertex], indices=np.repeat(np.arange(len(sizes)), sizes))
    assert owner.tolist() == [0] * 32 + [1]  # 1,000 segments in 32 pieces, 4 in one
    assert (shapely.get_num_points(pieces) <= 33).all()
    np.testing.assert_allclose(shapely.length(pieces[owner == 0]).sum(), circle.exterior.length)
    assert shapely.equals(shapely.line_merge(shapely.union_all(pieces[:32])), circle.exterior)


@pytest.mark.realdata
def test_outline_distances_agree_with_geos_on_real_wards(vn2025: BoundarySet) -> None:
    index, _ = vn2025._leaf
    rng = np.random.default_rng(8)
    polygon = rng.choice(np.flatnonzero(~shapely.is_missing(index.geometries)), 2_000)
    edge = shapely.line_interpolate_point(
        shapely.boundary(index.geometries[polygon]), rng.uniform(0, 1, 2_000), normalized=True
    )
    lon = shapely.get_x(edge) + rng.normal(0, 1e-4, 2_000)  # within ~30 m of the edge
    lat = shapely.get_y(edge) + rng.normal(0, 1e-4, 2_000)
    outside = ~shapely.intersects_xy(index.geometries[polygon], lon, lat)
    lon, lat, polygon = lon[outside], lat[outside], polygon[outside]
    zones = index.zones[polygon]
    measured = index.outline_pieces().distance(lon, lat, polygon, zones, 10.0)
    x, y = project_xy(lon, lat, zones)
    exact = shapely.distance(
        project_geometries(index.geometries[polygon], zones), shapely.points(x, y)
    )
    close = exact <= 10.0
    assert close.sum() > 200 and (~close).sum() > 200  # both sides of the tolerance
    np.testing.assert_allclose(measured[close], exact[close], atol=1e-6)
    assert np.isinf(measured[~close]).all()


@pytest.mark.realdata
def test_interior_cores_agree_with_the_exact_path_on_real_wards(
    vn2025: BoundarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geozone.boundaries._locate as locate_module

    rng = np.random.default_rng(11)
    hanoi = vn2025.units("ward").query("province_code == '01'")
    minx, miny, maxx, maxy = hanoi.total_bounds
    lon, lat = rng.uniform(minx, maxx, 30_000), rng.uniform(miny, maxy, 30_000)
    # Half of them within metres of a real ward edge, where the tolerance matters.
    edges = shapely.get_coordinates(shapely.boundary(hanoi.geometry.to_numpy()))
    picked = edges[rng.integers(0, len(edges), 15_000)]
    lon[:15_000] = picked[:, 0] + rng.normal(0, 1e-4, 15_000)
    lat[:15_000] = picked[:, 1] + rng.normal(0, 1e-4, 15_000)
    monkeypatch.setattr(locate_module, "CORE_MIN_POINTS", 10**9)
    exact = vn2025.locate_many(lon, lat, tolerance_m=10.0)
    monkeypatch.setattr(locate_module, "CORE_MIN_POINTS", 0)
    with_cores = vn2025.locate_many(lon, lat, tolerance_m=10.0)
    pd.testing.assert_frame_equal(exact, with_cores)
    assert exact["on_boundary"].sum() > 1_000
    # The cores' grid placed many of them without geometry, and is kept next to the set.
    assert (vn2025._leaf[0].grid(10.0).lookup(lon, lat) >= 0).sum() > 5_000
    assert vn2025.display_path is not None
    assert list(vn2025.display_path.parent.glob("coregrid-10m-*.npz"))


@pytest.mark.parametrize("tolerance", [0.0, 25.0])
def test_point_driven_and_polygon_driven_paths_agree(
    grid: BoundarySet, monkeypatch: pytest.MonkeyPatch, tolerance: float
) -> None:
    import geozone.boundaries._locate as locate_module

    rng = np.random.default_rng(3)
    lon, lat = np.array([grid_point(x, y) for x, y in rng.uniform(-100, 3100, size=(500, 2))]).T
    lon[:4], lat[:4] = np.array(
        [grid_vertex_lonlat(c, r) for c, r in [(1, 1), (1, 2), (2, 1), (2, 2)]]
    ).T
    monkeypatch.setattr(locate_module, "POINT_DRIVEN_MAX", 10**9)
    by_point = grid.locate_many(lon, lat, tolerance_m=tolerance)
    monkeypatch.setattr(locate_module, "POINT_DRIVEN_MAX", 0)
    by_polygon = grid.locate_many(lon, lat, tolerance_m=tolerance)
    pd.testing.assert_frame_equal(by_point, by_polygon)
    assert by_point["on_boundary"].iloc[:4].all()


@pytest.mark.realdata
def test_one_point_equals_the_big_batch_path(
    vn2025: BoundarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Points alone (tree query per point, no cores) match a batch on the big-batch path.

    At the default tolerance, whose cores a session makes once (each other tolerance makes
    its own: ~30 s for the country's wards).
    """
    from geozone.boundaries import _locate

    tolerance = Settings.model_fields["boundary_tolerance_m"].default
    rng = np.random.default_rng(8)
    centre = vn2025.geometry("00160").centroid  # Nghĩa Đô: shared boundaries all around
    lon = centre.x + rng.normal(0, 0.01, 400)
    lat = centre.y + rng.normal(0, 0.01, 400)
    with monkeypatch.context() as patched:
        patched.setattr(_locate, "POINT_DRIVEN_MAX", 50)
        patched.setattr(_locate, "CORE_MIN_POINTS", 50)
        together = vn2025.locate_many(lon, lat, tolerance_m=tolerance)
    assert together["on_boundary"].sum() >= 10 and together["unit_code"].nunique() >= 3
    for i in range(0, 400, 3):
        alone = vn2025.locate_many(lon[i : i + 1], lat[i : i + 1], tolerance_m=tolerance)
        pd.testing.assert_frame_equal(
            alone, together.iloc[[i]].reset_index(drop=True), check_dtype=False
        )
        location = vn2025.locate(lon[i], lat[i], tolerance_m=tolerance)
        assert location.unit == (vn2025.get(alone["unit_code"][0]) if location.chain else None)
        assert [c.code for c in location.candidates] == (
            alone["candidates"][0] if location.on_boundary else [u.code for u in location.chain[:1]]
        )


@pytest.mark.realdata
@pytest.mark.parametrize("tolerance", [0.0, 10.0])  # 10 m: the cores a session makes once
def test_polygons_shared_out_between_threads_give_the_same_pairs(
    vn2025: BoundarySet, monkeypatch: pytest.MonkeyPatch, tolerance: float
) -> None:
    """A batch whose polygons are shared out between threads matches the one-thread batch."""
    from geozone.boundaries import _locate

    rng = np.random.default_rng(9)
    centre = vn2025.geometry("00160").centroid
    lon = centre.x + rng.normal(0, 0.02, 3_000)
    lat = centre.y + rng.normal(0, 0.02, 3_000)
    monkeypatch.setattr(_locate, "POINT_DRIVEN_MAX", 100)
    monkeypatch.setattr(_locate, "CORE_MIN_POINTS", 1_000)
    index = vn2025._leaf[0]
    alone = index.match(lon, lat, tolerance, workers=1)
    shared = index.match(lon, lat, tolerance, workers=3)
    assert len(alone.point) >= 3_000 and (~alone.contains).sum() >= (10 if tolerance else 0)
    for name in ("point", "polygon", "distance_m", "contains"):
        np.testing.assert_array_equal(getattr(shared, name), getattr(alone, name))


#: Run in a child process: a crash there (heap corruption) must fail the test, not the run.
_CONCURRENT_BATCHES = """
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from geozone.boundaries.sets import BoundarySet
from geozone.settings import get_settings

bset = BoundarySet.load("vn2025", get_settings())
bset.prepare_index()
rng = np.random.default_rng(4)
lon, lat = rng.uniform(105.6, 106.0, 300_000), rng.uniform(20.9, 21.2, 300_000)
# The threads come first: a freshly loaded index meets them cold, as a new service does.
with ThreadPoolExecutor(2) as pool:
    found = list(pool.map(lambda _: bset.locate_arrays(lon, lat)["unit_code"], range(2)))
alone = bset.locate_arrays(lon, lat)["unit_code"]
assert all((got == alone).all() for got in found)
print("same")
"""


@pytest.mark.realdata
def test_large_batches_located_on_several_threads_at_once(built_settings: Settings) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "GEOZONE_CACHE_DIR": str(built_settings.cache_dir)}
    child = subprocess.run(
        [sys.executable, "-c", _CONCURRENT_BATCHES],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert child.returncode == 0 and child.stdout.strip() == "same", child.stderr[-2000:]


def test_outline_pieces_read_back_from_their_file_measure_the_same(
    grid: BoundarySet, tmp_path: Path
) -> None:
    from geozone.boundaries._locate import OutlinePieces

    wards = grid.units("ward")
    geometries = wards.geometry.to_numpy()
    zones = wards["utm_epsg"].to_numpy(np.int64)
    built = OutlinePieces.build(geometries, zones)
    built.save(tmp_path / "outline.npz", len(geometries))
    loaded = OutlinePieces.load(tmp_path / "outline.npz", len(geometries))
    assert loaded is not None
    assert OutlinePieces.load(tmp_path / "outline.npz", len(geometries) + 1) is None
    rng = np.random.default_rng(3)
    lon, lat = np.array([grid_point(x, y) for x, y in rng.uniform(-50, 3050, (2000, 2))]).T
    for a, b in zip(built.near(lon, lat, 40.0), loaded.near(lon, lat, 40.0), strict=True):
        np.testing.assert_array_equal(a, b)  # the same coordinates: the same bits
    assert len(built.near(lon, lat, 40.0)[0]) > 100
    # The index read back is the one made, and a file without it is not read (made anew).
    for zone, pieces in loaded.zones.items():
        for name in ("start", "stop", "part_owner", "low", "high", "cells", "cell_part"):
            np.testing.assert_array_equal(getattr(pieces, name), getattr(built.zones[zone], name))
    kept = dict(np.load(tmp_path / "outline.npz"))
    np.savez(tmp_path / "older.npz", **{k: v for k, v in kept.items() if not k.startswith("cells")})
    assert OutlinePieces.load(tmp_path / "older.npz", len(geometries)) is None


def test_two_writers_of_one_derived_file_leave_it_whole(tmp_path: Path) -> None:
    """A second writer starting while the first is half-way leaves a whole file, not a mix."""
    target = tmp_path / "coregrid-10m.npz"
    first, second = b"A" * 1000, b"B" * 600

    def write_first(partial: Path) -> None:
        with partial.open("wb") as file:
            file.write(first[:500])
            file.flush()
            _write_derived(target, lambda other: other.write_bytes(second))  # meanwhile
            file.write(first[500:])

    _write_derived(target, write_first)
    assert target.read_bytes() in (first, second)
    assert not list(tmp_path.glob("*.partial"))
