from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd
import pytest

from geozone.context import Context
from geozone.incidents.pipeline import context_stamp
from geozone.store import IncidentQuery, open_store
from geozone.store.base import UNIT_COLUMNS
from maps import check_assets
from maps.cluster_map import LOADER_LABELS
from tests.api.conftest import Api
from tests.fixtures.grid import grid_point
from tests.fixtures.pages import incident_tables, unpack


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
        api.client.post("/incidents", json=[record], headers=api.auth("planner")).status_code < 300
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


def sentence(data: dict[str, Any], lang: str, row: int) -> str:
    """The explanation of incident ``row`` of a map's incident table, in ``lang``."""
    return unpack(data[f"{lang}_templates"], data[f"{lang}s"][data["ex"][row]])


def _record(external_id: str, occurred_at: str, **changes: object) -> dict[str, object]:
    lon, lat = grid_point(950, 300)  # ward 1, 50 m from ward 2
    record: dict[str, object] = {
        "external_id": external_id,
        "occurred_at": occurred_at,
        "lon": lon,
        "lat": lat,
        "category": "drugs",
        "detected_by": "o2",
        "synthetic": True,
    }
    record.update(changes)
    return record


def test_public_page_asks_for_the_key_and_is_locked_to_its_origin(api: Api) -> None:
    response = api.client.get("/maps/clusters/grid-centre")
    page = response.text
    assert "GZ.incidentLoader(" in page and "/maps/static/incident_loader.js" in page
    assert '"url":"/maps/clusters/grid-centre/incidents"' in page  # every incident by default
    assert '"url":"/patrol-zones?cluster_id=grid-centre"' in page  # saved patrol zones too
    assert '"incident_url":"/incidents/"' in page  # a popup's sentences come from there
    assert 'href="/maps/reports/grid-centre"' in page or "/maps/reports/grid-centre" in page
    assert LOADER_LABELS["need_key"] in page
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    # a page requested with an analyst key carries its incidents itself: no key box
    keyed = api.client.get("/maps/clusters/grid-centre", headers=api.auth("analyst")).text
    assert "GZ.incidentLoader(" not in keyed
    planner = api.client.get("/maps/planner/grid-centre")
    assert planner.headers["content-security-policy"] == policy
    assert api.client.get("/favicon.ico").status_code == 204  # no 404 in the console


def test_incident_table_needs_an_analyst_key(api: Api) -> None:
    analyst = api.auth("analyst")
    posted = api.client.post(
        "/incidents", json=[_record("m1", "2022-03-01T21:00:00+07:00")], headers=api.auth("planner")
    )
    assert posted.status_code == 200
    url = "/maps/clusters/grid-centre/incidents"
    missing = api.client.get(url)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert api.client.get(url, headers=api.auth("viewer")).status_code == 403
    assert api.client.get(url, headers={"X-API-Key": "wrong"}).status_code == 401
    assert api.client.get("/maps/clusters/nowhere/incidents", headers=analyst).status_code == 404
    table = api.client.get(url, headers=analyst)
    assert table.status_code == 200 and table.headers["cache-control"] == "no-store"
    body = table.json()
    assert (body["returned"], body["total"], body["synthetic"]) == (1, 1, True)
    assert body["cluster_id"] == "grid-centre"
    assert body["notice_html"] == "DỮ LIỆU MÔ PHỎNG / SYNTHETIC"
    assert body["summary"] == "Hiển thị cả 1 vụ việc / all 1 incidents shown"
    assert [item["label_html"] for item in body["legend"]] == ["Hình sự / Criminal"]
    data = body["data"]
    lon, lat = grid_point(950, 300)
    assert data["lon"] == [round(lon, 5)] and data["lat"] == [round(lat, 5)]
    assert data["leads"] == ["Phường Ô 2 (00002)"]  # the detector leads in the zone
    assert data["syn"] == 1


def test_maps_draw_the_stored_decisions_newest_first(api: Api, grid_context: Context) -> None:
    analyst = api.auth("analyst")
    records = [
        _record("old", "2022-01-01T08:00:00+07:00"),
        _record("mid", "2022-02-01T08:00:00+07:00"),
        _record("new", "2022-03-01T08:00:00+07:00", synthetic=False),
    ]
    assert (
        api.client.post("/incidents", json=records, headers=api.auth("planner")).status_code == 200
    )
    # overwrite the stored decision of "new": the map must show it, not judge again
    with open_store(api.store_url) as store:
        frame, _ = store.query(IncidentQuery(limit=10))
        units = pd.DataFrame(frame[frame["external_id"] == "new"][["external_id", *UNIT_COLUMNS]])
        decision = pd.DataFrame(
            {
                "external_id": ["new"],
                "cluster_id": ["grid-centre"],
                "member_code": ["00001"],
                "in_zone": [True],
                "lead_unit": ["00004"],
                "rule": ["border_detector"],
                "explanation_vi": ["Quyết định đã lưu: Ô 4 chủ trì"],
                "explanation_en": ["Stored decision: Ô 4 leads"],
            }
        )
        store.save_assignments(units, decision, stamp=context_stamp(grid_context))
    body = api.client.get(
        "/maps/clusters/grid-centre/incidents", params={"limit": 2}, headers=analyst
    ).json()
    assert (body["returned"], body["total"]) == (2, 3)
    assert body["summary"] == (
        "Hiển thị 2 vụ việc mới nhất trong 3 / the newest 2 of 3 incidents shown"
    )
    data = body["data"]
    assert [data["id_prefix"] + i for i in data["id"]] == ["new", "mid"]  # newest first
    assert data["syn"] == [0, 1]
    assert data["leads"][data["lead"][0]] == "Phường Ô 4 (00004)"
    assert data["leads"][data["lead"][1]] == "Phường Ô 2 (00002)"
    # the sentences are not in the served table: a popup reads them from GET /incidents/{id}
    assert body["sentences"] == "by_incident"
    assert not {"ex", "vis", "ens", "vi_templates", "en_templates"} & set(data)
    (row,) = api.client.get("/incidents/new", headers=analyst).json()["clusters"]
    assert row["cluster_id"] == body["cluster_id"] == "grid-centre"
    assert row["explanation_vi"] == "Quyết định đã lưu: Ô 4 chủ trì"
    assert row["explanation_en"] == "Stored decision: Ô 4 leads"
    page = api.client.get("/maps/clusters/grid-centre", params={"limit": 2}, headers=analyst).text
    (table,) = incident_tables(page)
    assert sentence(table, "en", 0) == "Stored decision: Ô 4 leads"
    assert "old" not in [table["id_prefix"] + i for i in table["id"]]


def test_basemap_tiles_are_off_by_default_and_the_csp_admits_only_their_origin(
    api_settings: Any, grid_context: Context
) -> None:
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(api_settings, context=grid_context)) as plain:
        page = plain.get("/maps/clusters/grid-centre")
    assert "{z}" not in page.text
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]
    tiled = api_settings.model_copy(
        update={
            "tiles_url": "https://{s}.tiles.example/{z}/{x}/{y}.png",
            "tiles_attribution": "© Tiles <Example>",
        }
    )
    with TestClient(create_app(tiled, context=grid_context)) as client:
        responses = [client.get(f"/maps/{page}/grid-centre") for page in ("clusters", "planner")]
    for response in responses:
        assert "https://{s}.tiles.example/{z}/{x}/{y}.png" in response.text
        assert "© Tiles &lt;Example&gt;" in response.text or "Tiles \\u0026lt;" in response.text
        policy = response.headers["content-security-policy"]
        assert "img-src 'self' data: https://*.tiles.example;" in policy
        assert "connect-src 'self';" in policy


def test_incident_table_is_built_once_and_sent_gzipped(api: Api) -> None:
    analyst = api.auth("analyst")
    records = [_record("a", "2022-01-01T08:00:00+07:00"), _record("b", "2022-02-01T08:00:00+07:00")]
    assert api.client.post("/incidents", json=records, headers=api.auth("planner")).status_code
    url = "/maps/clusters/grid-centre/incidents"
    zipped = api.client.get(url, headers={**analyst, "Accept-Encoding": "gzip"})
    assert (
        zipped.headers["content-encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["vary"]
    )
    plain = api.client.get(url, headers={**analyst, "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert zipped.json() == plain.json()  # httpx undoes the gzip: the same table
    assert plain.json()["summary"] == "Hiển thị cả 2 vụ việc / all 2 incidents shown"
    cache = api.client.app.state.map_incident_bodies  # type: ignore[attr-defined]
    assert cache.builds == 1  # the second request was answered from memory
    # a new incident changes the change marker: the table is built again
    api.client.post(
        "/incidents", json=[_record("c", "2022-03-01T08:00:00+07:00")], headers=api.auth("planner")
    )
    assert api.client.get(url, headers=analyst).json()["returned"] == 3
    assert cache.builds == 2


def test_cluster_map_draws_saved_patrol_zones_with_unit_names(api: Api) -> None:
    from tests.fixtures.grid import grid_vertex_lonlat

    lon0, lat0 = grid_vertex_lonlat(1, 1)
    ring = [
        [lon0 - 0.001, lat0 - 0.001],
        [lon0 + 0.001, lat0 - 0.001],
        [lon0 + 0.001, lat0 + 0.001],
    ]
    body = {
        "cluster_id": "grid-centre",
        "name": "Vùng cầu <T11>",
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }
    created = api.client.post("/patrol-zones", json=body, headers=api.auth("planner")).json()
    assert created["properties"]["units"] == ["00001", "00002", "00004", "00005"]
    assert created["properties"]["unit_names"] == [
        "Phường Ô 1",
        "Phường Ô 2",
        "Phường Ô 4",
        "Phường Ô 5",
    ]
    listed = api.client.get(
        "/patrol-zones", params={"cluster_id": "grid-centre"}, headers=api.auth("analyst")
    ).json()
    assert listed["features"][0]["properties"]["unit_names"][0] == "Phường Ô 1"
    keyed = api.client.get("/maps/clusters/grid-centre", headers=api.auth("analyst")).text
    assert "Vùng tuần tra đã lưu / Saved patrol zones" in keyed
    assert "Vùng cầu &lt;T11&gt;" in keyed  # escaped in the tooltip
    assert "Phường Ô 1, Phường Ô 2, Phường Ô 4, Phường Ô 5" in keyed


def test_a_browser_opening_a_keyed_url_is_asked_for_the_key(api: Api) -> None:
    url = "/clusters/grid-centre/report?from=2022-01-01&to=2022-12-31&format=html"
    browser = api.client.get(url, headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 401 and browser.headers["content-type"].startswith("text/html")
    page = browser.text
    assert 'id="gz-api-key"' in page and "/maps/static/key_page.js" in page
    assert "Cần khoá API / API key needed" in page
    assert '"url":"/clusters/grid-centre/report?from=2022-01-01\\u0026to=2022-12-31' in page or (
        '"url":"/clusters/grid-centre/report?from=2022-01-01&to=2022-12-31' in page
    )
    assert "connect-src 'self'" in browser.headers["content-security-policy"]
    # a script keeps the problem+json answer; a wrong key too
    script = api.client.get(url)
    assert script.status_code == 401
    assert script.headers["content-type"] == "application/problem+json"
    wrong = api.client.get(url, headers={"Accept": "text/html", "X-API-Key": "wrong"})
    assert wrong.headers["content-type"] == "application/problem+json"
    # the report page of the maps asks for the key and then loads the last 365 days
    report = api.client.get("/maps/reports/grid-centre")
    assert report.status_code == 200 and "/clusters/grid-centre/report?from=" in report.text
    assert api.client.get("/maps/reports/nowhere").status_code == 404


def test_basemap_archive_is_served_by_geozone(
    api_settings: Any, grid_context: Context, tmp_path: Any
) -> None:
    import gzip

    from fastapi.testclient import TestClient

    from api.app import create_app
    from tests.fixtures.basemap import tile_of, write_pmtiles
    from tests.fixtures.grid import grid_vertex_lonlat

    lon, lat = grid_vertex_lonlat(1, 1)
    path = tmp_path / "nen.pmtiles"
    write_pmtiles(path, lon, lat, vector=True, zooms=range(13, 15))
    settings = api_settings.model_copy(update={"basemap": path})
    with TestClient(create_app(settings, context=grid_context)) as client:
        x, y = tile_of(lon, lat, 14)
        tile = client.get(f"/maps/basemap/14/{x}/{y}", headers={"Accept-Encoding": "gzip"})
        assert tile.status_code == 200
        assert tile.headers["content-type"] == "application/x-protobuf"
        assert tile.headers["content-encoding"] == "gzip"
        plain = client.get(f"/maps/basemap/14/{x}/{y}", headers={"Accept-Encoding": "identity"})
        assert plain.content == gzip.decompress(gzip.compress(plain.content))  # raw MVT
        assert client.get("/maps/basemap/3/0/0").status_code == 204  # not in the archive
        assert client.get("/maps/basemap/31/0/0").status_code == 422
        pages = [client.get(f"/maps/{p}/grid-centre") for p in ("clusters", "planner")]
    for page in pages:
        assert "GZ.vectorBasemap(" in page.text and '"/maps/basemap/{z}/{x}/{y}"' in page.text
        assert "img-src 'self' data:;" in page.headers["content-security-policy"]  # no other host
    with TestClient(create_app(api_settings, context=grid_context)) as client:
        assert client.get("/maps/basemap/14/0/0").status_code == 404  # none configured


def test_a_map_drawn_while_decisions_are_recomputed_says_so(
    api: Api, grid_context: Context
) -> None:
    from api.services.maps import RECOMPUTING

    analyst = api.auth("analyst")
    records = [_record("a", "2022-01-01T08:00:00+07:00"), _record("b", "2022-02-01T08:00:00+07:00")]
    assert api.client.post("/incidents", json=records, headers=api.auth("planner")).status_code
    url = "/maps/clusters/grid-centre/incidents"
    assert not api.client.get(url, headers=analyst).json()["recomputing"]
    # "b" was judged under another context (as after a confirmation, before the job ran)
    with open_store(api.store_url) as store:
        frame, _ = store.query(IncidentQuery(limit=10))
        units = pd.DataFrame(frame[frame["external_id"] == "b"][["external_id", *UNIT_COLUMNS]])
        decisions = store.cluster_rows(IncidentQuery(limit=10))
        store.save_assignments(units, decisions[decisions["external_id"] == "b"], stamp="old")
    body = api.client.get(url, headers=analyst).json()
    assert body["recomputing"] and body["summary"] == (
        f"Hiển thị cả 2 vụ việc / all 2 incidents shown. {RECOMPUTING}"
    )
    assert "tải lại sau ít phút" in RECOMPUTING and "reload in a few minutes" in RECOMPUTING
    with open_store(api.store_url) as store:
        assert store.stale_ids(context_stamp(grid_context)) == ["b"]


def test_maps_are_built_when_the_service_starts(
    api: Api, api_settings: Any, grid_context: Context
) -> None:
    """With warm_maps_at_start, a cluster's table is ready before anyone asks for it."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services.maps import incident_bodies

    record = _record("w1", "2022-03-01T21:00:00+07:00")
    assert api.client.post("/incidents", json=[record], headers=api.auth("planner")).is_success
    warm = api_settings.model_copy(update={"warm_maps_at_start": True})
    app = create_app(warm, context=grid_context)
    with TestClient(app) as client:
        bodies = incident_bodies(app.state)
        deadline = time.monotonic() + 30
        while bodies.builds < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bodies.builds == 1  # built at start, for the one cluster with decisions
        url = "/maps/clusters/grid-centre/incidents"
        table = client.get(url, headers=api.auth("analyst"))
        assert table.status_code == 200 and table.json()["total"] == 1
        assert bodies.builds == 1  # answered from what the start built


def test_maps_are_built_again_after_new_data(
    api: Api, api_settings: Any, grid_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New incidents posted while the service runs: the map's table (and its hotspot layers)
    are built again in the background for them, so the next open is answered from memory,
    with the new incident in it."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import maps as service
    from api.services.analytics import change_marker

    monkeypatch.setattr(service, "WATCH_EVERY_S", 0.05)
    record = _record("n1", "2022-03-01T21:00:00+07:00")
    assert api.client.post("/incidents", json=[record], headers=api.auth("planner")).is_success
    warm = api_settings.model_copy(update={"warm_maps_at_start": True})
    app = create_app(warm, context=grid_context)
    url = "/maps/clusters/grid-centre/incidents"

    def wait_for(builds: int) -> None:
        deadline = time.monotonic() + 30
        while bodies.builds < builds and time.monotonic() < deadline:
            time.sleep(0.05)

    with TestClient(app) as client:
        bodies = service.incident_bodies(app.state)
        wait_for(1)
        assert bodies.builds == 1  # at start
        second = _record("n2", "2022-03-02T21:00:00+07:00")
        posted = client.post("/incidents", json=[second], headers=api.auth("planner"))
        assert posted.is_success
        wait_for(2)
        assert bodies.builds >= 2  # built again for the new data, before anyone asked
        # The request's writes (store, judge, link) each raise the store's revision: the
        # watcher may build for a step between them, then for the last.
        deadline = time.monotonic() + 30
        marker = change_marker(app.state.store, app.state.context)
        while [b[2] for b in bodies.in_use()] != [marker] and time.monotonic() < deadline:
            time.sleep(0.05)
        [(cluster, _, built_for)] = bodies.in_use()
        assert cluster == "grid-centre" and built_for == marker
        builds = bodies.builds
        table = client.get(url, headers=api.auth("analyst")).json()
        assert table["total"] == 2 and not table["recomputing"]
        assert bodies.builds == builds  # answered from the table built after the new data
        time.sleep(0.3)  # the store unchanged: nothing built again
        assert bodies.builds == builds
    assert app.state.map_watch.is_set()  # stopped with the service


def test_a_passing_store_failure_does_not_stop_the_rebuilds(
    api: Api, api_settings: Any, grid_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store failing for a moment (busy, a dropped connection) while the service looks for
    new data: the next look tries again, and new data still gets its map built."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import analytics
    from api.services import maps as service

    real_marker = analytics.change_marker
    failures = {"left": 3}

    def flaky(store: Any, context: Context) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise RuntimeError("database is locked")
        return real_marker(store, context)

    monkeypatch.setattr(service, "WATCH_EVERY_S", 0.05)
    monkeypatch.setattr(analytics, "change_marker", flaky)
    record = _record("f1", "2022-03-01T21:00:00+07:00")
    assert api.client.post("/incidents", json=[record], headers=api.auth("planner")).is_success
    app = create_app(
        api_settings.model_copy(update={"warm_maps_at_start": True}), context=grid_context
    )
    with TestClient(app) as client:
        bodies = service.incident_bodies(app.state)
        deadline = time.monotonic() + 30
        while (failures["left"] or bodies.builds < 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert failures["left"] == 0 and bodies.builds == 1
        second = _record("f2", "2022-03-02T21:00:00+07:00")
        assert client.post("/incidents", json=[second], headers=api.auth("planner")).is_success
        while bodies.builds < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert bodies.builds == 2  # the watcher lived through the failures


def test_served_layers_are_built_once_per_territory(grid_context: Context) -> None:
    """The boundary layers of a served page are kept per territory: the same frames each
    time, never changed by a caller, built again for a new context's territory."""
    from dataclasses import replace
    from types import SimpleNamespace

    from api.services.maps import served_layers

    state = SimpleNamespace()
    territory = grid_context.territory("grid-centre")
    first = served_layers(state, territory)
    kept = state.map_layers["grid-centre"][1]
    first.units["added"] = 1  # a caller's change stays its own
    second = served_layers(state, territory)
    assert state.map_layers["grid-centre"][1] is kept and "added" not in second.units
    assert second.units["code"].tolist() == first.units["code"].tolist()
    assert second.title == first.title and len(second.units) >= 2
    other = replace(territory)  # another context's territory: built again
    served_layers(state, other)
    assert state.map_layers["grid-centre"][0] is other


def test_the_capped_map_note_writes_each_language_s_numbers() -> None:
    from api.services.maps import capped_note

    note = capped_note(1_234_567)
    vietnamese, english = note.split(" / ")
    assert "Cụm có 1.234.567 vụ việc, vượt giới hạn an toàn 1.000.000 điểm" in vietnamese
    assert "The cluster holds 1,234,567 incidents" in english
    assert "safety cap of 1,000,000 points: the newest 1,000,000 are drawn" in english
