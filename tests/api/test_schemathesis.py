"""Schemathesis over the app's OpenAPI document: no 5xx, responses as the document says.

Every operation gets generated requests (schemathesis' examples, coverage and fuzzing phases,
valid and invalid data, a bounded number of examples, derandomised for CI) sent in-process to
an app over the test grid with a temporary store. Requests carry an admin key so the
authorised routes are exercised too (the invalid ones sometimes drop it: 401). The checks: no
server error, the response body matches the documented schema, the status code is documented,
and the content type is the documented one (problem+json for errors).

The schema is loaded eagerly from the app's OpenAPI dict (routes do not depend on settings or
data) and parametrised by schemathesis' pytest plugin; ``schemathesis.pytest.from_fixture``
cannot be used with pytest 9.2 (it sets ``Node._nodeid``, which pytest 9.2 no longer has).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from tests.fixtures.clusters import grid_cluster

#: The OpenAPI document does not depend on settings or data: an app that is never started.
schema = schemathesis.openapi.from_dict(create_app(ApiSettings()).openapi())

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]


@dataclass
class Served:
    """The app under test and the admin key's header."""

    app: FastAPI
    headers: dict[str, str]


@pytest.fixture(scope="module")
def served(grid: BoundarySet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    app_settings = ApiSettings(
        cache_dir=tmp / "cache",
        store_url=f"sqlite:///{tmp / 'store.sqlite'}",
        api_max_points=50,
        api_max_vertices=40,
        api_max_body_bytes=200_000,
    )
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    context = Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})
    key = create_key(app_settings.store_url, "fuzz-admin", "admin")
    yield Served(create_app(app_settings, context=context), {"X-API-Key": key})


@schema.parametrize()
@settings(
    max_examples=50,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi(case: Case[Any], served: Served) -> None:
    case.call_and_validate(app=served.app, headers=dict(served.headers), checks=CHECKS)
