"""Fixtures of the API tests: an app over the test grid, a temporary store, four keys."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.settings import Settings
from tests.fixtures.clusters import grid_cluster

ROLES = ("viewer", "analyst", "planner", "admin")


@dataclass
class Api:
    """A test client with the store URL and one key per role."""

    client: TestClient
    store_url: str
    keys: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


@pytest.fixture
def grid_context(grid: BoundarySet) -> Context:
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    return Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})


@pytest.fixture(scope="session")
def built_api_settings(built_settings: Settings) -> ApiSettings:
    """The web service's settings over the real sets built once per session."""
    return ApiSettings(**built_settings.model_dump())


@pytest.fixture
def api_settings(tmp_path: Path) -> ApiSettings:
    return ApiSettings(
        cache_dir=tmp_path / "cache",
        store_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        api_max_points=50,
        api_max_vertices=40,
        api_max_body_bytes=200_000,
    )


@pytest.fixture
def api(api_settings: ApiSettings, grid_context: Context) -> Iterator[Api]:
    url = api_settings.store_url
    keys = {role: create_key(url, f"{role}-key", role) for role in ROLES}
    app = create_app(api_settings, context=grid_context)
    with TestClient(app) as client:
        yield Api(client, url, keys)
