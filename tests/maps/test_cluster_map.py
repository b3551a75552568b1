"""The cluster map: content, escaping, offline assets, tiles, input checks, the incident table."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pytest

from geozone.boundaries.sets import BoundarySet
from geozone.labels import SYNTHETIC_BANNER as SYNTHETIC_BADGE
from maps import MapInputError, cluster_map, incident_data, incident_payload, to_html
from maps.cluster_map import LOADER_LABELS, incident_summary, pack_sentences
from tests.fixtures.grid import grid_vertex_lonlat
from tests.fixtures.html import (
    external_references,
    js_arguments,
    overlay_names,
    references,
    tooltips,
)
from tests.fixtures.layers import ATTRIBUTION, XSS, grid_layers
from tests.fixtures.pages import incident_tables, needs_assets, unpack

#: South, west, north, east of the members: grid vertices (0, 0) and (2, 2).
GRID_BOUNDS = [
    grid_vertex_lonlat(0, 0)[1],
    grid_vertex_lonlat(0, 2)[0],
    grid_vertex_lonlat(2, 2)[1],
    grid_vertex_lonlat(2, 0)[0],
]


# -- fixtures: tiny layers made from the grid ----------------------------------------------------


@pytest.fixture(scope="module")
def layers(grid: BoundarySet) -> dict[str, gpd.GeoDataFrame]:
    return grid_layers(grid)


def build(layers: dict[str, gpd.GeoDataFrame], **kwargs: Any) -> Any:
    return cluster_map(**layers, title="Cụm Thử <grid>", attribution=ATTRIBUTION, **kwargs)


@pytest.fixture(scope="module")
def served(layers: dict[str, gpd.GeoDataFrame]) -> str:
    return to_html(build(layers), inline_assets=False)


# -- reading the page ------------------------------------------------------------------------


# -- content ---------------------------------------------------------------------------------


def test_page_names_members_and_keeps_diacritics(served: str) -> None:
    assert 'charset=UTF-8"' in served
    for n in (1, 2, 4, 5):
        assert f"Phường Ô {n}" in served  # UTF-8, not \\u escapes
    assert "<title>Cụm Thử &lt;grid&gt;</title>" in served


def test_layer_control_lists_every_layer(served: str) -> None:
    assert "L.control.layers(" in served
    assert overlay_names(served) == [
        "Đơn vị thành viên / Member units",
        "Vùng giáp ranh / Border zones",
        "Ranh giới chung / Shared boundaries",
        "Điểm nóng / Hotspots",
        "Điểm tiếp giáp / Junctions",
        "Vụ việc / Incidents",
        "Mật độ vụ việc / Incident heat map",
    ]


def test_zone_layer_has_pair_and_junction_zones(served: str) -> None:
    tips = tooltips(served)
    assert sum("Vùng giáp ranh / Border zone (200 m)" in t for t in tips) == 4
    assert sum("Vùng giao điểm / Junction zone (200 m)" in t for t in tips) == 1
    assert (
        "<b>Vùng giáp ranh / Border zone (200 m)</b><br>Phường Ô 1 (00001) – Phường Ô 2 (00002)"
        in tips
    )
    zones = js_arguments(served, "GZ.geojsonLayer")[1]["features"]
    assert [f["geometry"]["type"] for f in zones] == ["Polygon"] * 5
    assert zones[-1]["properties"]["style"]["fillOpacity"] < 1  # semi-transparent, junction last


def test_hotspots_junctions_and_boundaries(served: str) -> None:
    tips = tooltips(served)
    hotspots = js_arguments(served, "GZ.geojsonLayer")[3]["features"]
    assert hotspots[0]["properties"]["radius_m"] == 150.0  # a circle of 150 m around the point
    assert hotspots[0]["properties"]["tooltip_html"] == (
        "<b>Cầu Thử</b> / Test bridge (±150 m)<br>Ma túy, trộm cắp"
    )
    assert (
        hotspots[1]["geometry"]["type"] == "Polygon" and "radius_m" not in hotspots[1]["properties"]
    )
    assert (
        "<b>Điểm tiếp giáp / Junction</b><br>Phường Ô 1 (00001)<br>Phường Ô 2 (00002)"
        "<br>Phường Ô 4 (00004)<br>Phường Ô 5 (00005)"
    ) in tips
    lines = [t for t in tips if t.startswith("<b>Ranh giới chung")]
    assert len(lines) == 4 and all(t.endswith("<br>1.000 m / 1,000 m") for t in lines)


def test_unit_labels_and_tooltips(served: str) -> None:
    units = js_arguments(served, "GZ.geojsonLayer")[0]["features"]
    labels = [f["properties"]["label_html"] for f in units if "label_html" in f["properties"]]
    assert labels == ["Phường Ô 1", "Phường Ô 2", "Phường Ô 4", "Phường Ô 5"]  # members only
    tips = [f["properties"]["tooltip_html"] for f in units if "tooltip_html" in f["properties"]]
    assert tips[0] == "<b>Phường Ô 1 (00001)</b><br>Chủ trì / host"
    assert tips[4] == "<b>Phường Ô 3 (00003)</b><br>Không thuộc cụm / Not a member"
    colours = [f["properties"]["style"]["fillColor"] for f in units[:4]]
    assert len(set(colours)) == 4  # members coloured distinctly


def test_attribution_is_plain_text_in_control_and_legend(served: str) -> None:
    (spec,) = js_arguments(served, "GZ.decorate")
    assert spec["attributions_html"] == [ATTRIBUTION]
    assert spec["legend"]["attribution_html"] == f"Nguồn dữ liệu / Data: {ATTRIBUTION}"
    assert spec["prefix_html"] == "Leaflet"  # no link to leafletjs.com
    assert [s["title_html"] for s in spec["legend"]["sections"]] == [
        "Thành viên / Members",
        "Ranh giới và vùng / Boundaries and zones",
        "Vụ việc / Incidents (3)",
    ]
    members = [item["label_html"] for item in spec["legend"]["sections"][0]["items"]]
    assert members == [f"Phường Ô {n} (0000{n})" for n in (1, 2, 4, 5)]
    assert spec["legend"]["notice_html"] == SYNTHETIC_BADGE
    assert np.ravel(spec["bounds"]) == pytest.approx(GRID_BOUNDS, abs=1e-4)


def test_synthetic_badge_and_escaped_popup_text(served: str) -> None:
    assert "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" in served
    assert XSS not in served
    assert "<script>alert" not in served
    assert "&lt;script&gt;alert(\\u0001)&lt;/script&gt;" in served  # the packed template


def test_served_page_links_only_local_assets(served: str) -> None:
    assert external_references(served, "/maps/static") == []
    refs = [value for _, _, value in references(served).refs]
    assert "/maps/static/vendor/leaflet/leaflet.js" in refs
    assert "/maps/static/vendor/leaflet.markercluster/leaflet.markercluster.js" in refs
    assert "/maps/static/vendor/leaflet.heat/leaflet-heat.js" in refs
    assert "/maps/static/geozone.js" in refs
    for dropped in ("jquery", "bootstrap", "font-awesome", "awesome-markers", "cdn"):
        assert dropped not in served.lower()


def test_served_page_with_an_absolute_asset_base(layers: dict[str, gpd.GeoDataFrame]) -> None:
    base = "http://127.0.0.1:8000/maps/static"
    html = to_html(build(layers, asset_base=base), inline_assets=False)
    assert external_references(html, base) == []
    assert f'<script src="{base}/vendor/leaflet/leaflet.js">' in html
    # an external reference would be caught
    assert external_references(html.replace(base, "https://cdn.example.org/x"), base) != []


@needs_assets
def test_inline_page_has_no_external_reference(layers: dict[str, gpd.GeoDataFrame]) -> None:
    html = to_html(build(layers, inline_assets=True), inline_assets=True)
    assert external_references(html) == []
    assert references(html).refs == []  # nothing linked at all
    assert "L.markerClusterGroup" in html and "L.heatLayer" in html  # the libraries are inside
    assert "sourceMappingURL" not in html
    styles = "".join(references(html).styles)
    assert "data:image/png;base64," in styles  # leaflet.css images as data: URIs
    assert "images/layers.png" not in styles


def test_tiles_absent_by_default_present_when_given(
    served: str, layers: dict[str, gpd.GeoDataFrame]
) -> None:
    assert "L.tileLayer" not in served
    url = "https://tiles.example.org/{z}/{x}/{y}.png"
    html = to_html(
        build(layers, tiles=url, tiles_attribution="© Example <tiles>"), inline_assets=False
    )
    assert "L.tileLayer(" in html
    assert json.dumps(url) in html
    assert "© Example &lt;tiles&gt;" in html or "\\u0026lt;tiles\\u0026gt;" in html
    assert external_references(html, "/maps/static") == []  # tiles load from JS, not a link


def test_heat_layer_can_be_left_out(layers: dict[str, gpd.GeoDataFrame]) -> None:
    html = to_html(build(layers, heat=False), inline_assets=False)
    assert "GZ.incidentHeat" not in html
    assert "leaflet-heat.js" not in html
    assert "GZ.incidentLayer" in html


def test_map_without_optional_layers(layers: dict[str, gpd.GeoDataFrame]) -> None:
    m = cluster_map(
        units=layers["units"],
        boundaries_lines=None,
        zones=None,
        junctions=None,
        hotspots=None,
        incidents=None,
        title="Chỉ đơn vị",
        attribution=ATTRIBUTION,
    )
    html = to_html(m, inline_assets=False)
    assert overlay_names(html) == ["Đơn vị thành viên / Member units"]
    assert "markercluster" not in html


# -- input checks ----------------------------------------------------------------------------


def test_bad_layers_are_named(layers: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(MapInputError, match=r"layer 'units' lacks column.*full_name"):
        build({**layers, "units": layers["units"].drop(columns="full_name")})
    with pytest.raises(MapInputError, match="layer 'incidents' has no CRS"):
        build({**layers, "incidents": layers["incidents"].set_crs(None, allow_override=True)})
    lines_as_incidents = layers["boundaries_lines"].assign(category="drugs")
    with pytest.raises(MapInputError, match="must be points; row 0 is a LineString"):
        build({**layers, "incidents": lines_as_incidents})
    with pytest.raises(MapInputError, match="kind must be 'pair' or 'junction', not 'band'"):
        build({**layers, "zones": layers["zones"].assign(kind="band")})
    with pytest.raises(MapInputError, match="no row has member = True"):
        build({**layers, "units": layers["units"].assign(member=False)})


def test_layers_in_a_metric_crs_are_reprojected(layers: dict[str, gpd.GeoDataFrame]) -> None:
    metric = {k: v.to_crs(32648) for k, v in layers.items()}
    html = to_html(build(metric), inline_assets=False)
    (spec,) = js_arguments(html, "GZ.decorate")
    assert np.ravel(spec["bounds"]) == pytest.approx(GRID_BOUNDS, abs=1e-4)


# -- the incident table ----------------------------------------------------------------------


def test_incident_data_is_compact_and_escaped(layers: dict[str, gpd.GeoDataFrame]) -> None:
    d = incident_data(layers["incidents"], layers["units"])
    assert d["lat"].tolist() == pytest.approx(np.round(layers["incidents"].geometry.y, 5).tolist())
    assert [d["cats"][k]["vi_html"] for k in d["cat"]] == [
        "Ma túy",
        "Trộm cắp tài sản",  # a label is mapped to its category
        "Lấn chiếm vỉa hè, lòng đường",
    ]
    assert [d["cats"][k]["kind"] for k in d["cat"]] == ["criminal", "criminal", "administrative"]
    # times: epoch minutes; 21:30 at UTC+7 and a naive 08:15 taken as Vietnam time
    minutes = [d["t0"] + t if t >= 0 else None for t in d["t"]]
    stamps = [pd.Timestamp(m * 60, unit="s", tz="UTC") if m else None for m in minutes]
    assert stamps[0] == pd.Timestamp("2025-07-02T14:30:00Z")
    assert stamps[1] == pd.Timestamp("2025-07-03T01:15:00Z")
    assert stamps[2] is None
    assert d["id_prefix"] == "" and d["id"] == ["SYN-1-1", "SYN-1-2", "REAL-7"]
    assert [d["leads"][k] if k >= 0 else None for k in d["lead"]] == [
        "Phường Ô 2 (00002)",
        "Phường Ô 1 (00001)",
        None,
    ]
    assert d["ex"].tolist() == [0, 1, -1]
    assert d["syn"].tolist() == [1, 1, 0]


def test_pack_sentences_round_trip() -> None:
    sentences = [
        "Cách ranh giới với Phường Ô 2 37 m (vùng giáp ranh 200 m).",
        "Cách ranh giới với Phường Ô 2 112 m (vùng giáp ranh 200 m).",
        "Tom & Jerry <b>1.5</b>",
    ]
    templates, packed = pack_sentences(sentences)
    assert len(templates) == 2  # the two distances share one template
    assert packed[0] == "0|2|37|200" and packed[1] == "0|2|112|200"

    assert unpack(templates, packed[0]) == sentences[0]
    assert unpack(templates, packed[1]) == sentences[1]
    assert unpack(templates, packed[2]) == "Tom &amp; Jerry &lt;b&gt;1.5&lt;/b&gt;"


def test_explanation_pairs_whether_or_not_the_english_follows() -> None:
    from maps.incident_table import incident_columns

    vi = ["Câu 1 m", "Câu 2 m", "Câu 1 m", "Câu 1 m"]
    lon = lat = np.zeros(4)
    following = pd.DataFrame({"explanation_vi": vi, "explanation_en": ["A 1", "B 2", "A 1", "A 1"]})
    d = incident_columns(following, lon, lat)
    assert d["ex"].tolist() == [0, 1, 0, 0]
    assert [unpack(d["vi_templates"], v) for v in d["vis"]] == ["Câu 1 m", "Câu 2 m"]
    assert [unpack(d["en_templates"], v) for v in d["ens"]] == ["A 1", "B 2"]
    # the same Vietnamese with two English sentences: two pairs; a missing one: "" or none
    apart = following.assign(explanation_en=["A 1", "B 2", "C 3", None])
    d = incident_columns(apart, lon, lat)
    assert d["ex"].tolist() == [0, 1, 2, 3]
    assert [unpack(d["en_templates"], v) for v in d["ens"]] == ["A 1", "B 2", "C 3", ""]
    none = pd.DataFrame({"explanation_vi": [None, "x"], "explanation_en": [None, "y"]})
    assert incident_columns(none, np.zeros(2), np.zeros(2))["ex"].tolist() == [-1, 0]


def test_one_synthetic_flag_for_all(layers: dict[str, gpd.GeoDataFrame]) -> None:
    d = incident_data(layers["incidents"].iloc[:2])
    assert d["syn"] == 1
    assert d["id_prefix"] == "SYN-1-" and d["id"] == ["1", "2"]
    assert "lead" in d and d["leads"] == ["00002", "00001"]  # no units: codes only


# -- served maps: incidents fetched with a key ---------------------------------------------------


INCIDENTS_URL = "/maps/clusters/o-thu/incidents?limit=5"


def test_a_served_map_without_incidents_fetches_them_with_a_key(
    layers: dict[str, gpd.GeoDataFrame],
) -> None:
    html = to_html(
        build({**layers, "incidents": None}, incidents_url=INCIDENTS_URL), inline_assets=False
    )
    match = re.search(r"GZ\.incidentLoader\(\s*(map_\w+),\s*(layer_control_\w+),\s*", html)
    assert match is not None
    config = json.JSONDecoder().raw_decode(html, match.end())[0]
    assert config["url"] == INCIDENTS_URL and config["labels"] == LOADER_LABELS
    assert config["names_html"] == {
        "incidents": "Vụ việc / Incidents",
        "heat": "Mật độ vụ việc / Incident heat map",
    }
    # the layer control it adds the incident layers to is defined before it
    assert html.index(f"let {match.group(2)} = L.control.layers(") < match.start()
    scripts = [urlsplit(s).path for s in re.findall(r'<script src="([^"]+)"', html)]
    for needed in (
        "vendor/leaflet.markercluster/leaflet.markercluster.js",
        "vendor/leaflet.heat/leaflet-heat.js",
        "geozone.js",
    ):
        assert scripts.index(f"/maps/static/{needed}") < scripts.index(
            "/maps/static/incident_loader.js"
        )
    assert incident_tables(html) == []
    # a page with its incidents, or with no URL to fetch them from, has no key box
    assert "GZ.incidentLoader(" not in to_html(
        build(layers, incidents_url=INCIDENTS_URL), inline_assets=False
    )
    assert "GZ.incidentLoader(" not in to_html(
        build({**layers, "incidents": None}), inline_assets=False
    )


def test_incident_payload_is_the_page_table_with_its_legend(
    layers: dict[str, gpd.GeoDataFrame],
) -> None:
    incidents, units = layers["incidents"], layers["units"]
    payload = incident_payload(incidents, 10, units)
    assert (payload["returned"], payload["total"], payload["synthetic"]) == (3, 10, True)
    assert payload["summary"] == (
        "Hiển thị 3 vụ việc mới nhất trong 10 / the newest 3 of 10 incidents shown"
    )
    assert payload["notice_html"] == SYNTHETIC_BADGE
    assert orjson.loads(orjson.dumps(payload["data"], option=orjson.OPT_SERIALIZE_NUMPY)) == (
        orjson.loads(
            orjson.dumps(incident_data(incidents, units), option=orjson.OPT_SERIALIZE_NUMPY)
        )
    )
    assert [item["label_html"] for item in payload["legend"]] == [
        "Hình sự / Criminal",
        "Vi phạm hành chính / Administrative",
    ]
    real = incident_payload(incidents[~incidents["synthetic"]], 1)
    assert (real["synthetic"], real["notice_html"]) == (False, None)
    assert real["summary"] == "Hiển thị cả 1 vụ việc / all 1 incidents shown"
    empty = incident_payload(None, 0)
    assert (empty["returned"], empty["data"], empty["legend"]) == (0, None, [])
    assert empty["summary"].startswith("Chưa có vụ việc nào")
    # Each language groups thousands its own way.
    assert incident_summary(20_000, 50_000) == (
        "Hiển thị 20.000 vụ việc mới nhất trong 50.000 / "
        "the newest 20,000 of 50,000 incidents shown"
    )
    # A linked event is one point for its reports: all 4,427 reports drawn as 4,283 points.
    assert incident_summary(4_283, 4_427, 4_427) == (
        "Hiển thị cả 4.427 vụ việc, gộp thành 4.283 sự việc / "
        "all 4,427 incidents shown, as 4,283 events"
    )
    assert incident_summary(100, 500, 130).startswith("Hiển thị 130 vụ việc mới nhất trong 500")


def test_many_members_are_coloured_and_listed_by_former_unit() -> None:
    import geopandas as gpd
    import shapely

    from maps.cluster_map import members_section
    from maps.overlays import MEMBER_PALETTE, MemberUnits

    n = 44  # Gia Lâm carried into the 2025 units
    groups = [f"Huyện {k % 8}" for k in range(n)]
    units = gpd.GeoDataFrame(
        {
            "code": [f"{k:05d}" for k in range(n)],
            "full_name": [f"Xã {k}" for k in range(n)],
            "group": groups,
        },
        geometry=[shapely.box(105 + k * 0.01, 21, 105.009 + k * 0.01, 21.009) for k in range(n)],
        crs=4326,
    )
    members = MemberUnits(units)
    assert n > len(MEMBER_PALETTE)
    assert len(set(members.colour.values())) == n  # no colour repeats
    assert list(members.groups) == [f"Huyện {k}" for k in range(8)]
    section = members_section(members)
    assert section["items"] == [] and len(section["groups"]) == 8
    assert section["groups"][0]["title_html"] == "Huyện 0 (6)"
    assert not any(group["open"] for group in section["groups"])  # folded
    # few members: one line each, as before
    few = MemberUnits(units.head(5))
    assert few.groups == {} and len(members_section(few)["items"]) == 5


def test_a_store_notice_is_shown_beside_the_badge_escaped(
    layers: dict[str, gpd.GeoDataFrame],
) -> None:
    """An unfinished import's notice in the legend of a drawn map and of the served table."""
    from geozone.incidents.notices import unfinished_import_notice

    batch = {"batch_id": "file:ab", "source": f"/data/{XSS}.csv", "rows_done": 5, "rows_total": 9}
    notice = unfinished_import_notice(batch)
    page = to_html(build(layers, notices=[notice]), inline_assets=False)
    (spec,) = js_arguments(page, "GZ.decorate")
    assert spec["legend"]["notice_html"] == SYNTHETIC_BADGE
    [shown] = spec["legend"]["notices_html"]
    assert (
        "Unfinished import (stopped): file /data/&lt;script&gt;" in shown
        and "5 of 9 rows read" in shown
    )
    assert XSS not in page
    payload = incident_payload(None, 0, notices=[notice])
    assert payload["notices"] == [notice] and payload["notices_html"] == [shown]
    assert incident_payload(None, 0)["notices"] == []
    (plain,) = js_arguments(to_html(build(layers), inline_assets=False), "GZ.decorate")
    assert plain["legend"]["notices_html"] == []
