from __future__ import annotations

from tests.api.conftest import Api
from tests.fixtures.grid import grid_point


def test_sets(api: Api) -> None:
    (only,) = api.client.get("/sets").json()
    assert only["id"] == "grid" and only["current"] is True
    assert only["levels"] == ["province", "district", "ward"]


def test_units_filters_and_pages(api: Api) -> None:
    c = api.client
    page = c.get("/units", params={"level": "ward", "limit": 2, "offset": 1}).json()
    assert page["numberMatched"] == 9 and page["numberReturned"] == 2
    assert [u["code"] for u in page["units"]] == ["00002", "00003"]
    # OGC-style links: following them walks every ward once
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert set(links) == {"self", "next", "prev"} and "level=ward" in links["next"]
    assert [u["code"] for u in c.get(links["prev"]).json()["units"]] == ["00001", "00002"]
    seen, url = [], "/units?level=ward&limit=4"
    while url:
        walked = c.get(url).json()
        seen += [u["code"] for u in walked["units"]]
        url = next((x["href"] for x in walked["links"] if x["rel"] == "next"), "")
    assert seen == [f"0000{n}" for n in range(1, 10)]
    district = c.get("/units", params={"parent": "002"}).json()
    assert sorted(u["code"] for u in district["units"]) == ["00003", "00006", "00009"]
    lon0, lat0 = grid_point(100, 100)
    lon1, lat1 = grid_point(200, 200)
    boxed = c.get("/units", params={"level": "ward", "bbox": f"{lon0},{lat0},{lon1},{lat1}"})
    assert [u["code"] for u in boxed.json()["units"]] == ["00001"]
    found = c.get("/units", params={"q": "Ô 5"}).json()
    assert [u["code"] for u in found["units"]] == ["00005"]


def test_units_bad_bbox_is_a_422_naming_it(api: Api) -> None:
    response = api.client.get("/units", params={"bbox": "1,2,<b>3"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "bbox"]
    assert "<b>" not in response.text


def test_unit_feature_and_unknown_unit(api: Api) -> None:
    unit = api.client.get("/units/00005").json()
    assert unit["type"] == "Feature" and unit["geometry"]["type"] == "Polygon"
    assert unit["properties"]["chain"] == ["00005", "001", "01"]
    missing = api.client.get("/units/99999")
    assert missing.status_code == 404 and "99999" in missing.json()["detail"]
    assert api.client.get("/units/00005", params={"set": "nope"}).status_code == 404


def test_neighbours_share_a_line(api: Api) -> None:
    centre = api.client.get("/units/00005/neighbours").json()
    assert [u["code"] for u in centre] == ["00002", "00004", "00006", "00008"]
    corner = api.client.get("/units/00001/neighbours").json()
    assert [u["code"] for u in corner] == ["00002", "00004"]


def test_locate_near_an_edge_detected_by_the_neighbour(api: Api) -> None:
    lon, lat = grid_point(950, 300)
    response = api.client.get("/locate", params={"lon": lon, "lat": lat, "detected_by": "o2"})
    assert response.status_code == 200
    body = response.json()
    assert body["unit_code"] == "00001"
    assert [u["code"] for u in body["chain"]] == ["00001", "001", "01"]
    (cluster,) = body["clusters"]
    assert cluster["cluster_id"] == "grid-centre" and cluster["in_zone"] is True
    assert cluster["lead_unit"] == "00002" and cluster["rule"] == "border_detector"
    assert cluster["cooperating"] == ["00001"]
    assert abs(cluster["distance_m"] - 50) < 0.5
    assert cluster["explanation_vi"] and cluster["explanation_en"]


def test_locate_on_a_boundary_lists_candidates(api: Api) -> None:
    lon, lat = grid_point(1000.5, 500)
    body = api.client.get("/locate", params={"lon": lon, "lat": lat, "tolerance": 5}).json()
    assert body["on_boundary"] is True
    assert sorted(c["code"] for c in body["candidates"]) == ["00001", "00002"]


def test_locate_far_from_the_cluster_has_no_decision(api: Api) -> None:
    lon, lat = grid_point(2500, 2500)
    body = api.client.get("/locate", params={"lon": lon, "lat": lat}).json()
    assert body["unit_code"] == "00009" and body["clusters"] == []


def test_locate_bad_coordinates_name_the_field(api: Api) -> None:
    response = api.client.get("/locate", params={"lon": 200, "lat": 21})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", "lon"]
    assert "lon" in response.json()["detail"]
    missing = api.client.get("/locate", params={"lon": 105.8})
    assert missing.json()["errors"][0]["loc"] == ["query", "lat"]


def test_locate_batch(api: Api) -> None:
    near, far = grid_point(950, 300), grid_point(2500, 2500)
    points = [
        {"lon": near[0], "lat": near[1], "detected_by": "o2"},
        {"lon": far[0], "lat": far[1]},
    ]
    body = api.client.post("/locate", json=points).json()
    assert [p["unit_code"] for p in body] == ["00001", "00009"]
    assert body[0]["clusters"][0]["lead_unit"] == "00002"
    assert body[1]["clusters"] == []
    bad = api.client.post("/locate", json=[{"lon": 1, "lat": 95}])
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "0", "lat"]


def test_locate_batch_too_large_is_413(api: Api) -> None:
    points = [{"lon": 105.8, "lat": 21.0}] * 51
    response = api.client.post("/locate", json=points)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert "50" in response.json()["detail"]


def test_body_over_the_byte_limit_is_413(api: Api) -> None:
    response = api.client.post(
        "/locate",
        content=b"[" + b" " * 300_000 + b"]",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413


#: (metres east, metres north of the grid's corner, date, detected_by): inside one ward far
#: from any line, in the border zone detected by the neighbour, on the line between wards 1
#: and 2, on the four-way junction of wards 1, 2, 4 and 5, in a ward of no member, outside
#: the grid, before the cluster began (a notice), detected by the company and by a stranger,
#: and before the grid's set (no set in force).
BATCH = [
    (500, 500, None, None),
    (950, 300, "2024-05-01", "o2"),
    (1000.5, 500, "2024-05-01", "o1"),
    (1000, 1000, "2024-05-01", None),
    (1000.2, 999.9, "2024-05-01", "cty"),
    (2500, 2500, None, None),
    (-500, -500, "2024-05-01", None),
    (950, 300, "2019-05-01", "o1"),
    (1040, 960, "2024-05-01", "somebody"),
    (500, 500, "1999-05-01", "o1"),
]


def _batch_points() -> list[dict[str, object]]:
    points = []
    for x, y, day, detector in BATCH:
        lon, lat = grid_point(x, y)
        points.append({"lon": lon, "lat": lat, "date": day, "detected_by": detector})
    return points


def _get_params(point: dict[str, object], tolerance: float | None) -> dict[str, object]:
    params = {key: value for key, value in point.items() if value is not None}
    return params if tolerance is None else {**params, "tolerance": tolerance}


def test_locate_batch_answers_each_point_as_get_does(api: Api) -> None:
    """POST /locate gives each point GET /locate's answer, field by field.

    An outside audit found ``candidates: []`` in the batch where GET listed the holding ward
    (and the batch's candidates on a boundary were bare codes, without names or distances;
    its answers had no ``unit``, ``chain``, ``description`` or ``tolerance_m``).
    """
    points = _batch_points()
    for tolerance in (None, 5.0, 60.0):
        query = {} if tolerance is None else {"tolerance": tolerance}
        response = api.client.post("/locate", json=points, params=query)
        assert response.status_code == 200, response.text
        posted = response.json()
        assert len(posted) == len(points)
        for point, answer in zip(points, posted, strict=True):
            expected = api.client.get("/locate", params=_get_params(point, tolerance)).json()
            for field in expected:
                assert answer.get(field) == expected[field], (field, point, tolerance)
            assert sorted(answer) == sorted(expected), point
    # The answers say what they should, not only the same thing twice.
    inside, zone, line, junction = api.client.post("/locate", json=points[:4]).json()
    assert [c["code"] for c in inside["candidates"]] == ["00001"]
    assert inside["candidates"][0]["distance_m"] == 0.0 and inside["on_boundary"] is False
    assert zone["clusters"][0]["lead_unit"] == "00002"
    assert line["on_boundary"] is True
    assert sorted(c["code"] for c in line["candidates"]) == ["00001", "00002"]
    assert junction["on_boundary"] is True
    assert sorted(c["code"] for c in junction["candidates"]) == [
        "00001",
        "00002",
        "00004",
        "00005",
    ]
    assert all(set(c) == {"code", "full_name", "distance_m"} for c in junction["candidates"])
