"""OGC API – Features over the test grid: the landing and index pages, the 3.0 document,
extents, items and one item as GeoJSON, 400s, HEAD, queryables, the units' display layer,
gzip and ETags. The real clients (GDAL, OWSLib) are in ``test_ogc_clients.py``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from starlette.requests import Request

from api.app import create_app
from api.routers.landing import wants_html
from api.settings import ApiSettings
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from tests.api.conftest import Api
from tests.fixtures.clusters import grid_cluster
from tests.fixtures.grid import grid_point

GEOJSON = "application/geo+json"
COLLECTIONS = ["units", "border-zones", "incidents", "patrol-zones", "hotspots"]


def add_incidents(api: Api, *records: tuple[str, str, float, float, str]) -> None:
    body = []
    for external_id, when, x_m, y_m, category in records:
        lon, lat = grid_point(x_m, y_m)
        body.append(
            {"external_id": external_id, "occurred_at": when, "lon": lon, "lat": lat,
             "category": category}
        )  # fmt: skip
    response = api.client.post("/incidents", json=body, headers=api.auth("planner"))
    assert response.status_code in (200, 201), response.text


def links(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for link in document["links"]:
        found.setdefault(link["rel"], []).append(link)
    return found


# -- the root: landing page and index page ----------------------------------------------------


def test_landing_page_links_what_ogc_clients_need(api: Api) -> None:
    response = api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rels = links(response.json())
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= set(rels)
    types = {link["type"]: link["href"] for link in rels["service-desc"]}
    assert types["application/vnd.oai.openapi+json;version=3.0"].endswith("/openapi-3.0.json")
    assert rels["data"][0]["href"] == "http://testserver/collections"
    assert rels["conformance"][0]["href"] == "http://testserver/conformance"
    for rel in ("service-desc", "service-doc", "conformance", "data"):
        for link in rels[rel]:
            assert api.client.get(link["href"]).status_code == 200


def test_root_gives_browsers_the_index_page_of_clusters(api: Api) -> None:
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    page = api.client.get("/", headers={"Accept": browser})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "Cụm thử" in html and "Cụm liên kết" in html and "Clusters" in html
    for href in ("/maps/clusters/grid-centre", "/maps/planner/grid-centre"):
        assert f'href="http://testserver{href}"' in html
        assert api.client.get(href).status_code == 200
    assert re.search(r'href="http://testserver/clusters/grid-centre/report\?from=\d{4}-', html)
    # offline: nothing from another host, no script
    assert set(re.findall(r'(?:href|src)="(https?://[^/"]+)', html)) == {"http://testserver"}
    assert "<script" not in html and "default-src 'none'" in page.headers["content-security-policy"]
    assert api.client.get("/", headers={"Accept": browser}, params={"f": "json"}).json()["links"]
    assert api.client.get("/", params={"f": "html"}).text == html
    assert "Accept" in page.headers["vary"].split(", ")


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/json, text/html;q=0.5", False),
        ("text/html", True),
        ("text/html;q=0.9, application/json", False),
        ("text/html;q=bad", False),
    ],
)
def test_root_negotiation(accept: str, html: bool) -> None:
    scope = {"type": "http", "headers": [(b"accept", accept.encode())], "method": "GET"}
    assert wants_html(Request(scope), None) is html
    assert wants_html(Request(scope), "json") is False


def test_root_refuses_unknown_parameters(api: Api) -> None:
    response = api.client.get("/", params={"format": "json"})
    assert response.status_code == 400 and "format" in response.json()["errors"][0]["msg"]
    assert api.client.get("/", params={"f": "xml"}).status_code == 400


# -- the OpenAPI documents --------------------------------------------------------------------


def test_openapi_30_document_is_valid_and_matches_the_conformance(api: Api) -> None:
    response = api.client.get("/openapi-3.0.json")
    assert response.headers["content-type"] == "application/vnd.oai.openapi+json;version=3.0"
    document = response.json()
    assert document["openapi"] == "3.0.3"
    validate(document)  # the OpenAPI 3.0 schema: no 3.1-only keyword left
    assert set(document["paths"]) == set(api.client.get("/openapi.json").json()["paths"])
    conformance = api.client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30" in conformance
    items = document["paths"]["/collections/{collection_id}/items"]["get"]
    limit = next(p for p in items["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 10_000, 10)
    for path in ("/collections", "/collections/{collection_id}/items", "/"):
        responses = document["paths"][path]["get"]["responses"]
        assert "422" not in responses
    assert "400" in items["responses"] and GEOJSON in items["responses"]["200"]["content"]


# -- collections and extents ------------------------------------------------------------------


def test_collections_have_spatial_and_temporal_extents(api: Api, grid: BoundarySet) -> None:
    listed = api.client.get("/collections").json()
    assert [c["id"] for c in listed["collections"]] == COLLECTIONS
    by_id = {c["id"]: c for c in listed["collections"]}
    units = by_id["units"]["extent"]
    bounds = grid.frame.total_bounds
    (box,) = units["spatial"]["bbox"]
    assert box[:2] <= list(bounds[:2]) and box[2:] >= list(bounds[2:])
    assert max(abs(a - b) for a, b in zip(box, bounds, strict=True)) < 1e-6
    assert units["temporal"]["interval"] == [["2000-01-01", None]]
    minx, miny, maxx, maxy = by_id["border-zones"]["extent"]["spatial"]["bbox"][0]
    zones = api.client.get("/collections/border-zones/items", params={"limit": 1000}).json()
    for feature in zones["features"]:  # every zone lies in the extent
        x0, y0, x1, y1 = shapely.geometry.shape(feature["geometry"]).bounds
        assert minx <= x0 <= x1 <= maxx and miny <= y0 <= y1 <= maxy
    assert by_id["incidents"]["extent"]["temporal"]["interval"] == [[None, None]]
    hot = by_id["hotspots"]["extent"]["temporal"]["interval"][0]
    assert hot[0] < hot[1]
    add_incidents(
        api,
        ("e1", "2022-03-01T21:00:00+07:00", 950, 300, "drugs"),
        ("e2", "2023-05-02T08:30:00+07:00", 1950, 1300, "theft"),
    )
    keyed = api.client.get("/collections/incidents", headers=api.auth("analyst")).json()
    assert keyed["extent"]["temporal"]["interval"] == [
        ["2022-03-01T21:00:00+07:00", "2023-05-02T08:30:00+07:00"]
    ]
    # without a key the store's times are not disclosed
    public = api.client.get("/collections/incidents").json()
    assert public["extent"]["temporal"]["interval"] == [[None, None]]
    rels = links(public)
    assert rels["items"][0]["type"] == GEOJSON
    assert rels["http://www.opengis.net/def/rel/ogc/1.0/queryables"][0]["href"].endswith(
        "/collections/incidents/queryables"
    )


# -- items, one item ------------------------------------------------------------------------


def test_items_are_geojson_with_next_and_prev_links(api: Api) -> None:
    first = api.client.get("/collections/units/items", params={"limit": 5})
    assert first.headers["content-type"] == GEOJSON
    page = first.json()
    (following,) = [link["href"] for link in page["links"] if link["rel"] == "next"]
    second = api.client.get(following).json()
    assert second["numberReturned"] == 5
    (previous,) = [link["href"] for link in second["links"] if link["rel"] == "prev"]
    assert api.client.get(previous).json()["features"] == page["features"]
    assert not any(link["rel"] == "prev" for link in page["links"])


def test_one_feature_of_every_collection(api: Api) -> None:
    auth = api.auth("analyst")
    add_incidents(api, ("inc-1", "2022-03-01T21:00:00+07:00", 950, 300, "drugs"))
    lon, lat = grid_point(900, 900)
    square = [[lon, lat], [lon + 0.002, lat], [lon + 0.002, lat + 0.002], [lon, lat]]
    zone = api.client.post(
        "/patrol-zones",
        json={"cluster_id": "grid-centre", "name": "Tổ 1",
              "geometry": {"type": "Polygon", "coordinates": [square]}},
        headers=api.auth("planner"),
    ).json()  # fmt: skip
    for collection in ("units", "border-zones", "incidents", "patrol-zones"):
        page = api.client.get(f"/collections/{collection}/items", headers=auth).json()
        assert page["numberReturned"] >= 1, collection
        listed = page["features"][0]
        one = api.client.get(f"/collections/{collection}/items/{listed['id']}", headers=auth)
        assert one.status_code == 200 and one.headers["content-type"] == GEOJSON
        feature = one.json()
        assert feature["id"] == listed["id"] and feature["type"] == "Feature"
        assert feature["properties"] == listed["properties"]
        assert shapely.geometry.shape(feature["geometry"]).equals(
            shapely.geometry.shape(listed["geometry"])
        )
        assert {"self", "collection"} <= set(links(feature))
    assert (
        api.client.get(f"/collections/patrol-zones/items/{zone['id']}", headers=auth).json()[
            "properties"
        ]["name"]
        == "Tổ 1"
    )
    for collection, missing in [
        ("units", "99999"),
        ("border-zones", "grid-centre:nope"),
        ("border-zones", "nope"),
        ("incidents", "nope"),
        ("patrol-zones", "x1"),
        ("patrol-zones", "999999"),
        ("hotspots", "grid-centre:S250-0-0"),
    ]:
        response = api.client.get(f"/collections/{collection}/items/{missing}", headers=auth)
        assert response.status_code == 404, (collection, missing)
        assert missing in response.json()["detail"]
    assert api.client.get("/collections/incidents/items/a").status_code == 401


def test_incident_item_matches_its_listing_by_time_and_category(api: Api) -> None:
    add_incidents(
        api,
        ("a", "2022-03-01T21:00:00+07:00", 950, 300, "drugs"),
        ("b", "2022-03-02T21:00:00+07:00", 1950, 1300, "theft"),
    )
    auth = api.auth("analyst")
    path = "/collections/incidents/items"
    instant = api.client.get(path, params={"datetime": "2022-03-01T21:00:00+07:00"}, headers=auth)
    assert [f["id"] for f in instant.json()["features"]] == ["a"]  # an instant matches itself
    closed = api.client.get(
        path, params={"datetime": "2022-03-01T00:00:00+07:00/2022-03-02T21:00:00+07:00"},
        headers=auth,
    ).json()  # fmt: skip
    assert [f["id"] for f in closed["features"]] == ["a", "b"]  # the end is inside
    drugs = api.client.get(path, params={"category": "drugs"}, headers=auth).json()
    assert [f["id"] for f in drugs["features"]] == ["a"]
    bad = api.client.get(path, params={"category": "nope"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["errors"][0]["loc"] == ["query", "category"]


# -- parameters: 400, unknown ones, bbox -------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"limit": "abc"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "106,21,105,22"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"datetime": "soon"}, "datetime"),
        ({"foo": "1"}, "foo"),
        ({"category": "drugs"}, "category"),  # an incidents queryable, not a units one
        ({"cluster": "grid-centre"}, "cluster"),
        ({"resolution": "coarse"}, "resolution"),
    ],
)
def test_invalid_or_unknown_parameters_are_400_naming_them(
    api: Api, params: dict[str, str], name: str
) -> None:
    response = api.client.get("/collections/units/items", params=params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["query", name]


def test_repeated_and_unknown_parameters_on_other_ogc_routes(api: Api) -> None:
    repeated = api.client.get("/collections/units/items?limit=1&limit=2")
    assert repeated.status_code == 400
    for path in ("/collections", "/conformance", "/collections/units/queryables"):
        response = api.client.get(path, params={"bogus": "1"})
        assert response.status_code == 400 and "bogus" in response.json()["detail"]
    assert api.client.get("/collections", params={"f": "json"}).status_code == 200


def test_six_number_bbox_ignores_heights(api: Api) -> None:
    lon0, lat0 = grid_point(2100, 2100)
    lon1, lat1 = grid_point(2200, 2200)
    flat = api.client.get(
        "/collections/units/items", params={"bbox": f"{lon0},{lat0},{lon1},{lat1}"}
    ).json()
    tall = api.client.get(
        "/collections/units/items", params={"bbox": f"{lon0},{lat0},-10,{lon1},{lat1},100"}
    ).json()
    assert sorted(f["id"] for f in tall["features"]) == ["00009", "002", "01"]
    assert tall["features"] == flat["features"]


# -- HEAD ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/conformance",
        "/collections",
        "/collections/units",
        "/collections/units/queryables",
        "/collections/units/items?limit=2",
        "/collections/units/items/00001",
        "/openapi-3.0.json",
    ],
)
def test_head_answers_like_get_without_a_body(api: Api, path: str) -> None:
    get = api.client.get(path, headers={"Accept-Encoding": "identity"})
    head = api.client.head(path, headers={"Accept-Encoding": "identity"})
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if "timeStamp" not in get.text:
        assert head.headers["content-length"] == get.headers["content-length"]


# -- queryables ------------------------------------------------------------------------------


def test_queryables_are_json_schema_and_filter_the_items(api: Api) -> None:
    response = api.client.get("/collections/units/queryables")
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "http://testserver/collections/units/queryables"
    assert {"geometry", "code", "level", "parent_code"} <= set(schema["properties"])
    wards = api.client.get("/collections/units/items", params={"level": "ward", "limit": 100})
    assert wards.json()["numberMatched"] == 9
    district = api.client.get("/collections/units/items", params={"parent_code": "002"}).json()
    assert sorted(f["id"] for f in district["features"]) == ["00003", "00006", "00009"]
    incidents = api.client.get("/collections/incidents/queryables").json()["properties"]
    assert "drugs" in incidents["category"]["enum"] and incidents["synthetic"]["type"] == "boolean"
    zones = api.client.get(
        "/collections/border-zones/items", params={"zone_id": "00001-00002"}
    ).json()
    assert [f["id"] for f in zones["features"]] == ["grid-centre:00001-00002"]
    assert api.client.get("/collections/nope/queryables").status_code == 404


# -- units: the display layer, gzip, ETag ------------------------------------------------------


@pytest.fixture
def displayed(api_settings: ApiSettings, grid: BoundarySet, tmp_path: Path) -> TestClient:
    """The grid with a display layer whose ward 00001 is a visibly different (smaller) square."""
    layer = grid.frame[grid.frame["has_geometry"]].copy()
    first = layer["code"].eq("00001")
    layer.loc[first, "geometry"] = layer.loc[first, "geometry"].scale(0.9, 0.9)  # about its centre
    path = tmp_path / "display.parquet"
    gpd.GeoDataFrame(layer, geometry="geometry", crs=4326).to_parquet(path)
    shown = BoundarySet(grid.info, grid.frame, display_path=path)
    territory = ClusterTerritory(grid_cluster(zone_width_m=100), shown)
    context = Context([shown], {"grid-centre": territory.cluster}, [territory], {"grid": "b1"})
    return TestClient(create_app(api_settings, context=context))


def test_units_come_from_the_display_layer_unless_full_is_asked(
    displayed: TestClient, grid: BoundarySet
) -> None:
    with displayed as client:
        full_shape = grid.geometry("00001")
        for path, params in [
            ("/collections/units/items", {"code": "00001"}),
            ("/collections/units/items/00001", {}),
        ]:
            simple = client.get(path, params=params).json()
            full = client.get(path, params={**params, "resolution": "full"}).json()
            simple_geom = (simple.get("features") or [simple])[0]["geometry"]
            full_geom = (full.get("features") or [full])[0]["geometry"]
            assert shapely.geometry.shape(full_geom).equals(full_shape)
            assert shapely.geometry.shape(simple_geom).area < full_shape.area


def test_large_answers_are_gzipped_and_units_carry_an_etag(api: Api) -> None:
    path = "/collections/units/items?limit=100"
    plain = api.client.get(path, headers={"Accept-Encoding": "identity"})
    zipped = api.client.get(path, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    assert int(zipped.headers["content-length"]) < len(plain.content) / 3
    assert zipped.json()["numberReturned"] == 12  # decoded by the client
    etag = plain.headers["etag"]
    assert plain.headers["cache-control"] == "no-cache"
    again = api.client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = api.client.get("/collections/units/items?limit=99", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_hotspots_leave_out_a_cluster_too_large_to_analyse(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.services import analytics

    monkeypatch.setattr(analytics, "ANALYTICS_MAX_CELLS", 10)  # the grid cluster needs ~64
    auth = api.auth("analyst")
    every = api.client.get("/collections/hotspots/items", headers=auth)
    assert every.status_code == 200 and every.json()["numberMatched"] == 0
    (omitted,) = every.json()["omitted"]
    assert (
        omitted["cluster_id"] == "grid-centre" and "at most 10 are allowed" in (omitted["reason"])
    )
    one = api.client.get(
        "/collections/hotspots/items", params={"cluster": "grid-centre"}, headers=auth
    )
    assert one.status_code == 400 and one.json()["errors"][0]["loc"] == ["query", "cluster"]
    assert "cell_size_m" in one.json()["errors"][0]["msg"]
    item = api.client.get("/collections/hotspots/items/grid-centre:S250-0-0", headers=auth)
    assert item.status_code == 404 and "at most 10" in item.json()["detail"]


# -- incidents: each cluster decision as flat properties --------------------------------------


def test_incident_items_carry_the_decisions_the_store_and_locate_give(api: Api) -> None:
    """The flat decision properties are the stored decision's values, and /locate's."""
    when = "2022-03-01T21:00:00+07:00"
    points = {"lead-1": (950, 300, "o2"), "lead-2": (1300, 1040, None), "far": (2500, 2500, None)}
    body = []
    for external_id, (x_m, y_m, detector) in points.items():
        lon, lat = grid_point(x_m, y_m)
        body.append(
            {"external_id": external_id, "occurred_at": when, "lon": lon, "lat": lat,
             "category": "drugs", "detected_by": detector}
        )  # fmt: skip
    assert api.client.post("/incidents", json=body, headers=api.auth("planner")).status_code < 300
    auth = api.auth("analyst")
    items = api.client.get("/collections/incidents/items", headers=auth).json()["features"]
    assert sorted(f["id"] for f in items) == sorted(points)
    names = {f"0000{k}": f"Phường Ô {k}" for k in range(1, 10)}
    for feature in items:
        props = feature["properties"]
        stored = api.client.get(f"/incidents/{feature['id']}", headers=auth).json()["clusters"]
        lon, lat = feature["geometry"]["coordinates"]
        located = api.client.get(
            "/locate",
            params={"lon": lon, "lat": lat, "date": "2022-03-01",
                    "detected_by": points[feature["id"]][2] or ""},
        ).json()["clusters"]  # fmt: skip
        assert props["cluster_count"] == len(stored) == len(located)
        if not stored:
            assert props["cluster_id"] is None and props["lead_unit"] is None
            assert props["review"] is False
            continue
        (decision,) = stored
        for name in ("cluster_id", "lead_unit", "rule", "review", "explanation_vi"):
            assert props[name] == decision[name] == located[0][name], name
        assert props["explanation_en"] == decision["explanation_en"]
        assert props["cooperating_units"] == "; ".join(decision["cooperating"])
        assert props["cooperating_unit_names"] == "; ".join(
            names[c] for c in decision["cooperating"]
        )
        assert props["lead_unit_name"] == names[decision["lead_unit"]]
        assert props["lead_unit_name"] in props["explanation_vi"]
        one = api.client.get(f"/collections/incidents/items/{feature['id']}", headers=auth)
        assert one.json()["properties"] == props
    by_id = {f["id"]: f["properties"] for f in items}
    assert by_id["lead-1"]["lead_unit"] == "00002" and by_id["lead-1"]["rule"] == "border_detector"
    assert by_id["far"]["cluster_count"] == 0  # outside the cluster: no decision
    in_cluster = api.client.get(
        "/collections/incidents/items", params={"cluster_id": "grid-centre"}, headers=auth
    ).json()["features"]
    assert sorted(f["id"] for f in in_cluster) == ["lead-1", "lead-2"]
    assert all(f["properties"] == by_id[f["id"]] for f in in_cluster)
