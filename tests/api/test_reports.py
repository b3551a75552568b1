"""``GET /clusters/{id}/report``: analyst role, JSON/HTML/CSV, the figures of the core report;
the format of a report file (:mod:`api.services.reports`, shared with ``geozone report``)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.routers import reports
from api.services.reports import output_format
from api.settings import ApiSettings
from geozone.context import Context
from geozone.errors import InvalidParameterError
from geozone.incidents.pipeline import assign_stale
from geozone.report import SYNTHETIC_LABEL, cluster_report
from geozone.store import open_store
from tests.api.conftest import ROLES, Api
from tests.fixtures.incidents import grid_incidents

ROUTE = "/clusters/{cluster_id}/report"
PERIOD = {"from": "2021-01-01", "to": "2021-12-31"}


def with_reports(app: FastAPI) -> FastAPI:
    """Add the reports router unless the app has it already (the lead wires it in app.py)."""
    if not any(getattr(route, "path", None) == ROUTE for route in app.routes):
        app.include_router(reports.router)
    return app


@pytest.fixture
def api(api_settings: ApiSettings, grid_context: Context) -> Iterator[Api]:
    url = api_settings.store_url
    with open_store(url) as store:
        store.add_incidents(grid_incidents(120, 7, date(2021, 1, 1), date(2021, 12, 31)))
        assign_stale(store, grid_context)
    keys = {role: create_key(url, f"{role}-key", role) for role in ROLES}
    app = with_reports(create_app(api_settings, context=grid_context))
    with TestClient(app) as client:
        yield Api(client, url, keys)


def get(api: Api, role: str | None, **params: str) -> httpx.Response:
    headers = api.auth(role) if role else {}
    response: httpx.Response = api.client.get(
        "/clusters/grid-centre/report", params={**PERIOD, **params}, headers=headers
    )
    return response


def test_the_report_needs_an_analyst_key(api: Api) -> None:
    assert get(api, None).status_code == 401
    assert get(api, "viewer").status_code == 403
    for role in ("analyst", "planner", "admin"):
        assert get(api, role, hotspots="false").status_code == 200


def test_json_report_equals_the_core_report(api: Api, grid_context: Context) -> None:
    response = api.client.get(
        "/clusters/grid-centre/report", params=PERIOD, headers=api.auth("analyst")
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    with open_store(api.store_url) as store:
        direct = cluster_report(
            store, grid_context, "grid-centre", date(2021, 1, 1), date(2021, 12, 31)
        )
    assert data["figures"]["cases"] == direct.figures["cases"] > 0
    for key in ("headline_vi", "in_zone_criminal_solved_ratio", "subjects", "review"):
        assert data["figures"][key] == direct.figures[key]
    assert data["synthetic"] is True and data["synthetic_label"] == SYNTHETIC_LABEL
    assert data["attribution"] == {"vi": "geozone test grid", "en": "geozone test grid"}
    rows = data["tables"]["by_category"]["rows"]
    assert [r["cases"] for r in rows] == direct.tables["by_category"]["cases"].tolist()
    assert {"border_effect", "hotspots", "by_member", "membership"} <= set(data["tables"])


def test_html_report(api: Api) -> None:
    response = get(api, "analyst", format="html", map="false", hotspots="false")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "class='synthetic-banner'" in page and "@page { size: A4;" in page
    assert "<iframe" not in page and "<svg" in page


def test_csv_zip_and_one_table(api: Api) -> None:
    response = get(api, "analyst", format="csv", hotspots="false")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    disposition = response.headers["content-disposition"]
    assert disposition == 'attachment; filename="grid-centre_2021-01-01_2021-12-31.zip"'
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    names = archive.namelist()
    assert names[0] == "summary.csv" and "by_category.csv" in names and "by_member.csv" in names
    one = get(api, "analyst", format="csv", table="by_category", hotspots="false")
    assert one.status_code == 200
    assert one.headers["content-type"] == "text/csv; charset=utf-8"
    body = one.content
    assert body.startswith(b"\xef\xbb\xbf") and body == archive.read("by_category.csv")
    frame = pd.read_csv(io.BytesIO(body), encoding="utf-8-sig")
    assert frame["synthetic"].all()


def test_bad_requests_are_problems(api: Api) -> None:
    reversed_ = get(api, "analyst", **{"from": "2021-12-31", "to": "2021-01-01"})
    assert reversed_.status_code == 400
    problem = reversed_.json()
    assert reversed_.headers["content-type"] == "application/problem+json"
    assert "reversed" in problem["detail"]
    unknown = api.client.get("/clusters/nowhere/report", params=PERIOD, headers=api.auth("analyst"))
    assert unknown.status_code == 404 and "no cluster 'nowhere'" in unknown.json()["detail"]
    assert get(api, "analyst", table="by_category").status_code == 400
    missing = get(api, "analyst", format="csv", table="nothing", hotspots="false")
    assert missing.status_code == 400
    assert "tables: by_category" in missing.json()["detail"]
    assert get(api, "analyst", format="pdf").status_code == 422
    no_dates = api.client.get("/clusters/grid-centre/report", headers=api.auth("analyst"))
    assert no_dates.status_code == 422


def test_format_follows_the_suffix(tmp_path: Path) -> None:
    assert output_format(Path("r.html"), None) == "html"
    assert output_format(Path("r.HTM"), None) == "html"
    assert output_format(Path("r.json"), None) == "json"
    assert output_format(Path("r.zip"), None) == "csv"
    assert output_format(Path("out"), None) == "csv"  # a folder
    assert output_format(tmp_path, None) == "csv"
    assert output_format(Path("r.txt"), "JSON") == "json"
    with pytest.raises(InvalidParameterError, match="several tables"):
        output_format(Path("r.csv"), None)
    with pytest.raises(InvalidParameterError, match="cannot tell the format"):
        output_format(Path("r.pdf"), None)
    with pytest.raises(InvalidParameterError, match="not one of html, json, csv"):
        output_format(Path("r.html"), "pdf")
