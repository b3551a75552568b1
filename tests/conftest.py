"""Shared fixtures.

Unit tests use a hand-built grid: 3×3 square wards of 1 km in UTM 48N near Hà Nội, in two
districts of one province, so every interior grid vertex is a four-way junction like the
T11 bridge. Integration tests use the real sets built once per session from the archives
(``GEOZONE_DATA_DIR`` or ../shared/data/boundaries); they are skipped when those are absent,
and every test that uses them is marked ``realdata`` here (``pytest -m "not realdata"`` runs the
rest). Plain helpers live in :mod:`tests.fixtures`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from geozone.boundaries.sets import BoundarySet
from geozone.settings import Settings, get_settings
from tests.fixtures.grid import GRID_INFO, grid_units

if TYPE_CHECKING:
    from geozone.assignment import ClusterTerritory

# Services started by the tests build no map in the background unless a test asks for it
# (tests/api/test_maps_routes.py does): a build racing a test's own writes only adds load.
os.environ.setdefault("GEOZONE_WARM_MAPS_AT_START", "false")

#: The fixture every real-set fixture builds on: a test that uses it reads the real archives.
_REAL_SETS = "built_settings"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``realdata`` every test that builds the real sets, through whatever fixture."""
    for item in items:
        if _REAL_SETS in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


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
    original members' lines instead: see tests/clusters/test_sides.py).
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
