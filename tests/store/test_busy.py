"""A busy store: a write request gets 503 with Retry-After quickly, stores nothing, and the
same request sent again stores its rows once (both backends)."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.store.sql import create_store_engine
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_vertex_lonlat


def test_a_busy_store_answers_503_and_the_retry_stores_once(
    store_url: str, grid: BoundarySet, tmp_path: Path
) -> None:
    settings = ApiSettings(
        cache_dir=tmp_path / "cache", store_url=store_url, api_store_busy_timeout_s=0.5
    )
    key = {"X-API-Key": create_key(store_url, "planner", "planner")}
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    context = Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "t"})
    lon, lat = grid_vertex_lonlat(1, 1)
    records = [
        {
            "external_id": f"busy-{k}",
            "occurred_at": "2024-03-01T21:00:00+07:00",
            "lon": lon,
            "lat": lat,
            "category": "theft",
        }
        for k in range(100)
    ]
    holder = create_store_engine(store_url)
    try:
        with TestClient(create_app(settings, context=context)) as client:
            with holder.connect() as other:  # another writer holds the store (or those ids)
                if holder.dialect.name == "sqlite":  # BEGIN IMMEDIATE: the write lock
                    other.execution_options(geozone_write=True).exec_driver_sql("SELECT 1")
                else:  # a row of the same id inserted, not committed: its lock
                    other.execute(
                        sa.text(
                            "INSERT INTO incidents (external_id, occurred_at, lon, lat, "
                            "category, status, subjects, jointly_handled, description, "
                            "synthetic) VALUES ('busy-0', now(), 105.8, 21.0, 'theft', 'open', "
                            "0, false, '', false)"
                        )
                    )
                began = time.monotonic()
                busy = client.post("/incidents", json=records, headers=key)
                waited = time.monotonic() - began
                other.rollback()
            assert busy.status_code == 503, busy.text
            assert busy.headers["Retry-After"] == "2" and "nothing" in busy.json()["detail"]
            assert waited < 5
            assert client.get("/incidents", headers=key).json()["numberMatched"] == 0
            stored = client.post("/incidents", json=records, headers=key).json()
            assert (stored["stored"], stored["assigned"], stored["note"]) == (100, 100, None)
            again = client.post("/incidents", json=records, headers=key).json()
            assert (again["stored"], again["duplicates"]) == (0, 100)  # idempotent by id
    finally:
        holder.dispose()
