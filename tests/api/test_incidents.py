from __future__ import annotations

from pathlib import Path
from typing import Any

from geozone.context import Context
from tests.api.conftest import Api
from tests.fixtures.grid import grid_point
from tests.fixtures.incidents import record


def test_post_stores_assigns_and_reports_rejects(api: Api) -> None:
    posted = api.client.post(
        "/incidents",
        json=[record("a", 950, 300), record("b", 300, 300), record("c", 10, 10, category="x")],
        headers=api.auth("planner"),
    )
    assert posted.status_code == 200
    body = posted.json()
    assert (body["received"], body["stored"], body["assigned"]) == (3, 2, 2)
    (reject,) = body["rejects"]
    assert (reject["index"], reject["external_id"], reject["field"]) == (2, "c", "category")
    one = api.client.get("/incidents/a", headers=api.auth("analyst")).json()
    assert one["assignment"]["unit_code"] == "00001"
    assert one["clusters"][0]["lead_unit"] == "00002"
    again = api.client.post("/incidents", json=record("a", 950, 300), headers=api.auth("planner"))
    assert again.json()["duplicates"] == 1 and again.json()["stored"] == 0


def test_query_is_geojson_with_counts(api: Api) -> None:
    api.client.post(
        "/incidents",
        json=[record("a", 950, 300), record("b", 300, 300), record("z", 2500, 2500)],
        headers=api.auth("planner"),
    )
    auth = api.auth("analyst")
    every = api.client.get("/incidents", params={"limit": 2}, headers=auth).json()
    assert every["type"] == "FeatureCollection"
    assert (every["numberMatched"], every["numberReturned"]) == (3, 2)
    feature = every["features"][0]
    assert feature["geometry"]["type"] == "Point"
    rels = {link["rel"]: link["href"] for link in every["links"]}
    assert set(rels) == {"self", "next"} and "offset=2" in rels["next"]
    rest = api.client.get(rels["next"], headers=auth).json()
    assert rest["numberReturned"] == 1 and {x["rel"] for x in rest["links"]} == {"self", "prev"}
    assert {f["id"] for f in every["features"] + rest["features"]} == {"a", "b", "z"}
    zone = api.client.get(
        "/incidents", params={"cluster": "grid-centre", "in_border_zone": True}, headers=auth
    ).json()
    assert [f["id"] for f in zone["features"]] == ["a"]
    ward = api.client.get("/incidents", params={"unit": "00009"}, headers=auth).json()
    assert [f["id"] for f in ward["features"]] == ["z"]
    lon0, lat0 = grid_point(0, 0)
    lon1, lat1 = grid_point(1000, 1000)
    boxed = api.client.get(
        "/incidents", params={"bbox": f"{lon0},{lat0},{lon1},{lat1}"}, headers=auth
    ).json()
    assert sorted(f["id"] for f in boxed["features"]) == ["a", "b"]
    late = api.client.get(
        "/incidents", params={"start": "2022-03-02T00:00:00+07:00"}, headers=auth
    ).json()
    assert late["numberMatched"] == 0
    assert api.client.get("/incidents", params={"limit": 0}, headers=auth).status_code == 422
    assert api.client.get("/incidents", params={"limit": 10_001}, headers=auth).status_code == 422
    bad = api.client.get("/incidents", params={"category": "unicorns"}, headers=auth)
    assert bad.status_code == 400 and "unicorns" in bad.json()["detail"]


def test_unknown_incident_is_404(api: Api) -> None:
    response = api.client.get("/incidents/nope", headers=api.auth("analyst"))
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_post_without_required_columns_is_400(api: Api) -> None:
    response = api.client.post("/incidents", json=[{"lon": 1}], headers=api.auth("planner"))
    assert response.status_code == 400 and "external_id" in response.json()["detail"]


def test_import_job_reports_rejects(api: Api) -> None:
    lon, lat = grid_point(950, 300)
    csv = (
        "external_id,occurred_at,lon,lat,category,detected_by\n"
        f"a,2022-03-01T21:00:00+07:00,{lon},{lat},drugs,o2\n"
        "d,2022-03-01,abc,21.0,theft,\n"
    )
    started = api.client.post(
        "/incidents/import",
        files={"file": ("in.csv", csv.encode(), "text/csv")},
        headers=api.auth("planner"),
    )
    assert started.status_code == 202
    job = api.client.get(f"/jobs/{started.json()['id']}", headers=api.auth("planner")).json()
    assert job["status"] == "done", job
    assert (job["report"]["stored"], job["report"]["rejected"]) == (1, 1)
    assert job["report"]["rejects"][0]["line"] == 3
    got = api.client.get("/incidents/a", headers=api.auth("analyst")).json()
    assert got["clusters"][0]["lead_unit"] == "00002"
    assert api.client.get("/jobs/nope", headers=api.auth("analyst")).status_code == 404
    wrong = api.client.post(
        "/incidents/import",
        files={"file": ("in.exe", b"x", "application/octet-stream")},
        headers=api.auth("planner"),
    )
    assert wrong.status_code == 400


def test_one_bad_record_is_rejected_alone_with_its_index(api: Api) -> None:
    records: list[object] = [record(f"n{k}", 950, 300) for k in range(100)]
    records[17] = record("n17", 950, 300, description="nul \x00 byte")
    records[40] = ["not", "an", "object"]
    records[41] = record("n41", 950, 300, lon={"x": 1})
    records[42] = record("n42", 950, 300, occurred_at="0001-01-01T00:00:00+07:00")
    posted = api.client.post("/incidents", json=records, headers=api.auth("planner"))
    assert posted.status_code == 200, posted.text
    body = posted.json()
    assert (body["received"], body["stored"]) == (100, 96)
    assert [(r["index"], r["field"]) for r in body["rejects"]] == [
        (17, "description"),
        (40, "record"),
        (41, "lon"),
        (42, "occurred_at"),
    ]


def test_a_body_whose_every_record_is_rejected_is_422_and_stores_nothing(api: Api) -> None:
    posted = api.client.post(
        "/incidents",
        json=[record("u1", 950, 300, category="unicorns"), {}],
        headers=api.auth("planner"),
    )
    assert posted.status_code == 422
    assert posted.headers["content-type"] == "application/problem+json"
    assert [r["index"] for r in posted.json()["rejects"]] == [0, 1, 1, 1, 1, 1]
    assert api.client.get("/incidents", headers=api.auth("analyst")).json()["numberMatched"] == 0


def test_a_post_judges_its_own_rows_and_queues_the_stale_ones(api: Api) -> None:
    from geozone.store import open_store
    from tests.fixtures.incidents import make_incidents

    with open_store(api.store_url) as store:  # stored, never judged: stale for this context
        store.add_incidents(make_incidents(30, prefix="old"))
    posted = api.client.post(
        "/incidents", json=record("new", 950, 300), headers=api.auth("planner")
    )
    body = posted.json()
    assert posted.status_code == 200 and (body["stored"], body["assigned"]) == (1, 1)
    job = api.client.get(f"/jobs/{body['reassign_job']['id']}", headers=api.auth("planner")).json()
    assert job["status"] == "done" and job["report"]["assigned"] == 30
    again = api.client.post(
        "/incidents", json=record("newer", 300, 300), headers=api.auth("planner")
    )
    assert again.json()["reassign_job"] is None  # nothing stale is left


def test_an_incident_judged_under_an_older_context_says_so(api: Api) -> None:
    import pandas as pd

    from geozone.store import IncidentQuery, open_store
    from geozone.store.base import UNIT_COLUMNS

    api.client.post("/incidents", json=record("a", 950, 300), headers=api.auth("planner"))
    current = api.client.get("/incidents/a", headers=api.auth("analyst")).json()
    assert current["assignment"]["current"] is True and current["problems"] == []
    with open_store(api.store_url) as store:  # as after a confirmation, before the job ran
        frame, _ = store.query(IncidentQuery(limit=1))
        units = pd.DataFrame(frame[["external_id", *UNIT_COLUMNS]])
        store.save_assignments(units, store.cluster_rows(IncidentQuery(limit=1)), stamp="old")
    stale = api.client.get("/incidents/a", headers=api.auth("analyst")).json()
    assert stale["assignment"]["current"] is False
    assert stale["clusters"] == current["clusters"]  # the stored decisions, said to be old
    (problem,) = stale["problems"]
    assert problem.startswith("the decisions were made before a change of context")


def test_a_report_posted_while_another_process_links_waits_for_its_linking(
    api: Api, grid_context: Context
) -> None:
    from geozone.incidents.pipeline import link_stored
    from geozone.store import open_store
    from tests.fixtures.linking import held_elsewhere

    first = record("o1-17", 950, 300, detected_by="o1")
    called = record("o2-4", 960, 320, occurred_at="2022-03-01T21:20:00+07:00")
    api.client.post("/incidents", json=[first], headers=api.auth("planner"))
    with held_elsewhere(api.store_url):  # an import linking in another process
        posted = api.client.post("/incidents", json=[called], headers=api.auth("planner"))
    body = posted.json()
    assert posted.status_code == 200, posted.text
    assert (body["stored"], body["assigned"], body["linked"]) == (1, 1, 0)
    assert "so these are not linked yet: 'geozone incidents link' links them" in body["note"]
    shown = api.client.get("/incidents/o2-4", headers=api.auth("analyst")).json()
    assert shown["event_id"] is None  # not linked yet, and not said to be single
    listed = api.client.get("/incidents", headers=api.auth("analyst")).json()
    [notice] = listed["notices"]  # every answer that counts events says so
    assert "1 stored report is not linked into events yet" in notice
    with open_store(api.store_url) as store:  # what `geozone incidents link` runs
        assert link_stored(store, grid_context) == 2
    assert api.client.get("/incidents", headers=api.auth("analyst")).json()["notices"] == []
    shown = api.client.get("/incidents/o2-4", headers=api.auth("analyst")).json()
    assert (shown["event_id"], shown["event_role"]) == ("ev-o1-17", "cooperating")


def test_two_posted_reports_of_one_event_share_its_id_and_can_be_unlinked(api: Api) -> None:
    first = record("o1-17", 950, 300, detected_by="o1")
    called = record("o2-4", 960, 320, occurred_at="2022-03-01T21:20:00+07:00")
    assert (
        api.client.post("/incidents", json=[first], headers=api.auth("planner")).json()["linked"]
        == 0
    )
    posted = api.client.post("/incidents", json=[called], headers=api.auth("planner")).json()
    assert posted["linked"] == 1  # against the stored report nearby
    shown = api.client.get("/incidents/o2-4", headers=api.auth("analyst")).json()
    assert (shown["event_id"], shown["event_role"]) == ("ev-o1-17", "cooperating")
    assert shown["clusters"][0]["lead_unit"] == "00001"  # the event's first detector leads
    listed = api.client.get("/incidents", headers=api.auth("analyst")).json()
    assert {f["properties"]["event_id"] for f in listed["features"]} == {"ev-o1-17"}
    refused = api.client.post("/incidents/o2-4/unlink", json={}, headers=api.auth("analyst"))
    assert refused.status_code == 400
    unlinked = api.client.post(
        "/incidents/o2-4/unlink", json={"other": "o1-17"}, headers=api.auth("analyst")
    )
    assert unlinked.status_code == 200, unlinked.text
    assert unlinked.json()["events"]["o2-4"]["event_id"] == "ev-o2-4"
    again = api.client.get("/incidents/o2-4", headers=api.auth("analyst")).json()
    assert again["event_role"] == "single" and again["clusters"][0]["lead_unit"] == "00002"


def test_answers_name_an_unfinished_import_until_it_is_closed(
    api: Api, grid_context: Any, tmp_path: Path
) -> None:
    """GET /incidents, the map's table and page, hotspots, border effect: one notice each."""
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.pipeline import close_import, unfinished_imports
    from geozone.store import open_store
    from tests.fixtures.html import js_arguments
    from tests.fixtures.imports import stopped_import

    with open_store(api.store_url) as store:
        stopped_import(store, tmp_path, grid_context)
        notices = unfinished_import_notices(store)
    analyst = api.auth("analyst")
    period = {"from": "2024-01-01", "to": "2024-12-31"}
    answers = {
        "incidents": api.client.get("/incidents", headers=analyst),
        "table": api.client.get("/maps/clusters/grid-centre/incidents", headers=analyst),
        "hotspots": api.client.get(
            "/clusters/grid-centre/hotspots", params=period, headers=analyst
        ),
        "border": api.client.get(
            "/clusters/grid-centre/border-effect", params=period, headers=analyst
        ),
    }
    assert len(notices) == 1 and "Unfinished import (stopped): file " in notices[0]
    for name, answer in answers.items():
        assert answer.status_code == 200, (name, answer.text)
        assert answer.json()["notices"] == notices, name
    page = api.client.get("/maps/clusters/grid-centre", headers=analyst)
    (spec,) = js_arguments(page.text, "GZ.decorate")
    assert len(spec["legend"]["notices_html"]) == 1
    assert "Unfinished import (stopped): file " in spec["legend"]["notices_html"][0]

    with open_store(api.store_url) as store:
        [batch] = unfinished_imports(store)
        close_import(store, grid_context, batch["batch_id"])
    for path, params in (
        ("/incidents", {}),
        ("/maps/clusters/grid-centre/incidents", {}),  # cached: built again
        ("/clusters/grid-centre/hotspots", period),
        ("/clusters/grid-centre/border-effect", period),
    ):
        assert api.client.get(path, params=params, headers=analyst).json()["notices"] == []


def test_one_incident_and_the_ogc_incidents_name_an_unfinished_import_until_it_is_closed(
    api: Api, grid_context: Any, tmp_path: Path
) -> None:
    """GET /incidents/{id}, OGC incident items and one item: the notices GET /incidents gives."""
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.pipeline import close_import, unfinished_imports
    from geozone.store import open_store
    from tests.fixtures.imports import stopped_import

    analyst = api.auth("analyst")
    paths = ("/incidents/twin", "/collections/incidents/items", "/collections/incidents/items/g7")
    with open_store(api.store_url) as store:
        stopped_import(store, tmp_path, grid_context)
        notices = unfinished_import_notices(store)
    assert len(notices) == 1 and "Unfinished import (stopped): file " in notices[0]
    for path in paths:
        answer = api.client.get(path, headers=analyst)
        assert answer.status_code == 200, (path, answer.text)
        assert answer.json()["notices"] == notices, path
    one = api.client.get("/incidents/twin", headers=analyst).json()
    assert one["event_role"] == "single"  # what the notice warns of: g7's other report
    units = api.client.get("/collections/units/items").json()
    assert "notices" not in units  # a collection that counts no incident says nothing

    with open_store(api.store_url) as store:
        [batch] = unfinished_imports(store)
        close_import(store, grid_context, batch["batch_id"])
    for path in paths:
        assert api.client.get(path, headers=analyst).json()["notices"] == [], path
    one = api.client.get("/incidents/twin", headers=analyst).json()
    assert one["event_role"] in ("lead", "cooperating")


def test_openapi_documents_the_notices_of_every_answer_that_counts_incidents(api: Api) -> None:
    from api.schemas import NOTICES_DESCRIPTION

    document = api.client.get("/openapi.json").json()

    def resolved(schema: dict[str, Any]) -> dict[str, Any]:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return resolved(document["components"]["schemas"][name])
        return schema

    for path, method in (
        ("/incidents", "get"),
        ("/incidents/{external_id}", "get"),
        ("/clusters/{cluster_id}/hotspots", "get"),
        ("/clusters/{cluster_id}/border-effect", "get"),
        ("/clusters/{cluster_id}/coverage", "post"),
        ("/patrol-zones/{zone_id}/coverage", "get"),
        ("/clusters/{cluster_id}/patrol-suggestions", "get"),
        ("/maps/clusters/{cluster_id}/incidents", "get"),
        ("/collections/{collection_id}/items", "get"),
        ("/collections/{collection_id}/items/{feature_id}", "get"),
    ):
        [content] = document["paths"][path][method]["responses"]["200"]["content"].values()
        notices = resolved(content["schema"])["properties"]["notices"]
        assert notices["type"] == "array" and notices["items"] == {"type": "string"}, path
        assert notices["description"].endswith(NOTICES_DESCRIPTION), path
