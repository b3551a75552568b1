"""The throw-away PostgreSQL + PostGIS server of the deployment tests (one per package run).

Without PostgreSQL binaries the tests are skipped with the reason, unless
``GEOZONE_REQUIRE_POSTGIS=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.store.pg import PostgresUnavailableError, TempPostgres


@pytest.fixture(scope="package")
def postgres() -> Iterator[TempPostgres]:
    """A PostgreSQL + PostGIS server on loopback; its superuser is the current OS user."""
    try:
        server = TempPostgres().start()
    except PostgresUnavailableError as exc:
        if os.environ.get("GEOZONE_REQUIRE_POSTGIS", "") == "1":
            pytest.fail(f"GEOZONE_REQUIRE_POSTGIS=1 but PostGIS is unavailable: {exc}")
        pytest.skip(f"deployment not tried: {exc}")
    try:
        yield server
    finally:
        server.stop()
