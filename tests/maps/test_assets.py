"""Offline assets: the npm packages, the routes the API serves, local URLs on folium maps."""

from __future__ import annotations

import json
from pathlib import Path

import folium
import pytest
from folium.plugins import Draw, FastMarkerCluster, HeatMap, MarkerCluster

import maps.assets as assets
from maps import MapAssetError, MapAssetsMissingError, asset_routes, to_html, use_local_assets
from maps.assets import ASSETS, NODE_MODULES, STATIC_DIR, asset_file, check_assets, pinned_versions
from tests.fixtures.html import external_references, references
from tests.fixtures.pages import needs_assets


def test_package_json_pins_exact_versions_and_lock_matches() -> None:
    pins = pinned_versions()
    assert set(pins) == {
        "leaflet",
        "leaflet.markercluster",
        "leaflet.heat",
        "leaflet.glify",  # WebGL points of a map with many incidents
        "leaflet-draw",
        "protomaps-leaflet",
        "swagger-ui-dist",  # the API docs pages (api/routers/meta.py)
        "redoc",
    }
    assert all(v[0].isdigit() for v in pins.values())  # exact, no ^ or ~ ranges
    lock = json.loads((assets.MAPS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in pins.items():
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        assert entry["integrity"].startswith("sha512-")


def test_asset_paths_map_to_files() -> None:
    assert asset_file("vendor/leaflet/leaflet.js") == NODE_MODULES / "leaflet/dist/leaflet.js"
    assert asset_file("vendor/leaflet-draw/images/spritesheet.svg") == (
        NODE_MODULES / "leaflet-draw/dist/images/spritesheet.svg"
    )
    assert asset_file("planner.js") == STATIC_DIR / "planner.js"
    assert asset_file("vendor/leaflet.glify/glify-browser.js") == (
        NODE_MODULES / "leaflet.glify/dist/glify-browser.js"
    )
    # the docs' packages: swagger-ui-dist's files at its root, ReDoc's in bundles/
    assert asset_file("vendor/swagger-ui-dist/swagger-ui.css") == (
        NODE_MODULES / "swagger-ui-dist/swagger-ui.css"
    )
    assert asset_file("vendor/redoc/redoc.standalone.js") == (
        NODE_MODULES / "redoc/bundles/redoc.standalone.js"
    )
    for bad in ("../pyproject.toml", "vendor/../../x", "/etc/passwd", "vendor/jquery/jquery.js"):
        with pytest.raises(MapAssetError):
            asset_file(bad)


def test_own_files_are_in_the_repository() -> None:
    for name in ("geozone_js", "geozone_css", "planner_js"):
        assert ASSETS[name].file.is_file()


@needs_assets
def test_asset_routes_list_existing_files() -> None:
    routes = asset_routes()
    assert routes["/maps/static/vendor/leaflet/leaflet.js"] == (
        NODE_MODULES / "leaflet/dist/leaflet.js"
    )
    assert "/maps/static/vendor/leaflet/images/layers.png" in routes  # for leaflet.css
    assert "/maps/static/vendor/leaflet-draw/images/spritesheet.svg" in routes
    assert "/maps/static/planner.js" in routes and "/maps/static/geozone.css" in routes
    docs = {url for url in routes if "/swagger-ui-dist/" in url or "/redoc/" in url}
    assert docs == {  # only the files the docs pages load, not the packages' other files
        "/maps/static/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        "/maps/static/vendor/swagger-ui-dist/swagger-ui.css",
        "/maps/static/vendor/swagger-ui-dist/favicon-32x32.png",
        "/maps/static/vendor/redoc/redoc.standalone.js",
    }
    for asset in ASSETS.values():
        assert routes[f"/maps/static/{asset.path}"] == asset.file
    assert all(path.is_file() for path in routes.values())
    assert all(url.startswith("/maps/static/") for url in routes)
    other = asset_routes("/static/maps/")
    assert "/static/maps/vendor/leaflet/leaflet.js" in other
    assert len(other) == len(routes)


@needs_assets
def test_installed_versions_are_the_pinned_ones() -> None:
    check_assets()
    for name, version in pinned_versions().items():
        manifest = json.loads((NODE_MODULES / name / "package.json").read_text(encoding="utf-8"))
        assert manifest["version"] == version


def test_missing_packages_raise_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(assets, "NODE_MODULES", tmp_path / "node_modules")
    with pytest.raises(MapAssetsMissingError, match=r"npm ci --prefix maps.*scripts/setup\.sh"):
        asset_routes()
    (tmp_path / "node_modules" / "leaflet").mkdir(parents=True)
    (tmp_path / "node_modules" / "leaflet" / "package.json").write_text('{"version": "1.0.0"}')
    with pytest.raises(MapAssetsMissingError, match=r"leaflet is 1\.0\.0, maps/package\.json pins"):
        check_assets()
    # inline export needs the files; a served page does not
    m = folium.Map(tiles=None)
    with pytest.raises(MapAssetsMissingError):
        use_local_assets(m, inline=True)
    use_local_assets(m, inline=False)


def _plugin_map() -> folium.Map:
    m = folium.Map(location=[21.03, 105.8], tiles=None)
    MarkerCluster(locations=[[21.03, 105.8]]).add_to(m)
    HeatMap([[21.03, 105.8]]).add_to(m)
    Draw(export=False).add_to(m)
    return m


def test_folium_cdn_defaults_are_replaced_on_the_instances_only() -> None:
    m = _plugin_map()
    use_local_assets(m, base="/assets")
    html = m.get_root().render()
    assert external_references(html, "/assets") == []
    refs = {value for _, _, value in references(html).refs}
    assert refs == {
        "/assets/vendor/leaflet/leaflet.js",
        "/assets/vendor/leaflet/leaflet.css",
        "/assets/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/assets/vendor/leaflet.markercluster/MarkerCluster.css",
        "/assets/vendor/leaflet.markercluster/MarkerCluster.Default.css",
        "/assets/vendor/leaflet.heat/leaflet-heat.js",
        "/assets/vendor/leaflet-draw/leaflet.draw.js",
        "/assets/vendor/leaflet-draw/leaflet.draw.css",
    }
    # Leaflet first, then the plugins: the load order of the header
    order = [value for _, _, value in references(html).refs]
    assert order[0] == "/assets/vendor/leaflet/leaflet.js"
    # the classes keep folium's defaults; a map built without geozone still gets them
    assert folium.Map.default_js[0][1].startswith("https://")
    assert MarkerCluster.default_js[0][1].startswith("https://")
    plain = folium.Map(tiles=None).get_root().render()
    assert "cdn.jsdelivr.net" in plain


@needs_assets
def test_switching_between_served_and_inline() -> None:
    m = _plugin_map()
    use_local_assets(m, base="/assets")
    html = to_html(m, inline_assets=True)
    assert references(html).refs == []
    assert "Leaflet.draw 1.0.4" in html  # the library itself is in the page
    again = to_html(m, inline_assets=False)  # back to links, with the same base
    assert "/assets/vendor/leaflet-draw/leaflet.draw.js" in again
    assert "Leaflet.draw 1.0.4" not in again


def test_an_unshipped_asset_is_refused() -> None:
    m = folium.Map(tiles=None)
    FastMarkerCluster([[21.0, 105.8]]).add_to(m)  # fine: same files as MarkerCluster
    use_local_assets(m)
    folium.plugins.Fullscreen().add_to(m)  # needs leaflet.fullscreen, not shipped
    with pytest.raises(MapAssetError, match=r"Fullscreen needs js asset 'Control\.Fullscreen\.js'"):
        use_local_assets(m)


@needs_assets
def test_inline_css_images_become_data_uris() -> None:
    m = _plugin_map()
    html = to_html(m, inline_assets=True)
    styles = "".join(references(html).styles)
    assert "url(images/" not in styles and "url('images/" not in styles
    assert 'url("data:image/svg+xml;base64,' in styles  # leaflet.draw spritesheet.svg
    assert 'url("data:image/png;base64,' in styles  # leaflet layers.png, marker-icon.png
    assert external_references(html) == []
