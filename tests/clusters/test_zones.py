"""Border zones: bands along shared boundaries, junction discs, sides, union, distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import adjacency
from geozone.clusters.measure import (
    measure_bands,
)
from geozone.clusters.zones import (
    DEFAULT_WIDTH_M,
    BorderZones,
    border_zones,
    default_width,
)
from geozone.crs import project_geometries
from geozone.errors import InvalidParameterError, UnitLevelError
from tests.fixtures.grid import GRID_ORIGIN, grid_lonlat, grid_vertex_lonlat

X0, Y0 = GRID_ORIGIN
ALL_WARDS = [f"0000{n}" for n in range(1, 10)]
T11 = (105.8064, 21.0387)
T11_CLUSTER = ["00160", "00008", "00025", "00166"]  # Nghĩa Đô, Ngọc Hà, Giảng Võ, Cầu Giấy


def metric(geoms: object) -> np.ndarray:
    array = np.atleast_1d(np.asarray(geoms, dtype=object))
    return project_geometries(array, np.full(len(array), 32648))


def grid_units_m(grid: BoundarySet, codes: list[str]) -> shapely.Geometry:
    frame = grid.frame.set_index("code")
    return shapely.union_all(metric(frame.geometry[codes].to_numpy()))


@pytest.fixture(scope="module")
def band_12(grid: BoundarySet) -> BorderZones:
    return border_zones(grid, ["00001", "00002"], 100.0)


@pytest.fixture(scope="module")
def whole_grid(grid: BoundarySet) -> BorderZones:
    return border_zones(grid, ALL_WARDS, 100.0)


# -- one pair -------------------------------------------------------------------------------


def test_pair_band_has_the_nominal_width_and_area(band_12: BorderZones) -> None:
    assert band_12.utm_epsg == 32648
    assert band_12.zones[["zone_id", "kind"]].values.tolist() == [["00001-00002", "pair"]]
    (row,) = measure_bands(band_12).to_dict("records")
    assert row["max_distance_m"] == pytest.approx(100.0, rel=0.01)
    assert row["shared_length_m"] == pytest.approx(1000.0, rel=0.005)
    assert row["area_m2"] == pytest.approx(2 * 100 * 1000, rel=0.02)
    assert band_12.zones["area_m2"].iloc[0] == pytest.approx(200_000, rel=0.02)


def test_every_point_of_the_band_is_within_w_of_the_shared_line(band_12: BorderZones) -> None:
    zone = metric(band_12.zones.geometry.iloc[0])[0]
    edge = shapely.LineString([(X0 + 1000, Y0), (X0 + 1000, Y0 + 1000)])
    assert zone.difference(edge.buffer(101.0)).area == pytest.approx(0.0, abs=1e-3)
    # ... and it covers what lies within 99 m of the line inside the two wards.
    inner = edge.buffer(99.0).intersection(shapely.box(X0, Y0, X0 + 2000, Y0 + 1000))
    assert inner.difference(zone).area == pytest.approx(0.0, abs=1e-3)


def test_pair_band_is_clipped_to_the_two_wards_and_split_by_side(
    grid: BoundarySet, band_12: BorderZones
) -> None:
    zone = metric(band_12.zones.geometry.iloc[0])[0]
    both = grid_units_m(grid, ["00001", "00002"])
    assert zone.difference(both).area == pytest.approx(0.0, abs=1e-3)  # no cap into 4, 5
    sides = band_12.sides
    assert sides["code"].tolist() == ["00001", "00002"]
    assert (sides["zone_id"] == "00001-00002").all()
    for code, geom, area in zip(sides["code"], sides.geometry, sides["area_m2"], strict=True):
        piece = metric(geom)[0]
        assert piece.difference(grid_units_m(grid, [code])).area == pytest.approx(0, abs=1e-3)
        assert area == pytest.approx(100 * 1000, rel=0.02)


# -- the whole grid: junctions and the union --------------------------------------------------


def test_junction_zones_at_the_four_way_vertices(whole_grid: BorderZones) -> None:
    junctions = whole_grid.junction_zones
    assert len(junctions) == 4
    assert len(whole_grid.pairs) == 12
    first = junctions[junctions["zone_id"] == "J:00001-00002-00004-00005"]
    assert first["codes"].iloc[0] == ["00001", "00002", "00004", "00005"]
    assert first["area_m2"].iloc[0] == pytest.approx(math.pi * 100**2, rel=0.01)
    quarters = whole_grid.sides[whole_grid.sides["zone_id"] == "J:00001-00002-00004-00005"]
    assert quarters["code"].tolist() == ["00001", "00002", "00004", "00005"]
    assert quarters["area_m2"].to_numpy() == pytest.approx(
        np.full(4, math.pi * 100**2 / 4), rel=0.01
    )
    centre = metric(shapely.Point(*grid_vertex_lonlat(1, 1)))[0]
    disc = metric(first.geometry.iloc[0])[0]
    assert disc.difference(centre.buffer(100.5)).area == pytest.approx(0.0, abs=1e-3)


def test_union_of_the_whole_grid(whole_grid: BorderZones) -> None:
    # Within 100 m of the four interior grid lines, inside the 3 km square:
    # 4 strips of 200 m × 3 km minus the 4 squares where they cross.
    union = whole_grid.union
    assert len(union) == 1
    assert union["area_m2"].iloc[0] == pytest.approx(4 * 200 * 3000 - 4 * 200 * 200, rel=0.005)
    assert union["codes"].iloc[0] == ALL_WARDS
    assert whole_grid.union_geometry.geom_type in ("Polygon", "MultiPolygon")
    lon, lat = grid_lonlat([1000.0, 1050.0, 500.0, 1500.0], [1000.0, 2500.0, 500.0, 1500.0])
    assert whole_grid.contains(lon, lat).tolist() == [True, True, False, False]
    assert whole_grid.distance_m(lon, lat) == pytest.approx([0, 50, 500, 500], abs=0.5)


def test_zones_from_a_precomputed_adjacency_match(grid: BoundarySet) -> None:
    members = ["00001", "00002", "00004", "00005"]
    fresh = border_zones(grid, members, 100.0)
    reused = border_zones(grid, members, 100.0, adjacency=adjacency(grid))
    assert fresh.zones["zone_id"].tolist() == reused.zones["zone_id"].tolist()
    assert fresh.zones["zone_id"].tolist()[-1] == "J:00001-00002-00004-00005"
    assert reused.zones["area_m2"].to_numpy() == pytest.approx(fresh.zones["area_m2"].to_numpy())


def test_group_without_shared_lines_has_no_zones(grid: BoundarySet) -> None:
    zones = border_zones(grid, ["00001", "00009"], 100.0)
    assert zones.zones.empty
    assert zones.sides.empty
    assert zones.union["area_m2"].iloc[0] == 0.0
    assert zones.union_geometry.is_empty


# -- widths and validation ------------------------------------------------------------------


def test_default_widths(grid: BoundarySet) -> None:
    assert DEFAULT_WIDTH_M == {"ward": 200.0, "district": 1000.0, "province": 3000.0}
    assert default_width("district") == 1000.0
    with pytest.raises(UnitLevelError, match="commune"):
        default_width("commune")  # type: ignore[arg-type]
    assert border_zones(grid, ["00001", "00002"]).width_m == 200.0
    district = border_zones(grid, ["001", "002"], level="district")
    assert district.width_m == 1000.0
    assert district.zones["area_m2"].iloc[0] == pytest.approx(2 * 1000 * 3000, rel=0.02)


def test_bad_widths_are_refused(grid: BoundarySet) -> None:
    for width in (0.0, -5.0, float("inf"), 1e9):
        with pytest.raises(InvalidParameterError, match="width_m"):
            border_zones(grid, ["00001", "00002"], width)


# -- real data ------------------------------------------------------------------------------


@pytest.mark.realdata
def test_t11_cluster_zones_at_200_m(vn2025: BoundarySet) -> None:
    zones = border_zones(vn2025, T11_CLUSTER, 200.0)
    assert zones.utm_epsg == 32648
    assert set(zones.pairs["zone_id"]) == {
        "00008-00025",
        "00008-00160",
        "00025-00160",
        "00160-00166",
    }
    assert zones.junction_zones["zone_id"].tolist() == ["J:00008-00025-00160"]
    assert (zones.zones["area_m2"] > 0).all()
    assert zones.contains([T11[0]], [T11[1]]).tolist() == [True]
    assert zones.distance_m([T11[0]], [T11[1]]) == pytest.approx([4.1], abs=1.0)
    bands = measure_bands(zones)
    assert bands["width_ratio"].to_numpy() == pytest.approx(np.ones(4), abs=0.01)
    # Each side lies in its own ward.
    frame = vn2025.frame.set_index("code")
    for code, geom in zip(zones.sides["code"], zones.sides.geometry, strict=True):
        piece = metric(geom)[0]
        unit = metric(frame.geometry[code])[0]
        assert piece.difference(unit).area < 1e-3 * piece.area
