"""Cluster analytics routes: hotspots, border effect, coverage, suggestions, OGC hotspots.

The store holds synthetic incidents on the test grid's cluster (wards 1, 2, 4, 5): uniform
background over the members plus a planted concentration on the boundary between wards 1
and 2 (x = 1000 m, y = 500 m from the grid's origin).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import shapely

from geozone.analysis.border_effect import border_effect
from geozone.clusters.zones import border_zones
from geozone.context import Context
from geozone.report import cluster_incidents
from geozone.store import open_store
from tests.api.conftest import Api
from tests.fixtures.analytics import PLANT, incidents, make_api
from tests.fixtures.grid import grid_point

PERIOD = {"from": "2021-01-01", "to": "2021-12-31"}
CLUSTER = "grid-centre"


@pytest.fixture
def api(tmp_path: Path, grid_context: Context) -> Iterator[Api]:
    yield from make_api(tmp_path, grid_context, incidents(150, 70, 3))


@pytest.fixture
def sparse(tmp_path: Path, grid_context: Context) -> Iterator[Api]:
    yield from make_api(tmp_path, grid_context, incidents(12, 0, 4))


def get(api: Api, path: str, role: str | None = "analyst", **params: Any) -> httpx.Response:
    headers = api.auth(role) if role else {}
    response: httpx.Response = api.client.get(path, params=params, headers=headers)
    return response


def zone_union(grid_context: Context) -> dict[str, Any]:
    territory = grid_context.territories[0]
    codes = territory.members.loc[territory.members["has_territory"], "code"].tolist()
    zones = border_zones(territory.bset, codes, territory.width_m, territory.cluster.level)
    union = shapely.union_all(zones.zones.geometry.to_numpy())
    mapped: dict[str, Any] = shapely.geometry.mapping(union)
    return mapped


# -- auth --------------------------------------------------------------------------------------

ANALYST_ROUTES = [
    ("get", f"/clusters/{CLUSTER}/hotspots"),
    ("get", f"/clusters/{CLUSTER}/border-effect"),
    ("post", f"/clusters/{CLUSTER}/coverage"),
]


@pytest.mark.parametrize(("verb", "path"), ANALYST_ROUTES)
def test_analyst_routes_need_an_analyst_key(api: Api, verb: str, path: str) -> None:
    body = {"json": {"type": "Polygon", "coordinates": []}} if verb == "post" else {}
    for headers, status in (({}, 401), (api.auth("viewer"), 403)):
        response = api.client.request(verb, path, params=PERIOD, headers=headers, **body)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
    bad_key = api.client.request(verb, path, headers={"X-API-Key": "nope"}, **body)
    assert bad_key.status_code == 401


def test_suggestions_need_a_planner_key(api: Api) -> None:
    path = f"/clusters/{CLUSTER}/patrol-suggestions"
    assert get(api, path, None, **PERIOD).status_code == 401
    assert get(api, path, "viewer", **PERIOD).status_code == 403
    assert get(api, path, "analyst", **PERIOD).status_code == 403
    assert get(api, "/patrol-zones/1/coverage", None).status_code == 401
    assert get(api, "/patrol-zones/1/coverage", "viewer").status_code == 403


# -- hotspots ----------------------------------------------------------------------------------


def test_a_planted_border_hotspot_is_hot(api: Api) -> None:
    response = get(api, f"/clusters/{CLUSTER}/hotspots", **PERIOD)
    assert response.status_code == 200
    data = response.json()
    meta = data["properties"]
    assert meta["status"] == "tested" and meta["permutations"] == 9_999
    assert meta["synthetic"] is True and "mô phỏng" in meta["synthetic_label"]
    assert meta["attribution"] == "geozone test grid"
    assert meta["n_incidents"] == 220 and meta["cluster_id"] == CLUSTER
    # The message as it was, and in each language wholly.
    assert meta["message"].startswith("SYNTHETIC data (dữ liệu mô phỏng): Getis–Ord Gi* on 64 ")
    assert meta["message_en"].startswith("SYNTHETIC data: Getis–Ord Gi* on 64 square cells")
    assert meta["message_vi"].startswith("DỮ LIỆU MÔ PHỎNG: Getis–Ord Gi* trên 64 ô vuông")
    assert "220 vụ việc" in meta["message_vi"] and "incidents" not in meta["message_vi"]
    # The members' territory (2 km × 2 km) in 250 m cells.
    assert len(data["features"]) == 64
    hot = [f for f in data["features"] if f["properties"]["kind"] == "hot"]
    assert hot and meta["n_hot"] == len(hot)
    plant = shapely.Point(grid_point(*PLANT))
    near = [shapely.geometry.shape(f["geometry"]).distance(plant) for f in hot]
    assert min(near) == 0  # a hot cell touches the planted place
    assert all(f["properties"]["confidence"] in (90, 95, 99) for f in hot)
    significant = get(api, f"/clusters/{CLUSTER}/hotspots", significant_only="true", **PERIOD)
    kinds = {f["properties"]["kind"] for f in significant.json()["features"]}
    assert kinds <= {"hot", "cold"} and len(significant.json()["features"]) >= len(hot)


def test_hotspot_results_are_cached_until_the_store_changes(api: Api) -> None:
    path = f"/clusters/{CLUSTER}/hotspots"
    first = get(api, path, permutations=99, **PERIOD).json()
    app: Any = api.client.app
    hits = app.state.analytics_cache.hits
    assert get(api, path, permutations=99, **PERIOD).json() == first
    assert app.state.analytics_cache.hits == hits + 1
    with open_store(api.store_url) as store:
        store.add_incidents(incidents(5, 0, 9, prefix="late"))
    again = get(api, path, permutations=99, **PERIOD).json()
    assert app.state.analytics_cache.hits == hits + 1
    assert again["properties"]["n_incidents"] >= first["properties"]["n_incidents"]


@pytest.mark.parametrize("method", ["gi_units", "kde", "emerging"])
def test_other_methods(api: Api, method: str) -> None:
    response = get(api, f"/clusters/{CLUSTER}/hotspots", method=method, permutations=99, **PERIOD)
    assert response.status_code == 200
    meta = response.json()["properties"]
    analysis = {
        "gi_units": "getis_ord_gi_star",
        "kde": "kernel_density",
        "emerging": "emerging_hotspots",
    }
    assert meta["analysis"] == analysis[method]
    if method == "gi_units":
        assert meta["shape"] == "units" and len(response.json()["features"]) == 4
    if method == "emerging":
        assert len(meta["bins"]) == 12 and meta["status"] == "tested"


def test_too_few_is_a_status_not_an_error(sparse: Api) -> None:
    response = get(sparse, f"/clusters/{CLUSTER}/hotspots", **PERIOD)
    assert response.status_code == 200
    meta = response.json()["properties"]
    assert meta["status"] == "too_few" and meta["n_incidents"] == 12
    assert "Too few incidents to test (12 < 30)" in meta["message"]
    assert "Quá ít vụ việc để kiểm định (12 < 30)" in meta["message_vi"]
    suggestions = get(sparse, f"/clusters/{CLUSTER}/patrol-suggestions", "planner", **PERIOD)
    assert suggestions.status_code == 200
    assert suggestions.json()["features"] == []
    assert suggestions.json()["properties"]["status"] == "too_few"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"permutations": 10_000}, "permutations"),
        ({"permutations": -1}, "permutations"),
        ({"cell_size_m": 10}, "cell_size_m"),
        ({"alpha": 1.5}, "alpha"),
        ({"method": "magic"}, "method"),
        ({"shape": "circle"}, "shape"),
        ({"category": "unicorns"}, "category"),
        ({"from": "yesterday"}, "from"),
        (
            {"method": "emerging", "bin": "W", "cell_size_m": 50, "permutations": 9_999},
            "permutations",
        ),
    ],
)
def test_bad_hotspot_parameters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = get(api, f"/clusters/{CLUSTER}/hotspots", **{**PERIOD, **params})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert any(error["loc"][-1] == field for error in problem["errors"])
    assert "unicorns" not in response.text and "yesterday" not in response.text


def test_unknown_cluster_and_reversed_period(api: Api) -> None:
    unknown = get(api, "/clusters/nowhere/hotspots", **PERIOD)
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["detail"]
    reversed_ = get(api, f"/clusters/{CLUSTER}/hotspots", **{"from": "2021-12-31", "to": "2021"})
    assert reversed_.status_code == 422
    backwards = get(
        api, f"/clusters/{CLUSTER}/border-effect", **{"from": "2021-12-31", "to": "2021-01-01"}
    )
    assert backwards.status_code == 400 and "reversed" in backwards.json()["detail"]


def test_category_filter(api: Api) -> None:
    response = get(api, f"/clusters/{CLUSTER}/hotspots", category="theft,drugs", **PERIOD)
    assert response.status_code == 200
    with open_store(api.store_url) as store:
        frame = cluster_incidents(store, [CLUSTER], date(2021, 1, 1), date(2021, 12, 31))
    expected = int(frame["category"].isin(["theft", "drugs"]).sum())
    assert response.json()["properties"]["n_incidents"] == expected


# -- border effect -----------------------------------------------------------------------------


def test_border_effect_equals_the_core(api: Api, grid_context: Context) -> None:
    response = get(api, f"/clusters/{CLUSTER}/border-effect", by="kind", **PERIOD)
    assert response.status_code == 200
    data = response.json()
    with open_store(api.store_url) as store:
        frame = cluster_incidents(store, [CLUSTER], date(2021, 1, 1), date(2021, 12, 31))
    columns = ["external_id", "occurred_at", "category", "member_code", "in_zone", "zone_units"]
    direct = border_effect(frame[columns], grid_context.territories[0], by=["kind"])
    assert len(data["rows"]) == len(direct)
    for row, (_, expected) in zip(data["rows"], direct.iterrows(), strict=True):
        assert row["cluster_id"] == CLUSTER
        assert (row["scope"], row["pair"], row["kind"]) == (
            expected["scope"],
            expected["pair"],
            expected["kind"],
        )
        for key in ("n_incidents", "n_in_zone", "incident_share", "area_share", "ratio"):
            value = expected[key]
            if pd.isna(value):
                assert row[key] is None
            else:
                assert row[key] == pytest.approx(float(value))
        assert row["reason"] == (None if pd.isna(expected["reason"]) else expected["reason"])
    assert data["synthetic"] is True


def test_border_effect_by_period_and_bad_splits(api: Api) -> None:
    response = get(api, f"/clusters/{CLUSTER}/border-effect", period="Q", **PERIOD)
    assert response.status_code == 200
    rows = response.json()["rows"]
    assert {r["period"] for r in rows} == {"2021Q1", "2021Q2", "2021Q3", "2021Q4"}
    bad = get(api, f"/clusters/{CLUSTER}/border-effect", by="colour", **PERIOD)
    assert bad.status_code == 422 and "colour" not in bad.text
    assert get(api, f"/clusters/{CLUSTER}/border-effect", period="D").status_code == 422


# -- coverage and suggestions ------------------------------------------------------------------


def test_coverage_of_the_border_zone_is_whole(api: Api, grid_context: Context) -> None:
    response = api.client.post(
        f"/clusters/{CLUSTER}/coverage",
        params=PERIOD,
        json=zone_union(grid_context),
        headers=api.auth("analyst"),
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["border_zone_share"] == pytest.approx(1.0, abs=1e-4)  # lon/lat round trip
    assert data["hotspot_status"] == "tested" and data["n_hot_cells"] >= 1
    assert data["hotspot_message_vi"].startswith("DỮ LIỆU MÔ PHỎNG: Getis–Ord Gi* trên")
    assert data["hotspot_message_en"].startswith("SYNTHETIC data: Getis–Ord Gi* on")
    assert data["n_incidents"] == 220 and 0 < data["incidents_share"] < 1
    assert {u["code"] for u in data["units"]} >= {"00001", "00002", "00004", "00005"}


def _square() -> dict[str, Any]:
    """A 200 m square on the grid cluster's shared boundaries (GeoJSON)."""
    x0, y0 = grid_point(900, 400)
    x1, y1 = grid_point(1100, 600)
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _saved_zone(api: Api, square: dict[str, Any]) -> Any:
    """Save ``square`` as a planner's patrol zone of the grid cluster; return the answer."""
    return api.client.post(
        "/patrol-zones",
        json={"cluster_id": CLUSTER, "name": "cầu", "geometry": square},
        headers=api.auth("planner"),
    )


def test_coverage_of_a_planner_zone_and_bad_geometry(api: Api) -> None:
    square = _square()
    x0, y0 = square["coordinates"][0][0]
    created = _saved_zone(api, square)
    assert created.status_code == 201
    zone_id = created.json()["id"]
    saved = get(api, f"/patrol-zones/{zone_id}/coverage", **PERIOD)
    assert saved.status_code == 200
    data = saved.json()
    assert data["zone_id"] == zone_id and data["name"] == "cầu"
    assert sorted(u["code"] for u in data["units"]) == ["00001", "00002"]
    assert data["incidents_share"] > 0.1  # the planted incidents are inside
    assert get(api, "/patrol-zones/999/coverage").status_code == 404
    path = f"/clusters/{CLUSTER}/coverage"
    outside = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]],
    }
    for body in (outside, {"type": "Point", "coordinates": [105.8, 21.0]}, {"type": 3}):
        response = api.client.post(path, json=body, headers=api.auth("analyst"))
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
    many = {
        "type": "Polygon",
        "coordinates": [[[x0 + k * 1e-6, y0] for k in range(6_000)] + [[x0, y0]]],
    }
    too_many = api.client.post(path, json=many, headers=api.auth("analyst"))
    assert too_many.status_code == 400 and "vertices" in too_many.json()["detail"]


def test_a_suggestion_over_the_planted_hotspot_touches_both_members(api: Api) -> None:
    response = get(api, f"/clusters/{CLUSTER}/patrol-suggestions", "planner", **PERIOD)
    assert response.status_code == 200
    data = response.json()
    assert data["features"], data["properties"]["message"]
    assert data["properties"]["message_vi"].startswith("DỮ LIỆU MÔ PHỎNG: Getis–Ord Gi* trên")
    plant = shapely.Point(grid_point(*PLANT))
    over = [f for f in data["features"] if shapely.geometry.shape(f["geometry"]).contains(plant)]
    assert len(over) == 1
    assert {"00001", "00002"} <= set(over[0]["properties"]["units"])
    assert "starting point" in data["properties"]["note"]
    assert (
        get(api, f"/clusters/{CLUSTER}/patrol-suggestions", "planner", buffer_m=-1).status_code
        == 422
    )


# -- OGC API Features --------------------------------------------------------------------------


def test_ogc_hotspots_collection(api: Api) -> None:
    listed = api.client.get("/collections").json()
    assert "hotspots" in [c["id"] for c in listed["collections"]]
    path = "/collections/hotspots/items"
    when = "2021-01-01T00:00:00+07:00/2021-12-31T23:59:59+07:00"
    assert api.client.get(path, params={"cluster": CLUSTER}).status_code == 401
    assert get(api, path, "viewer", cluster=CLUSTER).status_code == 403
    unknown = get(api, path, cluster="nope")
    assert unknown.status_code == 400  # OGC API: invalid parameters are 400
    assert CLUSTER in unknown.json()["errors"][0]["msg"]
    page = get(api, path, cluster=CLUSTER, datetime=when, limit=2)
    assert page.status_code == 200
    data = page.json()
    direct = get(api, f"/clusters/{CLUSTER}/hotspots", significant_only="true", **PERIOD).json()
    assert data["numberMatched"] == len(direct["features"]) >= 1
    assert data["numberReturned"] == min(2, data["numberMatched"])
    feature = data["features"][0]
    assert feature["id"].startswith(f"{CLUSTER}:S250-")
    assert feature["properties"]["kind"] in ("hot", "cold")
    if data["numberMatched"] > 2:
        assert any(link["rel"] == "next" for link in data["links"])
    every = get(api, path, datetime=when, limit=1000).json()  # no cluster: every placed one
    assert every["numberMatched"] == data["numberMatched"]  # the grid places one cluster
    far = get(api, path, cluster=CLUSTER, datetime=when, bbox="100,10,100.1,10.1")
    assert far.json()["numberMatched"] == 0


# -- notices -----------------------------------------------------------------------------------


def linked(api: Api, context: Context) -> None:
    """Link the fixture's reports, stored without linking (as 'geozone incidents link' does)."""
    from geozone.incidents.pipeline import link_stored

    with open_store(api.store_url) as store:
        link_stored(store, context)


def test_answers_over_hotspots_name_an_unfinished_import_until_it_is_closed(
    api: Api, grid_context: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Coverage (drawn and saved), suggestions, OGC hotspot items and one cell: the notices."""
    from geozone import vntime
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.pipeline import close_import, unfinished_imports
    from tests.fixtures.imports import stopped_import

    # The default period is 2021: the OGC item takes no datetime (its period ends today).
    monkeypatch.setattr(vntime, "today", lambda: date(2021, 12, 31))
    linked(api, grid_context)
    square = _square()
    created = _saved_zone(api, square)
    zone_id = created.json()["id"]

    def said() -> dict[str, Any]:
        items = get(api, "/collections/hotspots/items", cluster=CLUSTER, limit=1)
        cell = items.json()["features"][0]["id"]  # the planted hotspot
        answers = {
            "coverage": api.client.post(
                f"/clusters/{CLUSTER}/coverage", json=square, headers=api.auth("analyst")
            ),
            "zone coverage": get(api, f"/patrol-zones/{zone_id}/coverage"),
            "suggestions": get(api, f"/clusters/{CLUSTER}/patrol-suggestions", "planner"),
            "ogc hotspots": items,
            "ogc hotspot": get(api, f"/collections/hotspots/items/{cell}"),
        }
        for name, answer in answers.items():
            assert answer.status_code == 200, (name, answer.text)
        return {name: answer.json()["notices"] for name, answer in answers.items()}

    assert set(map(len, said().values())) == {0}  # nothing to say
    with open_store(api.store_url) as store:  # reports of 2024: the store's, not the period's
        stopped_import(store, tmp_path, grid_context)
        notices = unfinished_import_notices(store)
    assert len(notices) == 1 and "Unfinished import (stopped): file " in notices[0]
    assert said() == dict.fromkeys(said(), notices)
    with open_store(api.store_url) as store:
        [batch] = unfinished_imports(store)
        close_import(store, grid_context, batch["batch_id"])
    assert set(map(len, said().values())) == {0}


def test_a_hotspots_answer_reads_the_notices_once_with_its_change_marker(
    api: Api, grid_context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer's notices are those of the marker its cached result is kept under."""
    from geozone.incidents import notices

    linked(api, grid_context)
    reads: list[int] = []
    real = notices.unfinished_imports

    def counted(store: Any) -> list[dict[str, Any]]:
        reads.append(1)
        return real(store)

    monkeypatch.setattr(notices, "unfinished_imports", counted)
    for _ in range(2):  # computed, then from the cache
        reads.clear()
        answer = get(api, f"/clusters/{CLUSTER}/hotspots", **PERIOD)
        assert answer.status_code == 200 and answer.json()["notices"] == []
        assert len(reads) == 1
