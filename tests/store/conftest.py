"""Fixtures of the store suite: every test runs on SQLite and on PostgreSQL + PostGIS.

The PostGIS server is a throw-away cluster started once per session (see tests/store/pg.py);
the schema is migrated once into a template database and every test gets a fresh copy of it.
Without PostgreSQL binaries the postgis tests are skipped with the reason, unless
``GEOZONE_REQUIRE_POSTGIS=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from geozone.store import IncidentStore, open_store
from tests.store.pg import TEMPLATE_DB, PostgresUnavailableError, TempPostgres

BACKENDS = ("sqlite", "postgis")


def _require_postgis() -> bool:
    return os.environ.get("GEOZONE_REQUIRE_POSTGIS", "") == "1"


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    """A PostgreSQL + PostGIS server for this session, with the migrated template database."""
    try:
        server = TempPostgres().start()
    except PostgresUnavailableError as exc:
        if _require_postgis():
            pytest.fail(f"GEOZONE_REQUIRE_POSTGIS=1 but PostGIS is unavailable: {exc}")
        pytest.skip(f"PostGIS backend not tested: {exc} (set GEOZONE_REQUIRE_POSTGIS=1 to fail)")
    try:
        open_store(server.create_database(TEMPLATE_DB)).close()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: "sqlite" or "postgis"."""
    return str(request.param)


def _url(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    template: str | None,
) -> Iterator[str]:
    if backend == "sqlite":
        folder = tmp_path_factory.mktemp("store")
        yield f"sqlite:///{folder / 'incidents.sqlite'}"  # created (and migrated) on open
        return
    server: TempPostgres = request.getfixturevalue("postgres")
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = server.create_database(name, template=template)
    if template is None:  # PostGIS enabled as a DBA would (it takes seconds), no schema
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute("CREATE EXTENSION postgis")
    try:
        yield url
    finally:
        server.drop_database(name)


@pytest.fixture
def store_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of an empty store of each backend (PostGIS: a copy of the migrated template)."""
    yield from _url(backend, request, tmp_path_factory, TEMPLATE_DB)


@pytest.fixture
def blank_store_url(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """URL of a database never opened as a store: no schema yet (PostGIS enabled)."""
    yield from _url(backend, request, tmp_path_factory, None)


@pytest.fixture
def store(store_url: str) -> Iterator[IncidentStore]:
    """An open store of each backend."""
    with open_store(store_url) as opened:
        yield opened
