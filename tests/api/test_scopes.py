"""Keys scoped to a unit's territory: two neighbouring wards' keys, no row leaks across."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import RouteRole, create_app
from api.auth_store import KeyStore, create_key
from api.scopes import parse_scope, scope_units
from api.settings import ApiSettings
from geozone.clusters.model import Confirmation
from geozone.context import Context, load_context
from geozone.errors import InvalidParameterError
from geozone.incidents.io import validate_incidents
from geozone.incidents.pipeline import assign_stale
from geozone.settings import Settings
from geozone.store import IncidentQuery, IncidentStore, open_store
from tests.api.conftest import Api
from tests.fixtures.incidents import record
from tests.store.conftest import backend, postgres, store, store_url  # noqa: F401

#: Ward 1 (x 0–1 km) and ward 2 (x 1–2 km) of the grid share a boundary; both in district 001.
WARD_1 = [record(f"w1-{i}", 200 + 100 * i, 300) for i in range(3)]
WARD_2 = [record(f"w2-{i}", 1_200 + 100 * i, 300) for i in range(2)]


@pytest.fixture
def scoped(api: Api) -> dict[str, dict[str, str]]:
    posted = api.client.post("/incidents", json=WARD_1 + WARD_2, headers=api.auth("planner"))
    assert posted.status_code == 200 and posted.json()["stored"] == 5
    keys = {
        "w1": create_key(api.store_url, "ward-1", "analyst", scopes=["unit:00001"]),
        "w2": create_key(api.store_url, "ward-2", "planner", scopes=["unit:00002"]),
    }
    return {name: {"X-API-Key": key} for name, key in keys.items()}


def ids(response: object) -> set[str]:
    return {f["properties"]["external_id"] for f in response.json()["features"]}  # type: ignore[attr-defined]


def test_each_ward_reads_its_own_incidents_only(
    api: Api, scoped: dict[str, dict[str, str]]
) -> None:
    own_1 = ids(api.client.get("/incidents", headers=scoped["w1"]))
    own_2 = ids(api.client.get("/incidents", headers=scoped["w2"]))
    assert own_1 == {r["external_id"] for r in WARD_1}
    assert own_2 == {r["external_id"] for r in WARD_2}
    assert ids(api.client.get("/incidents", headers=api.auth("analyst"))) == own_1 | own_2
    # Asking for the other ward's unit or a box around it gives nothing more.
    across = api.client.get("/incidents", params={"unit": "00002"}, headers=scoped["w1"])
    assert across.json()["numberMatched"] == 0
    assert api.client.get("/incidents/w1-0", headers=scoped["w1"]).status_code == 200
    hidden = api.client.get("/incidents/w2-0", headers=scoped["w1"])
    assert hidden.status_code == 404  # as if unknown: not even its existence leaks
    assert hidden.json()["detail"] == "no incident with external id 'w2-0'"
    district = create_key(api.store_url, "district-1", "analyst", scopes=["unit:001"])
    assert ids(api.client.get("/incidents", headers={"X-API-Key": district})) == own_1 | own_2


def test_scoped_write_routes_pass_the_request_guard(
    api: Api, scoped: dict[str, dict[str, str]]
) -> None:
    """The guard refuses writes before their body is read, but not a scoped key's own."""
    roles: list[RouteRole] = api.client.app.state.route_roles  # type: ignore[attr-defined]
    scoped_writes = {r.template for r in roles if r.scoped and r.methods & {"POST", "PUT"}}
    assert {"/incidents", "/incidents/import", "/patrol-zones", "/clusters"} <= scoped_writes
    assert "/keys" not in scoped_writes
    admin = create_key(api.store_url, "ward-admin", "admin", scopes=["unit:00002"])
    refused = api.client.post("/keys", json={}, headers={"X-API-Key": admin})
    assert refused.status_code == 403 and "does not honour scopes" in refused.json()["detail"]


CLUSTER_ROUTES = [
    "/clusters/{}/report?from=2022-01-01&to=2022-12-31",
    "/clusters/{}/hotspots",
    "/clusters/{}/border-effect",
    "/maps/clusters/{}/incidents",
]


def test_a_cluster_scope_reads_its_cluster_and_no_other(
    api: Api, scoped: dict[str, dict[str, str]]
) -> None:
    key = create_key(api.store_url, "cluster-key", "analyst", scopes=["cluster:grid-centre"])
    mine = {"X-API-Key": key}
    for template in CLUSTER_ROUTES:
        own = api.client.get(template.format("grid-centre"), headers=mine)
        assert own.status_code not in (401, 403), (template, own.text)
        # Another cluster, even one that does not exist: refused, its existence not told.
        other = api.client.get(template.format("elsewhere"), headers=mine)
        assert other.status_code == 403 and "own clusters only" in other.json()["detail"]
        # A ward's key without the cluster among its scopes: refused.
        ward = api.client.get(template.format("grid-centre"), headers=scoped["w1"])
        assert ward.status_code == 403
    drawn = api.client.get("/maps/clusters/grid-centre/incidents", headers=mine).json()
    assert drawn["cluster_id"] == "grid-centre"
    # The cluster's incidents through /incidents: its members' wards only.
    members = ids(api.client.get("/incidents", headers=mine))
    assert members and members <= {r["external_id"] for r in WARD_1 + WARD_2}


def test_scopes_are_kept_listed_and_validated(api: Api, scoped: dict[str, dict[str, str]]) -> None:
    with open_store(api.store_url) as opened:
        listed = {k["name"]: k["scopes"] for k in KeyStore(opened.engine).list_keys()}
    assert listed["ward-1"] == ["unit:00001"] and listed["analyst-key"] == []
    made = api.client.post(
        "/keys",
        json={"name": "c", "role": "analyst", "scopes": ["cluster:grid-centre"]},
        headers=api.auth("admin"),
    )
    assert made.status_code == 201 and made.json()["scopes"] == ["cluster:grid-centre"]
    bad = api.client.post(
        "/keys",
        json={"name": "d", "role": "analyst", "scopes": ["ward:1"]},
        headers=api.auth("admin"),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "scopes", "0"]
    with pytest.raises(InvalidParameterError, match="is not one of unit:CODE"):
        parse_scope("ward:1")
    with pytest.raises(InvalidParameterError, match="characters codes never do"):
        parse_scope("unit:0'1")


def test_cli_adds_a_key_with_repeated_scopes(api: Api) -> None:
    from api.cli import users_app

    scopes = ["--scope", "unit:00001", "--scope", "province:01"]
    where = ["--store", api.store_url]
    result = CliRunner().invoke(users_app, ["add", "both", "--role", "analyst", *scopes, *where])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(users_app, ["list", *where])
    assert "both\tanalyst\t" in listed.output and "province:01,unit:00001" in listed.output


# -- following the reform, on the real sets ---------------------------------------------------


@pytest.fixture(scope="module")
def real_context(built_settings: Settings) -> Context:
    confirmed = Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")
    return load_context(built_settings, confirmations=[confirmed])


def test_a_legacy_ward_covers_its_successors_and_a_cluster_its_carried_form(
    real_context: Context,
) -> None:
    old_nghia_do = scope_units(real_context, ["unit:00157"])
    assert ("vn-legacy-districts", "00157") in old_nghia_do
    assert ("vn2025", "00160") in old_nghia_do  # today's Phường Nghĩa Đô
    # Today's code names today's unit only: legacy 00160 is another ward.
    today = scope_units(real_context, ["unit:00160"])
    assert today == {("vn2025", "00160")}
    t11 = scope_units(real_context, ["cluster:hoa-do-phuc-vi"])
    assert ("vn-legacy-districts", "00169") in t11  # Quan Hoa, a signing member
    assert {("vn2025", c) for c in ("00160", "00008", "00166")} <= t11
    assert scope_units(real_context, ["cluster:nowhere"]) == frozenset()


def test_neighbouring_2025_wards_on_the_real_sets_share_no_row(
    real_context: Context, built_api_settings: ApiSettings, tmp_path: object
) -> None:
    url = f"sqlite:///{tmp_path}/real.sqlite"
    points = [
        ("nd", 105.7990, 21.0455),  # Phường Nghĩa Đô
        ("nh", 105.8150, 21.0370),  # Phường Ngọc Hà
    ]
    planner = create_key(url, "p", "planner")
    keys = {
        "nd": create_key(url, "nd", "analyst", scopes=["unit:00160"]),
        "nh": create_key(url, "nh", "analyst", scopes=["unit:00008"]),
    }
    app = create_app(built_api_settings, context=real_context, store_url=url)
    with TestClient(app) as client:
        body = [
            {
                "external_id": f"{name}-{i}",
                "occurred_at": "2025-08-01T10:00:00+07:00",
                "lon": lon,
                "lat": lat,
                "category": "theft",
            }
            for name, lon, lat in points
            for i in range(2)
        ]
        posted = client.post("/incidents", json=body, headers={"X-API-Key": planner})
        assert posted.json()["stored"] == 4
        for name in ("nd", "nh"):
            found = client.get("/incidents", headers={"X-API-Key": keys[name]}).json()
            assert {f["properties"]["external_id"] for f in found["features"]} == {
                f"{name}-0",
                f"{name}-1",
            }


def test_the_store_filters_on_the_scope_on_both_backends(
    store: IncidentStore,  # noqa: F811
    grid_context: Context,
) -> None:
    rows = [*WARD_1, WARD_2[0], {**WARD_2[1], "detected_by": "x9"}]  # w2-1: not a member's
    read = validate_incidents(pd.DataFrame(rows))
    store.add_incidents(read.incidents.reset_index(drop=True))
    assign_stale(store, grid_context)

    def found(units: tuple[tuple[str, str], ...]) -> set[str]:
        frame, total = store.query(IncidentQuery(units=units))
        assert total == len(frame)
        return set(frame["external_id"])

    assert found((("grid", "00001"),)) == {r["external_id"] for r in WARD_1}
    assert found((("grid", "00002"),)) == {r["external_id"] for r in WARD_2}
    assert found((("grid", "001"),)) == {r["external_id"] for r in WARD_1 + WARD_2}
    assert found((("vn2025", "00001"),)) == set()  # a code of another set is another unit
    assert found(()) == set()
    # A cluster scope's either/or: ward 1, or detected by member o2 when judged in the grid.
    ward_1 = {r["external_id"] for r in WARD_1}
    for detectors, more in (
        ((("grid", "o2"),), {"w2-0"}),
        ((("grid", "o2"), ("grid", "x9")), {"w2-0", "w2-1"}),
        ((("vn2025", "o2"),), set()),  # judged in another set: not that member
    ):
        frame, total = store.query(IncidentQuery(units=(("grid", "00001"),), detectors=detectors))
        assert set(frame["external_id"]) == ward_1 | more and total == len(frame)
    # Without units the detectors narrow nothing (every row is read already).
    assert store.count(IncidentQuery(detectors=(("grid", "x9"),))) == 5
