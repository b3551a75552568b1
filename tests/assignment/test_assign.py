from __future__ import annotations

from datetime import datetime

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geozone.assignment import ClusterTerritory, assign, territories
from geozone.assignment.rules import REVIEW_RULES
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.settings import Settings
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import REGULATION, T11_CONFIRMED, grid_cluster
from tests.fixtures.grid import grid_point

WHEN = datetime(2022, 3, 1, 21, 30, tzinfo=VIETNAM_TZ)


@pytest.fixture(scope="module")
def territory(grid: BoundarySet) -> ClusterTerritory:
    """Wards 1, 2, 4 (from 2020) and 5 (from mid-2021) and a company; W = 100 m."""
    return ClusterTerritory(grid_cluster(zone_width_m=100, regulation=REGULATION), grid)


def judge(
    grid: BoundarySet,
    territory: ClusterTerritory,
    x: float,
    y: float,
    detected_by: str | None,
    when: datetime = WHEN,
) -> pd.DataFrame:
    lon, lat = grid_point(x, y)
    incidents = pd.DataFrame(
        {
            "external_id": ["A"],
            "occurred_at": [when],
            "lon": [lon],
            "lat": [lat],
            "detected_by": [detected_by],
        }
    )
    result = assign(incidents, [grid], [territory], tolerance_m=5)
    return result.clusters


def only(rows: pd.DataFrame) -> pd.Series:
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_inside_one_member_outside_the_zone_the_member_leads(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    row = only(judge(grid, territory, 300, 300, "o2"))
    assert row["rule"] == "territory" and row["lead_unit"] == "00001" and not row["in_zone"]
    assert row["distance_m"] == pytest.approx(700, abs=1) and row["cooperating"] == []
    assert not row["review"]
    assert "Phường Ô 1 leads by territory (rule 1)" in row["explanation_en"]
    assert "700 m" in row["explanation_en"] and "chủ trì theo địa bàn" in row["explanation_vi"]


def test_in_the_border_zone_the_detector_leads(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    row = only(judge(grid, territory, 950, 300, "o2"))
    assert row["rule"] == "border_detector" and row["in_zone"] and row["zone_kind"] == "pair"
    assert row["member_code"] == "00001" and row["lead_unit"] == "00002"
    assert row["cooperating"] == ["00001"] and row["boundary_with"] == "00002"
    assert row["distance_m"] == pytest.approx(50, abs=0.5)
    assert "50 m from its boundary with Phường Ô 2" in row["explanation_en"]
    assert "Phường Ô 2 phát hiện trước nên chủ trì (nguyên tắc 2)" in row["explanation_vi"]
    # A unit code works as well as a member id.
    assert only(judge(grid, territory, 950, 300, "00002"))["lead_unit"] == "00002"


@pytest.mark.parametrize(
    ("detected_by", "rule"),
    [
        (None, "border_unknown_detector"),
        ("00009", "border_non_member_detector"),
        ("ghost", "border_non_member_detector"),
        ("cty", "border_organisation_detector"),
    ],
)
def test_border_fallbacks_give_the_holder_and_ask_for_review(
    grid: BoundarySet, territory: ClusterTerritory, detected_by: str | None, rule: str
) -> None:
    row = only(judge(grid, territory, 950, 300, detected_by))
    assert row["rule"] == rule and row["lead_unit"] == "00001" and row["review"]
    assert row["cooperating"] == ["00002"] and row["explanation_en"].endswith("Review.")


def test_four_way_junction(grid: BoundarySet, territory: ClusterTerritory) -> None:
    row = only(judge(grid, territory, 980, 985, "o5"))
    assert row["zone_kind"] == "junction" and row["lead_unit"] == "00005"
    assert sorted(row["zone_units"]) == ["00001", "00002", "00004", "00005"]
    assert sorted(row["cooperating"]) == ["00001", "00002", "00004"]


def test_membership_dates_are_respected(grid: BoundarySet, territory: ClusterTerritory) -> None:
    # Before Ô 5 joined (2021-06-01) a point in Ô 5 concerns the cluster only if a member saw it.
    early = datetime(2021, 1, 1, tzinfo=VIETNAM_TZ)
    assert judge(grid, territory, 1500, 1500, "00009", early).empty
    before = only(judge(grid, territory, 1020, 1500, "o4", early))
    assert before["rule"] == "outside_members" and before["lead_unit"] == "00005"
    after = only(judge(grid, territory, 1020, 1500, "o4"))
    assert after["rule"] == "border_detector" and after["lead_unit"] == "00004"


def test_point_on_the_boundary_lists_every_candidate(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    row = only(judge(grid, territory, 1000, 300, "00009"))
    assert row["rule"] == "on_boundary" and row["review"]
    assert row["lead_unit"] == "00001" and row["zone_units"] == ["00001", "00002"]
    on_line_detector = only(judge(grid, territory, 1000, 300, "o2"))
    assert (
        on_line_detector["rule"] == "border_detector" and on_line_detector["lead_unit"] == "00002"
    )


def test_outside_every_member(grid: BoundarySet, territory: ClusterTerritory) -> None:
    row = only(judge(grid, territory, 2500, 2500, "o1"))
    assert row["rule"] == "outside_members" and row["lead_unit"] == "00009"
    assert row["cooperating"] == ["00001"] and row["member_code"] is None
    assert "hands it over to the police of Phường Ô 9 (00009)" in row["explanation_en"]
    assert judge(grid, territory, 2500, 2500, "00009").empty  # no member involved


def test_outside_the_period_and_without_a_set(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    assert judge(grid, territory, 950, 300, "o2", datetime(2019, 6, 1, tzinfo=VIETNAM_TZ)).empty
    incidents = pd.DataFrame(
        {
            "external_id": ["old"],
            "occurred_at": [datetime(1990, 1, 1)],
            "lon": [105.8],
            "lat": [21.0],
            "detected_by": [None],
        }
    )
    result = assign(incidents, [grid], [territory])
    assert result.units["locate_status"].tolist() == ["no_set"] and result.clusters.empty


def test_many_points_one_call_match_one_by_one(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    import numpy as np

    rng = np.random.default_rng(5)
    xy = rng.uniform(-50, 3050, size=(400, 2))
    lonlat = np.array([grid_point(x, y) for x, y in xy])
    detectors = rng.choice(
        np.array(["o1", "o2", "o4", "o5", "cty", "00009", None], dtype=object), 400
    )
    incidents = pd.DataFrame(
        {
            "external_id": [f"i{i}" for i in range(400)],
            "occurred_at": WHEN,
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "detected_by": detectors,
        }
    )
    together = assign(incidents, [grid], [territory], tolerance_m=5).clusters.set_index(
        "external_id"
    )
    for i in range(0, 400, 7):
        alone = judge(grid, territory, *xy[i], detectors[i])
        if alone.empty:
            assert f"i{i}" not in together.index
        else:
            assert together.loc[f"i{i}", "rule"] == alone.iloc[0]["rule"]
            got, expected = together.loc[f"i{i}", "lead_unit"], alone.iloc[0]["lead_unit"]
            assert got == expected or (pd.isna(got) and pd.isna(expected))
    assert set(together["rule"]) >= {"territory", "border_detector", "outside_members"}
    assert together.loc[together["review"], "rule"].isin(REVIEW_RULES).all()


def test_regulation_without_a_lead_rule_is_said(grid: BoundarySet) -> None:
    plain = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    row = only(judge(grid, plain, 300, 300, None))
    assert "states no lead rule" in row["explanation_en"]


def test_territories_skip_clusters_without_geometry_and_carry_forward(
    vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    from geozone.clusters.files import load_clusters

    placed = territories(load_clusters().values(), [legacy, vn2025], carry_into=vn2025)
    by_id = {t.cluster.id: t for t in placed}
    assert by_id["gia-lam"].mode == "exact" and by_id["gia-lam"].geometric
    # Legacy wards have no geometry: the T11 cluster is placed in coarse mode, on the districts
    # standing in for its wards (Cầu Giấy 005, Ba Đình 001), and draws no border zone.
    t11 = by_id["hoa-do-phuc-vi"]
    assert t11.mode == "coarse" and not t11.geometric and set(t11.area_codes) == {"005", "001"}
    assert t11.missing_geometry == ("00169", "00157", "00007", "00006")
    # Carried: T11 had ended (2024, inferred) before the reform, so its carried form lapses
    # until confirmed; Gia Lâm was in force, so its carried form is a proposal.
    assert by_id["hoa-do-phuc-vi-vn2025"].cluster.carry_status == "lapsed"
    assert not by_id["hoa-do-phuc-vi-vn2025"].decides
    assert by_id["gia-lam-vn2025"].cluster.carry_status == "proposed"


# -- real data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t11_2025(vn2025: BoundarySet, legacy: BoundarySet) -> ClusterTerritory:
    """The T11 cluster carried into the 2025 wards, confirmed by a planner from 2025-07-01."""
    from geozone.clusters.files import load_clusters

    placed = territories(
        [load_clusters()["hoa-do-phuc-vi"]],
        [legacy, vn2025],
        carry_into=vn2025,
        confirmations=T11_CONFIRMED,
    )
    return next(t for t in placed if t.cluster.id == "hoa-do-phuc-vi-vn2025")


def _point_in_ngoc_ha(
    vn2025: BoundarySet, territory: ClusterTerritory, from_nghia_do_m: float
) -> tuple[float, float]:
    """A point of Ngọc Hà this far from the Nghĩa Đô line and > 200 m from other member lines."""
    import numpy as np
    import shapely

    from geozone.crs import project_xy

    lines = territory.lines
    nghia_do = lines[(lines["code_a"] == "00008") & (lines["code_b"] == "00160")].geometry.iloc[0]
    others = shapely.union_all(
        lines[~((lines["code_a"] == "00008") & (lines["code_b"] == "00160"))].geometry.to_numpy()
    )
    minx, miny, maxx, maxy = vn2025.geometry("00008").bounds
    lon, lat = np.meshgrid(np.linspace(minx, maxx, 120), np.linspace(miny, maxy, 120))
    lon, lat = lon.ravel(), lat.ravel()
    inside = shapely.contains_xy(vn2025.geometry("00008"), lon, lat)
    x, y = project_xy(lon, lat, np.full(lon.shape, territory.epsg))
    points = shapely.points(x, y)
    d_nd, d_other = shapely.distance(nghia_do, points), shapely.distance(others, points)
    ok = np.flatnonzero(inside & (np.abs(d_nd - from_nghia_do_m) < 15) & (d_other > 250))
    assert len(ok), "no suitable point"
    return float(lon[ok[0]]), float(lat[ok[0]])


@pytest.mark.realdata
def test_near_the_nghia_do_line_the_detector_leads(
    vn2025: BoundarySet, wards_2025: ClusterTerritory
) -> None:
    lon, lat = _point_in_ngoc_ha(vn2025, wards_2025, 50)
    incidents = pd.DataFrame(
        {
            "external_id": ["r1"],
            "occurred_at": [datetime(2025, 9, 1, 23, 0, tzinfo=VIETNAM_TZ)],
            "lon": [lon],
            "lat": [lat],
            "detected_by": ["00160"],
        }
    )
    row = only(assign(incidents, [vn2025], [wards_2025]).clusters)
    assert row["member_code"] == "00008" and row["rule"] == "border_detector"
    assert row["lead_unit"] == "00160" and row["cooperating"] == ["00008"]
    assert row["distance_m"] == pytest.approx(50, abs=16)
    assert "Phường Nghĩa Đô" in row["explanation_en"] and "Phường Ngọc Hà" in row["explanation_en"]


@pytest.mark.realdata
def test_deep_inside_ngoc_ha_it_leads_by_territory(
    vn2025: BoundarySet, wards_2025: ClusterTerritory
) -> None:
    lon, lat = _point_in_ngoc_ha(vn2025, wards_2025, 600)
    incidents = pd.DataFrame(
        {
            "external_id": ["r2"],
            "occurred_at": [datetime(2025, 9, 1, tzinfo=VIETNAM_TZ)],
            "lon": [lon],
            "lat": [lat],
            "detected_by": ["00160"],
        }
    )
    row = only(assign(incidents, [vn2025], [wards_2025]).clusters)
    assert row["rule"] == "territory" and row["lead_unit"] == "00008" and not row["in_zone"]


@pytest.mark.realdata
def test_a_2024_incident_near_t11_is_judged_in_the_legacy_set(
    vn2025: BoundarySet, legacy: BoundarySet, t11_2025: ClusterTerritory
) -> None:
    incidents = pd.DataFrame(
        {
            "external_id": ["old", "new"],
            "occurred_at": [datetime(2024, 5, 1, 22, 0), datetime(2025, 8, 1, 22, 0)],
            "lon": [105.8064, 105.8064],
            "lat": [21.0387, 21.0387],
            "detected_by": [None, None],
        }
    )
    result = assign(incidents, [legacy, vn2025], [t11_2025], tolerance_m=150)
    old, new = result.units.iloc[0], result.units.iloc[1]
    assert old["set_id"] == "vn-legacy-districts" and old["district_code"] in {"005", "001"}
    assert old["ward_code"] is None or pd.isna(old["ward_code"])
    assert new["set_id"] == "vn2025" and new["on_boundary"]
    assert set(result.clusters["external_id"]) == {"new"}  # the carried cluster starts 2025-07-01
    assert only(result.clusters)["rule"] == "on_boundary"


# -- one code path: small batches equal the big-batch path ------------------------------------


def _batch_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a few hundred points take the paths of big batches (point tree, interior cores)."""
    from geozone.boundaries import _locate

    monkeypatch.setattr(_locate, "POINT_DRIVEN_MAX", 50)
    monkeypatch.setattr(_locate, "CORE_MIN_POINTS", 50)


def _same_one_by_one(
    incidents: pd.DataFrame,
    sets: list[BoundarySet],
    placed: list[ClusterTerritory],
    tolerance_m: float | None,
    monkeypatch: pytest.MonkeyPatch,
    step: int,
) -> pd.DataFrame:
    """Judge all at once on the big-batch path, then every ``step``-th alone; return the first."""
    with monkeypatch.context() as patched:
        _batch_path(patched)
        together = assign(incidents, sets, placed, tolerance_m)
    for i in range(0, len(incidents), step):
        alone = assign(incidents.iloc[[i]].reset_index(drop=True), sets, placed, tolerance_m)
        pd.testing.assert_frame_equal(
            alone.units, together.units.iloc[[i]].reset_index(drop=True), check_dtype=False
        )
        mine = together.clusters[together.clusters["external_id"] == incidents["external_id"][i]]
        if mine.empty:
            assert alone.clusters.empty
        else:
            pd.testing.assert_frame_equal(
                alone.clusters, mine.reset_index(drop=True), check_dtype=False
            )
    return together.clusters


def test_one_point_equals_the_big_batch_path_on_the_grid(
    grid: BoundarySet, territory: ClusterTerritory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    rng = np.random.default_rng(11)
    xy = rng.uniform(-50, 3050, size=(300, 2))
    xy[::2, 0] = rng.choice([1000.0, 2000.0], 150) + rng.uniform(-8, 8, 150)  # near lines
    xy[::5] = [1000 + rng.uniform(-3, 3), 1000 + rng.uniform(-3, 3)]  # at the 4-way corner
    lonlat = np.array([grid_point(x, y) for x, y in xy])
    incidents = pd.DataFrame(
        {
            "external_id": [f"i{i}" for i in range(len(xy))],
            "occurred_at": WHEN,
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "detected_by": rng.choice(
                np.array(["o1", "o2", "o4", "o5", "cty", "00009", None, " "], dtype=object),
                len(xy),
            ),
        }
    )
    clusters = _same_one_by_one(incidents, [grid], [territory], 5, monkeypatch, step=1)
    assert {"territory", "border_detector", "on_boundary", "outside_members"} <= set(
        clusters["rule"]
    )


@pytest.mark.realdata
def test_one_point_equals_the_big_batch_path_near_t11(
    vn2025: BoundarySet,
    legacy: BoundarySet,
    wards_2025: ClusterTerritory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np
    import shapely

    from geozone.crs import project_xy, unproject_geometries

    rng = np.random.default_rng(3)
    # Points around the T11 junction, many within the border zone and the tolerance.
    x0, y0 = project_xy(np.array([105.8064]), np.array([21.0387]), np.array([wards_2025.epsg]))
    x = x0[0] + rng.normal(0, 400, 240)
    y = y0[0] + rng.normal(0, 400, 240)
    points = unproject_geometries(shapely.points(x, y), np.full(240, wards_2025.epsg))
    lon, lat = shapely.get_x(points), shapely.get_y(points)
    incidents = pd.DataFrame(
        {
            "external_id": [f"r{i}" for i in range(240)],
            "occurred_at": [datetime(2025, 9, 1, 22, 0, tzinfo=VIETNAM_TZ)] * 200
            + [datetime(2024, 9, 1, 22, 0, tzinfo=VIETNAM_TZ)] * 40,
            "lon": lon,
            "lat": lat,
            "detected_by": rng.choice(np.array(["00160", "00008", None], dtype=object), 240),
        }
    )
    # At the default tolerance, whose cores a session makes once (~30 s for each other one).
    clusters = _same_one_by_one(incidents, [legacy, vn2025], [wards_2025], 10, monkeypatch, step=3)
    assert {"territory", "border_detector"} <= set(clusters["rule"])


@pytest.mark.parametrize("size", [1, 5, 40])
def test_factorised_codes_agree_with_pandas_for_few_and_many_values(size: int) -> None:
    import numpy as np

    from geozone.assignment.situation import _factorized

    pool = np.array(["00160", None, "00008", float("nan"), "00160", " ", "o1"], dtype=object)
    values = pool[np.arange(size) % len(pool)]
    codes, uniques = _factorized(values)
    expected_codes, expected_uniques = pd.factorize(values)
    assert codes.tolist() == expected_codes.tolist()
    assert uniques.tolist() == list(expected_uniques)


@pytest.mark.realdata
def test_distances_to_the_shared_boundary_are_within_a_centimetre_near_and_far(
    vn2025: BoundarySet, wards_2025: ClusterTerritory
) -> None:
    import numpy as np
    import shapely

    from geozone.crs import project_xy, unproject_geometries

    rng = np.random.default_rng(8)
    # From on the lines out to the far side of the members (their distances span the levels).
    x0, y0 = project_xy(np.array([105.8064]), np.array([21.0387]), np.array([wards_2025.epsg]))
    spread = rng.choice([30.0, 300.0, 1500.0], 600)
    x, y = x0[0] + rng.normal(0, 1, 600) * spread, y0[0] + rng.normal(0, 1, 600) * spread
    lonlat = unproject_geometries(shapely.points(x, y), np.full(600, wards_2025.epsg))
    incidents = pd.DataFrame(
        {
            "external_id": [f"d{i}" for i in range(600)],
            "occurred_at": datetime(2025, 9, 1, 22, 0, tzinfo=VIETNAM_TZ),
            "lon": shapely.get_x(lonlat),
            "lat": shapely.get_y(lonlat),
            "detected_by": None,
        }
    )
    rows = assign(incidents, [vn2025], [wards_2025], tolerance_m=10).clusters
    rows = rows[rows["member_code"].notna()]
    lines = wards_2025.lines
    exact = []
    for row in rows.itertuples():
        mine = lines[(lines["code_a"] == row.member_code) | (lines["code_b"] == row.member_code)]
        i = int(row.external_id[1:])
        exact.append(shapely.distance(shapely.union_all(mine.geometry), shapely.Point(x[i], y[i])))
    measured = rows["distance_m"].to_numpy(float)
    assert len(rows) > 500 and measured.max() > 1_000  # levels of 8, 4 and 2 m, and segments
    # distance_m is kept to 0.1 m: within 5 cm of rounding plus the 1 cm allowed.
    assert np.abs(measured - np.array(exact)).max() <= 0.06


def test_clusters_judged_on_threads_match_one_thread(
    grid: BoundarySet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    import geozone.assignment.decide as assign_module
    from geozone import parallel
    from geozone.assignment import cluster_columns, jurisdiction
    from geozone.settings import get_settings

    rng = np.random.default_rng(5)
    xy = rng.uniform(-50, 3050, size=(400, 2))
    lonlat = np.array([grid_point(x, y) for x, y in xy])
    incidents = pd.DataFrame(
        {
            "external_id": [f"t{i}" for i in range(400)],
            "occurred_at": WHEN,
            "lon": lonlat[:, 0],
            "lat": lonlat[:, 1],
            "detected_by": rng.choice(np.array(["o1", "o2", None], dtype=object), 400),
        }
    )
    placed = [
        ClusterTerritory(grid_cluster(id=f"grid-{w}", zone_width_m=w, regulation=REGULATION), grid)
        for w in (100, 300, 600)
    ]
    units = jurisdiction(incidents, [grid], tolerance_m=5)
    results = []
    for workers in ("1", "3"):
        monkeypatch.setenv("GEOZONE_WORKERS", workers)
        monkeypatch.setattr(parallel, "MIN_POINTS_PER_THREAD", 1)
        monkeypatch.setattr(assign_module, "_PIECE_MIN", 30)  # busy clusters cut in pieces
        get_settings.cache_clear()
        results.append(cluster_columns(incidents, units, placed, tolerance_m=5))
    get_settings.cache_clear()
    one, threaded = results
    assert one is not None and threaded is not None
    assert set(one["cluster_id"]) == {t.cluster.id for t in placed}
    for column, values in one.items():
        assert pd.Series(values).equals(pd.Series(threaded[column])), column


@pytest.mark.realdata
def test_an_original_member_detects_in_its_carried_cluster(
    vn2025: BoundarySet, legacy: BoundarySet
) -> None:
    """An Giang's police (old code 89) is a member of the carried cluster (now An Giang, 91)."""
    from geozone.clusters.files import load_clusters

    placed = territories([load_clusters()["can-tho-an-giang"]], [legacy, vn2025], carry_into=vn2025)
    carried = next(t for t in placed if t.cluster.id == "can-tho-an-giang-vn2025")
    assert carried.cluster.carry_status == "proposed"
    line = carried.lines.geometry.iloc[0]
    an_giang = gpd.GeoSeries([vn2025.geometry("91")], crs=4326).to_crs(carried.epsg).iloc[0]
    band = shapely.difference(shapely.buffer(line, 1_000), shapely.buffer(line, 500))
    near = shapely.point_on_surface(shapely.intersection(band, an_giang))
    lonlat = gpd.GeoSeries([near], crs=carried.epsg).to_crs(4326).iloc[0]
    incidents = pd.DataFrame(
        {
            "external_id": ["a", "b"],
            "occurred_at": [datetime(2025, 9, 1, 10, tzinfo=VIETNAM_TZ)] * 2,
            "lon": [lonlat.x, lonlat.x],
            "lat": [lonlat.y, lonlat.y],
            "detected_by": ["89", "an-giang"],
        }
    )
    rows = assign(incidents, [legacy, vn2025], [carried]).clusters
    assert len(rows) == 2 and (rows["rule"] == "border_detector").all()
    assert (rows["lead_unit"] == "91").all() and rows["review"].all()  # a proposal: review
    assert not rows["explanation_vi"].str.contains("không phải thành viên").any()
    assert rows["explanation_vi"].str.contains("Tỉnh An Giang phát hiện trước").all()


def test_each_sentence_names_the_unit_holding_its_own_point(grid: BoundarySet) -> None:
    # Two points outside every member, in different wards, detected by the same member of a
    # cluster that decides nothing: one batch, the same rule and detector, but each sentence
    # opens with its own ward (they were worded once for both before).
    lapsed = ClusterTerritory(
        grid_cluster(
            zone_width_m=100,
            regulation=REGULATION,
            carried_from="grid-before",
            carry_status="lapsed",
        ),
        grid,
    )
    points = [grid_point(2500, 500), grid_point(2500, 2500), grid_point(-5000, -5000)]
    incidents = pd.DataFrame(
        {
            "external_id": ["in-3", "in-9", "outside"],  # Ô 3, Ô 9, outside every unit
            "occurred_at": [WHEN] * 3,
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "detected_by": ["o1"] * 3,
        }
    )
    rows = assign(incidents, [grid], [lapsed], tolerance_m=5).clusters.set_index("external_id")
    assert set(rows["rule"]) == {"no_decision"}
    assert rows.loc["in-3", "explanation_en"].startswith("In Phường Ô 3 (00003);")
    assert rows.loc["in-9", "explanation_en"].startswith("In Phường Ô 9 (00009);")
    assert rows.loc["in-9", "explanation_vi"].startswith("Vụ việc thuộc Phường Ô 9 (00009);")
    # A point in no unit is said to be outside every unit, not "in unknown".
    assert rows.loc["outside", "explanation_vi"].startswith(
        "Vụ việc ở ngoài mọi đơn vị hành chính của Việt Nam có ranh giới trong bộ grid (trên "
        "biển, ngoài biên giới hoặc nơi chưa có ranh giới); Phường Ô 1 phát hiện. Không có "
    )
    assert rows.loc["outside", "explanation_en"].startswith(
        "Outside every administrative unit of Vietnam with boundaries in set grid (at sea, "
        "abroad or where no boundary is known); detected by Phường Ô 1. No lead decision"
    )
    assert not rows["explanation_vi"].str.startswith("Vụ việc thuộc không rõ").any()
    assert not rows["explanation_en"].str.startswith("In unknown").any()


def test_a_lapsed_cluster_names_its_original_by_name_with_the_id_in_brackets(
    grid: BoundarySet,
) -> None:
    """An analyst reads the original's name, as the out-of-period notice gives it (the
    sentence said "cụm grid-before kết thúc …", an id where a name is expected)."""
    from geozone.assignment.explain import (
        cluster_named,
        lapsed_sentences,
        out_of_period_notice,
        standing_notice,
    )

    ended = {"start": datetime(2020, 1, 1).date(), "end": datetime(2021, 12, 31).date()}
    carried = grid_cluster(
        zone_width_m=100,
        regulation=REGULATION,
        carried_from="grid-before",
        carried_from_name="Cụm trước cải cách",
        carried_from_name_en="The cluster before the reform",
        original_period=ended,
        carry_status="lapsed",
    )
    lon, lat = grid_point(950, 300)
    incidents = pd.DataFrame(
        {
            "external_id": ["zone"],
            "occurred_at": [WHEN],
            "lon": [lon],
            "lat": [lat],
            "detected_by": ["o2"],
        }
    )
    (row,) = assign(incidents, [grid], [ClusterTerritory(carried, grid)]).clusters.to_dict(
        "records"
    )
    assert row["rule"] == "no_decision"
    assert (
        "Không có quyết định chủ trì: Cụm trước cải cách (grid-before) kết thúc ngày "
        in (row["explanation_vi"])
    )
    assert (
        "No lead decision: The cluster before the reform (grid-before) ended on "
        in (row["explanation_en"])
    )
    assert "cụm grid-before" not in row["explanation_vi"]
    vi, en = lapsed_sentences(carried)
    assert vi in row["explanation_vi"] and en in row["explanation_en"]
    assert standing_notice(carried) == f"{vi} / {en}"
    # One way of naming a cluster: the out-of-period notice names the carried form so.
    assert cluster_named(carried, "vi") == "Cụm thử (grid-centre)"
    assert (
        cluster_named(carried, "en", original=True) == "The cluster before the reform (grid-before)"
    )
    assert out_of_period_notice(carried, WHEN.date()).startswith("Cụm thử (grid-centre) không")
    # An original whose names were not kept is still called a cluster, by its id.
    unnamed = carried.model_copy(update={"carried_from_name": None, "carried_from_name_en": None})
    assert lapsed_sentences(unnamed)[0].startswith(
        "Không có quyết định chủ trì: cụm grid-before kết thúc ngày 31/12/2021"
    )
    assert lapsed_sentences(unnamed)[1].startswith(
        "No lead decision: cluster grid-before ended on 2021-12-31"
    )


@pytest.mark.parametrize("carry_status", [None, "lapsed"])
def test_a_batchs_sentences_are_those_of_its_rows_judged_alone(
    grid: BoundarySet, carry_status: str | None
) -> None:
    # Rows worded alike share one wording: whatever the batch, each row's sentence must be
    # the one it gets alone (random points over the grid and around it, mixed detectors).
    carried = {"carried_from": "grid-before", "carry_status": carry_status} if carry_status else {}
    territory = ClusterTerritory(
        grid_cluster(zone_width_m=100, regulation=REGULATION, **carried), grid
    )
    rng = np.random.default_rng(11)
    n = 120
    xy = rng.uniform(-300, 3300, size=(n, 2))
    points = [grid_point(x, y) for x, y in xy]
    incidents = pd.DataFrame(
        {
            "external_id": [f"p{k}" for k in range(n)],
            "occurred_at": [WHEN] * n,
            "lon": [p[0] for p in points],
            "lat": [p[1] for p in points],
            "detected_by": rng.choice(["o1", "o2", "o4", "o5", "00003", "00009", None], size=n),
        }
    )
    together = assign(incidents, [grid], [territory], tolerance_m=5).clusters
    alone = pd.concat(
        [assign(incidents.iloc[[k]], [grid], [territory], tolerance_m=5).clusters for k in range(n)]
    )
    assert len(together) > n // 3  # enough rows concern the cluster to mean something
    columns = ["external_id", "explanation_vi", "explanation_en"]
    pd.testing.assert_frame_equal(
        together[columns].sort_values("external_id").reset_index(drop=True),
        alone[columns].sort_values("external_id").reset_index(drop=True),
    )


def test_a_cooperating_report_s_wording_is_not_kept_for_later_pieces(grid: BoundarySet) -> None:
    # The event clause of a cooperating report names its event's lead report: a situation no
    # other event meets again, so its wording is not kept across pieces (kept, it grew a long
    # import's memory by ~60 MB a million incidents). Its situation without the event is
    # worded and kept as any other, the clause added. The sentences stay those of each row.
    territory = ClusterTerritory(grid_cluster(zone_width_m=100, regulation=REGULATION), grid)
    lon, lat = grid_point(1_000, 300)  # in the zone between o1 and o2
    n = 6
    incidents = pd.DataFrame(
        {
            "external_id": [f"c{k}" for k in range(n)],
            "occurred_at": [WHEN] * n,
            "lon": [lon] * n,
            "lat": [lat] * n,
            "detected_by": ["o1"] * n,
            # every other row a cooperating report of its own event, led by o1's report
            "event_lead": [f"lead-{k}" if k % 2 else None for k in range(n)],
            "reported_by": ["o2" if k % 2 else None for k in range(n)],
        }
    )
    clusters = assign(incidents, [grid], [territory], tolerance_m=5).clusters
    sentences = dict(zip(clusters["external_id"], clusters["explanation_en"], strict=True))
    for k in range(1, n, 2):
        assert f"lead-{k}" in sentences[f"c{k}"]  # each names its own event's lead
        # the same place and detector as c0: its sentence, then the event clause
        clause = sentences[f"c{k}"].removeprefix(sentences["c0"])
        assert clause != sentences[f"c{k}"] and f"lead-{k}" in clause
    assert len({sentences[f"c{k}"] for k in range(0, n, 2)}) == 1  # the others alike
    assert len(territory.worded) == 1  # only the situation met again is kept
    again = assign(incidents, [grid], [territory], tolerance_m=5).clusters
    pd.testing.assert_frame_equal(again, clusters)


@pytest.mark.realdata
def test_a_detecting_member_is_found_by_its_name_as_by_its_code(
    vn2025: BoundarySet, wards_2025: ClusterTerritory
) -> None:
    """``detected_by`` naming a member by its name, slug or police gives its code's decision.

    The point (in Ngọc Hà, in the zone, ~150 m from Nghĩa Đô; an outside audit's case) is
    led by its first detector when that is a member. A text naming no member, or a key two
    members share, leaves the detector a non-member, and the sentence says so.
    """
    import numpy as np

    from geozone.text import fold

    given = [
        "00160",
        "w00160",
        "Phường Nghĩa Đô",
        "phuong nghia do",
        "nghia-do",
        "CA phường Nghĩa Đô",
        "Công an P. Nghĩa Đô",
        "Phường Kim Mã",
        "Phường",
    ]
    incidents = pd.DataFrame(
        {
            "external_id": [f"n{i}" for i in range(len(given))],
            "occurred_at": datetime(2025, 8, 1, 21, 0, tzinfo=VIETNAM_TZ),
            "lon": 105.8079,
            "lat": 21.0387,
            "detected_by": given,
        }
    )
    rows = assign(incidents, [vn2025], [wards_2025], tolerance_m=10).clusters
    rows = rows.set_index("external_id").loc[[f"n{i}" for i in range(len(given))]]
    by_code = rows.iloc[0]
    assert by_code["rule"] == "border_detector" and by_code["lead_unit"] == "00160"
    decided = ["rule", "lead_unit", "review", "explanation_vi", "explanation_en"]
    for k in range(1, 7):  # its member id, then its name in five usual forms
        assert rows.iloc[k][decided].tolist() == by_code[decided].tolist(), given[k]
    for k in (7, 8):  # another ward's name; a bare type word every member's name shares
        assert rows.iloc[k]["rule"] == "border_non_member_detector", given[k]
        assert rows.iloc[k]["lead_unit"] == "00008"
        assert f"«{given[k]}»" in rows.iloc[k]["explanation_vi"]
    assert "nghia-do" not in wards_2025.table.detectors  # found by the folded name
    assert wards_2025.table.detector_of(fold("Phường")) == -1
    assert np.all(rows["member_code"] == "00008")


def test_a_police_prefix_is_a_whole_word_not_letters() -> None:
    """Only a leading "CA"/"Công an" word is stripped: "Cát Linh" is not "t Linh"."""
    from geozone.assignment.territory import detector_keys

    assert detector_keys("CA phường Nghĩa Đô") == ("caphuongnghiado", "phuongnghiado")
    assert detector_keys("Công an P. Nghĩa Đô") == ("conganpnghiado", "pnghiado")
    assert detector_keys("Cát Linh") == ("catlinh",)
    assert detector_keys("Cao Xanh") == ("caoxanh",)
    assert detector_keys("CA") == ("ca",)
    # "CA" glued to a type's abbreviation, in capitals, as police write it (seed 000:
    # "CATP Hà Nội"); not a name that merely begins with those letters.
    assert detector_keys("CATP Cần Thơ") == ("catpcantho", "tpcantho")
    assert detector_keys("CAH. Gia Lâm") == ("cahgialam", "hgialam")
    assert detector_keys("Cáp Treo") == ("captreo",)
    assert detector_keys("CATS Linh") == ("catslinh",)  # "ts" is no type's abbreviation


def test_a_detector_is_found_in_either_spelling_of_i_and_y(built_settings: Settings) -> None:
    """ "Qui Nhơn" (the seed's spelling) is "Quy Nhơn"; a respelling two members share is not."""
    from geozone.context import load_context

    context = load_context(built_settings)
    scqn = next(t for t in context.territories if t.cluster.id == "song-cau-quy-nhon")
    quy_nhon = scqn.table.index["540"]
    for given in ("Công an thành phố Qui Nhơn", "Qui Nhơn", "qui-nhon", "CATP Quy Nhơn"):
        assert scqn.table.detector_of(given) == quy_nhon, given
    assert scqn.table.detector_of("Quo Nhơn") == -1
    # The respelled keys follow the keys: a respelling that would name two members names none.
    from geozone.assignment.territory import _owners, _unshared, spelling_key

    assert _unshared(_owners([(spelling_key("phumy"), 0), (spelling_key("phumi"), 1)])) == {}


def _at_gia_lam_border(
    built_settings: Settings, ids: list[str], days: list[datetime]
) -> tuple[Context, ClusterTerritory, pd.DataFrame]:
    """Judge reports by Thuận Thành in Gia Lâm, 107 m from Long Biên (an audit's point)."""
    from geozone.context import load_context

    context = load_context(built_settings)
    gia_lam = context.territory("gia-lam")
    incidents = pd.DataFrame(
        {
            "external_id": ids,
            "occurred_at": [d.replace(tzinfo=VIETNAM_TZ) for d in days],
            "lon": 105.93072,
            "lat": 21.02734,
            "detected_by": "thuan-thanh",
        }
    )
    rows = assign(incidents, context.sets, [gia_lam]).clusters.set_index("external_id")
    return context, gia_lam, rows


def test_district_police_decisions_after_they_ceased_are_reviewed(
    built_settings: Settings,
) -> None:
    """District police ceased on 1 March 2025: a district cluster's later decisions say so.

    The Gia Lâm cluster runs in its own districts until the units were abolished (30 June
    2025); from 1 March its lead units are no longer police units (DESIGN.md).
    """
    from geozone.assignment.explain import standing_notice
    from geozone.assignment.reference import judge

    days = [datetime(2025, 2, 28, 12), datetime(2025, 3, 1, 12), datetime(2025, 4, 15, 12)]
    context, gia_lam, rows = _at_gia_lam_border(
        built_settings, ["before", "first-day", "after"], days
    )
    assert rows["rule"].tolist() == ["border_detector"] * 3
    assert rows["review"].tolist() == [False, True, True]
    assert (
        "Công an cấp huyện thôi hoạt động từ 01/03/2025" not in rows.loc["before", "explanation_vi"]
    )
    for k in ("first-day", "after"):
        assert rows.loc[k, "explanation_vi"].endswith(
            "Công an cấp huyện thôi hoạt động từ 01/03/2025: đơn vị chủ trì theo quy chế của "
            "cụm không còn là đơn vị công an, quyết định này cần xem xét."
        )
        assert "District police ceased on 2025-03-01" in rows.loc[k, "explanation_en"]
    legacy = next(b for b in context.sets if b.id == "vn-legacy-districts")
    for day, review in zip(days, [False, True, True], strict=True):
        location = legacy.locate(105.93072, 21.02734, tolerance_m=10.0)
        decision = judge(gia_lam, location, day.date(), "thuan-thanh", 10.0)
        assert decision is not None and decision.review is review
    notice = standing_notice(gia_lam.cluster)
    assert notice is not None and notice.startswith(
        "Công an cấp huyện thôi hoạt động từ 01/03/2025"
    )
    # A carried cluster, or one of wards, says nothing of it.
    carried = next(t for t in context.territories if t.cluster.carried_from == "gia-lam")
    assert carried.cluster.police_ceased_from is None
    assert (
        next(
            t for t in context.territories if t.cluster.id == "hoa-do-phuc-vi"
        ).cluster.police_ceased_from
        is None
    )


def test_a_name_two_members_share_is_said_so_not_called_no_member(
    built_settings: Settings,
) -> None:
    """ "Xã Đại Đồng" names two members of the carried Gia Lâm cluster: neither is guessed."""
    from geozone.context import load_context

    context = load_context(built_settings)
    carried = next(t for t in context.territories if t.cluster.carried_from == "gia-lam")
    shared = carried.table.namesakes("Xã Đại Đồng")
    assert [carried.table.codes[k] for k in shared] == ["09340", "11995"]
    assert carried.table.detector_of("Xã Đại Đồng") == -1
    assert carried.table.namesakes("Phường Kim Mã") == ()
    incidents = pd.DataFrame(
        {
            "external_id": ["shared", "stranger"],
            "occurred_at": datetime(2025, 8, 1, 21, 0, tzinfo=VIETNAM_TZ),
            "lon": 105.93072,
            "lat": 21.02734,
            "detected_by": ["Xã Đại Đồng", "Phường Kim Mã"],
        }
    )
    rows = assign(incidents, context.sets, [carried]).clusters.set_index("external_id")
    assert rows["rule"].tolist() == ["border_non_member_detector"] * 2
    assert rows["review"].all()
    vi, en = rows.loc["shared", ["explanation_vi", "explanation_en"]]
    assert (
        "«Xã Đại Đồng» phát hiện nhưng đây là tên chung của Xã Đại Đồng (09340) và Xã Đại Đồng "
        "(11995), không xác định được là thành viên nào, nên " in vi
    )
    assert "a name that Xã Đại Đồng (09340) and Xã Đại Đồng (11995) share" in en
    assert "không phải thành viên" not in vi and "not a member" not in en
    assert (
        "«Phường Kim Mã» phát hiện nhưng không phải thành viên của cụm nên"
        in (rows.loc["stranger", "explanation_vi"])
    )


def test_days_a_cluster_s_reported_dates_cannot_place_are_reviewed(
    built_settings: Settings,
) -> None:
    """Gia Lâm's signing year is not reported (16 June of 2009–2021): such days are reviewed.

    Its decisions say the period is known only so; the out-of-period notice words the start
    as the days it may be, not as its earliest day; a cluster with exact dates says nothing.
    """
    from geozone.assignment.explain import out_of_period_notice
    from geozone.assignment.reference import judge

    days = [datetime(2009, 7, 1, 12), datetime(2021, 6, 15, 12), datetime(2021, 6, 16, 12)]
    ids = ["early", "last-uncertain", "certain"]
    context, gia_lam, rows = _at_gia_lam_border(built_settings, ids, days)
    assert rows["rule"].tolist() == ["border_detector"] * 3
    assert rows["review"].tolist() == [True, True, False]
    for k in ("early", "last-uncertain"):
        assert rows.loc[k, "explanation_vi"].endswith(
            "Thời gian áp dụng của cụm chỉ biết là từ một ngày trong khoảng 16/06/2009 – "
            "16/06/2021: chưa chắc cụm đã áp dụng vào ngày này, cần xem xét."
        )
        assert rows.loc[k, "explanation_en"].endswith(
            "The cluster's period is known only as from a day between 2009-06-16 and "
            "2021-06-16: it may not have applied on this day; review."
        )
    assert "chỉ biết là" not in rows.loc["certain", "explanation_vi"]
    legacy = next(b for b in context.sets if b.id == "vn-legacy-districts")
    location = legacy.locate(105.93072, 21.02734, tolerance_m=10.0)
    for day, review in zip(days, [True, True, False], strict=True):
        decision = judge(gia_lam, location, day.date(), "thuan-thanh", 10.0)
        assert decision is not None and decision.review is review
    notice = out_of_period_notice(gia_lam.cluster, datetime(2009, 1, 1).date())
    assert notice.startswith(  # named by its name (its id in brackets), not its id alone
        "Cụm liên kết đảm bảo ANTT Gia Lâm (Hà Nội – Hưng Yên – Bắc Ninh) (gia-lam) không áp "
        "dụng ngày 01/01/2009"
    )
    assert (
        "/ Gia Lâm security and order cluster (Hà Nội – Hưng Yên – Bắc Ninh) (gia-lam) " in notice
    )
    assert "từ một ngày trong khoảng 16/06/2009 – 16/06/2021" in notice
    assert "it runs from a day between 2009-06-16 and 2021-06-16" in notice
    t11 = next(t for t in context.territories if t.cluster.id == "hoa-do-phuc-vi")
    assert not t11.cluster.period.uncertain_on(datetime(2023, 5, 26).date())


@pytest.mark.realdata
def test_a_2015_point_in_tu_son_says_the_legacy_set_is_a_2023_snapshot(
    built_settings: Settings,
) -> None:
    """An analyst's case: a 2015 incident in Từ Sơn is said to lie in "Thành phố Từ Sơn" (a
    city only since 2021), judged on the pre-2025 set, one snapshot of about February 2023;
    the answer now says what it rests on. A day of the snapshot's month, and a day of the
    2025 units, need no such notice."""
    from datetime import date

    from geozone.assignment.explain import snapshot_notice
    from geozone.assignment.points import judge_point, judge_points
    from geozone.context import load_context
    from tests.fixtures.snapshot import LEGACY_SNAPSHOT_NOTICE, TU_SON

    context = load_context(built_settings)
    judged = judge_point(context, *TU_SON, date(2015, 6, 1))
    assert judged["set_id"] == "vn-legacy-districts"
    assert judged["unit"]["full_name"] == "Thành phố Từ Sơn"
    assert judged["notices"] == [LEGACY_SNAPSHOT_NOTICE]
    # The Gia Lâm cluster decides it; its sentence names the unit as the set does, unchanged.
    (row,) = judged["clusters"]
    assert row["cluster_id"] == "gia-lam" and row["explanation_vi"].startswith(
        "Vụ việc trên địa bàn Thành phố Từ Sơn"
    )
    # Every day outside February 2023 the set is used for, and only those.
    for day, said in [
        (date(2008, 8, 1), True),
        (date(2023, 1, 31), True),
        (date(2023, 2, 1), False),
        (date(2023, 2, 28), False),
        (date(2023, 3, 1), True),
        (date(2025, 6, 30), True),
    ]:
        notices = judge_point(context, *TU_SON, day)["notices"]  # 2008: Gia Lâm's too
        assert (notices[:1] == [LEGACY_SNAPSHOT_NOTICE]) is said, day
        assert all("(vn-legacy-districts)" not in n for n in notices[int(said) :]), day
    after = judge_point(context, *TU_SON, date(2025, 8, 1))
    assert after["set_id"] == "vn2025" and after["notices"] == []
    # A batch says it as each point alone does; the notice comes before a cluster's.
    batch = judge_points(
        context, [(*TU_SON, date(2015, 6, 1), None), (*TU_SON, date(2025, 8, 1), None)]
    )
    assert [b["notices"] for b in batch] == [[LEGACY_SNAPSHOT_NOTICE], []]
    t11 = judge_point(context, 105.8064, 21.0387, date(2023, 3, 1), "nghia-do")
    assert t11["notices"][0] == LEGACY_SNAPSHOT_NOTICE and "(hoa-do-phuc-vi)" in t11["notices"][1]
    legacy = context.boundary_set("vn-legacy-districts").info
    assert snapshot_notice(legacy, date(2009, 1, 1), date(2023, 2, 10)) == LEGACY_SNAPSHOT_NOTICE
    assert snapshot_notice(legacy, date(2023, 2, 1), date(2023, 2, 28)) is None
    assert snapshot_notice(context.boundary_set("vn2025").info, date(2025, 8, 1)) is None
