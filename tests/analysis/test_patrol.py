from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geozone.analysis.border_effect import territory_zones
from geozone.analysis.patrol import SUGGESTION_COLUMNS, coverage, suggest_patrol_zones
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.errors import (
    AnalysisInputError,
    InvalidParameterError,
    PatrolZoneGeometryError,
    PatrolZoneOutsideClusterError,
)
from tests.fixtures.clusters import REGULATION, grid_cluster
from tests.fixtures.grid import GRID_ORIGIN

W = 100.0
_TO_LONLAT = Transformer.from_crs(32648, 4326, always_xy=True)


@pytest.fixture(scope="module")
def territory(grid: BoundarySet) -> ClusterTerritory:
    """Wards 1, 2, 4, 5 of the grid (the square [0, 2000]² m), W = 100 m."""
    return ClusterTerritory(grid_cluster(zone_width_m=W, regulation=REGULATION), grid)


def box(x0: float, y0: float, x1: float, y1: float) -> shapely.Polygon:
    """A box given in grid metres, as a lon/lat polygon."""
    ox, oy = GRID_ORIGIN
    metric = shapely.box(ox + x0, oy + y0, ox + x1, oy + y1)
    return gpd.GeoSeries([metric], crs=32648).to_crs(4326).iloc[0]


def cells(
    blocks: Sequence[tuple[float, float, float, float, float]],
    size: float = 100.0,
    kind: str = "hot",
    significant: bool = True,
) -> gpd.GeoDataFrame:
    """A hotspot cells frame: a background of 100 m cells over the grid, and hot blocks.

    Each block (x0, y0, x1, y1, gi_z) in grid metres is tiled by cells of ``size`` metres,
    counted 10 incidents each, with ``kind`` and ``significant`` as given.
    """
    ox, oy = GRID_ORIGIN
    xs = np.arange(0, 3000, 100.0)
    gx, gy = (a.ravel() for a in np.meshgrid(xs, xs))
    geoms = list(shapely.box(ox + gx, oy + gy, ox + gx + 100, oy + gy + 100))
    rows: dict[str, list[Any]] = {
        "count": [1] * len(gx),
        "gi_z": [0.2] * len(gx),
        "significant": [False] * len(gx),
        "kind": ["none"] * len(gx),
    }
    for x0, y0, x1, y1, z in blocks:
        bx, by = (a.ravel() for a in np.meshgrid(np.arange(x0, x1, size), np.arange(y0, y1, size)))
        geoms += list(shapely.box(ox + bx, oy + by, ox + bx + size, oy + by + size))
        rows["count"] += [10] * len(bx)
        rows["gi_z"] += [z] * len(bx)
        rows["significant"] += [significant] * len(bx)
        rows["kind"] += [kind] * len(bx)
    frame = gpd.GeoDataFrame(rows, geometry=geoms, crs=32648).to_crs(4326)
    frame.insert(0, "cell_id", [f"c{i}" for i in range(len(frame))])
    frame["p_sim"] = np.where(frame["significant"], 0.001, 0.5)
    frame["q_value"] = np.where(frame["significant"], 0.01, 0.9)
    return frame


def points(xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
    ox, oy = GRID_ORIGIN
    arr = np.asarray(xy, dtype=float)
    return gpd.GeoDataFrame(
        {"external_id": [f"i{i}" for i in range(len(arr))]},
        geometry=shapely.points(ox + arr[:, 0], oy + arr[:, 1]),
        crs=32648,
    ).to_crs(4326)


def codes(found: list[dict[str, Any]]) -> list[str]:
    return [str(unit["code"]) for unit in found]


# -- coverage ------------------------------------------------------------------------------------


def test_a_zone_equal_to_the_border_zone_covers_all_of_it(territory: ClusterTerritory) -> None:
    zone = territory_zones(territory).union_geometry
    got = coverage(zone, territory)
    assert got.border_zone_share == pytest.approx(1.0, abs=1e-6)
    assert got.zone_area_km2 == pytest.approx(0.76, rel=1e-6)
    assert got.cluster_share == pytest.approx(1.0, abs=1e-9)
    assert sorted(codes(got.units)) == ["00001", "00002", "00004", "00005"]
    assert [u["area_share"] for u in got.units] == pytest.approx([0.25] * 4, abs=1e-6)
    assert got.hot_cells_share is None and got.incidents_share is None
    assert got.as_dict()["units"][0]["member"] is True


def test_a_zone_inside_one_ward_covers_no_border_zone(territory: ClusterTerritory) -> None:
    got = coverage(box(200, 200, 800, 800), territory)
    assert got.border_zone_share == 0 and got.border_zone_km2 == 0
    assert got.zone_area_km2 == pytest.approx(0.36, rel=1e-6)
    assert got.units == [
        {"code": "00001", "name": "Phường Ô 1", "area_share": pytest.approx(1.0), "member": True}
    ]


def test_a_zone_across_a_shared_boundary(territory: ClusterTerritory) -> None:
    # The whole band of the Ô 1–Ô 2 line: 0.2 of the 0.76 km² border zone.
    got = coverage(box(900, 0, 1100, 1000), territory)
    assert got.border_zone_share == pytest.approx(0.2 / 0.76, rel=1e-6)
    assert got.border_zone_km2 == pytest.approx(0.2, rel=1e-6)
    assert codes(got.units) == ["00001", "00002"] or codes(got.units) == ["00002", "00001"]
    assert [u["area_share"] for u in got.units] == pytest.approx([0.5, 0.5], abs=1e-6)


def test_a_zone_reaching_out_of_the_cluster_lists_the_other_unit(
    territory: ClusterTerritory,
) -> None:
    got = coverage(box(1800, 200, 2200, 400), territory)  # half in Ô 2, half in Ô 3
    assert got.cluster_share == pytest.approx(0.5, rel=1e-6)
    by_code = {u["code"]: u for u in got.units}
    assert set(by_code) == {"00002", "00003"}
    assert by_code["00003"]["member"] is False and by_code["00002"]["member"] is True
    assert by_code["00003"]["area_share"] == pytest.approx(0.5, rel=1e-6)


def test_a_sliver_over_a_neighbour_is_not_a_touch(territory: ClusterTerritory) -> None:
    # 0.05% of the zone lies in Ô 2: drawing slop, below the 0.1% threshold.
    got = coverage(box(0, 0, 1000.5, 1000), territory)
    assert codes(got.units) == ["00001"]


def test_incidents_and_hot_cells_covered(territory: ClusterTerritory) -> None:
    hot = cells(
        [(900, 400, 1100, 600, 4.0), (200, 200, 400, 400, 3.0), (2200, 2200, 2400, 2400, 5)]
    )
    incidents = points([(950, 450), (1050, 550), (300, 300), (1500, 1500), (2300, 2300)])
    got = coverage(box(900, 400, 1100, 600), territory, incidents=incidents, hot_cells=hot)
    # Hot area within the members: two 0.04 km² blocks (the one in Ô 9 is outside).
    assert got.hot_cells_share == pytest.approx(0.5, rel=1e-6)
    assert got.n_hot_cells == 4
    assert (got.n_incidents_inside, got.n_incidents) == (2, 5)
    assert got.incidents_share == pytest.approx(0.4)
    # The same points in another CRS give the same answer.
    again = coverage(box(900, 400, 1100, 600), territory, incidents=incidents.to_crs(32648))
    assert again.n_incidents_inside == 2
    # A result without significant hot cells in the cluster: nothing to cover.
    cold = cells([(900, 400, 1100, 600, -4.0)], kind="cold")
    none = coverage(box(900, 400, 1100, 600), territory, hot_cells=cold)
    assert none.hot_cells_share is None and none.n_hot_cells == 0


@pytest.mark.parametrize(
    ("zone", "match"),
    [
        (shapely.Polygon(), "empty"),
        (shapely.Point(105.8, 21.0), "Polygon or MultiPolygon, not Point"),
        ("POLYGON", "not str"),
        (
            shapely.Polygon([(105.80, 21.01), (105.82, 21.03), (105.82, 21.01), (105.80, 21.03)]),
            "Self-intersection",
        ),
        (shapely.box(2.0, 48.0, 2.1, 48.1), "outside Vietnam"),
        (shapely.box(583_000, 2_324_000, 583_500, 2_324_500), "not longitude/latitude"),
        (shapely.Polygon([(105.8, 21.0), (105.81, 21.0), (105.82, 21.0)]), "no area|not a valid"),
    ],
)
def test_unusable_zones_are_refused(territory: ClusterTerritory, zone: object, match: str) -> None:
    with pytest.raises(PatrolZoneGeometryError, match=match):
        coverage(zone, territory)


def test_a_zone_outside_the_cluster_is_refused(territory: ClusterTerritory) -> None:
    with pytest.raises(PatrolZoneOutsideClusterError, match="no part of the territory"):
        coverage(box(2200, 2200, 2800, 2800), territory)  # in Ô 9


def test_bad_incidents_and_cells_are_refused(territory: ClusterTerritory) -> None:
    zone = box(900, 400, 1100, 600)
    with pytest.raises(AnalysisInputError, match="GeoDataFrame"):
        coverage(zone, territory, incidents=[(105.8, 21.0)])
    with pytest.raises(AnalysisInputError, match="points"):
        coverage(zone, territory, incidents=cells([]))
    with pytest.raises(AnalysisInputError, match="gi_z"):
        coverage(zone, territory, hot_cells=cells([]).drop(columns="gi_z"))


# -- suggestions ---------------------------------------------------------------------------------


def test_a_border_hotspot_gives_a_suggestion_touching_both_members(
    territory: ClusterTerritory,
) -> None:
    hot = cells([(900, 400, 1100, 600, 4.0), (200, 200, 400, 400, 6.0)])
    found = suggest_patrol_zones(hot, territory)
    assert list(found.columns) == list(SUGGESTION_COLUMNS)
    assert len(found) == 1  # the block deep inside Ô 1 gives none
    row = found.iloc[0]
    assert row["units"] == ["00001", "00002"]
    assert row["unit_names"] == ["Phường Ô 1", "Phường Ô 2"]
    assert row["boundary"] == "00001|00002" and row["distance_m"] == 0
    assert (row["n_cells"], row["incidents"], row["max_gi_z"]) == (4, 40, 4.0)
    assert row["suggestion_id"] == 1
    # A 200 m square grown by 100 m: (0.4 km)² less the four rounded corners.
    assert row["area_km2"] == pytest.approx(0.16 - (4 - math.pi) * 0.01, rel=2e-3)
    assert found.crs.to_epsg() == 4326 and found.geometry.is_valid.all()
    assert row.geometry.geom_type == "Polygon"
    assert "Gợi ý" in row["note"] and "giáp ranh Phường Ô 1 – Phường Ô 2" in row["note"]
    assert "border area of Phường Ô 1 – Phường Ô 2" in row["note_en"]
    # The suggestion covers the whole hot block and touches both wards.
    got = coverage(row.geometry, territory, hot_cells=hot)
    assert codes(got.units) in (["00001", "00002"], ["00002", "00001"])
    assert got.hot_cells_share == pytest.approx(0.5, rel=1e-6)  # the other block is far


def test_cells_far_from_any_shared_boundary_give_nothing(territory: ClusterTerritory) -> None:
    far = cells(
        [(200, 200, 500, 500, 5.0), (2300, 2300, 2600, 2600, 5.0), (300, 1400, 600, 1700, 5)]
    )
    found = suggest_patrol_zones(far, territory)
    assert found.empty and list(found.columns) == list(SUGGESTION_COLUMNS)
    assert found.crs.to_epsg() == 4326


def test_cells_within_the_zone_width_of_a_boundary_are_kept(territory: ClusterTerritory) -> None:
    near = cells([(850, 400, 950, 600, 4.0)], size=50)  # 50 m from the Ô 1–Ô 2 line
    found = suggest_patrol_zones(near, territory, buffer_m=20)
    assert len(found) == 1
    row = found.iloc[0]
    assert row["units"] == ["00001"]  # its 20 m margin stays in Ô 1
    assert row["boundary"] == "00001|00002" and row["distance_m"] == pytest.approx(50, abs=0.5)
    farther = cells([(750, 400, 850, 600, 4.0)], size=50)  # 150 m > W
    assert suggest_patrol_zones(farther, territory, buffer_m=20).empty


def test_only_significant_hot_cells_count(territory: ClusterTerritory) -> None:
    straddling = (900, 400, 1100, 600, 4.0)
    assert suggest_patrol_zones(cells([straddling], kind="cold"), territory).empty
    assert suggest_patrol_zones(cells([straddling], significant=False), territory).empty


def test_nearby_groups_merge_when_their_buffers_meet(territory: ClusterTerritory) -> None:
    # Two blocks on the Ô 1–Ô 2 line, 150 m apart, the southern one stronger.
    blocks = [(900, 200, 1100, 400, 5.0), (900, 550, 1100, 750, 3.0)]
    merged = suggest_patrol_zones(cells(blocks), territory, buffer_m=100)
    assert len(merged) == 1 and merged.iloc[0]["n_cells"] == 8
    assert merged.iloc[0]["max_gi_z"] == 5.0
    apart = suggest_patrol_zones(cells(blocks), territory, buffer_m=50)
    assert apart["suggestion_id"].tolist() == [1, 2]
    assert apart["max_gi_z"].tolist() == [5.0, 3.0]
    assert not apart.geometry.iloc[0].intersects(apart.geometry.iloc[1])
    # Small ones can be dropped; a suggestion is clipped to the members.
    assert suggest_patrol_zones(cells(blocks), territory, buffer_m=50, min_area_m2=1e6).empty
    edge = suggest_patrol_zones(cells([(1900, 900, 2100, 1100, 4.0)]), territory)
    assert edge.iloc[0]["units"] == ["00002", "00005"]
    assert edge.iloc[0]["n_cells"] == 2  # the cells in Ô 3 and Ô 6 are not the cluster's
    assert edge.iloc[0]["area_km2"] == pytest.approx(0.2 * 0.4 - 0.01 * (4 - math.pi) / 2, rel=5e-3)


def test_bad_suggestion_input_is_refused(territory: ClusterTerritory) -> None:
    with pytest.raises(AnalysisInputError, match="kind"):
        suggest_patrol_zones(cells([]).drop(columns="kind"), territory)
    with pytest.raises(AnalysisInputError, match="GeoDataFrame"):
        suggest_patrol_zones(cells([]).drop(columns="geometry"), territory)
    with pytest.raises(InvalidParameterError, match="buffer_m"):
        suggest_patrol_zones(cells([]), territory, buffer_m=-1)
    with pytest.raises(InvalidParameterError, match="min_area_m2"):
        suggest_patrol_zones(cells([]), territory, min_area_m2=float("nan"))


# -- real data: the Hoa–Đô–Phúc–Vị cluster carried into the 2025 wards ----------------------------

NGOC_HA, NGHIA_DO, TAY_HO = "00008", "00160", "00103"
T11 = (105.8064, 21.0387)


@pytest.fixture(scope="module")
def t11(wards_2025: ClusterTerritory) -> ClusterTerritory:
    """The 2025 wards around the bridge as a cluster whose zone runs along all their lines."""
    return wards_2025


def metric_cells(centre_x: float, centre_y: float, hot_radius_m: float) -> gpd.GeoDataFrame:
    """100 m cells over 6 km around a UTM 48N point; those within the radius are hot."""
    xs = np.arange(-3000, 3000, 100.0)
    gx, gy = (a.ravel() for a in np.meshgrid(xs + centre_x, xs + centre_y))
    hot = np.hypot(gx + 50 - centre_x, gy + 50 - centre_y) < hot_radius_m
    return gpd.GeoDataFrame(
        {
            "cell_id": np.arange(len(gx)),
            "count": np.where(hot, 12, 1),
            "gi_z": np.where(hot, 4.5, 0.1),
            "p_sim": np.where(hot, 0.001, 0.6),
            "q_value": np.where(hot, 0.004, 0.9),
            "significant": hot,
            "kind": np.where(hot, "hot", "none"),
        },
        geometry=shapely.box(gx, gy, gx + 100, gy + 100),
        crs=32648,
    ).to_crs(4326)


@pytest.mark.realdata
def test_real_t11_hotspot_gives_a_suggestion_on_the_nghia_do_ngoc_ha_line(
    t11: ClusterTerritory,
) -> None:
    (x,), (y,) = Transformer.from_crs(4326, 32648, always_xy=True).transform([T11[0]], [T11[1]])
    found = suggest_patrol_zones(metric_cells(x, y, 160), t11)
    assert len(found) == 1
    row = found.iloc[0]
    assert {NGOC_HA, NGHIA_DO} <= set(row["units"])
    assert row["boundary"] == f"{NGOC_HA}|{NGHIA_DO}"
    assert "Phường Nghĩa Đô" in row["note"] and "Phường Ngọc Hà" in row["note"]
    assert found.geometry.is_valid.all()
    got = coverage(row.geometry, t11)
    assert {NGOC_HA, NGHIA_DO} <= set(codes(got.units))
    assert got.cluster_share == pytest.approx(1.0, abs=1e-6)


@pytest.mark.realdata
def test_real_cells_deep_inside_one_ward_give_nothing(
    vn2025: BoundarySet, t11: ClusterTerritory
) -> None:
    # A point of Tây Hồ more than 1.5 km from every boundary its members share.
    tay_ho = gpd.GeoSeries([vn2025.geometry(TAY_HO)], crs=4326).to_crs(32648).iloc[0]
    minx, miny, maxx, maxy = tay_ho.bounds
    gx, gy = (
        a.ravel() for a in np.meshgrid(np.arange(minx, maxx, 100), np.arange(miny, maxy, 100))
    )
    candidates = shapely.points(gx, gy)
    shared = shapely.union_all(t11.lines.geometry.to_numpy())
    ok = shapely.contains(tay_ho, candidates) & (shapely.distance(shared, candidates) > 1500)
    assert ok.any()
    x, y = float(gx[ok][0]), float(gy[ok][0])
    assert suggest_patrol_zones(metric_cells(x, y, 160), t11).empty


@pytest.mark.realdata
def test_real_coverage_of_the_border_zone_and_of_a_ward_interior(
    vn2025: BoundarySet, t11: ClusterTerritory
) -> None:
    zones = territory_zones(t11)
    whole = coverage(zones.union_geometry, t11, zones=zones)
    assert whole.border_zone_share == pytest.approx(1.0, abs=1e-4)
    inner = gpd.GeoSeries([vn2025.geometry(TAY_HO)], crs=4326).to_crs(32648).buffer(-300)
    inside = coverage(inner.to_crs(4326).iloc[0], t11, zones=zones)
    assert inside.border_zone_share == pytest.approx(0.0, abs=1e-9)
    assert codes(inside.units) == [TAY_HO]
    assert inside.units[0]["area_share"] == pytest.approx(1.0, abs=1e-6)


def test_a_group_crossing_several_lines_is_named_after_the_longest(
    territory: ClusterTerritory,
) -> None:
    # 300 m of the Ô 1–Ô 2 line inside the block, 100 m of each line from the centre junction.
    found = suggest_patrol_zones(cells([(900, 700, 1100, 1100, 4.0)]), territory)
    assert found.iloc[0]["boundary"] == "00001|00002"
    assert found.iloc[0]["units"] == ["00001", "00002", "00004", "00005"]
