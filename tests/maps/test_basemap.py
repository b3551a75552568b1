"""The offline basemap: PMTiles and MBTiles archives read back tile by tile, drawn by the maps."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from geozone.boundaries.sets import BoundarySet
from maps import planner_map, to_html
from maps.basemap import BASEMAP_URL, BasemapArchive, BasemapSpec, open_basemap
from maps.errors import BasemapArchiveError
from maps.settings import MapSettings
from tests.fixtures.basemap import png_tile, tile_of, write_mbtiles, write_pmtiles
from tests.fixtures.browser import CHROMIUM
from tests.fixtures.layers import grid_layers
from tests.fixtures.pages import needs_assets

LON, LAT = 105.8064, 21.0387  # the T11 bridge


def test_vector_pmtiles_tiles_come_back_gzipped(tmp_path: Path) -> None:
    path = tmp_path / "streets.pmtiles"
    tiles = write_pmtiles(path, LON, LAT, vector=True)
    archive = BasemapArchive(path)
    assert (archive.kind, archive.format, archive.media_type) == (
        "vector",
        "pbf",
        "application/x-protobuf",
    )
    assert (archive.min_zoom, archive.max_zoom) == (12, 15)
    assert "mô phỏng" in archive.attribution
    z, x, y = tiles[0]
    found = archive.tile(z, x, y)
    assert found is not None
    data, gzipped = found
    assert gzipped and gzip.decompress(data)  # an MVT tile, gzip-compressed
    import mapbox_vector_tile

    decoded = mapbox_vector_tile.decode(gzip.decompress(data))
    assert set(decoded) == {"earth", "water", "roads"}
    names = {f["properties"]["name"] for f in decoded["roads"]["features"]}
    assert "Đường Thử (mô phỏng)" in names
    # a tile the archive does not hold, and one outside the world
    assert archive.tile(3, 0, 0) is None
    assert archive.tile(2, 4, 0) is None


def test_raster_pmtiles_and_mbtiles_give_the_same_png(tmp_path: Path) -> None:
    pm, mb = tmp_path / "raster.pmtiles", tmp_path / "raster.mbtiles"
    write_pmtiles(pm, LON, LAT, vector=False, zooms=range(12, 14))
    write_mbtiles(mb, LON, LAT)
    x, y = tile_of(LON, LAT, 13)
    for path in (pm, mb):
        archive = BasemapArchive(path)
        assert (archive.kind, archive.media_type) == ("raster", "image/png")
        assert (archive.min_zoom, archive.max_zoom) == (12, 13)
        assert archive.tile(13, x, y) == (png_tile(), False)  # MBTiles rows are TMS: flipped
        assert archive.tile(13, x, (1 << 13) - 1 - y) is None
    assert BasemapArchive(mb).attribution == "MBTiles thử / test MBTiles"


def test_bad_archives_are_named(tmp_path: Path) -> None:
    with pytest.raises(BasemapArchiveError, match="does not exist"):
        BasemapArchive(tmp_path / "missing.pmtiles")
    junk = tmp_path / "junk.pmtiles"
    junk.write_bytes(b"not an archive")
    with pytest.raises(BasemapArchiveError, match="not a PMTiles file"):
        BasemapArchive(junk)
    other = tmp_path / "tiles.zip"
    other.write_bytes(b"")
    with pytest.raises(BasemapArchiveError, match=r"\.pmtiles or \.mbtiles"):
        BasemapArchive(other)
    with pytest.raises(ValueError, match="GEOZONE_BASEMAP must name"):
        MapSettings(basemap=other)


def test_archive_is_opened_once(tmp_path: Path) -> None:
    path = tmp_path / "streets.pmtiles"
    write_pmtiles(path, LON, LAT, vector=True)
    assert open_basemap(path) is open_basemap(str(path))


def test_maps_draw_a_served_basemap_under_the_overlays(grid: BoundarySet) -> None:
    layers = grid_layers(grid)
    raster = BasemapSpec(BASEMAP_URL, "raster", "Nền thử", 12, 15)
    html = to_html(
        planner_map(
            units=layers["units"], zones=None, cluster_id="c", attribution="x", basemap=raster
        ),
        inline_assets=False,
    )
    assert "L.tileLayer" in html and '"/maps/basemap/{z}/{x}/{y}"' in html
    assert '"maxNativeZoom": 15' in html
    vector = BasemapSpec(BASEMAP_URL, "vector", "Nền thử", 12, 15)
    html = to_html(
        planner_map(
            units=layers["units"], zones=None, cluster_id="c", attribution="x", basemap=vector
        ),
        inline_assets=False,
    )
    assert "GZ.vectorBasemap(" in html and "L.tileLayer" not in html
    assert "/maps/static/vendor/protomaps-leaflet/protomaps-leaflet.js" in html


@needs_assets
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium")
def test_served_map_paints_the_vector_basemap_with_no_request_off_the_machine(
    grid: BoundarySet, tmp_path: Path
) -> None:
    import socket
    import threading
    import time
    from urllib.parse import urlsplit

    import uvicorn
    from playwright.sync_api import sync_playwright

    from api.app import create_app
    from api.settings import ApiSettings
    from geozone.assignment import ClusterTerritory
    from geozone.context import Context
    from tests.fixtures.clusters import grid_cluster
    from tests.fixtures.grid import grid_vertex_lonlat

    lon, lat = grid_vertex_lonlat(1, 1)
    archive = tmp_path / "nen.pmtiles"
    write_pmtiles(archive, lon, lat, vector=True, zooms=range(10, 16))
    settings = ApiSettings(
        cache_dir=tmp_path / "cache",
        store_url=f"sqlite:///{tmp_path / 'store.sqlite'}",
        basemap=archive,
    )
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), grid)
    context = Context([grid], {"grid-centre": territory.cluster}, [territory], {"grid": "test"})
    app = create_app(settings, context=context)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            requests: list[str] = []
            tiles: list[int] = []
            errors: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "response",
                lambda r: tiles.append(r.status) if "/maps/basemap/" in r.url else None,
            )
            page.goto(f"{base}/maps/clusters/grid-centre")
            page.wait_for_function("() => window.protomapsL !== undefined")
            deadline = time.monotonic() + 30
            while 200 not in tiles and time.monotonic() < deadline:
                page.wait_for_timeout(200)
            page.wait_for_timeout(500)
            painted = page.evaluate(
                "() => Array.from(document.querySelectorAll('.leaflet-tile-pane canvas'))"
                ".some(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height)"
                ".data; for (let i = 3; i < d.length; i += 4) { if (d[i]) return true; }"
                " return false; })"
            )
            browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert 200 in tiles  # tiles came from geozone's own archive
    assert painted  # protomaps-leaflet painted them
    assert [u for u in requests if urlsplit(u).hostname != "127.0.0.1"] == []
    assert errors == []


def test_a_standalone_map_carries_the_basemap_inline(grid: BoundarySet, tmp_path: Path) -> None:
    from maps.basemap import INLINE_URL, inline_basemap, standalone_basemap
    from tests.fixtures.grid import grid_vertex_lonlat

    layers = grid_layers(grid)
    assert standalone_basemap(None, layers["units"]) is None  # no GEOZONE_BASEMAP: as today
    lon, lat = grid_vertex_lonlat(1, 1)
    archive = tmp_path / "nen.pmtiles"
    write_pmtiles(archive, lon, lat, vector=True, zooms=range(10, 16))
    spec = standalone_basemap(archive, layers["units"])
    assert spec is not None and spec.url == INLINE_URL and spec.kind == "vector"
    assert spec.inline and all(k.count("/") == 2 for k in spec.inline)
    # the tiles go in uncompressed (the page hands them to protomaps-leaflet as they are)
    import base64

    first = base64.b64decode(next(iter(spec.inline.values())))
    assert first[:2] != b"\x1f\x8b"
    # a size budget leaves the deepest zooms out
    small = inline_basemap(
        open_basemap(archive), tuple(layers["units"].total_bounds), max_bytes=len(first) * 2
    )
    assert small.max_zoom < spec.max_zoom and small.inline
    assert len(small.inline) < len(spec.inline)


@needs_assets
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: apt-get install chromium")
@pytest.mark.parametrize("vector", [True, False])
def test_standalone_file_paints_its_inline_basemap_offline(
    grid: BoundarySet, tmp_path: Path, vector: bool
) -> None:
    from playwright.sync_api import sync_playwright

    from maps import cluster_layers, map_of_layers
    from maps.basemap import standalone_basemap
    from tests.fixtures.clusters import grid_cluster
    from tests.fixtures.grid import grid_vertex_lonlat

    lon, lat = grid_vertex_lonlat(1, 1)
    archive = tmp_path / "nen.pmtiles"
    write_pmtiles(archive, lon, lat, vector=vector, zooms=range(10, 16))
    layers = cluster_layers(grid_cluster(), grid)
    page_spec = map_of_layers(
        layers, inline_assets=True, basemap=standalone_basemap(archive, layers.units)
    )
    path = tmp_path / "map.html"
    path.write_text(to_html(page_spec, inline_assets=True), encoding="utf-8")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        requests: list[str] = []
        errors: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_timeout(1500)
        if vector:
            painted = page.evaluate(
                "() => Array.from(document.querySelectorAll('.leaflet-tile-pane canvas'))"
                ".some(c => { const d = c.getContext('2d').getImageData(0, 0, c.width, "
                "c.height).data; for (let i = 3; i < d.length; i += 4) { if (d[i]) return true; }"
                " return false; })"
            )
        else:
            painted = page.evaluate(
                "() => Array.from(document.querySelectorAll('.leaflet-tile-pane img'))"
                ".some(i => i.src.startsWith('data:image/png') && i.naturalWidth === 256)"
            )
        browser.close()
    assert painted
    assert errors == []
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
