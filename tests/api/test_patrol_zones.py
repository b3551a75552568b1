from __future__ import annotations

import shapely

from tests.api.conftest import Api
from tests.fixtures.grid import grid_point
from tests.fixtures.patrol import SQUARE, ring, zone


def test_create_list_update_delete(api: Api) -> None:
    planner = api.auth("planner")
    created = api.client.post("/patrol-zones", json=zone(SQUARE), headers=planner)
    assert created.status_code == 201
    feature = created.json()
    assert isinstance(feature["id"], int)
    assert feature["properties"]["units"] == ["00001", "00002"]
    assert feature["properties"]["repaired"] is False
    assert feature["properties"]["created_by"] == "planner-key"
    listed = api.client.get(
        "/patrol-zones", params={"cluster_id": "grid-centre"}, headers=api.auth("analyst")
    ).json()
    assert [f["id"] for f in listed["features"]] == [feature["id"]]
    assert listed["features"][0]["properties"]["notes"] == "đêm"
    moved = ring((200, 1200), (800, 1200), (800, 1800), (200, 1800))
    updated = api.client.put(
        f"/patrol-zones/{feature['id']}", json=zone(moved, "Tuyến 2"), headers=planner
    )
    assert updated.status_code == 200
    assert updated.json()["properties"]["units"] == ["00004"]
    assert updated.json()["properties"]["name"] == "Tuyến 2"
    assert api.client.delete(f"/patrol-zones/{feature['id']}", headers=planner).status_code == 204
    assert api.client.delete(f"/patrol-zones/{feature['id']}", headers=planner).status_code == 404
    assert (
        api.client.put("/patrol-zones/999", json=zone(SQUARE), headers=planner).status_code == 404
    )


def test_writes_need_a_planner(api: Api) -> None:
    response = api.client.post("/patrol-zones", json=zone(SQUARE), headers=api.auth("analyst"))
    assert response.status_code == 403
    assert api.client.get("/patrol-zones", headers=api.auth("viewer")).status_code == 403


def test_self_intersecting_polygon_is_repaired_when_one_polygon_results(api: Api) -> None:
    # A square with a spike going out and back along the same line: invalid, repairable.
    spiked = ring(
        (200, 200), (800, 200), (800, 500), (1200, 500), (800, 500), (800, 800), (200, 800)
    )
    assert not shapely.is_valid(shapely.Polygon(spiked))
    response = api.client.post("/patrol-zones", json=zone(spiked), headers=api.auth("planner"))
    assert response.status_code == 201, response.json()
    assert response.json()["properties"]["repaired"] is True
    assert response.json()["properties"]["units"] == ["00001"]


def test_bow_tie_is_refused_with_the_reason(api: Api) -> None:
    bow = ring((200, 200), (800, 800), (800, 200), (200, 800))
    response = api.client.post("/patrol-zones", json=zone(bow), headers=api.auth("planner"))
    assert response.status_code == 400
    assert "Self-intersection" in response.json()["detail"]
    assert "2 polygons" in response.json()["detail"]


def test_outside_vietnam_and_too_many_vertices_and_non_polygons_are_refused(api: Api) -> None:
    planner = api.auth("planner")
    paris = [[2.3, 48.8], [2.4, 48.8], [2.4, 48.9], [2.3, 48.8]]
    outside = api.client.post("/patrol-zones", json=zone(paris), headers=planner)
    assert outside.status_code == 400 and "outside Vietnam" in outside.json()["detail"]
    circle = shapely.Point(grid_point(500, 500)).buffer(0.001, 16)  # 65 vertices > 40
    many = [list(c) for c in circle.exterior.coords]
    refused = api.client.post("/patrol-zones", json=zone(many), headers=planner)
    assert refused.status_code == 400 and "vertices" in refused.json()["detail"]
    line = {**zone(SQUARE), "geometry": {"type": "LineString", "coordinates": SQUARE}}
    assert api.client.post("/patrol-zones", json=line, headers=planner).status_code == 400
    flat = [[105.801, 21.02], [105.805, 21.02], [105.803, 21.02], [105.801, 21.02]]
    assert api.client.post("/patrol-zones", json=zone(flat), headers=planner).status_code == 400
    unknown = {**zone(SQUARE), "cluster_id": "nope"}
    assert api.client.post("/patrol-zones", json=unknown, headers=planner).status_code == 400
