from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import ROLES
from api.settings import ApiSettings
from geozone.assignment.rules import RULE_NAMES
from geozone.context import Context
from tests.api.conftest import Api


def test_health_and_version(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok"}
    version = api.client.get("/version").json()
    assert version["sets"] == {"grid": "test"}
    assert version["clusters"] == ["grid-centre"]
    assert version["current_set"] == "grid"


def test_unknown_route_is_a_problem(api: Api) -> None:
    response = api.client.get("/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.json()) >= {"type", "title", "status", "detail"}


def test_openapi_lists_the_routes_and_the_key_scheme(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    for path in ("/health", "/locate", "/units/{code}/neighbours", "/incidents", "/patrol-zones"):
        assert path in spec["paths"]
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    assert "examples" in spec["components"]["schemas"]["PatrolZoneIn"]
    rule = spec["components"]["schemas"]["ClusterDecision"]["properties"]["rule"]
    assert [option.get("enum") for option in rule["anyOf"]] == [list(RULE_NAMES), None]
    role = spec["components"]["schemas"]["KeyIn"]["properties"]["role"]
    assert role["enum"] == list(ROLES)


def test_unexpected_errors_are_500_problems_without_traceback(
    api_settings: ApiSettings, grid_context: Context
) -> None:
    app = create_app(api_settings, context=grid_context)

    def boom() -> None:
        raise RuntimeError("secret internals at /srv/geozone")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret" not in response.text and "Traceback" not in response.text
    assert response.json()["status"] == 500


def test_cors_origins_come_from_settings(api_settings: ApiSettings, grid_context: Context) -> None:
    settings = api_settings.model_copy(update={"cors_origins": ["https://map.example"]})
    with TestClient(create_app(settings, context=grid_context)) as client:
        allowed = client.options(
            "/locate",
            headers={"Origin": "https://map.example", "Access-Control-Request-Method": "GET"},
        )
        other = client.get("/health", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://map.example"
    assert "access-control-allow-origin" not in other.headers
