"""Carried clusters keep the meaning of their border zones (real data).

The Gia Lâm cluster was signed by eight district police units to guard the lines *between*
their districts; carried into the 2025 wards (37 members), its zone must still run along those
lines only, not along every line between two successors of one district. The T11 cluster,
named in old wards the legacy set has no polygons for, gets a zone derived along the old
Cầu Giấy – Ba Đình line near the bridge.
"""

from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.analysis.border_effect import border_effect, zone_areas
from geozone.assignment import ClusterTerritory, assign, side_facts, territories
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.files import load_clusters
from geozone.clusters.sides import DERIVED_REACH_M
from geozone.clusters.zones import border_zones
from geozone.crs import project_geometries
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import T11_CONFIRMED

pytestmark = pytest.mark.realdata

GIA_LAM_DISTRICTS = ["018", "004", "017", "326", "325", "261", "260", "262"]
UTM = 32648


@pytest.fixture(scope="module")
def carried(vn2025: BoundarySet, legacy: BoundarySet) -> dict[str, ClusterTerritory]:
    clusters = load_clusters()
    placed = territories(
        [clusters["gia-lam"], clusters["hoa-do-phuc-vi"], clusters["can-tho-an-giang"]],
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED,
    )
    return {t.cluster.id: t for t in placed if t.cluster.carried_from}


def _metric(geoms: list[object]) -> np.ndarray:
    return project_geometries(np.array(geoms, dtype=object), np.full(len(geoms), UTM))


def _lonlat(point: shapely.Point) -> tuple[float, float]:
    found = gpd.GeoSeries([point], crs=UTM).to_crs(4326).iloc[0]
    return float(found.x), float(found.y)


def _judge(
    territory: ClusterTerritory, points: list[tuple[float, float]], by: str | None
) -> pd.DataFrame:
    incidents = pd.DataFrame(
        {
            "external_id": [f"p{i}" for i in range(len(points))],
            "occurred_at": [datetime(2025, 9, 1, 21, tzinfo=VIETNAM_TZ)] * len(points),
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "detected_by": [by] * len(points),
        }
    )
    rows = assign(incidents, [territory.bset], [territory]).clusters
    return rows.set_index("external_id").loc[incidents["external_id"]]


def test_the_gia_lam_sides_are_its_eight_districts(carried: dict[str, ClusterTerritory]) -> None:
    gia_lam = carried["gia-lam-vn2025"]
    sides = gia_lam.sides
    assert sides.basis == "original" and sides.codes == tuple(GIA_LAM_DISTRICTS)
    assert sides.names[0] == "Huyện Gia Lâm"
    # Bát Tràng took parts of Huyện Gia Lâm and Quận Long Biên: it stands for both.
    bat_trang = list(gia_lam.members["code"]).index("00577")
    assert set(np.flatnonzero(sides.member_sides[bat_trang])) == {0, 1}
    # Lines only between different districts: no line between two successors of one.
    lines = gia_lam.lines
    pairs = {tuple(sorted(p)) for p in zip(lines["code_a"], lines["code_b"], strict=True)}
    assert all(a in GIA_LAM_DISTRICTS and b in GIA_LAM_DISTRICTS for a, b in pairs)
    assert ("004", "018") in pairs


def test_no_zone_along_a_line_between_successors_of_one_district(
    carried: dict[str, ClusterTerritory], vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    gia_lam = carried["gia-lam-vn2025"]
    xa_gia_lam, thuan_an = _metric([vn2025.geometry("00565"), vn2025.geometry("00562")])
    internal = shapely.intersection(xa_gia_lam.boundary, thuan_an.buffer(2.0))
    old = shapely.union_all(gia_lam.lines.geometry.to_numpy())
    far = shapely.difference(internal, shapely.buffer(old, 1_500))
    assert far.length > 500, "the two successors share a line far from any old district line"
    point = far.interpolate(0.5, normalized=True)
    rows = _judge(gia_lam, [_lonlat(point)], "00562")
    row = rows.iloc[0]
    assert row["member_code"] in {"00565", "00562"}
    assert row["rule"] == "territory" and not row["in_zone"] and row["zone_kind"] is None
    assert "ngoài vùng giáp ranh 1.000 m" in row["explanation_vi"]
    assert "ranh giới cũ giữa Huyện Gia Lâm" in row["explanation_vi"]
    # No junction disc where only successors of one district meet.
    assert all(len(set(codes)) >= 3 for codes in gia_lam.junctions["codes"])
    assert all(set(codes) <= set(GIA_LAM_DISTRICTS) for codes in gia_lam.junctions["codes"])


def test_the_carried_gia_lam_zone_follows_the_old_district_lines(
    carried: dict[str, ClusterTerritory], legacy: BoundarySet
) -> None:
    gia_lam = carried["gia-lam-vn2025"]
    zones = gia_lam.zones
    union = project_geometries(
        np.array([zones.union_geometry], dtype=object), np.array([zones.utm_epsg])
    )[0]
    assert zones.utm_epsg == gia_lam.epsg == UTM
    old_lines = shapely.union_all(gia_lam.lines.geometry.to_numpy())  # the whole old lines
    # Every vertex of the carried zone lies within W (+1 %, the buffer's chords) of an old line.
    vertices = shapely.points(shapely.get_coordinates(union))
    assert shapely.distance(old_lines, vertices).max() <= 1_000 * 1.01
    # And it is the original zone, cut to the carried members' territory: the areas agree.
    original = border_zones(legacy, GIA_LAM_DISTRICTS, 1_000, "district")
    original_km2 = original.area_summary()["union_km2"]
    carried_km2 = zones.area_summary()["union_km2"]
    assert 0.9 * original_km2 <= carried_km2 <= original_km2 * 1.001
    # The new ward lines are not zone lines: the zone is far smaller than the 650 km² the
    # issue measured when every line between the 44 wards had its band.
    assert carried_km2 < 500


def test_a_successor_of_two_originals_keeps_both_sides(
    carried: dict[str, ClusterTerritory], vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    gia_lam = carried["gia-lam-vn2025"]
    bat_trang, old_gia_lam, long_bien = _metric(
        [vn2025.geometry("00577"), legacy.geometry("018"), legacy.geometry("004")]
    )
    on_gia_lam = shapely.point_on_surface(shapely.intersection(bat_trang, old_gia_lam))
    on_long_bien = shapely.point_on_surface(shapely.intersection(bat_trang, long_bien))
    lon = np.array([_lonlat(on_gia_lam)[0], _lonlat(on_long_bien)[0]])
    lat = np.array([_lonlat(on_gia_lam)[1], _lonlat(on_long_bien)[1]])
    sides, _ = side_facts(gia_lam, lon, lat)
    assert list(sides) == ["018", "004"]


def test_the_t11_zone_is_derived_near_the_bridge(carried: dict[str, ClusterTerritory]) -> None:
    t11 = carried["hoa-do-phuc-vi-vn2025"]
    sides = t11.sides
    assert sides.basis == "derived" and set(sides.codes) == {"005", "001"}
    assert "Cầu T11" in sides.basis_vi and "1.000 m" in sides.basis_vi
    bridge = _metric([shapely.Point(105.8064, 21.0387)])[0]
    union = _metric([t11.zones.union_geometry])[0]
    # The old line is kept within 1 km of the bridge's ±150 m circle; the band is 200 m wide.
    reach = DERIVED_REACH_M + 150 + t11.width_m
    assert shapely.hausdorff_distance(union, bridge) <= reach * 1.01
    assert shapely.contains(union, bridge)
    # Tây Hồ took a part of old Nghĩa Đô (Cầu Giấy side), Giảng Võ a part of Cống Vị.
    index = {code: k for k, code in enumerate(t11.members["code"])}
    assert sides.member_sides[index["00103"], sides.codes.index("005")]
    assert sides.member_sides[index["00025"], sides.codes.index("001")]


def test_a_province_cluster_keeps_its_old_line(carried: dict[str, ClusterTerritory]) -> None:
    """Cần Thơ – An Giang: the zone runs along the old line, not the new provinces' whole one."""
    carried_ct = carried["can-tho-an-giang-vn2025"]
    assert carried_ct.sides.codes == ("92", "89")
    new_line = shapely.union_all(
        _metric(
            [
                shapely.intersection(
                    carried_ct.bset.geometry("91").boundary,
                    carried_ct.bset.geometry("92").buffer(0.0005),
                )
            ]
        )
    )
    old_line = shapely.union_all(carried_ct.lines.geometry.to_numpy())
    assert old_line.length < 0.8 * new_line.length


def test_the_carried_border_effect_is_counted_on_the_original_pairs(
    carried: dict[str, ClusterTerritory], vn2025: BoundarySet
) -> None:
    gia_lam = carried["gia-lam-vn2025"]
    areas = zone_areas(gia_lam)
    pairs = set(areas.loc[areas["scope"] == "pair", "pair"])
    assert "004|018" in pairs and all(set(p.split("|")) <= set(GIA_LAM_DISTRICTS) for p in pairs)
    rng = np.random.default_rng(4)
    union = _metric(
        [shapely.union_all([vn2025.geometry(c) for c in gia_lam.members["code"] if c.isdigit()])]
    )[0]
    minx, miny, maxx, maxy = union.bounds
    xy = rng.uniform((minx, miny), (maxx, maxy), size=(6_000, 2))
    xy = xy[shapely.contains_xy(union, xy[:, 0], xy[:, 1])][:3_000]
    lonlat = gpd.GeoSeries(shapely.points(xy), crs=UTM).to_crs(4326)
    incidents = pd.DataFrame(
        {
            "external_id": [f"b{i}" for i in range(len(xy))],
            "occurred_at": datetime(2025, 9, 1, 21, tzinfo=VIETNAM_TZ),
            "lon": lonlat.x.to_numpy(),
            "lat": lonlat.y.to_numpy(),
            "category": "theft",
            "detected_by": None,
        }
    )
    rows = assign(incidents, [vn2025], [gia_lam]).clusters
    table = border_effect(incidents.merge(rows, on="external_id"), gia_lam)
    cluster = table[table["scope"] == "cluster"].iloc[0]
    assert cluster["n_in_zone"] == int(rows["in_zone"].sum())
    # Uniform points: the zone holds about its share of the area (no border effect).
    assert 0.85 < cluster["ratio"] < 1.15


def test_a_zone_a_planner_drew_replaces_the_derived_one(
    vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    """Confirmed with a drawn zone (a 700 m square around the bridge), the T11 cluster uses it."""
    from geozone.clusters.model import Confirmation

    bridge = _metric([shapely.Point(105.8064, 21.0387)])[0]
    square = shapely.box(bridge.x - 350, bridge.y - 350, bridge.x + 350, bridge.y + 350)
    drawn = gpd.GeoSeries([square], crs=UTM).to_crs(4326).iloc[0]
    confirmation = Confirmation(
        "hoa-do-phuc-vi-vn2025",
        T11_CONFIRMED["hoa-do-phuc-vi-vn2025"].from_date,
        "test",
        zone=drawn.wkt,
    )
    (t11,) = [
        t
        for t in territories(
            [load_clusters()["hoa-do-phuc-vi"]],
            [legacy, vn2025],
            carry_into=vn2025,
            confirmations={confirmation.cluster_id: confirmation},
        )
        if t.cluster.id == "hoa-do-phuc-vi-vn2025"
    ]
    zones = t11.zones
    assert list(zones.zones["kind"]) == ["drawn"]
    assert zones.area_summary()["union_km2"] == pytest.approx(0.49, rel=0.01)
    line = shapely.union_all(t11.lines.geometry.to_numpy())
    inside_far = shapely.difference(square.buffer(-20), line.buffer(250))  # in it, > W away
    outside_near = shapely.difference(line.buffer(60), square.buffer(100))  # near the line
    points = [
        _lonlat(shapely.point_on_surface(inside_far)),
        _lonlat(shapely.point_on_surface(outside_near)),
    ]
    rows = _judge(t11, points, None)
    assert bool(rows.iloc[0]["in_zone"]) and rows.iloc[0]["rule"] == "border_unknown_detector"
    assert not bool(rows.iloc[1]["in_zone"]) and rows.iloc[1]["rule"] == "territory"
