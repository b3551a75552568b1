"""The pages in a real browser (Chromium through Playwright): rendering, popups, the planner.

Skipped when no Chromium is installed (``apt-get install chromium``, or set GEOZONE_CHROMIUM
to a Chromium/Chrome executable) or when the npm assets are absent. The planner runs against
a small fake of the patrol-zone API that follows the contract of :mod:`maps.planner`.
"""

from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pytest

from geozone.boundaries.sets import BoundarySet
from geozone.labels import STUDY_COUNT_BASIS_TEXT
from maps import asset_routes, cluster_map, planner_map, to_html
from maps.cluster_map import KEY_LABELS
from tests.fixtures.browser import CHROMIUM, FIND_MAP
from tests.fixtures.layers import ATTRIBUTION, XSS, grid_layers
from tests.fixtures.pages import needs_assets

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: apt-get install chromium, or set GEOZONE_CHROMIUM to one",
    ),
    needs_assets,
]
API_KEY = "s3cret-key"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def layers(grid: BoundarySet) -> dict[str, gpd.GeoDataFrame]:
    return grid_layers(grid)


class Watch:
    """Page errors, dialogs and every request of a page."""

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.dialogs: list[tuple[str, str]] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))


# -- the cluster map ---------------------------------------------------------------------------


def _standalone_map(layers: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> Path:
    """Write the grid cluster's map as a standalone page (assets inlined); return its file."""
    m = cluster_map(**layers, title="Cụm Thử", attribution=ATTRIBUTION, inline_assets=True)
    page_file = tmp_path / "map.html"
    page_file.write_text(to_html(m, inline_assets=True), encoding="utf-8")
    return page_file


def test_cluster_map_renders_offline_with_escaped_popups(
    browser: Any, layers: dict[str, gpd.GeoDataFrame], tmp_path: Path
) -> None:
    page_file = _standalone_map(layers, tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch = Watch(page)
    page.on(
        "dialog",
        lambda dialog: (watch.dialogs.append((dialog.type, dialog.message)), dialog.dismiss()),
    )
    page.goto(page_file.as_uri())
    page.wait_for_function("window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=15_000)
    assert watch.errors == []
    assert [u for u in watch.requests if not u.startswith(("file:", "data:"))] == []
    state = page.evaluate(
        """() => {
        const group = window[Object.keys(window).find(
            k => /^incident_layer_[0-9a-f]+$/.test(k))];
        const open = (i) => {
            const marker = group.getLayers().find(m => m.options.gzIndex === i);
            group.fire("click", {layer: marker});
            const box = document.querySelector(".gz-popup");
            const badge = box.querySelector(".gz-badge");
            return {
                text: box.innerText,
                scripts: box.querySelectorAll("script").length,
                badge: badge ? badge.textContent : null,
            };
        };
        return {
            count: group.getLayers().length,
            first: open(0),
            third: open(2),
            legend: document.querySelector(".gz-legend").innerText,
            attribution: document.querySelector(".leaflet-control-attribution").innerText,
            links: document.querySelectorAll(".leaflet-control-attribution a").length,
            title: document.querySelector(".gz-title").innerText,
            labels: Array.from(document.querySelectorAll(".gz-label")).map(e => e.innerText),
        };
    }"""
    )
    assert state["count"] == 3
    first = state["first"]
    assert XSS in first["text"]  # shown as text...
    assert first["scripts"] == 0  # ...never run
    assert first["badge"] == "DỮ LIỆU MÔ PHỎNG / SYNTHETIC"
    assert "Ma túy / Drugs" in first["text"]
    assert "2025-07-02 21:30" in first["text"]  # Vietnam time
    assert "Phường Ô 2 (00002)" in first["text"]
    assert "In the border zone, 12 m from it" in first["text"]
    assert state["third"]["badge"] is None  # a real record carries no badge
    assert "REAL-7" in state["third"]["text"]
    assert watch.dialogs == []  # alert(1) never ran
    assert f"Nguồn dữ liệu / Data: {ATTRIBUTION}" in state["legend"]
    assert ATTRIBUTION in state["attribution"] and state["links"] == 0
    assert state["title"].startswith("Cụm Thử")
    assert sorted(state["labels"]) == ["Phường Ô 1", "Phường Ô 2", "Phường Ô 4", "Phường Ô 5"]
    # the heat layer is off at first and works when switched on
    assert page.locator(".leaflet-heatmap-layer").count() == 0
    page.get_by_text("Mật độ vụ việc / Incident heat map").click()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert watch.errors == []
    page.close()


def test_map_notes_write_each_language_s_numbers(
    browser: Any, layers: dict[str, gpd.GeoDataFrame], tmp_path: Path
) -> None:
    page_file = _standalone_map(layers, tmp_path)
    page = browser.new_page()
    page.goto(page_file.as_uri())
    page.wait_for_function("window.GZ && GZ.formatNumber", timeout=15_000)
    numbers = page.evaluate(
        "() => [GZ.formatNumber(12345.6, 1), GZ.formatNumber(12345.6, 1, 'en'), "
        "GZ.formatNumber(1500, 0, 'en')]"
    )
    assert numbers == ["12.345,6", "12,345.6", "1,500"]
    note = page.evaluate(
        """() => GZ.analysisNote("gi", {status: "tested", n_hot: 1200, n_cold: 0,
            n_incidents: 43210, cell_size_m: 1500, alpha: 0.05, from: "2025-01-01",
            to: "2025-12-31"}, null, null)"""
    )
    vietnamese, english = note.split(' <span class="gz-en">')
    assert "1.200 ô là điểm nóng" in vietnamese and "từ 43.210 vụ việc" in vietnamese
    assert "thành ô 1.500 m" in vietnamese
    assert english.startswith("1,200 hot and 0 cold 1,500 m cells")
    assert "from 43,210 incidents." in english
    # With the answer's count_basis, the note ends with what the count counts.
    based = page.evaluate(
        """basis => GZ.analysisNote("gi", {status: "tested", n_hot: 1, n_cold: 0,
            n_incidents: 40, cell_size_m: 250, alpha: 0.05, from: "2025-01-01",
            to: "2025-12-31", count_basis: basis}, null, null)""",
        STUDY_COUNT_BASIS_TEXT,
    )
    escaped = STUDY_COUNT_BASIS_TEXT.replace("'", "&#39;")  # as GZ.escapeHtml writes it
    assert based.endswith(f"incidents.</span> {escaped}.")
    # Clamped to the days the map's incidents cover, unless they lie outside the window (a
    # map drawn on another date): then the window itself, never a reversed period.
    clamped, apart = page.evaluate(
        """() => [["2025-03-01", "2025-04-15"], ["2025-04-15", "2025-04-15"]].map(span =>
            GZ.analysisNote("gi", {status: "tested", n_hot: 0, n_cold: 0, n_incidents: 50,
            cell_size_m: 250, alpha: 0.05, from: "2024-12-07", to: "2025-03-31"}, null, span))"""
    )
    assert "07/12/2024" not in clamped and "01/03/2025 – 31/03/2025" in clamped
    assert "07/12/2024 – 31/03/2025" in apart and "15/04/2025" not in apart
    page.close()


# -- the planner against a fake API ----------------------------------------------------------


class FakeApi:
    """The patrol-zone API of maps/planner.py, in memory, with a request log."""

    def __init__(self, page_html: str) -> None:
        self.page_html = page_html
        self.routes = asset_routes("/maps/static")
        self.zones: dict[int, dict[str, Any]] = {1: self.feature(1, "Vùng có sẵn", _square(0.0))}
        self.next_id = 2
        self.log: list[dict[str, Any]] = []
        self.fail_next: tuple[int, str] | None = None

    @staticmethod
    def feature(zone_id: int, name: str, geometry: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "Feature",
            "id": zone_id,
            "geometry": geometry,
            "properties": {
                "name": name,
                "cluster_id": "o-thu",
                "created_at": "2025-07-02T10:00:00+07:00",
                "updated_at": "2025-07-02T10:00:00+07:00",
                "units": ["00001"],
                "notes": None,
            },
        }


def _square(offset: float) -> dict[str, Any]:
    from tests.fixtures.grid import grid_vertex_lonlat

    lon, lat = grid_vertex_lonlat(1, 1)
    lon, lat = lon - 0.003 + offset, lat - 0.003
    ring = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.002], [lon, lat + 0.002]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def send(self, status: int, body: Any = None, kind: str = "application/json") -> None:
            data = (
                b""
                if body is None
                else (body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
            )
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def problem(self, status: int, detail: str) -> None:
            self.send(
                status,
                {"type": "about:blank", "title": "Error", "status": status, "detail": detail},
                "application/problem+json",
            )

        def handle_api(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            api.log.append(
                {
                    "method": method,
                    "url": self.path,
                    "key": self.headers.get("X-API-Key"),
                    "body": body,
                }
            )
            if self.headers.get("X-API-Key") != API_KEY:
                self.problem(401, "Thiếu hoặc sai khoá API / missing or wrong API key")
                return
            if api.fail_next is not None:
                status, detail = api.fail_next
                api.fail_next = None
                self.problem(status, detail)
                return
            parts = url.path.strip("/").split("/")  # api, patrol-zones[, id]
            if method == "GET" and len(parts) == 2:
                assert parse_qs(url.query) == {"cluster_id": ["o-thu"]}
                self.send(
                    200,
                    {"type": "FeatureCollection", "features": list(api.zones.values())},
                    "application/geo+json",
                )
            elif method == "POST" and len(parts) == 2:
                zone_id, api.next_id = api.next_id, api.next_id + 1
                api.zones[zone_id] = api.feature(zone_id, body["name"], body["geometry"])
                self.send(201, api.zones[zone_id], "application/geo+json")
            elif method == "PUT" and len(parts) == 3 and int(parts[2]) in api.zones:
                zone_id = int(parts[2])
                api.zones[zone_id] = api.feature(zone_id, body["name"], body["geometry"])
                self.send(200, api.zones[zone_id], "application/geo+json")
            elif method == "DELETE" and len(parts) == 3 and int(parts[2]) in api.zones:
                del api.zones[int(parts[2])]
                self.send(204)
            else:
                self.problem(404, f"no patrol zone at {url.path}")

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path == "/planner.html":
                self.send(200, api.page_html.encode("utf-8"), "text/html; charset=utf-8")
            elif path in api.routes:
                file = api.routes[path]
                self.send(
                    200,
                    file.read_bytes(),
                    mimetypes.guess_type(file.name)[0] or "application/octet-stream",
                )
            elif path.startswith("/api/"):
                self.handle_api("GET")
            else:
                self.send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            self.handle_api("POST")

        def do_PUT(self) -> None:
            self.handle_api("PUT")

        def do_DELETE(self) -> None:
            self.handle_api("DELETE")

    return Handler


@pytest.fixture()
def fake_api(layers: dict[str, gpd.GeoDataFrame]) -> Iterator[tuple[FakeApi, str]]:
    m = planner_map(
        units=layers["units"],
        zones=layers["zones"],
        cluster_id="o-thu",
        attribution=ATTRIBUTION,
        api_base="/api",
    )
    api = FakeApi(to_html(m, inline_assets=False))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield api, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


PLANNER = f"window[{FIND_MAP}].gzPlanner"


def _zone_count(page: Any) -> int:
    return int(page.evaluate(f"{PLANNER}.items.getLayers().length"))


def test_planner_saves_through_the_api_with_the_key(
    browser: Any, fake_api: tuple[FakeApi, str]
) -> None:
    api, origin = fake_api
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)
    page.goto(f"{origin}/planner.html")
    # no key yet: nothing is requested, no error is shown; the key box asks for the key
    page.wait_for_function(f"{PLANNER} !== undefined")
    page.wait_for_selector(".gz-key-box")
    assert page.locator(".gz-key-prompt").inner_text() == KEY_LABELS["prompt"]
    assert page.locator(".gz-message-box.gz-visible").count() == 0
    assert api.log == []
    assert page.locator(".leaflet-draw-draw-polygon").count() == 1  # the draw toolbar
    assert page.locator(".leaflet-draw-edit-edit").count() == 1
    assert page.locator(".leaflet-draw-edit-remove").count() == 1
    # a wrong key: refused, forgotten, the box asks again (Vietnamese first)
    page.fill("#gz-api-key", "wrong-key")
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    message = page.locator(".gz-message-box.gz-visible.gz-error")
    message.wait_for(timeout=10_000)
    assert (
        "Chưa đăng nhập, hoặc khoá không đúng hay đã bị thu hồi (401) / Thiếu hoặc sai khoá API"
        in message.inner_text()
    )
    assert page.locator(".gz-key-box.gz-attention").count() == 1
    assert api.log[0]["method"] == "GET" and api.log[0]["key"] == "wrong-key"
    # the key entered once: read again, the existing zone appears
    page.fill("#gz-api-key", API_KEY)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    page.wait_for_function(f"{PLANNER}.items.getLayers().length === 1")
    assert api.log[-1]["key"] == API_KEY
    assert api.log[-1]["url"] == "/api/patrol-zones?cluster_id=o-thu"
    assert page.evaluate("sessionStorage.getItem('geozone.apiKey')") == API_KEY
    assert page.input_value("#gz-api-key") == ""  # not left in the box
    # the saved zone's popup names its units and gives a readable Vietnam-time date
    popup = page.evaluate(
        f"""() => {{
        const layer = {PLANNER}.items.getLayers()[0];
        layer.openPopup();
        return document.querySelector(".gz-zone-popup").innerText;
    }}"""
    )
    assert "Phường Ô 1" in popup and "00001" not in popup
    assert "02/07/2025 10:00" in popup and "2025-07-02T" not in popup
    # draw a zone: the name prompt offers "Vùng tuần tra 2"; the zone is POSTed
    page.once(
        "dialog",
        lambda dialog: (
            watch.dialogs.append((dialog.type, dialog.default_value)),
            dialog.accept(dialog.default_value),
        ),
    )
    ring = _square(0.004)["coordinates"][0]
    latlngs = json.dumps([[lat, lon] for lon, lat in ring[:-1]])
    page.evaluate(f"{PLANNER}.create(L.polygon({latlngs}))")
    page.wait_for_function(f"{PLANNER}.items.getLayers().length === 2")
    assert watch.dialogs == [("prompt", "Vùng tuần tra 2")]
    post = api.log[-1]
    assert post["method"] == "POST" and post["url"] == "/api/patrol-zones"
    assert post["key"] == API_KEY
    assert post["body"]["cluster_id"] == "o-thu" and post["body"]["name"] == "Vùng tuần tra 2"
    assert post["body"]["geometry"]["type"] == "Polygon"
    assert (
        post["body"]["geometry"]["coordinates"][0][0]
        == post["body"]["geometry"]["coordinates"][0][-1]
    )
    assert api.zones[2]["properties"]["name"] == "Vùng tuần tra 2"
    # edit it (what Leaflet.draw fires on "Save"): PUT with the same body shape
    page.evaluate(
        f"""() => {{
        const planner = {PLANNER};
        const layer = planner.items.getLayers().find(l => l.gzZone.id === 2);
        layer.setLatLngs(layer.getLatLngs()[0].map(p => L.latLng(p.lat + 0.001, p.lng)));
        planner.map.fire(L.Draw.Event.EDITED, {{layers: L.layerGroup([layer])}});
    }}"""
    )
    page.wait_for_function("() => true")
    page.wait_for_timeout(300)
    put = api.log[-1]
    assert put["method"] == "PUT" and put["url"] == "/api/patrol-zones/2"
    assert put["body"]["name"] == "Vùng tuần tra 2" and put["key"] == API_KEY
    assert put["body"]["geometry"]["coordinates"][0][0][1] == pytest.approx(ring[0][1] + 0.001)
    # a refused save: the problem detail is shown and the drawing kept, marked unsaved
    api.fail_next = (422, "geometry: the polygon crosses itself")
    page.evaluate(f"{PLANNER}.create(L.polygon({latlngs}), 'Vùng lỗi')")
    message.wait_for()
    assert (
        "Dữ liệu gửi lên không hợp lệ (422) / geometry: the polygon crosses itself"
        in message.inner_text()
    )
    assert _zone_count(page) == 3
    assert page.evaluate(
        f"{PLANNER}.items.getLayers().filter(l => l.gzZone.unsaved).map(l => l.gzZone.name)"
    ) == ["Vùng lỗi"]
    # delete zone 2
    page.evaluate(
        f"""() => {{
        const planner = {PLANNER};
        const layer = planner.items.getLayers().find(l => l.gzZone.id === 2);
        planner.items.removeLayer(layer);
        planner.map.fire(L.Draw.Event.DELETED, {{layers: L.layerGroup([layer])}});
    }}"""
    )
    page.wait_for_timeout(300)
    assert api.log[-1]["method"] == "DELETE" and api.log[-1]["url"] == "/api/patrol-zones/2"
    assert sorted(api.zones) == [1]
    # reload: the key is remembered for the tab, the first read carries it
    count = len(api.log)
    page.reload()
    page.wait_for_function(f"{PLANNER} && {PLANNER}.items.getLayers().length === 1")
    assert api.log[count]["method"] == "GET" and api.log[count]["key"] == API_KEY
    assert watch.errors == []
    assert all(API_KEY not in url for url in watch.requests)  # never in a URL
    assert all(urlsplit(url).netloc == urlsplit(origin).netloc for url in watch.requests)
    context.close()
