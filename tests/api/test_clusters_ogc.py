from __future__ import annotations

from tests.api.conftest import Api
from tests.fixtures.grid import grid_point


def test_clusters_list_show_and_zones(api: Api) -> None:
    (cluster,) = api.client.get("/clusters").json()
    assert cluster["id"] == "grid-centre" and cluster["applies"] is True
    assert [m["code"] for m in cluster["members"]][:3] == ["00001", "00002", "00004"]
    shown = api.client.get("/clusters/grid-centre").json()
    assert shown["definition"]["name"] == "Cụm thử"
    assert api.client.get("/clusters/nope").status_code == 404
    zones = api.client.get("/clusters/grid-centre/zones").json()
    ids = {f["properties"]["zone_id"] for f in zones["features"]}
    assert "00001-00002" in ids
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in zones["features"])


def test_migrate_into_the_same_set_is_refused(api: Api) -> None:
    response = api.client.get("/clusters/grid-centre/migrate")
    assert response.status_code == 400 and "already" in response.json()["detail"]


def test_conformance_and_collections(api: Api) -> None:
    conf = api.client.get("/conformance").json()["conformsTo"]
    assert any(c.endswith("/conf/core") for c in conf)
    ids = [c["id"] for c in api.client.get("/collections").json()["collections"]]
    assert ids == ["units", "border-zones", "incidents", "patrol-zones", "hotspots"]
    assert api.client.get("/collections/units").json()["id"] == "units"
    assert api.client.get("/collections/nope").status_code == 404


def test_unit_items_page_with_next_links_and_clamped_limit(api: Api) -> None:
    first = api.client.get("/collections/units/items", params={"limit": 5}).json()
    assert (first["numberMatched"], first["numberReturned"]) == (12, 5)
    (following,) = [link["href"] for link in first["links"] if link["rel"] == "next"]
    second = api.client.get(following).json()
    assert second["numberReturned"] == 5
    assert {f["id"] for f in first["features"]}.isdisjoint({f["id"] for f in second["features"]})
    clamped = api.client.get("/collections/units/items", params={"limit": 50_000}).json()
    assert clamped["numberReturned"] == 12 and not any(
        link["rel"] == "next" for link in clamped["links"]
    )
    lon0, lat0 = grid_point(2100, 2100)
    lon1, lat1 = grid_point(2200, 2200)
    boxed = api.client.get(
        "/collections/units/items", params={"bbox": f"{lon0},{lat0},{lon1},{lat1}"}
    ).json()
    assert sorted(f["id"] for f in boxed["features"]) == ["00009", "002", "01"]


def test_border_zone_items_and_protected_collections(api: Api) -> None:
    zones = api.client.get("/collections/border-zones/items", params={"limit": 100}).json()
    assert zones["numberMatched"] == zones["numberReturned"] > 0
    assert api.client.get("/collections/incidents/items").status_code == 401
    viewer = api.client.get("/collections/patrol-zones/items", headers=api.auth("viewer"))
    assert viewer.status_code == 403
    lon, lat = grid_point(950, 300)
    api.client.post(
        "/incidents",
        json={
            "external_id": "a",
            "occurred_at": "2022-03-01T21:00:00+07:00",
            "lon": lon,
            "lat": lat,
            "category": "drugs",
        },
        headers=api.auth("planner"),
    )
    auth = api.auth("analyst")
    found = api.client.get(
        "/collections/incidents/items",
        params={"datetime": "2022-03-01T00:00:00+07:00/.."},
        headers=auth,
    ).json()
    assert [f["id"] for f in found["features"]] == ["a"]
    none = api.client.get(
        "/collections/incidents/items", params={"datetime": "../2022-01-01T00:00:00Z"}, headers=auth
    ).json()
    assert none["numberMatched"] == 0
    bad = api.client.get("/collections/incidents/items", params={"datetime": "soon"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == ["query", "datetime"]
