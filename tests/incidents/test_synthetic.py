from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.files import load_clusters
from geozone.clusters.migrate import migrate_cluster
from geozone.clusters.model import Cluster
from geozone.crs import project_geometries, utm_epsg
from geozone.errors import ClusterDefinitionError, InvalidParameterError
from geozone.incidents.io import INCIDENT_COLUMNS, iter_incidents
from geozone.incidents.schema import CATEGORIES
from geozone.incidents.synthetic import MIXTURE, generate_incidents
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.grid import GRID_CELL_M, GRID_ORIGIN, grid_vertex_lonlat

START = datetime(2025, 7, 1, tzinfo=VIETNAM_TZ)
END = datetime(2025, 12, 31, 23, 59, 59, tzinfo=VIETNAM_TZ)
N_REAL = 20_000
T11 = (105.8064, 21.0387)


def _component(frame: pd.DataFrame) -> pd.Series:
    return frame["description"].str.split(": ", n=1).str[1]


# -- on the grid (no real data) --------------------------------------------------------------


@pytest.fixture(scope="module")
def grid_cluster() -> Cluster:
    lon, lat = grid_vertex_lonlat(1, 1)
    return Cluster.model_validate(
        {
            "id": "o-1-2",
            "name": "Cụm thử Ô 1 – Ô 2",
            "name_en": "Test cluster",
            "boundary_set": "grid",
            "level": "ward",
            "members": [
                {"id": "o-1", "kind": "unit", "unit_code": "00001", "name": "Ô 1"},
                {"id": "o-2", "kind": "unit", "unit_code": "00002", "name": "Ô 2"},
                {"id": "cong-ty", "kind": "organisation", "name": "Công ty thử"},
            ],
            "hotspots": [{"name": "Ngã tư", "point": [lon, lat], "radius_m": 150}],
        }
    )


def _grid_frame(grid: BoundarySet, cluster: Cluster, seed: int, n: int = 4_000) -> pd.DataFrame:
    return generate_incidents(n, seed, boundaries=grid, clusters=[cluster], start=START, end=END)


def test_grid_frame_shape_and_flags(grid: BoundarySet, grid_cluster: Cluster) -> None:
    frame = _grid_frame(grid, grid_cluster, seed=3)
    assert tuple(frame.columns) == INCIDENT_COLUMNS and len(frame) == 4_000
    assert frame["synthetic"].all()
    assert frame["description"].str.startswith("SYNTHETIC").all()
    assert frame["external_id"].is_unique
    assert frame["external_id"].str.fullmatch(r"SYN-3-\d+").all()
    assert frame["occurred_at"].is_monotonic_increasing
    assert frame["occurred_at"].min() >= START and frame["occurred_at"].max() <= END
    assert (frame["detected_at"] >= frame["occurred_at"]).all()
    assert frame["category"].isin(list(CATEGORIES)).all()
    assert set(frame["status"]) == {"open", "solved"}
    assert frame["subjects"].between(0, 3).all()
    components = _component(frame).value_counts()
    assert components["hotspot Ngã tư of cluster o-1-2"] == round(4_000 * MIXTURE["hotspot"])
    assert components["border of cluster o-1-2"] == round(4_000 * MIXTURE["border"])
    assert components["background"] == 4_000 - 600 - 1_400
    # The rows are valid incidents (the model agrees on a sample).
    assert len(list(iter_incidents(frame.iloc[:200]))) == 200


def test_grid_same_seed_same_frame(grid: BoundarySet, grid_cluster: Cluster) -> None:
    first = _grid_frame(grid, grid_cluster, seed=11)
    again = _grid_frame(grid, grid_cluster, seed=11)
    pd.testing.assert_frame_equal(first, again)
    other = _grid_frame(grid, grid_cluster, seed=12)
    assert not np.array_equal(first["lon"].to_numpy(), other["lon"].to_numpy())
    assert other["external_id"].iloc[0] == "SYN-12-1"


def test_grid_geometry_of_the_components(grid: BoundarySet, grid_cluster: Cluster) -> None:
    frame = _grid_frame(grid, grid_cluster, seed=5)
    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    x, y = to_utm.transform(frame["lon"].to_numpy(), frame["lat"].to_numpy())
    component = _component(frame).to_numpy()
    hotspot = component == "hotspot Ngã tư of cluster o-1-2"
    border = component == "border of cluster o-1-2"
    junction = (GRID_ORIGIN[0] + GRID_CELL_M, GRID_ORIGIN[1] + GRID_CELL_M)
    distance = np.hypot(x - junction[0], y - junction[1])
    # Gaussian with sigma = radius / 2: 86 % within the radius.
    assert 0.82 < (distance[hotspot] <= 150).mean() < 0.90
    # The shared line of wards 00001 and 00002 is x = origin + 1 km, from row 0's bottom to top.
    line_x = GRID_ORIGIN[0] + GRID_CELL_M
    on_line = (y[border] >= GRID_ORIGIN[1] - 1) & (y[border] <= GRID_ORIGIN[1] + GRID_CELL_M + 1)
    assert on_line.mean() > 0.97
    assert (np.abs(x[border] - line_x) <= 200).mean() > 0.97  # Laplace scale 50 m
    located = grid.locate_many(frame["lon"], frame["lat"], tolerance_m=0.0)
    assert (located["status"] == "inside").all()  # points outside are drawn again


def test_grid_detected_by(grid: BoundarySet, grid_cluster: Cluster) -> None:
    frame = _grid_frame(grid, grid_cluster, seed=8, n=10_000)
    located = grid.locate_many(frame["lon"], frame["lat"], tolerance_m=0.0)
    component = _component(frame)
    border = (component == "border of cluster o-1-2").to_numpy()
    detected = frame["detected_by"].to_numpy(dtype=object)[border]
    holder = located["unit_code"].to_numpy(dtype=object)[border]
    members = {"00001", "00002"}
    is_member = np.array([d in members for d in detected])
    assert 0.54 < (detected == holder).mean() < 0.62
    assert 0.26 < (is_member & (detected != holder)).mean() < 0.34  # across the boundary
    assert 0.01 < np.mean([d == "cong-ty" for d in detected]) < 0.04  # the organisation
    assert 0.04 < np.mean([d is None for d in detected]) < 0.08
    assert 0.02 < np.mean([d == "01" for d in detected]) < 0.06  # province police
    background = (component == "background").to_numpy()
    detected_bg = frame["detected_by"].to_numpy(dtype=object)[background]
    known = np.array([d is not None for d in detected_bg])
    assert 0.81 < known.mean() < 0.89
    holder_bg = located["unit_code"].to_numpy(dtype=object)[background]
    assert (detected_bg[known] == holder_bg[known]).all()


def test_bad_parameters(grid: BoundarySet, grid_cluster: Cluster) -> None:
    with pytest.raises(InvalidParameterError, match="n must be"):
        generate_incidents(-1, 1, boundaries=grid, clusters=[], start=START, end=END)
    with pytest.raises(InvalidParameterError, match="not after start"):
        generate_incidents(10, 1, boundaries=grid, clusters=[], start=END, end=START)
    elsewhere = grid_cluster.model_copy(update={"boundary_set": "vn2025"})
    with pytest.raises(ClusterDefinitionError, match="migrate_cluster"):
        generate_incidents(10, 1, boundaries=grid, clusters=[elsewhere], start=START, end=END)
    assert len(generate_incidents(0, 1, boundaries=grid, clusters=[], start=START, end=END)) == 0
    only_background = generate_incidents(50, 1, boundaries=grid, clusters=[], start=START, end=END)
    assert (_component(only_background) == "background").all()


def test_naive_times_are_vietnam_time(grid: BoundarySet) -> None:
    frame = generate_incidents(
        300,
        2,
        boundaries=grid,
        clusters=[],
        start=datetime(2025, 3, 1, 8),
        end=datetime(2025, 3, 1, 9),
    )
    assert frame["occurred_at"].min() >= datetime(2025, 3, 1, 8, tzinfo=VIETNAM_TZ)
    assert frame["occurred_at"].max() <= datetime(2025, 3, 1, 9, tzinfo=VIETNAM_TZ)
    assert frame["occurred_at"].dt.hour.isin([8, 9]).all()


def test_a_period_ending_now_has_no_detection_in_the_future(grid: BoundarySet) -> None:
    """The demo's period ends now: a long delay (fraud: hours to days) must not detect an
    incident after this moment (the store refuses such a row, and the whole demo with it)."""
    from datetime import timedelta

    from geozone.store._prepare import prepare_incidents

    now = datetime.now(VIETNAM_TZ)
    frame = generate_incidents(
        3_000, 5, boundaries=grid, clusters=[], start=now - timedelta(hours=6), end=now
    )
    assert (frame["detected_at"] >= frame["occurred_at"]).all()
    assert frame["detected_at"].max() <= datetime.now(VIETNAM_TZ)
    assert (frame["detected_at"] - frame["occurred_at"]).max() > timedelta(minutes=30)
    prepare_incidents(frame)  # the store's own checks pass (they refused the demo)
    before = generate_incidents(  # a period long past is as it always was: seeded
        300, 5, boundaries=grid, clusters=[], start=datetime(2025, 3, 1), end=datetime(2025, 3, 9)
    )
    again = generate_incidents(
        300, 5, boundaries=grid, clusters=[], start=datetime(2025, 3, 1), end=datetime(2025, 3, 9)
    )
    pd.testing.assert_frame_equal(before, again)
    assert (before["detected_at"] > datetime(2025, 3, 9, tzinfo=VIETNAM_TZ)).any()


# -- on the real 2025 units with the five clusters -------------------------------------------


@pytest.fixture(scope="module")
def clusters(vn2025: BoundarySet, legacy: BoundarySet) -> list[Cluster]:
    return [migrate_cluster(c, legacy, vn2025).to_cluster() for c in load_clusters().values()]


@pytest.fixture(scope="module")
def real(vn2025: BoundarySet, clusters: list[Cluster]) -> pd.DataFrame:
    return generate_incidents(
        N_REAL, 42, boundaries=vn2025, clusters=clusters, start=START, end=END
    )


@pytest.fixture(scope="module")
def located(vn2025: BoundarySet, real: pd.DataFrame) -> pd.DataFrame:
    return vn2025.locate_many(real["lon"], real["lat"], tolerance_m=0.0)


@pytest.mark.realdata
def test_real_columns_counts_and_vocabulary(real: pd.DataFrame) -> None:
    assert tuple(real.columns) == INCIDENT_COLUMNS and len(real) == N_REAL
    assert real["synthetic"].all() and real["description"].str.startswith("SYNTHETIC").all()
    assert real["category"].isin(list(CATEGORIES)).all()
    counts = _component(real).value_counts()
    assert counts["hotspot Cầu T11 of cluster hoa-do-phuc-vi-vn2025"] == 3_000
    borders = counts[counts.index.str.startswith("border of cluster")]
    assert len(borders) == 5 and (borders == 1_400).all()
    assert counts["background"] == 10_000


@pytest.mark.realdata
def test_real_same_seed_same_frame(vn2025: BoundarySet, clusters: list[Cluster]) -> None:
    def run(seed: int) -> pd.DataFrame:
        return generate_incidents(
            1_500, seed, boundaries=vn2025, clusters=clusters, start=START, end=END
        )

    pd.testing.assert_frame_equal(run(7), run(7))
    assert not run(7)["lat"].equals(run(8)["lat"])


@pytest.mark.realdata
def test_real_points_inside_vietnam(located: pd.DataFrame) -> None:
    assert (located["status"] == "inside").mean() >= 0.99


@pytest.mark.realdata
def test_real_share_at_the_t11_hotspot(real: pd.DataFrame) -> None:
    to_utm = Transformer.from_crs(4326, 32648, always_xy=True)
    x, y = to_utm.transform(real["lon"].to_numpy(), real["lat"].to_numpy())
    cx, cy = to_utm.transform(*T11)
    within = np.hypot(x - cx, y - cy) <= 150
    # 15 % drawn at the hotspot with sigma 75 m (86.5 % within 150 m), plus a few border points.
    assert 0.12 < within.mean() < 0.145


def _internal_boundaries(vn2025: BoundarySet, cluster: Cluster) -> tuple[int, shapely.STRtree]:
    """Member boundaries minus the cluster's outer boundary, in the cluster's UTM zone.

    Computed differently from the generator (which intersects member pairs): the union of
    the member boundaries less a 5 m band around the boundary of the union of members.
    """
    codes = [m.unit_code for m in cluster.members if m.kind == "unit"]
    geoms = vn2025.frame.set_index("code").loc[codes].geometry.to_numpy()
    epsg = int(utm_epsg(float(shapely.centroid(shapely.union_all(geoms)).x)))
    metric = project_geometries(geoms, np.full(len(geoms), epsg))
    outer = shapely.boundary(shapely.union_all(metric))
    internal = shapely.difference(
        shapely.union_all(shapely.boundary(metric)), shapely.buffer(outer, 5.0)
    )
    parts = shapely.get_parts(shapely.line_merge(internal))
    return epsg, shapely.STRtree(parts)


@pytest.mark.realdata
def test_real_share_near_cluster_boundaries(
    vn2025: BoundarySet, real: pd.DataFrame, clusters: list[Cluster]
) -> None:
    lon, lat = real["lon"].to_numpy(), real["lat"].to_numpy()
    component = _component(real).to_numpy()
    near_any = np.zeros(len(real), dtype=bool)
    for cluster in clusters:
        epsg, tree = _internal_boundaries(vn2025, cluster)
        x, y = Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
        width = cluster.effective_zone_width_m
        points, _ = tree.query(shapely.points(x, y), predicate="dwithin", distance=width)
        near = np.zeros(len(real), dtype=bool)
        near[points] = True
        near_any |= near
        own = component == f"border of cluster {cluster.id}"
        # Laplace offsets with scale width / 4: 98 % within the zone width of the line.
        assert near[own].mean() > 0.95, cluster.id
    # 35 % border points, nearly all of the 15 % at the T11 bridge (on the Nghĩa Đô – Ngọc Hà
    # line), a few background points that happen to fall near a cluster line.
    assert 0.47 < near_any.mean() < 0.53


@pytest.mark.realdata
def test_real_detected_by_for_border_points(
    real: pd.DataFrame, located: pd.DataFrame, clusters: list[Cluster]
) -> None:
    component = _component(real).to_numpy()
    detected = real["detected_by"].to_numpy(dtype=object)
    for cluster in clusters:
        rows = component == f"border of cluster {cluster.id}"
        members = {m.unit_code for m in cluster.members if m.kind == "unit"}
        column = "province_code" if cluster.level == "province" else "unit_code"
        holder = located[column].to_numpy(dtype=object)[rows]
        by = detected[rows]
        is_member = np.array([d in members for d in by])
        assert is_member.mean() > 0.8, cluster.id  # a member in most cases
        neighbour = is_member & (by != holder)
        assert 0.22 < neighbour.mean() < 0.38, cluster.id  # the member across the boundary
        assert 0.5 < (by == holder).mean() < 0.66, cluster.id
    viet_tri = component == "border of cluster viet-tri-vinh-tuong-lap-thach-vn2025"
    company = next(m.id for c in clusters for m in c.members if m.kind == "organisation")
    assert 0 < np.mean(detected[viet_tri] == company) < 0.05


@pytest.mark.realdata
def test_real_categories_status_and_times_by_context(real: pd.DataFrame) -> None:
    component = _component(real)
    t11 = real[component == "hotspot Cầu T11 of cluster hoa-do-phuc-vi-vn2025"]
    assert set(t11["category"]) == {
        "drugs",
        "prostitution",
        "theft",
        "pavement_encroachment",
        "sanitation",
    }
    viet_tri = real[component == "border of cluster viet-tri-vinh-tuong-lap-thach-vn2025"]
    assert set(viet_tri["category"]) == {"drugs", "theft", "loan_sharking"}
    background = real[component == "background"]["category"].value_counts()
    assert background.index[0] == "theft"
    solved = real.groupby("category")["status"].apply(lambda s: (s == "solved").mean())
    assert abs(solved["theft"] - 0.60) < 0.04 and abs(solved["drugs"] - 0.85) < 0.04
    hour = real["occurred_at"].dt.hour
    night = hour.isin([20, 21, 22, 23, 0, 1, 2, 3])
    drugs = real["category"] == "drugs"
    pavement = real["category"] == "pavement_encroachment"
    assert night[drugs].mean() > 0.6 and night[pavement].mean() < 0.25
    delay_min = (real["detected_at"] - real["occurred_at"]).dt.total_seconds() / 60
    assert 5 < delay_min.median() < 120  # minutes to hours
    joint = real.groupby(component.str.split(" ").str[0])["jointly_handled"].mean()
    assert joint["hotspot"] > joint["border"] > 5 * joint["background"]


@pytest.mark.realdata
def test_real_legacy_units_before_the_reform(
    vn2025: BoundarySet, legacy: BoundarySet, clusters: list[Cluster]
) -> None:
    frame = generate_incidents(
        4_000,
        9,
        boundaries=vn2025,
        clusters=clusters,
        start=datetime(2025, 1, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 12, 31, tzinfo=VIETNAM_TZ),
        legacy=legacy,
    )
    change = datetime(2025, 7, 1, tzinfo=VIETNAM_TZ)
    before = (frame["occurred_at"] < change).to_numpy()
    assert 0.4 < before.mean() < 0.6
    organisations = {m.id for c in clusters for m in c.members if m.kind == "organisation"}
    legacy_codes = set(legacy.frame.loc[legacy.frame["has_geometry"], "code"]) | organisations
    current_codes = set(vn2025.frame["code"]) | organisations
    by = frame["detected_by"].to_numpy(dtype=object)
    named_before = [d for d in by[before] if d is not None]
    named_after = [d for d in by[~before] if d is not None]
    assert named_before and all(d in legacy_codes for d in named_before)
    assert all(d in current_codes for d in named_after)
    # Districts (3 digits) name most pre-reform incidents; 2025 wards (5 digits) none.
    assert np.mean([len(d) == 3 for d in named_before]) > 0.8
    assert not any(re.fullmatch(r"\d{5}", d) for d in named_before)
