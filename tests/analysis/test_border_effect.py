from __future__ import annotations

from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from scipy.stats import binomtest

from geozone.analysis.border_effect import (
    REASON_NO_INCIDENTS,
    REASON_NO_ZONE_AREA,
    _statistics,
    border_effect,
    territory_zones,
    zone_areas,
)
from geozone.assignment import ClusterTerritory, assign
from geozone.boundaries.sets import BoundarySet
from geozone.errors import AnalysisInputError, InvalidParameterError
from geozone.incidents.schema import CATEGORIES
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import REGULATION, grid_cluster
from tests.fixtures.grid import GRID_ORIGIN

WHEN = datetime(2022, 1, 1, tzinfo=VIETNAM_TZ)
W = 100.0  # the grid cluster's border-zone width
#: The members are wards 1, 2, 4 and 5: the square [0, 2000]² m, split by the lines x = 1000
#: and y = 1000. Pairs sharing a line; 1-5 and 2-4 only meet at the centre junction.
PAIRS = ["00001|00002", "00001|00004", "00002|00005", "00004|00005"]
_TO_LONLAT = Transformer.from_crs(32648, 4326, always_xy=True)


@pytest.fixture(scope="module")
def territory(grid: BoundarySet) -> ClusterTerritory:
    return ClusterTerritory(grid_cluster(zone_width_m=W, regulation=REGULATION), grid)


def incidents_at(xy: np.ndarray, seed: int = 0, detected_by: str | None = None) -> pd.DataFrame:
    """Incidents at grid metres ``xy`` over 2022, with random categories."""
    rng = np.random.default_rng(seed)
    lon, lat = _TO_LONLAT.transform(GRID_ORIGIN[0] + xy[:, 0], GRID_ORIGIN[1] + xy[:, 1])
    return pd.DataFrame(
        {
            "external_id": [f"s{seed}-{i}" for i in range(len(xy))],
            "occurred_at": [WHEN + timedelta(hours=int(h)) for h in rng.integers(0, 8760, len(xy))],
            "lon": lon,
            "lat": lat,
            "category": rng.choice(["theft", "drugs", "traffic", "sanitation"], len(xy)),
            "detected_by": detected_by,
        }
    )


def assigned(
    grid: BoundarySet, territory: ClusterTerritory, incidents: pd.DataFrame
) -> pd.DataFrame:
    """The incidents joined with their cluster rows, as border_effect takes them."""
    rows = assign(incidents, [grid], [territory], tolerance_m=5).clusters
    return incidents.merge(rows, on="external_id")


def direct_counts(xy: np.ndarray) -> dict[str | None, tuple[int, int]]:
    """(incidents, incidents in the zone) per scope, from the coordinates alone."""
    x, y = xy[:, 0], xy[:, 1]
    near_v, near_h = np.abs(x - 1000) <= W, np.abs(y - 1000) <= W
    left, low = x < 1000, y < 1000
    return {
        None: (len(xy), int((near_v | near_h).sum())),
        "00001|00002": (int(low.sum()), int((low & near_v).sum())),
        "00004|00005": (int((~low).sum()), int((~low & near_v).sum())),
        "00001|00004": (int(left.sum()), int((left & near_h).sum())),
        "00002|00005": (int((~left).sum()), int((~left & near_h).sum())),
    }


def uniform(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 2000, size=(n, 2))


def row_of(table: pd.DataFrame, pair: str | None) -> pd.Series:
    chosen = table[table["pair"].isna()] if pair is None else table[table["pair"] == pair]
    assert len(chosen) == 1
    return chosen.iloc[0]


# -- areas ---------------------------------------------------------------------------------------


def test_zone_areas_of_the_grid(territory: ClusterTerritory) -> None:
    areas = zone_areas(territory)
    assert areas["scope"].tolist() == ["cluster", "pair", "pair", "pair", "pair"]
    assert areas["pair"].tolist() == [None, *PAIRS]
    cluster = row_of(areas, None)
    # The cross of two 200 m bands over the 2 km square: 2 × 0.4 − 0.04 km².
    assert cluster["zone_area_km2"] == pytest.approx(0.76, rel=1e-6)
    assert cluster["area_km2"] == pytest.approx(4.0, rel=1e-6)
    assert cluster["area_share"] == pytest.approx(0.19, rel=1e-6)
    for pair in PAIRS:  # a 200 m × 1 km band in two 1 km² wards
        row = row_of(areas, pair)
        assert row["zone_area_km2"] == pytest.approx(0.2, rel=1e-6)
        assert row["area_km2"] == pytest.approx(2.0, rel=1e-6)
        assert row["area_share"] == pytest.approx(0.1, rel=1e-6)
        assert row["pair"] == f"{row['code_a']}|{row['code_b']}"


# -- counts --------------------------------------------------------------------------------------


def test_counts_equal_direct_counts(grid: BoundarySet, territory: ClusterTerritory) -> None:
    xy = np.vstack([uniform(3000, 1), np.random.default_rng(2).uniform(950, 1050, (300, 2))])
    outside = incidents_at(np.array([[2500.0, 2500.0], [2600.0, 300.0]]), seed=9, detected_by="o1")
    frame = pd.concat([assigned(grid, territory, incidents_at(xy))], ignore_index=True)
    frame = pd.concat([frame, assigned(grid, territory, outside)], ignore_index=True)
    table = border_effect(frame, territory)
    assert table["pair"].tolist() == [None, *PAIRS]
    for pair, (n, k) in direct_counts(xy).items():
        row = row_of(table, pair)
        assert (row["n_incidents"], row["n_in_zone"]) == (n, k), pair
        assert row["incident_share"] == pytest.approx(k / n)
    assert table.attrs["n_outside_members"] == 2
    assert table.attrs["cluster_id"] == territory.cluster.id


def test_uniform_points_give_a_ratio_near_one(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    table = border_effect(assigned(grid, territory, incidents_at(uniform(20_000, 3))), territory)
    # Standard error of the ratio: about 0.015 for the cluster, 0.03 for a pair. Summing the
    # zone pieces instead of their union (0.83 km²) would give 0.92; clipping nothing, less.
    assert row_of(table, None)["ratio"] == pytest.approx(1.0, abs=0.06)
    for pair in PAIRS:
        assert row_of(table, pair)["ratio"] == pytest.approx(1.0, abs=0.12)
    assert table["reason"].isna().all()


def test_incidents_planted_in_a_pair_zone_raise_its_ratio(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    rng = np.random.default_rng(4)
    planted = np.column_stack([rng.uniform(910, 1090, 600), rng.uniform(100, 900, 600)])
    xy = np.vstack([uniform(3000, 5), planted])
    table = border_effect(assigned(grid, territory, incidents_at(xy)), territory)
    hot = row_of(table, "00001|00002")
    n, k = direct_counts(xy)["00001|00002"]
    assert (hot["n_incidents"], hot["n_in_zone"]) == (n, k)
    assert hot["ratio"] == pytest.approx((k / n) / 0.1, rel=1e-6)
    assert hot["ratio"] > 2 and hot["ratio_ci_low"] > 1 and hot["p_value"] < 1e-9
    assert row_of(table, None)["ratio"] > 1.2
    quiet = row_of(table, "00004|00005")  # nothing planted there
    assert quiet["ratio_ci_low"] < 1 < quiet["ratio_ci_high"] and quiet["p_value"] > 0.01


def test_p_values_and_intervals_are_those_of_binomtest(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    rng = np.random.default_rng(6)
    band = np.column_stack([rng.uniform(920, 1080, 40), rng.uniform(0, 999, 40)])
    xy = np.vstack([uniform(400, 7), band])
    table = border_effect(assigned(grid, territory, incidents_at(xy)), territory, by=["kind"])
    assert len(table) == 10
    for row in table.to_dict("records"):
        k, n, share = int(row["n_in_zone"]), int(row["n_incidents"]), float(row["area_share"])
        test = binomtest(k, n, share, alternative="greater")
        interval = binomtest(k, n).proportion_ci(0.95, "exact")
        assert row["p_value"] == pytest.approx(test.pvalue, rel=1e-9, abs=1e-15)
        assert row["share_ci_low"] == pytest.approx(interval.low, abs=1e-12)
        assert row["share_ci_high"] == pytest.approx(interval.high, abs=1e-12)
        assert row["ratio_ci_low"] == pytest.approx(interval.low / share, rel=1e-9)
        assert row["ratio_ci_high"] == pytest.approx(interval.high / share, rel=1e-9)
        assert row["expected_in_zone"] == pytest.approx(n * share)


# -- splits --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("by", "period"),
    [(["category"], None), (["kind"], None), ((), "M"), (["category", "kind"], "Q"), ((), "Y")],
)
def test_splits_sum_to_the_totals(
    grid: BoundarySet,
    territory: ClusterTerritory,
    by: list[str],
    period: str | None,
) -> None:
    frame = assigned(grid, territory, incidents_at(uniform(2000, 8), seed=8))
    total = border_effect(frame, territory)
    total.index = total["pair"].fillna("cluster")
    split = border_effect(frame, territory, by=by, period=period)
    keys = [*by, *(["period"] if period else [])]
    assert [c for c in split.columns if c in ("category", "kind", "period")] == keys
    scope = split["pair"].fillna("cluster")
    # Every scope has the same combinations (zero-filled), and sums to its total.
    assert split.groupby(scope).size().nunique() == 1
    summed = split.groupby(scope)[["n_incidents", "n_in_zone"]].sum()
    pd.testing.assert_frame_equal(
        summed.sort_index(),
        total[["n_incidents", "n_in_zone"]].sort_index(),
        check_names=False,
        check_index_type=False,
    )
    if "kind" in keys:
        kinds = split.drop_duplicates(["category", "kind"]) if "category" in keys else None
        if kinds is not None:
            for category, kind in zip(kinds["category"], kinds["kind"], strict=True):
                assert CATEGORIES[category].kind == kind
        assert set(split["kind"]) == {"criminal", "administrative"}


def test_periods_are_vietnam_calendar_periods(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    frame = assigned(
        grid, territory, incidents_at(np.array([[950.0, 300], [950, 400], [300, 300]]))
    )
    # In UTC: 23:30 on 31 March in Hà Nội is 16:30 UTC; 01:00 on 1 April is 18:00 UTC.
    frame["occurred_at"] = pd.to_datetime(
        ["2022-03-31 16:30", "2022-03-31 18:00", "2022-03-31 05:00"]
    ).tz_localize("UTC")
    monthly = border_effect(frame, territory, period="M")
    cluster = monthly[monthly["scope"] == "cluster"].set_index("period")
    assert cluster["n_incidents"].to_dict() == {"2022-03": 2, "2022-04": 1}
    assert cluster["n_in_zone"].to_dict() == {"2022-03": 1, "2022-04": 1}
    quarterly = border_effect(frame, territory, period="Q")
    assert set(quarterly["period"]) == {"2022Q1", "2022Q2"}
    # Naive times are Vietnam time.
    frame["occurred_at"] = pd.to_datetime(
        ["2022-03-31 23:30", "2022-04-01 01:00", "2022-03-31 12:00"]
    )
    again = border_effect(frame, territory, period="M")
    pd.testing.assert_frame_equal(again, monthly)


# -- missing ratios, the store, bad input -------------------------------------------------------


def test_no_incidents_gives_rows_without_a_ratio(territory: ClusterTerritory) -> None:
    empty = pd.DataFrame(
        columns=["external_id", "occurred_at", "category", "member_code", "in_zone", "zone_units"]
    )
    table = border_effect(empty, territory)
    assert len(table) == 5 and (table["n_incidents"] == 0).all()
    assert table["ratio"].isna().all() and (table["reason"] == REASON_NO_INCIDENTS).all()
    assert table["area_share"].tolist() == pytest.approx([0.19, 0.1, 0.1, 0.1, 0.1])
    assert border_effect(empty, territory, by=["category"]).empty


def test_a_zone_without_area_gives_no_ratio_and_says_why() -> None:
    stats = _statistics(np.array([10, 0]), np.array([0, 0]), np.array([0.0, 0.0]))
    assert stats["ratio"].isna().all() and stats["p_value"].isna().all()
    assert stats["reason"].tolist() == [REASON_NO_ZONE_AREA, REASON_NO_INCIDENTS]
    assert stats["incident_share"].iloc[0] == 0


def test_rows_read_back_from_the_store_give_the_same_table(
    grid: BoundarySet, territory: ClusterTerritory, tmp_path: object
) -> None:
    from geozone.store import open_store
    from geozone.store.base import IncidentQuery

    incidents = incidents_at(uniform(500, 10), seed=10)
    result = assign(incidents, [grid], [territory], tolerance_m=5)
    with open_store(f"sqlite:///{tmp_path}/store.sqlite") as store:
        store.add_incidents(incidents.assign(synthetic=True))
        store.save_assignments(result.units, result.clusters, stamp="test")
        query = IncidentQuery(cluster_id=territory.cluster.id, limit=10_000)
        page, total = store.query(query)
        rows = store.cluster_rows(query)
    assert total == 500
    from_store = page.drop(columns="geometry").merge(rows, on="external_id")
    direct = incidents.merge(result.clusters, on="external_id")
    for by, period in (((), None), (["category"], "M")):
        pd.testing.assert_frame_equal(
            border_effect(from_store, territory, by=by, period=period),
            border_effect(direct, territory, by=by, period=period),
        )


@pytest.mark.filterwarnings("ignore:Could not infer format")
def test_bad_input_is_refused_with_a_named_error(
    grid: BoundarySet, territory: ClusterTerritory
) -> None:
    frame = assigned(grid, territory, incidents_at(uniform(20, 11), seed=11))
    with pytest.raises(AnalysisInputError, match="zone_units"):
        border_effect(frame.drop(columns="zone_units"), territory)
    with pytest.raises(AnalysisInputError, match="listed 2 times"):
        border_effect(pd.concat([frame, frame.iloc[:1]]), territory)
    with pytest.raises(AnalysisInputError, match="other-cluster"):
        border_effect(frame.assign(cluster_id="other-cluster"), territory)
    with pytest.raises(AnalysisInputError, match="DataFrame"):
        border_effect([1, 2], territory)  # type: ignore[arg-type]
    with pytest.raises(AnalysisInputError, match="occurred_at"):
        border_effect(frame.assign(occurred_at="not a time"), territory, period="M")
    with pytest.raises(InvalidParameterError, match="district"):
        border_effect(frame, territory, by=["district"])
    with pytest.raises(InvalidParameterError, match="period"):
        border_effect(frame, territory, period="W")
    with pytest.raises(InvalidParameterError, match='period="M"'):
        border_effect(frame, territory, by=["period"])


# -- real data: the five 2025 wards around the T11 bridge as an ordinary cluster -------------

NGOC_HA, NGHIA_DO = "00008", "00160"
T11 = (105.8064, 21.0387)


@pytest.fixture(scope="module")
def t11(wards_2025: ClusterTerritory) -> ClusterTerritory:
    """The 2025 wards around the bridge, a cluster whose zone runs along all their lines."""
    return wards_2025


def _metric(geom: object, epsg: int) -> shapely.Geometry:
    return gpd.GeoSeries([geom], crs=4326).to_crs(epsg).iloc[0]


@pytest.mark.realdata
def test_real_pair_area_share_matches_the_geometry(
    vn2025: BoundarySet, t11: ClusterTerritory
) -> None:
    areas = zone_areas(t11)
    epsg = 32648
    a, b = _metric(vn2025.geometry(NGOC_HA), epsg), _metric(vn2025.geometry(NGHIA_DO), epsg)
    lines = gpd.GeoDataFrame(territory_zones(t11).lines, crs=4326).to_crs(epsg)
    line = lines[(lines["code_a"] == NGOC_HA) & (lines["code_b"] == NGHIA_DO)].geometry.iloc[0]
    both = shapely.union(a, b)
    band = shapely.intersection(shapely.buffer(line, 200.0), both)
    row = row_of(areas, f"{NGOC_HA}|{NGHIA_DO}")
    assert row["area_km2"] == pytest.approx((a.area + b.area) / 1e6, rel=1e-6)
    assert row["zone_area_km2"] == pytest.approx(band.area / 1e6, rel=0.01)
    assert row["area_share"] == pytest.approx(band.area / both.area, rel=0.01)
    codes = t11.members.loc[t11.members["has_territory"], "code"]
    members = sum(_metric(vn2025.geometry(code), epsg).area for code in codes)
    assert row_of(areas, None)["area_km2"] == pytest.approx(members / 1e6, rel=1e-6)


def _uniform_in_members(
    vn2025: BoundarySet, t11: ClusterTerritory, n: int, seed: int
) -> np.ndarray:
    codes = t11.members.loc[t11.members["has_territory"], "code"]
    union = _metric(shapely.union_all([vn2025.geometry(c) for c in codes]), 32648)
    minx, miny, maxx, maxy = union.bounds
    rng = np.random.default_rng(seed)
    xy = rng.uniform((minx, miny), (maxx, maxy), size=(4 * n, 2))
    inside: np.ndarray = xy[shapely.contains_xy(union, xy[:, 0], xy[:, 1])]
    return inside[:n]


def _real_incidents(xy: np.ndarray, prefix: str) -> pd.DataFrame:
    lon, lat = _TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return pd.DataFrame(
        {
            "external_id": [f"{prefix}{i}" for i in range(len(xy))],
            "occurred_at": datetime(2025, 9, 1, 22, 0, tzinfo=VIETNAM_TZ),
            "lon": lon,
            "lat": lat,
            "category": "drugs",
            "detected_by": None,
        }
    )


@pytest.mark.realdata
def test_real_border_effect_counts_and_ratios(vn2025: BoundarySet, t11: ClusterTerritory) -> None:
    rng = np.random.default_rng(12)
    background = _uniform_in_members(vn2025, t11, 20_000, 12)
    (tx,), (ty,) = Transformer.from_crs(4326, 32648, always_xy=True).transform([T11[0]], [T11[1]])
    angle, radius = rng.uniform(0, 2 * np.pi, 400), 120 * np.sqrt(rng.uniform(0, 1, 400))
    planted = np.column_stack([tx + radius * np.cos(angle), ty + radius * np.sin(angle)])
    xy = np.vstack([background, planted])
    incidents = _real_incidents(xy, "r")
    rows = assign(incidents, [vn2025], [t11]).clusters
    table = border_effect(incidents.merge(rows, on="external_id"), t11)

    # Direct count for Ngọc Hà–Nghĩa Đô: points in either ward within 200 m of their shared
    # line or of a junction where both meet a third member.
    lines = t11.lines
    line = lines[(lines["code_a"] == NGOC_HA) & (lines["code_b"] == NGHIA_DO)].geometry.iloc[0]
    points = shapely.points(xy)
    epsg_points = points  # t11.epsg is UTM 48N, as the points
    assert t11.epsg == 32648
    near = shapely.dwithin(line, epsg_points, 200.0)
    for codes, junction in zip(t11.junctions["codes"], t11.junctions.geometry, strict=True):
        if {NGOC_HA, NGHIA_DO} <= set(codes):
            near |= shapely.dwithin(junction, epsg_points, 200.0)
    lon, lat = incidents["lon"].to_numpy(), incidents["lat"].to_numpy()
    held = shapely.contains_xy(vn2025.geometry(NGOC_HA), lon, lat) | shapely.contains_xy(
        vn2025.geometry(NGHIA_DO), lon, lat
    )
    pair = row_of(table, f"{NGOC_HA}|{NGHIA_DO}")
    assert pair["n_incidents"] == int(held.sum())
    assert pair["n_in_zone"] == int((held & near).sum())
    # The planted T11 cluster (some of it falls in Giảng Võ, across the nearby junction).
    assert pair["ratio"] > 1.5 and pair["ratio_ci_low"] > 1 and pair["p_value"] < 1e-9
    cluster = row_of(table, None)
    assert cluster["n_incidents"] == len(xy)
    assert cluster["n_in_zone"] == int(rows["in_zone"].sum())

    # Without the planted points the ratio is 1 within sampling error (s.e. about 0.016).
    calm = border_effect(incidents.merge(rows, on="external_id").iloc[: len(background)], t11)
    assert row_of(calm, None)["ratio"] == pytest.approx(1.0, abs=0.07)
    assert row_of(calm, f"{NGOC_HA}|{NGHIA_DO}")["ratio"] == pytest.approx(1.0, abs=0.25)
