"""Times outside the plausible range: refused on write, survived on read (both backends)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.errors import IncidentDataError, InvalidParameterError
from geozone.incidents.schema import EARLIEST_TIME
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.sql import SqlIncidentStore, create_store_engine
from geozone.vntime import VIETNAM_TZ
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_vertex_lonlat
from tests.fixtures.incidents import make_incidents

#: What an older version stored for "0001-01-01T00:00:00+07:00": year 0 in UTC.
POISON_SQL = {
    "sqlite": "'0000-12-31 17:00:00.000000'",
    "postgresql": "'0001-01-01 00:00:00+07'::timestamptz",
}


def write_poison(engine: sa.Engine, external_id: str = "poison", *, detected: bool = False) -> None:
    """Insert a row dated year 0 with raw SQL, as a version without the range check did.

    ``detected``: a sound ``occurred_at`` (2024) and ``detected_at`` in year 0 instead (the
    row's check constraint is dropped for it on PostgreSQL: an older schema had none).
    """
    poison = POISON_SQL[engine.dialect.name]
    sound = "'2024-05-01 01:00:00.000000'" if engine.dialect.name == "sqlite" else "now()"
    occurred, detected_at = (sound, poison) if detected else (poison, "NULL")
    with engine.begin() as connection:
        if detected and engine.dialect.name == "postgresql":
            connection.execute(
                sa.text("ALTER TABLE incidents DROP CONSTRAINT ck_incidents_detected")
            )
        elif detected:
            connection.execute(sa.text("PRAGMA ignore_check_constraints = ON"))
        connection.execute(
            sa.text(
                "INSERT INTO incidents (external_id, occurred_at, detected_at, lon, lat, "
                "category, status, subjects, jointly_handled, description, synthetic) VALUES "
                f"(:id, {occurred}, {detected_at}, 105.8, 21.0, 'theft', 'open', 0, false, '', "
                "false)"
            ),
            {"id": external_id},
        )


def test_a_poison_row_never_breaks_a_reader(store: IncidentStore) -> None:
    assert isinstance(store, SqlIncidentStore)
    store.add_incidents(make_incidents(3))
    write_poison(store.engine)

    record = store.get("poison")
    assert record is not None
    assert record["occurred_at"] is None
    assert len(record["problems"]) == 1 and "occurred_at" in record["problems"][0]
    assert store.get("i000000")["problems"] == []  # type: ignore[index]

    frame, total = store.query(IncidentQuery())
    assert total == 3 and "poison" not in set(frame["external_id"])
    assert store.count(IncidentQuery()) == 3
    assert store.quarantined() == (1, ["poison"])
    assert "poison" not in store.stale_ids("a1:none")
    assert store.get_many(["poison"])["occurred_at"].isna().all()

    write_poison(store.engine, "late", detected=True)  # occurred 2024, detected year 0
    late = store.get("late")
    assert late is not None and late["detected_at"] is None and late["occurred_at"] is not None
    assert "detected_at" in late["problems"][0]
    frame, total = store.query(IncidentQuery())
    assert total == 4 and frame.set_index("external_id").loc["late", "detected_at"] is pd.NaT
    assert store.quarantined() == (2, ["poison", "late"])


@pytest.mark.parametrize(
    "when",
    [
        datetime(1, 1, 1, tzinfo=VIETNAM_TZ),
        EARLIEST_TIME - timedelta(seconds=1),
        datetime.now(VIETNAM_TZ) + timedelta(days=3),
    ],
    ids=["year-1", "just-before", "future"],
)
def test_the_write_path_refuses_implausible_times(store: IncidentStore, when: datetime) -> None:
    frame = make_incidents(2)
    frame["occurred_at"] = frame["occurred_at"].astype(object)
    frame.loc[1, "occurred_at"] = pd.Timestamp(when) if when.year > 1 else when.isoformat()
    with pytest.raises(IncidentDataError, match="plausible range"):
        store.add_incidents(frame)
    assert store.count(IncidentQuery()) == 0


def test_query_bounds_outside_the_range_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="start"):
        IncidentQuery(start=datetime(1, 1, 1))
    with pytest.raises(InvalidParameterError, match="end"):
        IncidentQuery(end=datetime(9999, 12, 31))
    IncidentQuery(start=EARLIEST_TIME, end=datetime.now(VIETNAM_TZ) + timedelta(days=365))


def test_the_service_survives_a_poison_row(
    store_url: str, grid: BoundarySet, tmp_path: Path
) -> None:
    """GET one, GET many, POST, an import job and start-up, with a year-0 row stored."""
    settings = ApiSettings(cache_dir=tmp_path / "cache", store_url=store_url)
    key = {"X-API-Key": create_key(store_url, "planner", "planner")}
    engine = create_store_engine(store_url)
    try:
        write_poison(engine)
    finally:
        engine.dispose()
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    context = Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "t"})
    lon, lat = grid_vertex_lonlat(1, 1)
    row = {"occurred_at": "2024-03-01T21:00:00+07:00", "lon": lon, "lat": lat}
    for start in range(2):  # the second start-up meets the row and the first's writes
        with TestClient(create_app(settings, context=context)) as client:
            poison = client.get("/incidents/poison", headers=key)
            assert poison.status_code == 200
            assert poison.json()["occurred_at"] is None and poison.json()["problems"]
            posted = client.post(
                "/incidents",
                json=[
                    {**row, "external_id": f"ok-{start}", "category": "theft"},
                    {
                        **row,
                        "external_id": "year-1",
                        "category": "theft",
                        "occurred_at": "0001-01-01T00:00:00+07:00",
                    },
                ],
                headers=key,
            )
            assert posted.status_code == 200, posted.text
            assert (posted.json()["stored"], posted.json()["assigned"]) == (1, 1)
            assert posted.json()["rejects"][0]["field"] == "occurred_at"
            listed = client.get("/incidents", headers=key)
            assert listed.status_code == 200
            assert "poison" not in {f["id"] for f in listed.json()["features"]}
            upload = "external_id,occurred_at,lon,lat,category\n"
            upload += f"f-{start},01/01/0001,{lon},{lat},theft\n"  # "unknown date"
            upload += f"g-{start},01/03/2024,{lon},{lat},theft\n"
            job = client.post(
                "/incidents/import", files={"file": ("x.csv", upload.encode())}, headers=key
            ).json()
            done = client.get(f"/jobs/{job['id']}", headers=key).json()
            assert done["status"] == "done", done
            assert (done["report"]["stored"], done["report"]["rejected"]) == (1, 1)
