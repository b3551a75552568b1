"""The patrol-zone planner page: draw control, API endpoints, key box, offline assets."""

from __future__ import annotations

import geopandas as gpd
import pytest

from geozone.boundaries.sets import BoundarySet
from maps import planner_map, to_html
from maps.cluster_map import KEY_LABELS
from maps.planner import PLANNER_LABELS, endpoints
from tests.fixtures.html import external_references, js_arguments, overlay_names, references
from tests.fixtures.layers import grid_layers
from tests.fixtures.pages import needs_assets


@pytest.fixture(scope="module")
def layers(grid: BoundarySet) -> dict[str, gpd.GeoDataFrame]:
    return grid_layers(grid)


def build(layers: dict[str, gpd.GeoDataFrame], **kwargs: object) -> str:
    inline = bool(kwargs.pop("inline_assets", False))
    m = planner_map(
        units=layers["units"],
        zones=layers["zones"],
        cluster_id="cụm thử/1",
        attribution="geozone test grid",
        api_base="/api/v1",
        inline_assets=inline,
        **kwargs,  # type: ignore[arg-type]
    )
    return to_html(m, inline_assets=inline)


def test_endpoints_follow_the_contract() -> None:
    assert endpoints("/api/v1/", "hoa-do-phuc-vi") == {
        "list": "/api/v1/patrol-zones?cluster_id=hoa-do-phuc-vi",
        "collection": "/api/v1/patrol-zones",
        "item": "/api/v1/patrol-zones/{id}",
    }
    assert endpoints("", "a b/c")["list"] == "/patrol-zones?cluster_id=a%20b%2Fc"


def test_planner_page_configures_draw_api_and_key(layers: dict[str, gpd.GeoDataFrame]) -> None:
    html = build(layers)
    (config,) = js_arguments(html, "GeozonePlanner.init")
    assert config["cluster_id"] == "cụm thử/1"
    assert config["endpoints"] == {
        "list": "/api/v1/patrol-zones?cluster_id=c%E1%BB%A5m%20th%E1%BB%AD%2F1",
        "collection": "/api/v1/patrol-zones",
        "item": "/api/v1/patrol-zones/{id}",
    }
    assert config["key_labels"] == KEY_LABELS  # the page's one key box (GZ.keyBox)
    assert config["labels"]["default_name"] == "Vùng tuần tra {n}"
    assert config["labels"] == PLANNER_LABELS
    refs = [value for _, _, value in references(html).refs]
    assert "/maps/static/vendor/leaflet-draw/leaflet.draw.js" in refs
    assert "/maps/static/vendor/leaflet-draw/leaflet.draw.css" in refs
    assert "/maps/static/planner.js" in refs
    assert external_references(html, "/maps/static") == []
    assert overlay_names(html) == [
        "Đơn vị thành viên / Member units",
        "Vùng giáp ranh / Border zones",
    ]
    assert "L.tileLayer" not in html


@needs_assets
def test_inline_planner_page_carries_the_client(layers: dict[str, gpd.GeoDataFrame]) -> None:
    html = build(layers, inline_assets=True)
    assert references(html).refs == []
    assert external_references(html) == []
    assert "new L.Control.Draw(" in html  # planner.js builds the draw toolbar
    assert 'headers["X-API-Key"] = key' in html  # the key goes in a header...
    assert 'headers["X-CSRF-Token"] = GZ.csrfToken()' in html  # a session's writes: the token
    assert "sessionStorage" in html  # ...kept for the browser tab only
    assert "problemDetail" in html  # problem+json detail shown to the planner


def test_planner_client_never_puts_the_key_in_a_url() -> None:
    from maps.assets import ASSETS

    code = ASSETS["planner_js"].file.read_text(encoding="utf-8")
    assert "localStorage" not in code
    assert "api_key=" not in code.lower() and "?key=" not in code
    for method in ('"GET"', '"POST"', '"PUT"', '"DELETE"'):
        assert method in code


def test_planner_with_tiles_and_absolute_api(layers: dict[str, gpd.GeoDataFrame]) -> None:
    m = planner_map(
        units=layers["units"],
        zones=None,
        cluster_id="c1",
        attribution="x",
        api_base="https://geozone.example.vn/api",
        tiles="https://tiles.example.vn/{z}/{x}/{y}.png",
        tiles_attribution="Tiles",
    )
    html = to_html(m, inline_assets=False)
    (config,) = js_arguments(html, "GeozonePlanner.init")
    assert config["endpoints"]["collection"] == "https://geozone.example.vn/api/patrol-zones"
    assert "L.tileLayer(" in html
    assert overlay_names(html) == ["Đơn vị thành viên / Member units"]
