"""Every route with the keys of two neighbouring wards: no row leaks across, on both stores.

The routes are enumerated from the app (:func:`every_route`): a route with no scope decision
in :data:`DECISIONS` fails :func:`test_every_route_has_a_scope_decision`, and every route
is requested by each ward's key for the other ward's rows, zones and jobs
(:func:`cross_requests`). An answer leaks when it holds anything of the other ward that
the request did not name itself: its incidents' ids or days, its patrol zone, its job.
The sweep runs on the test grid over SQLite and PostGIS, and on the real 2025 wards
Phường Nghĩa Đô and Phường Ngọc Hà (neighbours, both members of T11).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth_store import create_key
from api.settings import ApiSettings
from geozone.clusters.model import Confirmation
from geozone.context import Context, load_context
from geozone.settings import Settings
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.incidents import record
from tests.fixtures.patrol import ring
from tests.store.conftest import backend, postgres, store_url  # noqa: F401

PUBLIC = "public: boundaries, clusters and pages hold no incident row"
FILTERED = "answers the rows of the key's scopes only"
OWN_CLUSTERS = "the key's own clusters only (its scopes hold every row); 403 otherwise"
IN_SCOPE_WRITES = "writes inside the key's scopes only; 403 naming what lies outside"
OWN_JOBS = "the key's own jobs only"
UNSCOPED_ONLY = "refused to scoped keys (a scoped key could make a wider key)"
DOCS = "the API's own documents"

#: The scope decision of every route (method, path template).
DECISIONS: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC,
    ("HEAD", "/"): PUBLIC,
    ("GET", "/openapi.json"): DOCS,
    ("HEAD", "/openapi.json"): DOCS,
    ("GET", "/openapi-3.0.json"): DOCS,
    ("HEAD", "/openapi-3.0.json"): DOCS,
    ("GET", "/docs"): DOCS,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("GET", "/redoc"): DOCS,
    ("GET", "/health"): PUBLIC,
    ("GET", "/version"): PUBLIC,
    ("GET", "/favicon.ico"): PUBLIC,
    ("GET", "/sets"): PUBLIC,
    ("GET", "/units"): PUBLIC,
    ("GET", "/units/{code}"): PUBLIC,
    ("GET", "/units/{code}/neighbours"): PUBLIC,
    ("GET", "/locate"): PUBLIC,
    ("POST", "/locate"): PUBLIC,
    ("GET", "/address"): PUBLIC,
    ("GET", "/address/incidents"): FILTERED,
    ("POST", "/incidents"): IN_SCOPE_WRITES,
    ("GET", "/incidents"): FILTERED,
    ("GET", "/incidents/{external_id}"): FILTERED,
    ("POST", "/incidents/{external_id}/unlink"): IN_SCOPE_WRITES,
    ("POST", "/incidents/import"): IN_SCOPE_WRITES,
    ("GET", "/jobs/{job_id}"): OWN_JOBS,
    ("GET", "/patrol-zones"): FILTERED,
    ("POST", "/patrol-zones"): IN_SCOPE_WRITES,
    ("PUT", "/patrol-zones/{zone_id}"): IN_SCOPE_WRITES,
    ("DELETE", "/patrol-zones/{zone_id}"): IN_SCOPE_WRITES,
    ("GET", "/clusters"): PUBLIC,
    ("GET", "/clusters/{cluster_id}"): PUBLIC,
    ("POST", "/clusters"): IN_SCOPE_WRITES,
    ("PUT", "/clusters/{cluster_id}"): OWN_CLUSTERS,
    ("GET", "/clusters/{cluster_id}/zones"): PUBLIC,
    ("GET", "/clusters/{cluster_id}/migrate"): PUBLIC,
    ("POST", "/clusters/{cluster_id}/confirm"): OWN_CLUSTERS,
    ("DELETE", "/clusters/{cluster_id}/confirm"): OWN_CLUSTERS,
    ("GET", "/clusters/{cluster_id}/report"): OWN_CLUSTERS,
    ("GET", "/clusters/{cluster_id}/hotspots"): OWN_CLUSTERS,
    ("GET", "/clusters/{cluster_id}/border-effect"): OWN_CLUSTERS,
    ("POST", "/clusters/{cluster_id}/coverage"): OWN_CLUSTERS,
    ("GET", "/patrol-zones/{zone_id}/coverage"): OWN_CLUSTERS,
    ("GET", "/clusters/{cluster_id}/patrol-suggestions"): OWN_CLUSTERS,
    ("GET", "/conformance"): PUBLIC,
    ("HEAD", "/conformance"): PUBLIC,
    ("GET", "/collections"): FILTERED,
    ("HEAD", "/collections"): FILTERED,
    ("GET", "/collections/{collection_id}"): FILTERED,
    ("HEAD", "/collections/{collection_id}"): FILTERED,
    ("GET", "/collections/{collection_id}/queryables"): PUBLIC,
    ("HEAD", "/collections/{collection_id}/queryables"): PUBLIC,
    ("GET", "/collections/{collection_id}/items"): FILTERED,
    ("HEAD", "/collections/{collection_id}/items"): FILTERED,
    ("GET", "/collections/{collection_id}/items/{feature_id}"): FILTERED,
    ("HEAD", "/collections/{collection_id}/items/{feature_id}"): FILTERED,
    ("GET", "/keys"): UNSCOPED_ONLY,
    ("POST", "/keys"): UNSCOPED_ONLY,
    ("DELETE", "/keys/{name}"): UNSCOPED_ONLY,
    ("GET", "/maps/static/{path:path}"): PUBLIC,
    ("GET", "/maps/basemap/{z}/{x}/{y}"): PUBLIC,
    ("GET", "/maps/clusters/{cluster_id}"): OWN_CLUSTERS,
    ("GET", "/maps/clusters/{cluster_id}/incidents"): OWN_CLUSTERS,
    ("GET", "/maps/planner/{cluster_id}"): PUBLIC,
    ("GET", "/maps/reports/{cluster_id}"): PUBLIC,
}
COLLECTIONS = ("units", "border-zones", "incidents", "patrol-zones", "hotspots")


def every_route(app: FastAPI) -> set[tuple[str, str]]:
    """Return (method, path template) of every route the app serves, included routers too."""
    found: set[tuple[str, str]] = set()
    pending: list[tuple[str, Any]] = [("", route) for route in app.routes]
    while pending:
        prefix, route = pending.pop()
        inner = getattr(route, "original_router", None)
        if inner is not None:  # an included router (FastAPI keeps it whole)
            added = route.include_context.prefix
            pending += [(prefix + added, r) for r in inner.routes]
            continue
        inner_routes = getattr(route, "routes", None)
        if inner_routes is not None and not hasattr(route, "endpoint"):  # a mount
            pending += [(prefix + route.path, r) for r in inner_routes]
            continue
        for method in getattr(route, "methods", None) or {"GET"}:
            found.add((method, prefix + route.path))
    return found


# -- the two wards, their rows, zones and jobs -------------------------------------------------


@dataclass
class Ward:
    """One ward's key (a planner scoped to the ward) and what it owns."""

    name: str
    scope: str
    unit: str
    rows: list[dict[str, Any]]
    imported: list[dict[str, Any]]
    zone: list[list[float]]
    day: str
    key: dict[str, str] = field(default_factory=dict)
    zone_id: int = 0
    job_id: str = ""

    def ids(self) -> set[str]:
        return {r["external_id"] for r in self.rows + self.imported}

    def tokens(self) -> set[str]:
        """What of this ward no other ward's key may read."""
        return {*self.ids(), self.day, f"zone of {self.name}", self.job_id}


@dataclass
class Env:
    client: TestClient
    url: str
    admin: dict[str, str]
    cluster_id: str
    wards: dict[str, Ward]
    elsewhere: list[dict[str, Any]]
    cluster_body: dict[str, Any]


def csv_of(rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    names = ["external_id", "occurred_at", "lon", "lat", "category"]
    writer = csv.DictWriter(out, names, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def zone_body(ward: Ward, cluster_id: str) -> dict[str, Any]:
    return {
        "cluster_id": cluster_id,
        "name": f"zone of {ward.name}",
        "geometry": {"type": "Polygon", "coordinates": [ward.zone]},
    }


def prepare(
    client: TestClient,
    url: str,
    cluster_id: str,
    wards: list[Ward],
    elsewhere: list[dict[str, Any]],
) -> Env:
    """Store the wards' rows (an unscoped planner), make their keys, their zones and jobs."""
    admin = {"X-API-Key": create_key(url, "admin-all", "admin")}
    every = [r for w in wards for r in w.rows] + elsewhere
    posted = client.post("/incidents", json=every, headers=admin)
    assert posted.status_code == 200 and posted.json()["stored"] == len(every), posted.text
    for ward in wards:
        ward.key = {"X-API-Key": create_key(url, ward.name, "planner", scopes=[ward.scope])}
        made = client.post("/patrol-zones", json=zone_body(ward, cluster_id), headers=ward.key)
        assert made.status_code == 201, made.text
        ward.zone_id = int(made.json()["id"])
        files = {"file": ("own.csv", csv_of(ward.imported), "text/csv")}
        job = client.post("/incidents/import", files=files, headers=ward.key)
        assert job.status_code == 202, job.text
        ward.job_id = job.json()["id"]
        done = client.get(f"/jobs/{ward.job_id}", headers=ward.key).json()
        assert done["status"] == "done" and done["report"]["stored"] == len(ward.imported), done
    body = grid_cluster(id="wards-new").model_dump(mode="json")
    return Env(client, url, admin, cluster_id, {w.name: w for w in wards}, elsewhere, body)


@dataclass(frozen=True)
class Call:
    method: str
    template: str
    path: str
    expect: frozenset[int] | None  # None: any answer but a server error
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


def _call(method: str, template: str, path: str, expect: Any = None, **kwargs: Any) -> Call:
    codes = None if expect is None else frozenset([expect] if isinstance(expect, int) else expect)
    return Call(method, template, path, codes, kwargs)


def cross_requests(env: Env, me: Ward, other: Ward) -> list[Call]:
    """Every route, asked by ``me`` for ``other``'s rows, zone, job and unit."""
    cid = env.cluster_id
    lon, lat = other.rows[0]["lon"], other.rows[0]["lat"]
    foreign = {**other.rows[0], "external_id": f"x-{me.name}-post"}
    foreign_file = csv_of(
        [{**r, "external_id": f"x-{me.name}-{i}"} for i, r in enumerate(other.rows)]
    )
    calls = [
        _call("GET", "/", "/", 200),
        _call("GET", "/openapi.json", "/openapi.json", 200),
        _call("GET", "/openapi-3.0.json", "/openapi-3.0.json", 200),
        _call("GET", "/docs", "/docs", 200),
        _call("GET", "/redoc", "/redoc", 200),
        # Sign-in pages: a form and its answers, no incident row (a session keeps the key's
        # scopes: tests/api/test_session.py).
        _call("GET", "/login", "/login", 200),
        _call("POST", "/login", "/login", None),
        _call("POST", "/logout", "/logout", None),
        _call("GET", "/health", "/health"),
        _call("GET", "/version", "/version", 200),
        _call("GET", "/favicon.ico", "/favicon.ico"),
        _call("GET", "/sets", "/sets", 200),
        _call("GET", "/units", "/units", 200),
        _call("GET", "/units/{code}", f"/units/{other.unit}", 200),
        _call("GET", "/units/{code}/neighbours", f"/units/{other.unit}/neighbours", 200),
        _call("GET", "/locate", "/locate", None, params={"lon": lon, "lat": lat}),
        _call("POST", "/locate", "/locate", None, json=[{"lon": lon, "lat": lat}]),
        _call("GET", "/address", "/address", None, params={"q": "Phường Nghĩa Đô, Hà Nội"}),
        _call("GET", "/address/incidents", "/address/incidents", None, params={"q": "Hà Nội"}),
        # Incidents: the other ward's rows are unknown; writing there is refused.
        _call("POST", "/incidents", "/incidents", 403, json=[foreign]),
        _call("GET", "/incidents", "/incidents", 200, params={"unit": other.unit}),
        _call("GET", "/incidents/{external_id}", f"/incidents/{other.rows[0]['external_id']}", 404),
        _call(
            "POST",
            "/incidents/{external_id}/unlink",
            f"/incidents/{other.rows[0]['external_id']}/unlink",
            404,
            json={"other": other.rows[-1]["external_id"]},
        ),
        _call(
            "POST",
            "/incidents/import",
            "/incidents/import",
            202,
            files={"file": ("theirs.csv", foreign_file, "text/csv")},
        ),
        _call("GET", "/jobs/{job_id}", f"/jobs/{other.job_id}", 403),
        # Patrol zones: the other's zone is unknown; one drawn in its ward is refused.
        _call("GET", "/patrol-zones", "/patrol-zones", 200, params={"cluster_id": cid}),
        _call("POST", "/patrol-zones", "/patrol-zones", 403, json=zone_body(other, cid)),
        _call(
            "PUT",
            "/patrol-zones/{zone_id}",
            f"/patrol-zones/{other.zone_id}",
            404,
            json=zone_body(me, cid),
        ),
        _call("DELETE", "/patrol-zones/{zone_id}", f"/patrol-zones/{other.zone_id}", 404),
        _call(
            "GET",
            "/patrol-zones/{zone_id}/coverage",
            f"/patrol-zones/{other.zone_id}/coverage",
            404,
        ),
        # Clusters: definitions are public; the shared cluster's figures and writes are not.
        _call("GET", "/clusters", "/clusters", 200),
        _call("GET", "/clusters/{cluster_id}", f"/clusters/{cid}", 200),
        _call("POST", "/clusters", "/clusters", 403, json=env.cluster_body),
        _call("PUT", "/clusters/{cluster_id}", f"/clusters/{cid}", 403, json=env.cluster_body),
        _call("GET", "/clusters/{cluster_id}/zones", f"/clusters/{cid}/zones", 200),
        _call("GET", "/clusters/{cluster_id}/migrate", f"/clusters/{cid}/migrate"),
        _call(
            "POST",
            "/clusters/{cluster_id}/confirm",
            f"/clusters/{cid}/confirm",
            403,
            json={"from": "2025-07-01"},
        ),
        _call("DELETE", "/clusters/{cluster_id}/confirm", f"/clusters/{cid}/confirm", 403),
        _call(
            "GET",
            "/clusters/{cluster_id}/report",
            f"/clusters/{cid}/report",
            403,
            params={"from": "2020-01-01", "to": "2026-12-31", "format": "csv"},
        ),
        _call("GET", "/clusters/{cluster_id}/hotspots", f"/clusters/{cid}/hotspots", 403),
        _call("GET", "/clusters/{cluster_id}/border-effect", f"/clusters/{cid}/border-effect", 403),
        _call(
            "POST",
            "/clusters/{cluster_id}/coverage",
            f"/clusters/{cid}/coverage",
            403,
            json={"type": "Polygon", "coordinates": [other.zone]},
        ),
        _call(
            "GET",
            "/clusters/{cluster_id}/patrol-suggestions",
            f"/clusters/{cid}/patrol-suggestions",
            403,
        ),
        _call("GET", "/conformance", "/conformance", 200),
        _call("GET", "/collections", "/collections", 200),
        _call("GET", "/keys", "/keys", 403),
        _call("POST", "/keys", "/keys", 403, json={"name": "wider", "role": "admin"}),
        _call("DELETE", "/keys/{name}", f"/keys/{other.name}", 403),
        _call("GET", "/maps/static/{path:path}", "/maps/static/none.js", 404),
        _call("GET", "/maps/basemap/{z}/{x}/{y}", "/maps/basemap/1/1/1", 404),
        _call("GET", "/maps/clusters/{cluster_id}", f"/maps/clusters/{cid}", 200),
        _call(
            "GET", "/maps/clusters/{cluster_id}/incidents", f"/maps/clusters/{cid}/incidents", 403
        ),
        _call("GET", "/maps/planner/{cluster_id}", f"/maps/planner/{cid}", 200),
        _call("GET", "/maps/reports/{cluster_id}", f"/maps/reports/{cid}", 200),
    ]
    features = {
        "units": (other.unit, 200),
        "border-zones": (f"{cid}:none", None),
        "incidents": (other.rows[0]["external_id"], 404),
        "patrol-zones": (str(other.zone_id), 404),
        "hotspots": (f"{cid}:none", 403),
    }
    for collection in COLLECTIONS:
        base = f"/collections/{collection}"
        feature, status = features[collection]
        calls += [
            _call("GET", "/collections/{collection_id}", base, 200),
            _call("GET", "/collections/{collection_id}/queryables", f"{base}/queryables", 200),
            _call(
                "GET",
                "/collections/{collection_id}/items",
                f"{base}/items",
                200,
                params={"limit": 5 if collection == "units" else 10_000},
            ),
            _call(
                "GET",
                "/collections/{collection_id}/items/{feature_id}",
                f"{base}/items/{feature}",
                status,
            ),
        ]
    heads = [
        _call("HEAD", c.template, c.path, c.expect, **c.kwargs)
        for c in calls
        if c.method == "GET" and ("HEAD", c.template) in DECISIONS
    ]
    return calls + heads


def sweep(env: Env) -> set[tuple[str, str]]:
    """Ask every route with each ward's key for the other's; assert nothing leaks across.

    Returns the (method, template) pairs tried.
    """
    tried: set[tuple[str, str]] = set()
    client = env.client
    before = ids_stored(env)
    zones_before = client.get("/patrol-zones", headers=env.admin).json()["numberMatched"]
    names = list(env.wards)
    for me_name, other_name in ((names[0], names[1]), (names[1], names[0])):
        me, other = env.wards[me_name], env.wards[other_name]
        forbidden = set().union(*(w.tokens() for w in env.wards.values() if w is not me))
        forbidden |= {r["external_id"] for r in env.elsewhere}
        for call in cross_requests(env, me, other):
            response = client.request(call.method, call.path, headers=me.key, **call.kwargs)
            where = (me.name, call.method, call.path, response.status_code, response.text[:300])
            assert response.status_code < 500, where
            if call.expect is not None:
                assert response.status_code in call.expect, where
            asked = call.path + str(call.kwargs)
            leaked = {t for t in forbidden if t and t not in asked and t in response.text}
            assert not leaked, (where, leaked)
            if call.template == "/incidents/import":
                job = client.get(f"/jobs/{response.json()['id']}", headers=me.key).json()
                assert job["status"] == "failed" and "outside the key's scopes" in job["error"]
                assert job["report"]["outside_scope_total"] == len(other.rows)
            tried.add((call.method, call.template))
    # Nothing was written across: the same incidents and zones as before.
    assert ids_stored(env) == before
    after = client.get("/patrol-zones", headers=env.admin).json()["numberMatched"]
    assert after == zones_before
    return tried


def ids_stored(env: Env) -> set[str]:
    found = env.client.get("/incidents", params={"limit": 10_000}, headers=env.admin).json()
    return {f["properties"]["external_id"] for f in found["features"]}


def own_rows_only(env: Env) -> None:
    """Each ward's key reads exactly its own rows, through the API and OGC."""
    client = env.client
    for ward in env.wards.values():
        own = client.get("/incidents", params={"limit": 10_000}, headers=ward.key).json()
        assert {f["properties"]["external_id"] for f in own["features"]} == ward.ids()
        assert own["numberMatched"] == len(ward.ids())
        items = client.get(
            "/collections/incidents/items", params={"limit": 10_000}, headers=ward.key
        ).json()
        assert {f["id"] for f in items["features"]} == ward.ids()
        assert items["numberMatched"] == len(ward.ids())
        one = client.get(
            f"/collections/incidents/items/{ward.rows[0]['external_id']}", headers=ward.key
        )
        assert one.status_code == 200
        zones = client.get("/patrol-zones", headers=ward.key).json()
        assert [f["properties"]["name"] for f in zones["features"]] == [f"zone of {ward.name}"]
        ogc_zones = client.get("/collections/patrol-zones/items", headers=ward.key).json()
        assert [f["properties"]["name"] for f in ogc_zones["features"]] == [f"zone of {ward.name}"]
        extent = client.get("/collections/incidents", headers=ward.key).json()["extent"]
        interval = extent["temporal"]["interval"][0]
        assert interval[0].startswith(ward.day) and interval[1].startswith(ward.day), interval
        hot = client.get("/collections/hotspots/items", headers=ward.key).json()
        assert hot["features"] == []
        assert {o["cluster_id"] for o in hot["omitted"]} >= {env.cluster_id}
        assert all("beyond the key's scopes" in o["reason"] for o in hot["omitted"])


# -- the test grid, SQLite and PostGIS -----------------------------------------------------------


def grid_ward(name: str, code: str, x0: float, day: str) -> Ward:
    when = f"{day}T21:00:00+07:00"
    return Ward(
        name=name,
        scope=f"unit:{code}",
        unit=code,
        rows=[record(f"{name}-{i}", x0 + 100 * i, 300, occurred_at=when) for i in range(3)],
        imported=[record(f"{name}-imp-{i}", x0 + 150 * i, 600, occurred_at=when) for i in range(2)],
        zone=ring((x0, 100), (x0 + 500, 100), (x0 + 500, 500), (x0, 500)),
        day=day,
    )


@pytest.fixture
def grid_env(
    api_settings: ApiSettings,
    grid_context: Context,
    store_url: str,  # noqa: F811
) -> Iterator[Env]:
    wards = [
        grid_ward("w1", "00001", 150, "2022-03-01"),
        grid_ward("w2", "00002", 1_150, "2022-04-17"),
    ]
    # Ward 7 (not a member) holds a row detected by member o2: a row of the cluster
    # lying beyond its members' wards.
    elsewhere = [record("w7-0", 300, 2_300, occurred_at="2022-05-09T08:00:00+07:00")]
    app = create_app(api_settings, context=grid_context, store_url=store_url)
    with TestClient(app) as client:
        yield prepare(client, store_url, "grid-centre", wards, elsewhere)


def test_every_route_has_a_scope_decision(api_settings: ApiSettings, grid_context: Context) -> None:
    served = every_route(create_app(api_settings, context=grid_context))
    undecided = served - set(DECISIONS)
    assert not undecided, f"routes without a scope decision: {sorted(undecided)}"
    assert not set(DECISIONS) - served, "decisions of routes the app no longer serves"


def test_no_row_leaks_across_neighbouring_wards_on_any_route(grid_env: Env) -> None:
    own_rows_only(grid_env)
    tried = sweep(grid_env)
    assert tried == set(DECISIONS), sorted(set(DECISIONS) - tried)


def test_writes_inside_the_scope_are_kept_and_mixed_ones_refused_whole(grid_env: Env) -> None:
    client, w1, w2 = grid_env.client, grid_env.wards["w1"], grid_env.wards["w2"]
    mine = record("w1-new", 400, 700, occurred_at="2022-03-02T10:00:00+07:00")
    theirs = record("x-new", 1_400, 700, occurred_at="2022-03-02T10:00:00+07:00")
    mixed = client.post("/incidents", json=[mine, theirs], headers=w1.key)
    assert mixed.status_code == 403
    body = mixed.json()
    assert body["title"] == "Outside the key's scope"
    assert body["outside_scope"] == [
        {"index": 1, "external_id": "x-new", "set_id": "grid", "unit_code": "00002"}
    ]
    assert "#1 'x-new' (00002)" in body["detail"] and "nothing was stored" in body["detail"]
    assert "w1-new" not in ids_stored(grid_env)
    alone = client.post("/incidents", json=[mine], headers=w1.key)
    assert alone.status_code == 200 and alone.json()["stored"] == 1
    # A zone drawn across the two wards is neither ward's own.
    across = client.post(
        "/patrol-zones",
        json={
            **zone_body(w1, "grid-centre"),
            "geometry": {
                "type": "Polygon",
                "coordinates": [ring((800, 100), (1_200, 100), (1_200, 500), (800, 500))],
            },
        },
        headers=w1.key,
    )
    assert across.status_code == 403 and "00002" in across.json()["detail"]
    # Its own zone: changed and deleted by its key.
    moved = client.put(
        f"/patrol-zones/{w1.zone_id}", json=zone_body(w1, "grid-centre"), headers=w1.key
    )
    assert moved.status_code == 200
    assert client.delete(f"/patrol-zones/{w1.zone_id}", headers=w1.key).status_code == 204
    # A row known by its address only, which the grid cannot read: no scope holds it.
    text = "external_id,occurred_at,lon,lat,category,address\n"
    text += "addr-1,2022-03-03T10:00:00+07:00,,,drugs,Phường Ô 1\n"
    files = {"file": ("addr.csv", text.encode(), "text/csv")}
    job = client.post("/incidents/import", files=files, headers=w1.key).json()
    failed = client.get(f"/jobs/{job['id']}", headers=w1.key).json()
    assert failed["status"] == "failed", failed
    assert failed["report"]["outside_scope"] == [
        {"line": 2, "external_id": "addr-1", "set_id": None, "unit_code": None}
    ]
    # A reassignment job counts every stale row of the store: its owner, if scoped, sees
    # its status only.
    jobs = client.app.state.jobs  # type: ignore[attr-defined]
    reassign = jobs.new("reassign", "test", w1.name)
    reassign.rows_done = reassign.rows_total = 1_234
    reassign.report = {"assigned": 1_234}
    shown = client.get(f"/jobs/{reassign.id}", headers=w1.key).json()
    assert shown["rows_total"] is None and shown["report"] is None
    assert client.get(f"/jobs/{reassign.id}", headers=grid_env.admin).json()["rows_total"] == 1_234
    # Its own zone's coverage counts the whole cluster's rows: refused.
    z2 = client.get(f"/patrol-zones/{w2.zone_id}/coverage", headers=w2.key)
    assert z2.status_code == 403 and "own clusters only" in z2.json()["detail"]


def test_a_key_holding_the_whole_cluster_reads_its_figures(grid_env: Env) -> None:
    client, url = grid_env.client, grid_env.url
    members = ["unit:00001", "unit:00002", "unit:00004", "unit:00005"]
    four = {"X-API-Key": create_key(url, "four-wards", "planner", scopes=members)}
    district = {"X-API-Key": create_key(url, "district", "planner", scopes=["unit:001"])}
    routes = [
        "/clusters/grid-centre/report?from=2020-01-01&to=2026-12-31",
        "/clusters/grid-centre/report?from=2020-01-01&to=2026-12-31&format=csv",
        "/clusters/grid-centre/hotspots?from=2020-01-01&to=2026-12-31",
        "/clusters/grid-centre/border-effect?from=2020-01-01&to=2026-12-31",
        "/maps/clusters/grid-centre/incidents",
    ]
    for path in routes:
        # The four members' wards hold the cluster's territory, not the row a member detected
        # in ward 7: the cluster's figures are refused to them.
        refused = client.get(path, headers=four)
        assert refused.status_code == 403, (path, refused.text)
        # The district holds every row of the cluster.
        read = client.get(path, headers=district)
        assert read.status_code == 200, (path, read.text)
    # The map page draws the incidents in for the district; a ward's key gets the page
    # that fetches them (and is refused).
    fetch = "/maps/clusters/grid-centre/incidents"
    assert fetch not in client.get("/maps/clusters/grid-centre", headers=district).text
    ward = client.get("/maps/clusters/grid-centre", headers=grid_env.wards["w1"].key)
    assert fetch in ward.text
    hot = client.get("/collections/hotspots/items", headers=district).json()
    assert "omitted" not in hot or all(o["cluster_id"] != "grid-centre" for o in hot["omitted"])
    # A scoped admin is an owner like any other and manages no keys.
    admin = {"X-API-Key": create_key(url, "ward-admin", "admin", scopes=["unit:00001"])}
    assert client.get(f"/jobs/{grid_env.wards['w2'].job_id}", headers=admin).status_code == 403
    assert client.get("/keys", headers=admin).status_code == 403


def test_a_cluster_key_reads_its_members_territory_and_their_detections(grid_env: Env) -> None:
    client, url = grid_env.client, grid_env.url
    # Ward 7 is no member's: one row there detected by member o2 (w7-0, stored by prepare),
    # one by a unit that is not a member.
    stranger = record("w7-1", 400, 2_300, occurred_at="2022-05-09T09:00:00+07:00")
    stranger["detected_by"] = "x9"
    assert client.post("/incidents", json=[stranger], headers=grid_env.admin).status_code == 200
    key = {"X-API-Key": create_key(url, "cluster", "analyst", scopes=["cluster:grid-centre"])}
    ward7 = {"X-API-Key": create_key(url, "ward-7", "analyst", scopes=["unit:00007"])}
    members = set().union(*(w.ids() for w in grid_env.wards.values()))
    # In the members' territory or detected by a member (either/or), nothing else.
    expected = {"cluster": members | {"w7-0"}, "ward-7": {"w7-0", "w7-1"}}
    for name, headers in (("cluster", key), ("ward-7", ward7)):
        listed = client.get("/incidents", params={"limit": 10_000}, headers=headers).json()
        assert {f["properties"]["external_id"] for f in listed["features"]} == expected[name]
        assert listed["numberMatched"] == len(expected[name])
        items = client.get(
            "/collections/incidents/items", params={"limit": 10_000}, headers=headers
        ).json()
        assert {f["id"] for f in items["features"]} == expected[name]
        assert items["numberMatched"] == len(expected[name])
    assert client.get("/incidents/w7-0", headers=key).status_code == 200
    assert client.get("/collections/incidents/items/w7-0", headers=key).status_code == 200
    for unknown in ("/incidents/w7-1", "/collections/incidents/items/w7-1"):
        assert client.get(unknown, headers=key).status_code == 404
    extent = client.get("/collections/incidents", headers=key).json()["extent"]
    assert extent["temporal"]["interval"][0][1].startswith("2022-05-09")  # w7-0's day
    # The wards' own keys still read their own rows only (no row leaks across).
    own_rows_only(grid_env)


# -- the real 2025 wards ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def t11_context(built_settings: Settings) -> Context:
    confirmed = Confirmation("hoa-do-phuc-vi-vn2025", date(2025, 7, 1), "test")
    return load_context(built_settings, confirmations=[confirmed])


def real_ward(name: str, code: str, lon: float, lat: float, day: str) -> Ward:
    def row(eid: str, dx: float) -> dict[str, Any]:
        return {
            "external_id": eid,
            "occurred_at": f"{day}T10:00:00+07:00",
            "lon": lon + dx,
            "lat": lat,
            "category": "theft",
        }

    d = 0.0015
    square = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return Ward(
        name=name,
        scope=f"unit:{code}",
        unit=code,
        rows=[row(f"vv-{name}-{i}", 0.0002 * i) for i in range(3)],
        imported=[row(f"vv-{name}-imp-{i}", -0.0002 * (i + 1)) for i in range(2)],
        zone=[*square, square[0]],
        day=day,
    )


def test_no_row_leaks_between_nghia_do_and_ngoc_ha(
    t11_context: Context, built_api_settings: ApiSettings, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path}/real.sqlite"
    wards = [
        real_ward("nghia-do", "00160", 105.7990, 21.0455, "2025-09-17"),
        real_ward("ngoc-ha", "00008", 105.8150, 21.0370, "2025-10-23"),
    ]
    app = create_app(built_api_settings, context=t11_context, store_url=url)
    with TestClient(app) as client:
        env = prepare(client, url, "hoa-do-phuc-vi-vn2025", wards, [])
        own_rows_only(env)
        sweep(env)


def test_a_legacy_units_scope_covers_its_successors_from_the_reform(
    t11_context: Context, built_api_settings: ApiSettings, tmp_path: Any
) -> None:
    url = f"sqlite:///{tmp_path}/reform.sqlite"
    places = {"cau-giay": (105.7990, 21.0455), "ba-dinh": (105.8150, 21.0370)}
    times = {"before": "2025-06-30T23:30:00+07:00", "after": "2025-07-01T00:30:00+07:00"}
    rows = [
        {
            "external_id": f"{p}-{t}",
            "occurred_at": when,
            "lon": xy[0],
            "lat": xy[1],
            "category": "theft",
        }
        for p, xy in places.items()
        for t, when in times.items()
    ]
    keys = {
        "legacy district Cầu Giấy": ["unit:005"],
        "legacy ward Nghĩa Đô": ["unit:00157"],
        "today's Nghĩa Đô": ["unit:00160"],
    }
    app = create_app(built_api_settings, context=t11_context, store_url=url)
    with TestClient(app) as client:
        admin = {"X-API-Key": create_key(url, "admin-all", "admin")}
        assert client.post("/incidents", json=rows, headers=admin).json()["stored"] == 4
        seen = {}
        for name, scopes in keys.items():
            key = {"X-API-Key": create_key(url, name, "analyst", scopes=scopes)}
            found = client.get("/incidents", headers=key).json()["features"]
            seen[name] = {f["properties"]["external_id"] for f in found}
    # Before the reform the legacy district holds its own rows; from 1 July 2025 its
    # successors' (Nghĩa Đô and Ngọc Hà both take part of Cầu Giấy).
    assert seen["legacy district Cầu Giấy"] == {
        "cau-giay-before",
        "cau-giay-after",
        "ba-dinh-after",
    }
    # The legacy set places rows in districts only: a legacy ward's key reads its successors'
    # rows from the reform on.
    assert seen["legacy ward Nghĩa Đô"] == {"cau-giay-after", "ba-dinh-after"}
    assert seen["today's Nghĩa Đô"] == {"cau-giay-after"}
