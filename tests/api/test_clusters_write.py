"""Clusters planners define through the API: checks, read-only committed ones, persistence,
the context and the stored incidents judged again."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import KeyStore
from api.settings import ApiSettings
from geozone.context import Context
from geozone.incidents.pipeline import context_stamp
from geozone.store import open_store
from tests.api.conftest import Api
from tests.fixtures.clusters import east_cluster
from tests.fixtures.grid import grid_point


def test_a_planner_defines_a_cluster_that_is_used_and_survives_a_restart(
    api: Api, api_settings: ApiSettings, grid_context: Context
) -> None:
    assert api.client.post("/clusters", json=east_cluster()).status_code == 401
    refused = api.client.post("/clusters", json=east_cluster(), headers=api.auth("analyst"))
    assert refused.status_code == 403
    created = api.client.post("/clusters", json=east_cluster(), headers=api.auth("planner"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"] == "grid-east" and body["source"] == "api" and body["editable"]
    assert [p["id"] for p in body["placed"]] == ["grid-east"]
    assert [m["code"] for m in body["placed"][0]["members"]] == ["00002", "00003"]
    assert body["created_by"] == "planner-key" and body["reassign_job"]["kind"] == "reassign"
    listed = {c["id"]: c for c in api.client.get("/clusters").json()}
    assert (listed["grid-east"]["source"], listed["grid-east"]["editable"]) == ("api", True)
    assert (listed["grid-centre"]["source"], listed["grid-centre"]["editable"]) == ("file", False)
    zones = api.client.get("/clusters/grid-east/zones").json()
    assert {f["properties"]["zone_id"] for f in zones["features"]} == {"00002-00003"}
    assert "Phường Ô 3" in api.client.get("/maps/clusters/grid-east").text
    ring = [grid_point(1950, 100), grid_point(2050, 100), grid_point(2050, 200)]
    zone = {
        "cluster_id": "grid-east",
        "name": "Tuyến ranh giới",
        "geometry": {"type": "Polygon", "coordinates": [[*ring, ring[0]]]},
    }
    saved = api.client.post("/patrol-zones", json=zone, headers=api.auth("planner"))
    assert saved.status_code == 201 and saved.json()["properties"]["units"] == ["00002", "00003"]
    # the write is in the audit log, with who and what
    with open_store(api.store_url) as store:
        rows = KeyStore(store.engine).audit_rows()
    (audit,) = [r for r in rows if r["path"] == "/clusters" and r["status"] == 201]
    assert audit["method"] == "POST" and audit["key_name"] == "planner-key"
    assert audit["summary"].startswith("created cluster grid-east (2 members in grid")
    # a new service over the same store judges with it
    with TestClient(create_app(api_settings, context=grid_context)) as again:
        shown = again.get("/clusters/grid-east").json()
        assert shown["definition"]["name"] == "Cụm phía đông" and shown["source"] == "api"
    # the context the test gave the app is never changed in place
    assert [t.cluster.id for t in grid_context.territories] == ["grid-centre"]


def test_a_definition_its_boundary_set_refutes_is_a_422_naming_the_problem(api: Api) -> None:
    def post(body: dict[str, Any]) -> tuple[int, str]:
        response = api.client.post("/clusters", json=body, headers=api.auth("planner"))
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, str(problem.get("detail"))

    unknown = east_cluster(
        members=[
            *east_cluster()["members"],
            {"id": "e9", "kind": "unit", "unit_code": "00099", "name": "Ô 99"},
        ]
    )
    status, detail = post(unknown)
    assert status == 422 and "member 'e9' (Ô 99): unit_code 00099 is not in grid" in detail
    misnamed = east_cluster(
        members=[
            east_cluster()["members"][0],
            {"id": "e3", "kind": "unit", "unit_code": "00003", "name": "Ô 7"},
        ]
    )
    status, detail = post(misnamed)
    assert status == 422 and "code 00003 is Phường Ô 3 in grid" in detail and "'Ô 7'" in detail
    status, detail = post(east_cluster(boundary_set="vn1999"))
    assert status == 422 and "boundary_set 'vn1999' is not loaded (loaded: grid)" in detail
    status, detail = post(east_cluster(members=east_cluster()["members"][:1]))
    assert status == 422 and "fewer than two of its members hold territory" in detail
    status, detail = post(east_cluster(carried_from="grid-centre"))
    assert status == 422 and "carried_from is set by geozone" in detail
    status, _ = post({k: v for k, v in east_cluster().items() if k != "members"})
    assert status == 422  # the model itself
    assert api.client.get("/clusters/grid-east").status_code == 404  # nothing was stored


def test_committed_clusters_are_read_only_and_ids_are_unique(api: Api) -> None:
    planner = api.auth("planner")
    committed = east_cluster(id="grid-centre")
    for response in (
        api.client.post("/clusters", json=committed, headers=planner),
        api.client.put("/clusters/grid-centre", json=committed, headers=planner),
    ):
        assert response.status_code == 409 and response.json()["title"] == "Conflict"
        assert "committed (data/clusters/grid-centre.toml" in response.json()["detail"]
        assert "read-only" in response.json()["detail"]
    missing = api.client.put("/clusters/grid-east", json=east_cluster(), headers=planner)
    assert missing.status_code == 404 and "POST /clusters" in missing.json()["detail"]
    assert api.client.post("/clusters", json=east_cluster(), headers=planner).status_code == 201
    again = api.client.post("/clusters", json=east_cluster(), headers=planner)
    assert again.status_code == 409 and "PUT /clusters/grid-east" in again.json()["detail"]
    renamed = api.client.put("/clusters/grid-east", json=east_cluster(id="other"), headers=planner)
    assert renamed.status_code == 422 and "cannot change" in renamed.json()["detail"]
    assert (
        api.client.put("/clusters/grid-east", json=east_cluster(), headers=api.auth("analyst"))
    ).status_code == 403


def test_replacing_a_cluster_judges_the_stored_incidents_again(
    api: Api, grid_context: Context
) -> None:
    planner = api.auth("planner")
    assert api.client.post("/clusters", json=east_cluster(), headers=planner).status_code == 201
    lon, lat = grid_point(2050, 500)  # in ward 3, 50 m from ward 2
    record = {
        "external_id": "e-1",
        "occurred_at": "2022-03-01T21:00:00+07:00",
        "lon": lon,
        "lat": lat,
        "category": "theft",
        "detected_by": "e2",
    }
    assert api.client.post("/incidents", json=[record], headers=planner).status_code == 200

    def decision() -> dict[str, Any]:
        found = api.client.get("/incidents/e-1", headers=planner).json()
        (row,) = [c for c in found["clusters"] if c["cluster_id"] == "grid-east"]
        return dict(row)

    before = decision()
    assert before["in_zone"] and before["rule"] == "border_detector"
    assert before["lead_unit"] == "00002"  # the detector leads in the 100 m band
    narrow = api.client.put(
        "/clusters/grid-east", json=east_cluster(zone_width_m=30), headers=planner
    )
    assert narrow.status_code == 200, narrow.text
    job = api.client.get(f"/jobs/{narrow.json()['reassign_job']['id']}", headers=planner).json()
    assert job["status"] == "done" and job["report"]["assigned"] == 1
    after = decision()
    assert not after["in_zone"] and after["rule"] == "territory"
    assert after["lead_unit"] == "00003"  # outside the 30 m band the holder leads
    # the stamp is that of the new context; nothing is left stale
    new_context = api.client.app.state.context  # type: ignore[attr-defined]
    assert job["report"]["stamp"] == context_stamp(new_context) != context_stamp(grid_context)
    with open_store(api.store_url) as store:
        assert store.stale_ids(context_stamp(new_context)) == []
    shown = api.client.get("/clusters/grid-east").json()
    assert shown["zone_width_m"] == 30 and shown["definition"]["zone_width_m"] == 30
    zones = api.client.get("/clusters/grid-east/zones").json()["features"]
    assert {f["properties"]["width_m"] for f in zones} == {30}  # the zone cache was refreshed
