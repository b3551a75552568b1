"""Schemathesis over the OpenAPI document: generated requests never get a 5xx.

Operations are driven by hand with Hypothesis (a few examples each) rather than through
schemathesis' pytest plugin.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.conftest import Api


def test_generated_requests_get_no_server_error(api: Api) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = api.auth("admin")
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            response = case.call(headers=headers)
            where = (case.method, case.formatted_path, response.text[:500])
            assert response.status_code < 500, where
            if response.status_code >= 400:
                (content_type,) = response.headers["content-type"]
                assert content_type == "application/problem+json", where

        run()
        checked.append(f"{operation.method.upper()} {operation.path}")
    assert "GET /locate" in checked and "POST /patrol-zones" in checked
