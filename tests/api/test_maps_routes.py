from __future__ import annotations

import os
import re

import pytest

from maps import check_assets
from tests.api.conftest import Api
from tests.test_boundaries import grid_point


def _assets_installed() -> bool:
    try:
        check_assets()
    except Exception:
        if os.environ.get("GEOZONE_REQUIRE_ASSETS") == "1":
            raise
        return False
    return True


def test_cluster_page_is_public_and_uses_local_assets_only(api: Api) -> None:
    response = api.client.get("/maps/clusters/grid-centre")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "Phường Ô 1" in page and "DỮ LIỆU MÔ PHỎNG" not in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/maps/static/") for s in sources), sources
    assert api.client.get("/maps/clusters/nowhere").status_code == 404


def test_incidents_appear_only_for_an_analyst(api: Api) -> None:
    lon, lat = grid_point(950, 300)
    record = {
        "external_id": "m1",
        "occurred_at": "2022-03-01T21:00:00+07:00",
        "lon": lon,
        "lat": lat,
        "category": "drugs",
        "detected_by": "o2",
        "synthetic": True,
    }
    assert (
        api.client.post("/incidents", json=[record], headers=api.auth("analyst")).status_code < 300
    )
    public = api.client.get("/maps/clusters/grid-centre").text
    keyed = api.client.get("/maps/clusters/grid-centre", headers=api.auth("analyst")).text
    assert "m1" not in public and "m1" in keyed
    assert "DỮ LIỆU MÔ PHỎNG" in keyed
    viewer = api.client.get("/maps/clusters/grid-centre", headers=api.auth("viewer")).text
    assert "m1" not in viewer


def test_planner_page_and_static_assets(api: Api) -> None:
    page = api.client.get("/maps/planner/grid-centre").text
    assert "/patrol-zones" in page and "X-API-Key" in page
    if not _assets_installed():
        pytest.skip("map assets not installed (npm ci --prefix maps)")
    script = api.client.get("/maps/static/vendor/leaflet/leaflet.js")
    assert script.status_code == 200 and "Leaflet" in script.text[:500]
    assert api.client.get("/maps/static/vendor/leaflet/nothing.js").status_code == 404
