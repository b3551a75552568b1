"""Shared fixtures.

Unit tests use a hand-built grid: 3×3 square wards of 1 km in UTM 48N near Hà Nội, in two
districts of one province, so every interior grid vertex is a four-way junction like the
T11 bridge. Integration tests use the real sets built once per session from the archives
(``GEOZONE_DATA_DIR`` or ../shared/data/boundaries); they are skipped when those are absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import geopandas as gpd
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet, SetInfo
from geozone.clusters.model import Confirmation
from geozone.settings import Settings, get_settings

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory

#: A planner's confirmation that the T11 cluster, carried into the 2025 wards, applies from
#: the reform date (without it the carried form lapses: the original ended in 2024).
T11_CONFIRMED = {
    "hoa-do-phuc-vi-vn2025": Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")
}

#: South-west corner of the grid in UTM 48N (EPSG:32648), about 105.80 E, 21.02 N.
GRID_ORIGIN = (583_000.0, 2_324_000.0)
GRID_CELL_M = 1_000.0
GRID_INFO = SetInfo(
    id="grid",
    title="Test grid: 3×3 wards in two districts",
    valid_from=date(2000, 1, 1),
    valid_to=None,
    licence="CC0",
    attribution="geozone test grid",
    attribution_en="geozone test grid",
)


def grid_cell(col: int, row: int) -> shapely.Polygon:
    """The square of ward (col, row) in UTM 48N metres."""
    x0, y0 = GRID_ORIGIN[0] + col * GRID_CELL_M, GRID_ORIGIN[1] + row * GRID_CELL_M
    return shapely.box(x0, y0, x0 + GRID_CELL_M, y0 + GRID_CELL_M)


def grid_vertex_lonlat(col: int, row: int) -> tuple[float, float]:
    """Longitude/latitude of grid vertex (col, row); (1, 1) is a four-way junction."""
    point = gpd.GeoSeries(
        [shapely.Point(GRID_ORIGIN[0] + col * GRID_CELL_M, GRID_ORIGIN[1] + row * GRID_CELL_M)],
        crs=32648,
    ).to_crs(4326)
    return float(point.x.iloc[0]), float(point.y.iloc[0])


def grid_units() -> gpd.GeoDataFrame:
    """Province 01 > districts 001 (columns 0-1) and 002 (column 2) > wards 00001..00009.

    Ward code ``0000{n}`` with n = row * 3 + col + 1; names "Ô {n}".
    """
    records, geoms = [], []
    for row in range(3):
        for col in range(3):
            n = row * 3 + col + 1
            district = "001" if col < 2 else "002"
            records.append(unit_record(f"0000{n}", f"Ô {n}", "Phường", "ward", district))
            geoms.append(grid_cell(col, row))
    wards = gpd.GeoDataFrame(records, geometry=geoms, crs=32648)
    districts = wards.dissolve("parent_code", as_index=False)[["parent_code", "geometry"]]
    rows = [
        unit_record("001", "Một", "Quận", "district", "01"),
        unit_record("002", "Hai", "Quận", "district", "01"),
        unit_record("01", "Thử", "Tỉnh", "province", None),
    ]
    upper = gpd.GeoDataFrame(
        rows,
        geometry=[*districts.sort_values("parent_code").geometry, shapely.union_all(geoms)],
        crs=32648,
    )
    return gpd.GeoDataFrame(gpd.pd.concat([upper, wards], ignore_index=True), crs=32648).to_crs(
        4326
    )


def unit_record(
    code: str, name: str, unit_type: str, level: str, parent: str | None
) -> dict[str, object]:
    """One unit row as the archive readers give it (province 01)."""
    return {
        "code": code,
        "name": name,
        "full_name": f"{unit_type} {name}",
        "unit_type": unit_type,
        "level": level,
        "parent_code": parent,
        "province_code": "01",
        "name_en": None,
        "in_register": True,
    }


@pytest.fixture(scope="session")
def grid() -> BoundarySet:
    """The 3×3 test grid as a boundary set."""
    return BoundarySet.from_units(GRID_INFO, grid_units())


@pytest.fixture(scope="session")
def built_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings whose cache holds both real sets, built once per session.

    Set GEOZONE_TEST_CACHE_DIR to reuse a cache between runs (CI builds into a fresh one).
    """
    base = get_settings()
    if base.data_dir is None or not base.data_dir.is_dir():
        pytest.skip("real boundary archives not available (set GEOZONE_DATA_DIR)")
    from geozone.boundaries.build import build_set
    from geozone.boundaries.manifest import load_manifest

    cache = Path(os.environ.get("GEOZONE_TEST_CACHE_DIR") or tmp_path_factory.mktemp("cache"))
    settings = base.model_copy(update={"cache_dir": cache})
    for entry in load_manifest(settings.manifest_path).sets.values():
        build_set(entry, settings.data_dir, settings.boundary_cache)
    yield settings


@pytest.fixture(scope="session")
def vn2025(built_settings: Settings) -> BoundarySet:
    return BoundarySet.load("vn2025", built_settings)


@pytest.fixture(scope="session")
def legacy(built_settings: Settings) -> BoundarySet:
    return BoundarySet.load("vn-legacy-districts", built_settings)


@pytest.fixture(scope="session")
def wards_2025(vn2025: BoundarySet) -> ClusterTerritory:
    """The five 2025 wards around the T11 bridge as a cluster named in the 2025 units.

    An ordinary cluster: its zone runs along every line between its members, which is what
    the engine's distance and zone tests measure (a carried cluster's runs along its
    original members' lines instead: see tests/test_sides.py).
    """
    from geozone.assignment import ClusterTerritory
    from geozone.clusters.model import Cluster

    names = {
        "00160": "Nghĩa Đô",
        "00008": "Ngọc Hà",
        "00166": "Cầu Giấy",
        "00025": "Giảng Võ",
        "00103": "Tây Hồ",
    }
    cluster = Cluster.model_validate(
        {
            "id": "t11-wards",
            "name": "Các phường quanh cầu T11",
            "name_en": "The wards around the T11 bridge",
            "boundary_set": "vn2025",
            "level": "ward",
            "zone_width_m": 200,
            "period": {"start": "2025-07-01"},
            "members": [
                {"id": f"w{code}", "kind": "unit", "unit_code": code, "name": f"Phường {name}"}
                for code, name in names.items()
            ],
            "regulation": {
                "lead_rule": [
                    {"vi": "Trên địa bàn phường nào thì phường đó chủ trì.", "en": "Rule 1."},
                    {
                        "vi": "Ở địa bàn giáp ranh thì đơn vị phát hiện trước chủ trì.",
                        "en": "Rule 2.",
                    },
                ]
            },
        }
    )
    return ClusterTerritory(cluster, vn2025)
