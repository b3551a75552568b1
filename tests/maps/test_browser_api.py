"""The served pages in a real browser against the real API on the real boundaries.

uvicorn serves :func:`api.app.create_app` on 127.0.0.1 (a free port) over a temporary store
holding SYNTHETIC incidents of the T11 cluster, assigned as ``geozone serve`` assigns them.
Headless Chromium (Debian's, through Playwright) opens the T11 cluster map and the patrol
planner; every request the pages make is recorded and must stay on loopback. Screenshots
are kept in the test's temporary folder, and copied to ``GEOZONE_ARTIFACTS_DIR`` when set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.context import load_context
from geozone.incidents.pipeline import assign_stale
from geozone.incidents.synthetic import generate_incidents
from geozone.labels import SYNTHETIC_BANNER as SYNTHETIC_BADGE
from geozone.settings import Settings
from geozone.store import open_store
from geozone.vntime import VIETNAM_TZ
from maps.analytics_layers import EMERGING_COLOURS, HOTSPOT_COLOURS, LAYER_NAMES
from maps.cluster_map import (
    BOUNDARY_STYLE,
    HOTSPOT_STYLE,
    JUNCTION_ZONE_STYLE,
    KEY_LABELS,
    LOADER_LABELS,
    PAIR_ZONE_STYLE,
)
from tests.fixtures.analytics import with_analytics
from tests.fixtures.browser import CHROMIUM, FIND_MAP, panels_over_cluster
from tests.fixtures.clusters import T11_CONFIRMED
from tests.fixtures.pages import needs_assets

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: apt-get install chromium, or set GEOZONE_CHROMIUM to one",
    ),
    needs_assets,
]
T11 = "hoa-do-phuc-vi-vn2025"
GIA_LAM = "gia-lam-vn2025"  # the carried Gia Lâm cluster: 37 members on the 2025 units
T11_LON, T11_LAT = 105.8064, 21.0387
LOOPBACK = {"127.0.0.1", "localhost"}
MAP = f"window[{FIND_MAP}]"


@dataclass
class Served:
    """The running service: its base URL and keys."""

    base: str
    planner_key: str
    viewer_key: str
    store_url: str

    def get(self, path: str, key: str | None = None, **params: Any) -> Any:
        headers = {"X-API-Key": key} if key else {}
        response = httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=60)
        response.raise_for_status()
        return response.json()


@pytest.fixture(scope="module")
def served(built_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import uvicorn

    folder = tmp_path_factory.mktemp("served")
    store_url = f"sqlite:///{folder / 'store.sqlite'}"
    settings = ApiSettings(**{**built_settings.model_dump(), "store_url": store_url})
    # A planner confirmed the carried T11 cluster (without it, it lapses: see test_cli).
    context = load_context(settings, confirmations=T11_CONFIRMED.values())
    t11 = context.territory(T11)
    demo = generate_incidents(
        1_200,
        11,
        boundaries=t11.bset,
        clusters=[t11.cluster],
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2025, 12, 31, tzinfo=VIETNAM_TZ),
    )
    with open_store(store_url, settings=settings) as store:
        store.add_incidents(demo)
        store.confirm_cluster(T11_CONFIRMED[T11])
        assign_stale(store, context)
    planner_key = create_key(store_url, "browser-planner", "planner")
    viewer_key = create_key(store_url, "browser-viewer", "viewer")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = with_analytics(create_app(settings, context=context, store_url=store_url))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Served(f"http://127.0.0.1:{port}", planner_key, viewer_key, store_url)
    server.should_exit = True
    thread.join(timeout=30)
    sock.close()


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


class Recorder:
    """Every request, failed asset response, console error and page error of a page."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.bad_assets: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on(
            "response",
            lambda response: (
                self.bad_assets.append(f"{response.status} {response.url}")
                if "/maps/static/" in response.url and response.status != 200
                else None
            ),
        )
        page.on(
            "console",
            lambda message: (
                self.console_errors.append(message.text) if message.type == "error" else None
            ),
        )
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on(
            "response",
            lambda response: (
                self.failed.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )

    def off_loopback(self) -> list[str]:
        """Requests to anything but loopback (data: URIs are no requests to a host)."""
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme != "data" and urlsplit(url).hostname not in LOOPBACK
        ]

    def check(self) -> None:
        assert self.requests, "no request recorded"
        assert self.off_loopback() == []
        assert self.bad_assets == []
        assert self.page_errors == []
        # the only console errors allowed are the refused fetches the test provokes
        blocked = [e for e in self.console_errors if "Content Security Policy" in e]
        assert blocked == []
        unexpected = [
            e for e in self.console_errors if "status of 403" not in e and "status of 401" not in e
        ]
        assert unexpected == [], self.failed


def keep_screenshot(page: Any, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    artifacts = os.environ.get("GEOZONE_ARTIFACTS_DIR")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(artifacts) / name)
    return path


# wait_for_function predicates are written as functions: the pages' Content-Security-Policy
# forbids eval, which Playwright would use to poll an expression.


def count_paths(page: Any, attribute: str, value: str) -> int:
    selector = f'.leaflet-overlay-pane svg path[{attribute}="{value}"]'
    return int(page.locator(selector).count())


def test_t11_cluster_map_shows_layers_and_incidents_with_a_key(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    zones = served.get(f"/clusters/{T11}/zones")["features"]
    kinds = [f["properties"]["kind"] for f in zones]
    assert "pair" in kinds  # the derived zone along the old line: no junction disc
    expected = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    assert 0 < expected["returned"] == expected["total"] and expected["synthetic"]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    record = Recorder(page)
    page.goto(f"{served.base}/maps/clusters/{T11}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.ready")
    status = page.locator(".gz-incident-status")
    # without a key: boundaries, zones, junctions and the T11 hotspot, and a word on incidents
    assert status.inner_text() == LOADER_LABELS["need_key"]
    assert count_paths(page, "fill", str(PAIR_ZONE_STYLE["fillColor"])) == kinds.count("pair")
    assert count_paths(page, "fill", str(JUNCTION_ZONE_STYLE["fillColor"])) == kinds.count(
        "junction"
    )
    assert count_paths(page, "stroke", str(BOUNDARY_STYLE["color"])) >= 1
    assert count_paths(page, "stroke", str(HOTSPOT_STYLE["color"])) == 1
    labels = page.locator(".gz-label").all_inner_texts()
    assert {"Phường Nghĩa Đô", "Phường Ngọc Hà"} <= set(labels)
    assert page.locator(".marker-cluster").count() == 0
    assert "Mật độ vụ việc" not in page.locator(".leaflet-control-layers").inner_text()
    # a viewer's key is refused, said so, and forgotten
    page.fill("#gz-api-key", served.viewer_key)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    page.wait_for_selector(".gz-incident-status.gz-error")
    assert "403" in status.inner_text() and "analyst" in status.inner_text()
    assert page.evaluate("sessionStorage.getItem('geozone.apiKey')") is None
    # the planner's key (planner > analyst): the incidents are fetched and drawn
    assert page.locator(".gz-key-box.gz-attention").count() == 1  # asked again
    page.fill("#gz-api-key", served.planner_key)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    page.wait_for_function("() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=30_000)
    assert status.inner_text() == expected["summary"]
    drawn = page.evaluate(f"{MAP}.gzIncidents.group.getLayers().length")
    assert drawn == expected["returned"]
    assert page.locator(".marker-cluster").count() > 0  # clustered in view
    assert SYNTHETIC_BADGE in page.locator(".gz-incident-legend").inner_text()
    popup = page.evaluate(
        f"""() => {{
        const group = {MAP}.gzIncidents.group;
        group.fire("click", {{layer: group.getLayers()[0]}});
        return document.querySelector(".gz-popup").innerText;
    }}"""
    )
    assert SYNTHETIC_BADGE in popup and "Đơn vị chủ trì / Lead unit" in popup
    page.get_by_text("Mật độ vụ việc / Incident heat map").click()
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1
    assert page.input_value("#gz-api-key") == ""
    # at the deepest zoom over the bridge: single points, no carpet of cluster bubbles
    page.evaluate(f"void {MAP}.setView([{T11_LAT}, {T11_LON}], 19, {{animate: false}})")
    page.wait_for_timeout(300)
    assert page.locator(".marker-cluster").count() == 0
    page.evaluate(f"void {MAP}.fitBounds({MAP}.gzIncidents.group.getBounds(), {{animate: false}})")
    keep_screenshot(page, tmp_path, "t11-cluster-map.png")
    # the key is kept for the tab: a reload draws the incidents with no typing
    page.evaluate("GZ.incidentsLoadedAt = undefined")
    page.reload()
    page.wait_for_function("() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=30_000)
    assert page.evaluate(f"{MAP}.gzIncidents.group.getLayers().length") == drawn
    assert all(served.planner_key not in url for url in record.requests)
    # the hotspot layers are fetched with the same key: Gi* cells shown, emerging off
    drawn_layers = page.evaluate(f"() => {MAP}.gzIncidents.analytics")
    assert drawn_layers == 3  # Gi*, emerging, saved patrol zones
    gi = served.get(f"/clusters/{T11}/hotspots", served.planner_key, significant_only="true")
    emerging = served.get(
        f"/clusters/{T11}/hotspots",
        served.planner_key,
        significant_only="true",
        method="emerging",
    )
    # (the default period is the year ending today: how many cells depends on the date)
    assert sum(count_paths(page, "fill", c) for c in HOTSPOT_COLOURS.values()) == len(
        gi["features"]
    )
    assert sum(count_paths(page, "fill", c) for c in EMERGING_COLOURS.values()) == 0
    page.locator(".leaflet-control-layers").get_by_text(LAYER_NAMES["emerging"]).click()
    shown = sum(count_paths(page, "fill", c) for c in EMERGING_COLOURS.values())
    assert shown == len(emerging["features"])
    notes = page.locator(".gz-analytics-legend").inner_text()
    assert LAYER_NAMES["gi"] in notes
    # Vietnamese first, plainly: no "MS", "bins", "FDR" jargon; the period within the data
    assert "có ý nghĩa thống kê ở mức 95 %" in notes
    assert not re.search(r"\bMS\b|\bbins\b|FDR|queen", notes)
    assert "2025" in notes and "2026" not in notes  # the incidents run Jul–Dec 2025
    # one number format: cluster bubbles too (1.234, never 1234)
    bubbles = page.locator(".marker-cluster span").all_inner_texts()
    assert bubbles and all(re.fullmatch(r"\d{1,3}(\.\d{3})*", b) for b in bubbles)
    title = page.locator(".gz-title").inner_text()
    assert T11 not in title and "Báo cáo / Report" in title  # the name, and a report link
    record.check()
    context.close()


def open_with_key(browser: Any, served: Served, cluster_id: str) -> tuple[Any, Any]:
    """Open a cluster map at 1440×900, give the planner's key, wait for every layer drawn."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.goto(f"{served.base}/maps/clusters/{cluster_id}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.ready")
    page.fill("#gz-api-key", served.planner_key)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    drawn = page.evaluate(
        f"""async () => {{
        const loader = {MAP}.gzIncidents;
        await loader.ready;
        const layers = await loader.analytics;
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        await new Promise(r => setTimeout(r, 100));  // the refit after the panels grew
        await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
        return layers;
    }}"""
    )
    assert drawn >= 1  # the hotspot layers arrived (and their notes grew the panel)
    return context, page


@pytest.mark.parametrize("cluster_id", [T11, GIA_LAM])
def test_no_panel_covers_the_cluster_once_every_layer_is_drawn(
    browser: Any, served: Served, tmp_path: Path, cluster_id: str
) -> None:
    context, page = open_with_key(browser, served, cluster_id)
    record = Recorder(page)
    panel = page.locator(".gz-incident-box")
    assert panel.locator(".gz-analytics-section").count() >= 1  # the notes are in the panel
    # capped to the room between the controls above it and the zoom buttons below: it scrolls
    box = panel.bounding_box()
    below = page.locator(".leaflet-bottom.leaflet-right").bounding_box()
    assert box["y"] + box["height"] <= below["y"]
    assert panel.evaluate("e => getComputedStyle(e).overflowY") == "auto"
    assert page.evaluate(panels_over_cluster()) == []
    keep_screenshot(page, tmp_path, f"panels-clear-{cluster_id}.png")
    # a notes section opened by the user widens nothing over the cluster either
    page.locator(".gz-analytics-section > summary").first.click()
    page.wait_for_timeout(300)
    assert page.evaluate(panels_over_cluster()) == []
    # once the user moves the map himself, it is no longer fitted under him
    page.mouse.move(720, 450)
    page.mouse.down()
    page.mouse.move(600, 450, steps=4)
    page.mouse.up()
    assert page.evaluate(f"{MAP}.gzUserMoved") is True
    assert record.page_errors == []
    context.close()


def test_every_incident_is_drawn_by_default_and_the_cap_is_said(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.services import maps as service

    table = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    assert table["returned"] == table["total"] > 500  # the whole cluster by default
    assert "vượt giới hạn" not in table["summary"]
    # a cluster larger than the (lowered) safety cap: the newest are drawn, and it is said
    monkeypatch.setattr(service, "MAX_MAP_INCIDENTS", 500)
    capped = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    assert capped["returned"] == 500 and capped["total"] == table["total"]
    assert "vượt giới hạn an toàn 500 điểm của bản đồ" in capped["summary"]
    context, page = open_with_key(browser, served, T11)
    assert page.evaluate(f"{MAP}.gzIncidents.group.getLayers().length") == 500
    assert "vượt giới hạn an toàn" in page.locator(".gz-incident-status").inner_text()
    context.close()
    monkeypatch.undo()
    context, page = open_with_key(browser, served, T11)
    drawn = page.evaluate(f"{MAP}.gzIncidents.group.getLayers().length")
    assert drawn == table["total"]
    context.close()


def test_an_incident_popup_opens_clear_of_the_title_box(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    """An incident just under the title box: its popup (which opens above the point) pans the
    map so that it shows whole below the title, not under it, with its sentence."""
    table = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    context, page = open_with_key(browser, served, T11)
    d = table["data"]
    k = len(d["lat"]) // 3
    page.evaluate(f"void {MAP}.setView([{d['lat'][k]}, {d['lon'][k]}], 19, {{animate: false}})")
    title = page.locator(".gz-title").bounding_box()
    box = page.locator(".leaflet-container").bounding_box()
    # the point put 12 px below the title's bottom edge, under its middle
    x, y = page.evaluate(
        f"""(() => {{
        const map = {MAP};
        const p = map.latLngToContainerPoint([{d["lat"][k]}, {d["lon"][k]}]);
        map.panBy([p.x - {title["x"] - box["x"] + title["width"] / 2},
                   p.y - {title["y"] - box["y"] + title["height"] + 12}], {{animate: false}});
        const q = map.latLngToContainerPoint([{d["lat"][k]}, {d["lon"][k]}]);
        return [q.x, q.y];
    }})()"""
    )
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector('.gz-incident-popup .gz-explain[lang="vi"]')
    page.wait_for_timeout(600)  # the pan after the sentence came
    popup = page.locator(".gz-incident-popup .leaflet-popup-content-wrapper").bounding_box()
    assert popup["y"] >= title["y"] + title["height"], (popup, title)
    assert popup["y"] + popup["height"] <= box["y"] + box["height"]
    keep_screenshot(page, tmp_path, "popup-clear-of-title.png")
    context.close()


def popup_parts(page: Any) -> dict[str, Any]:
    """The open incident popup: its id row and its sentences (None while absent)."""
    return dict(
        page.evaluate(
            """() => {
        const box = document.querySelector(".gz-incident-popup .gz-popup");
        if (!box) { return null; }
        const text = (s) => { const e = box.querySelector(s); return e ? e.innerText : null; };
        const row = Array.from(box.querySelectorAll("tr"))
            .find(r => r.querySelector("th").innerText === "Mã / ID");
        return {
            id: row ? row.querySelector("td").innerText : null,
            vi: text('.gz-explain[lang="vi"]'),
            en: text('.gz-explain[lang="en"]'),
            error: text(".gz-explain-error"),
        };
    }"""
        )
    )


def test_a_popup_fetches_its_incidents_sentences_the_api_and_the_file_give_the_same(
    browser: Any,
    served: Served,
    built_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The served table leaves the sentences out; a popup opened with a click fetches its
    incident's from GET /incidents/{id} and shows them whole, as the API and the standalone
    file written by the CLI (which keeps them inline) give them; a failed fetch is said."""
    from typer.testing import CliRunner

    from api import cli
    from geozone.settings import get_settings
    from tests.fixtures.pages import incident_tables, unpack

    table = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    assert table["sentences"] == "by_incident" and "vis" not in table["data"]
    context, page = open_with_key(browser, served, T11)
    record = Recorder(page)
    d = table["data"]
    k = len(d["lat"]) // 2
    # a real click on incident k's point at zoom 19 (single points there)
    page.evaluate(f"void {MAP}.setView([{d['lat'][k]}, {d['lon'][k]}], 19, {{animate: false}})")
    page.wait_for_timeout(300)
    x, y = page.evaluate(
        f"(() => {{ const p = {MAP}.latLngToContainerPoint([{d['lat'][k]}, {d['lon'][k]}]); "
        "return [p.x, p.y]; })()"
    )
    box = page.locator(".leaflet-container").bounding_box()
    with page.expect_response(re.compile(r"/incidents/[^/?]+$")) as fetched:
        page.mouse.click(box["x"] + x, box["y"] + y)
    assert fetched.value.status == 200
    page.wait_for_selector('.gz-incident-popup .gz-explain[lang="vi"]')
    shown = popup_parts(page)
    external_id = shown["id"]
    assert external_id and fetched.value.url.endswith(f"/incidents/{external_id}")
    incident = served.get(f"/incidents/{external_id}", served.planner_key)
    (decision,) = [c for c in incident["clusters"] if c["cluster_id"] == T11]
    assert shown["vi"] == decision["explanation_vi"] and len(shown["vi"]) > 80  # whole
    assert shown["en"] == decision["explanation_en"]
    assert shown["error"] is None
    keep_screenshot(page, tmp_path, "popup-sentences.png")
    # opened again: no second fetch
    before = sum("/incidents/" in url for url in record.requests)
    page.evaluate(f"void {MAP}.closePopup()")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector('.gz-incident-popup .gz-explain[lang="vi"]')
    assert popup_parts(page)["vi"] == decision["explanation_vi"]
    assert sum("/incidents/" in url for url in record.requests) == before
    # a fetch that fails: said in Vietnamese first, in the popup
    other = next(i for i in range(len(d["lat"])) if d["id"][i] != d["id"][k] and i != k)
    page.route(re.compile(r"/incidents/[^/?]+$"), lambda route: route.abort())
    page.evaluate(
        f"""() => {{
        const group = {MAP}.gzIncidents.group;
        group.fire("click", {{layer: group.gzMarkers[{other}]}});
    }}"""
    )
    page.wait_for_selector(".gz-incident-popup .gz-explain-error")
    failed = popup_parts(page)
    assert failed["error"].startswith(LOADER_LABELS["explain_error"])
    assert LOADER_LABELS["network_error"] in failed["error"] and failed["vi"] is None
    page.unroute(re.compile(r"/incidents/[^/?]+$"))
    assert record.page_errors == [] and record.off_loopback() == []
    context.close()
    # the standalone file the CLI writes keeps the sentences inline: the same text
    # the CLI reads the T11 confirmation from the store it is given (as the service does)
    monkeypatch.setenv("GEOZONE_CACHE_DIR", str(built_settings.cache_dir))
    monkeypatch.setenv("GEOZONE_STORE_URL", served.store_url)
    get_settings.cache_clear()
    try:
        output = tmp_path / "t11.html"
        result = CliRunner().invoke(
            cli.map_app,
            ["cluster", T11, "--with-incidents", "--store", served.store_url, "-o", str(output)],
        )
        assert result.exit_code == 0, result.output
    finally:
        get_settings.cache_clear()
    # the same context as the service's: nothing was judged again
    assert served.get(f"/incidents/{external_id}", served.planner_key) == incident
    html = output.read_text(encoding="utf-8")
    (inline,) = incident_tables(html)
    ids = [inline["id_prefix"] + rest for rest in inline["id"]]
    row = ids.index(external_id)
    for lang in ("vi", "en"):
        packed = inline[f"{lang}s"][inline["ex"][row]]
        assert unpack(inline[f"{lang}_templates"], packed) == html_escape(
            decision[f"explanation_{lang}"]
        )
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(output.as_uri())
    page.wait_for_function("window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=30_000)
    page.evaluate(
        f"""() => {{
        const group = window[Object.keys(window).find(
            k => /^incident_layer_[0-9a-f]+$/.test(k))];
        group.fire("click", {{layer: group.gzMarkers[{row}]}});
    }}"""
    )
    in_file = popup_parts(page)
    assert (in_file["id"], in_file["vi"], in_file["en"]) == (
        external_id,
        decision["explanation_vi"],
        decision["explanation_en"],
    )
    page.close()


def test_many_incidents_are_heat_at_low_zoom_and_webgl_points_at_high_zoom(
    browser: Any, served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MANY_INCIDENTS (lowered here to 100) no marker cluster is made: a heat layer
    below POINTS_ZOOM, every incident a WebGL point (Leaflet.glify) from it on; a click on a
    point opens its popup, and nothing is fetched off the machine."""
    import importlib

    cluster_map = importlib.import_module("maps.cluster_map")  # the module, not the function
    monkeypatch.setattr(cluster_map, "MANY_INCIDENTS", 100)
    table = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    context, page = open_with_key(browser, served, T11)
    record = Recorder(page)
    assert page.evaluate(f"{MAP}.gzIncidents.group.gzCount") == table["returned"] > 100
    assert page.locator(".marker-cluster").count() == 0  # no bubbles at any zoom
    assert page.evaluate(f"{MAP}.getZoom()") < cluster_map.POINTS_ZOOM
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 1  # heat at low zoom
    assert page.locator("canvas.gz-incident-points").count() == 0
    keep_screenshot(page, tmp_path, "many-heat.png")
    page.evaluate(f"void {MAP}.setView([{T11_LAT}, {T11_LON}], 17, {{animate: false}})")
    page.wait_for_function("() => document.querySelector('canvas.gz-incident-points')")
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0
    points = page.locator("canvas.gz-incident-points")
    assert points.is_visible()
    # a point in view, clicked where it is painted: its popup
    x, y, k = page.evaluate(
        f"""() => {{
        const map = {MAP}, d = map.gzIncidents.loaded.data, size = map.getSize();
        for (let i = 0; i < d.lat.length; i++) {{
            const p = map.latLngToContainerPoint([d.lat[i], d.lon[i]]);
            if (p.x > 400 && p.x < size.x - 500 && p.y > 200 && p.y < size.y - 200) {{
                return [p.x, p.y, i];
            }}
        }}
        return [null, null, null];
    }}"""
    )
    assert k is not None
    page.mouse.click(x, y)  # over a hot cell (its own popup gives way to the incident's)
    popup = page.locator(".gz-incident-popup")
    popup.wait_for()
    assert SYNTHETIC_BADGE in popup.inner_text()
    page.wait_for_timeout(400)  # a popup closed fades out for 200 ms
    assert page.locator(".leaflet-popup").count() == 1
    keep_screenshot(page, tmp_path, "many-points.png")
    # back below the points zoom: heat again, the points hidden
    page.evaluate(f"void {MAP}.setZoom(13, {{animate: false}})")
    page.wait_for_function("() => document.querySelector('canvas.leaflet-heatmap-layer')")
    assert not page.locator("canvas.gz-incident-points").is_visible()
    assert record.page_errors == []
    assert record.off_loopback() == []
    context.close()


def test_many_incidents_without_webgl_stay_clustered_markers(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A browser without WebGL (Chromium with its 3D APIs off) gets the markercluster layer
    for many incidents (MANY_INCIDENTS lowered to 100): every incident placed, bubbles at low
    zoom, single points at zoom 19, and a click on one opens its popup with its sentences."""
    import importlib

    cluster_map = importlib.import_module("maps.cluster_map")
    monkeypatch.setattr(cluster_map, "MANY_INCIDENTS", 100)
    table = served.get(f"/maps/clusters/{T11}/incidents", served.planner_key)
    # the same Playwright, another Chromium: its 3D APIs off
    plain = browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-webgl",
            "--disable-3d-apis",
        ],
    )
    context, page = open_with_key(plain, served, T11)
    record = Recorder(page)
    assert page.evaluate("GZ.webglOk") is False
    count = page.evaluate(f"{MAP}.gzIncidents.group.getLayers().length")
    assert count == table["returned"] > 100  # every incident, as markers
    assert page.locator(".marker-cluster").count() > 0  # bubbles at the opening zoom
    assert page.locator("canvas.gz-incident-points").count() == 0
    d = table["data"]
    k = len(d["lat"]) // 3
    page.evaluate(f"void {MAP}.setView([{d['lat'][k]}, {d['lon'][k]}], 19, {{animate: false}})")
    page.wait_for_timeout(300)
    assert page.locator(".marker-cluster").count() == 0  # single points at zoom 19
    x, y = page.evaluate(
        f"(() => {{ const p = {MAP}.latLngToContainerPoint([{d['lat'][k]}, {d['lon'][k]}]);"
        " return [p.x, p.y]; })()"
    )
    box = page.locator(".leaflet-container").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_selector('.gz-incident-popup .gz-explain[lang="vi"]')
    shown = popup_parts(page)
    incident = served.get(f"/incidents/{shown['id']}", served.planner_key)
    (decision,) = [c for c in incident["clusters"] if c["cluster_id"] == T11]
    assert shown["vi"] == decision["explanation_vi"]
    assert record.page_errors == [] and record.off_loopback() == []
    context.close()
    plain.close()


def test_the_planner_draws_over_many_incidents_painted_as_points(
    browser: Any, served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The planner with many incidents (WebGL points at zoom 17): the drawing tools get every
    click, over the points too, and no incident popup opens while drawing."""
    import importlib

    cluster_map = importlib.import_module("maps.cluster_map")
    monkeypatch.setattr(cluster_map, "MANY_INCIDENTS", 100)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    record = Recorder(page)
    page.goto(f"{served.base}/maps/planner/{T11}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzPlanner")
    page.fill("#gz-api-key", served.planner_key)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    page.wait_for_function("() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=60_000)
    assert page.evaluate(f"{MAP}.gzIncidents.group.gzCount") > 100
    page.evaluate(f"void {MAP}.setView([{T11_LAT}, {T11_LON}], 17, {{animate: false}})")
    page.wait_for_function("() => document.querySelector('canvas.gz-incident-points')")
    # four corners, each on a painted incident point
    corners = page.evaluate(
        f"""() => {{
        const map = {MAP}, d = map.gzIncidents.loaded.data, size = map.getSize(), found = [];
        for (let i = 0; i < d.lat.length && found.length < 4; i++) {{
            const p = map.latLngToContainerPoint([d.lat[i], d.lon[i]]);
            const apart = found.every(q => Math.hypot(q[0] - p.x, q[1] - p.y) > 60);
            if (apart && p.x > 400 && p.x < size.x - 500 && p.y > 200 && p.y < size.y - 200) {{
                found.push([p.x, p.y]);
            }}
        }}
        return found;
    }}"""
    )
    assert len(corners) >= 3
    box = page.locator(".leaflet-container").bounding_box()
    page.locator(".leaflet-draw-draw-polygon").click()
    for k, (x, y) in enumerate(corners[:3]):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.down()
        page.mouse.up()
        page.wait_for_timeout(150)
        assert page.locator(".leaflet-editing-icon").count() == k + 1
    page.wait_for_timeout(300)
    assert page.locator(".gz-incident-popup").count() == 0
    page.locator(".leaflet-draw-actions a", has_text="Cancel").click()  # nothing saved
    assert record.page_errors == []
    assert record.off_loopback() == []
    context.close()


def test_a_polygon_drawn_on_the_planner_is_saved_and_there_after_a_reload(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    record = Recorder(page)
    page.goto(f"{served.base}/maps/planner/{T11}")
    planner = f"{MAP}.gzPlanner"
    page.wait_for_function(f"() => {MAP} && {planner}")
    # no red error before the user could type: the key box asks first
    assert page.locator(".gz-message-box.gz-visible").count() == 0
    assert page.locator(".gz-key-prompt").inner_text() == KEY_LABELS["prompt"]
    assert T11 not in page.locator(".gz-title").inner_text()  # the cluster's name
    page.fill("#gz-api-key", served.planner_key)
    page.get_by_role("button", name=KEY_LABELS["use"]).click()
    page.wait_for_selector(".gz-message-box.gz-info")
    assert page.evaluate(f"{planner}.items.getLayers().length") == 0
    # incidents, significant hot cells and suggestions drawn under the drawing tools
    page.wait_for_function("() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=60_000)
    page.wait_for_function(f"() => {MAP}.gzIncidents.giLayer !== undefined", timeout=60_000)
    page.wait_for_function(
        f"() => {MAP}.gzIncidents.suggestionsLayer !== undefined", timeout=60_000
    )
    page.evaluate(f"void {MAP}.setView([{T11_LAT}, {T11_LON}], 16, {{animate: false}})")
    d = 0.0012
    ring = [
        (T11_LON - d, T11_LAT - d),
        (T11_LON + d, T11_LAT - d),
        (T11_LON + d, T11_LAT + d),
        (T11_LON - d, T11_LAT + d),
    ]
    box = page.locator(".leaflet-container").bounding_box()
    pixels = [
        page.evaluate(
            f"(() => {{ const p = {MAP}.latLngToContainerPoint([{lat}, {lon}]); "
            "return [p.x, p.y]; })()"
        )
        for lon, lat in ring
    ]
    # drawn with the incident clusters on the map (their bubbles let the drawing's clicks
    # through: geozone.css .gz-drawing), the first click included
    assert page.evaluate(f"{MAP}.hasLayer({MAP}.gzIncidents.group)")
    assert page.locator(".marker-cluster").count() > 0
    page.locator(".leaflet-draw-draw-polygon").click()
    # the lost first click: markercluster's animation (after a zoom) slid Leaflet.draw's
    # mouse marker behind the pointer; drawn here while the clusters animate
    page.evaluate(f"void {MAP}.setZoom(17, {{animate: false}})")
    page.evaluate(f"void {MAP}.setZoom(16, {{animate: false}})")
    assert page.evaluate(
        "document.querySelector('.leaflet-map-pane').classList.contains('leaflet-cluster-anim')"
    )
    for k, (x, y) in enumerate(pixels):
        page.mouse.move(box["x"] + x, box["y"] + y, steps=4)
        page.mouse.down()
        page.mouse.up()
        page.wait_for_timeout(150)
        assert page.locator(".leaflet-editing-icon").count() == k + 1
    name = "Tuần tra cầu T11"
    page.once("dialog", lambda dialog: dialog.accept(name))
    page.locator(".leaflet-draw-actions a", has_text="Finish").click()
    page.wait_for_function(
        f"() => {planner}.items.getLayers().length === 1 && "
        f"{planner}.items.getLayers()[0].gzZone.id !== null"
    )
    # its popup opens with what it covers, its units by name
    page.wait_for_function(
        "() => { const c = document.querySelector('.gz-zone-popup .gz-coverage');"
        " return c && c.innerText.includes('%'); }",
        timeout=60_000,
    )
    covered = page.locator(".gz-zone-popup").inner_text()
    assert "Phần vùng giáp ranh / Border-zone share" in covered
    assert "Phường Nghĩa Đô" in covered and "00160" not in covered
    # it is in the API, with its units
    (feature,) = served.get("/patrol-zones", served.planner_key, cluster_id=T11)["features"]
    assert feature["properties"]["name"] == name
    assert {"00160", "00008"} <= set(feature["properties"]["units"])
    (outer,) = feature["geometry"]["coordinates"]
    assert len(outer) == 5 and outer[0] == outer[-1]
    for (lon, lat), (x, y) in zip(outer[:-1], ring, strict=True):
        assert abs(lon - x) < 3e-5 and abs(lat - y) < 3e-5  # within about 3 m (a pixel)
    # and on the page after a reload (the key kept for the tab)
    page.reload()
    page.wait_for_function(f"() => {MAP} && {planner} && {planner}.items.getLayers().length === 1")
    shown = page.evaluate(f"{planner}.items.getLayers()[0].gzZone")
    assert shown["name"] == name and shown["id"] == feature["id"]
    loaded = page.locator(".gz-message-text").text_content()
    assert loaded == "Đã tải 1 vùng tuần tra / Loaded 1 patrol zones"
    keep_screenshot(page, tmp_path, "t11-planner.png")
    record.check()
    assert json.dumps(record.requests).count("/patrol-zones") >= 3  # list, save, list again
    # the cluster map shows the saved zone (the key is kept for the tab)
    page.goto(f"{served.base}/maps/clusters/{T11}")
    page.wait_for_function(
        f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.patrolLayer", timeout=60_000
    )
    assert page.evaluate(f"{MAP}.gzIncidents.patrolLayer.getLayers().length") == 1
    context.close()


def test_the_report_opens_by_link_after_the_key_is_given(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    record = Recorder(page)
    url = f"{served.base}/clusters/{T11}/report?from=2025-07-01&to=2025-12-31&format=html"
    response = page.goto(url)
    assert response is not None and response.status == 401  # a page, not bare JSON
    assert page.locator("#gz-api-key").count() == 1
    assert "Cần khoá API" in page.locator("h1").inner_text()
    page.fill("#gz-api-key", served.planner_key)
    page.get_by_role("button", name="Mở / Open").click()
    page.wait_for_function("() => document.getElementById('summary') !== null", timeout=120_000)
    assert "SYNTHETIC" in page.content() or "MÔ PHỎNG" in page.content()
    keep_screenshot(page, tmp_path, "t11-report-by-link.png")
    assert all(served.planner_key not in u for u in record.requests)
    assert record.off_loopback() == []
    # the maps' report link asks nothing more: the key is kept for the tab
    page.goto(f"{served.base}/maps/reports/{T11}")
    page.wait_for_function("() => document.getElementById('summary') !== null", timeout=120_000)
    context.close()


FORGED_PAGE = """<!DOCTYPE html><html><body>
<form id="f" method="post" action="{action}" enctype="text/plain">
<input name='{{"cluster_id": "{cluster}", "name": "forged", "x": "' value='"}}'>
</form><script>document.getElementById("f").submit();</script></body></html>"""


def test_signing_in_opens_every_page_by_link_and_signing_out_asks_again(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    record = Recorder(page)
    # the map asks: a sign-in link next to the key box
    page.goto(f"{served.base}/maps/clusters/{T11}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.ready")
    page.locator(".gz-key-box a.gz-sign-in").click()
    page.wait_for_selector("#gz-login-name")
    keep_screenshot(page, tmp_path, "login.png")
    page.fill("#gz-login-name", "browser-planner")
    page.fill("#gz-login-key", served.planner_key)
    page.get_by_role("button", name="Đăng nhập / Sign in").click()
    # back on the map, signed in: the incidents and layers come with no key typed
    page.wait_for_function("() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=60_000)
    assert page.url == f"{served.base}/maps/clusters/{T11}"
    assert page.evaluate("sessionStorage.getItem('geozone.apiKey')") is None
    assert page.locator(".gz-key-state").inner_text() == KEY_LABELS["signed_in"]
    assert page.locator("#gz-api-key").is_hidden()
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["gz_session"]["httpOnly"] and cookies["gz_session"]["sameSite"] == "Strict"
    assert not cookies["gz_csrf"]["httpOnly"]
    assert page.evaluate("document.cookie").count("gz_session") == 0  # no script reads it
    # the planner by link: its zones load, and a zone saved passes the CSRF check
    page.goto(f"{served.base}/maps/planner/{T11}")
    planner = f"{MAP}.gzPlanner"
    page.wait_for_function(f"() => {MAP} && {planner} && {planner}.lastMessage")
    assert page.locator(".gz-message-box.gz-error").count() == 0
    before = len(served.get("/patrol-zones", served.planner_key, cluster_id=T11)["features"])
    d = 0.0008
    saved = page.evaluate(
        f"""() => {planner}.create(L.polygon([[{T11_LAT - d}, {T11_LON - d}],
            [{T11_LAT - d}, {T11_LON + d}], [{T11_LAT + d}, {T11_LON}]]), "Phiên đăng nhập")
            .then(layer => layer && layer.gzZone.id)"""
    )
    assert saved is not None
    zones = served.get("/patrol-zones", served.planner_key, cluster_id=T11)["features"]
    assert len(zones) == before + 1
    assert any(z["properties"]["created_by"] == "browser-planner" for z in zones)
    # the report by link opens at once (no key page)
    report = page.goto(
        f"{served.base}/clusters/{T11}/report?from=2025-07-01&to=2025-12-31&format=html"
    )
    assert report is not None and report.status == 200
    assert page.locator("#summary").count() == 1
    # a forged POST from another origin of the same site (the cookie goes with it, SameSite
    # does not stop it) has no CSRF token: refused before its body is read
    forge = "http://127.0.0.1:9/forge.html"
    page.route(
        forge,
        lambda route: route.fulfill(
            content_type="text/html",
            body=FORGED_PAGE.format(action=f"{served.base}/patrol-zones", cluster=T11),
        ),
    )
    with page.expect_response(f"{served.base}/patrol-zones") as answer:
        page.goto(forge)
    assert answer.value.status == 403 and "CSRF" in answer.value.text()
    assert len(served.get("/patrol-zones", served.planner_key, cluster_id=T11)["features"]) == len(
        zones
    )
    # sign out from the map: the pages ask again
    page.goto(f"{served.base}/maps/clusters/{T11}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.ready")
    with page.expect_navigation():  # signed out, the page reloads
        page.locator(".gz-sign-out").click()
    assert "gz_csrf" not in page.evaluate("document.cookie")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents && {MAP}.gzIncidents.ready")
    assert page.locator(".gz-incident-status").inner_text() == LOADER_LABELS["need_key"]
    assert page.locator(".gz-key-box a.gz-sign-in").is_visible()
    assert "gz_session" not in {c["name"] for c in context.cookies()}
    again = page.goto(
        f"{served.base}/clusters/{T11}/report?from=2025-07-01&to=2025-12-31&format=html"
    )
    assert again is not None and again.status == 401
    assert page.locator("#gz-sign-in").is_visible()
    assert record.off_loopback() == []
    context.close()
