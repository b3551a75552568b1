"""The cluster map: content, escaping, offline assets, tiles, input checks, the incident table."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pytest
import shapely

from geozone.boundaries.sets import BoundarySet
from geozone.labels import SYNTHETIC_BANNER as SYNTHETIC_BADGE
from maps import MapInputError, cluster_map, incident_data, incident_payload, to_html
from maps.cluster_map import LOADER_LABELS, incident_summary, pack_sentences
from tests.fixtures.grid import grid_vertex_lonlat
from tests.fixtures.pages import incident_tables, needs_assets, unpack

XSS = "<script>alert(1)</script>"
ATTRIBUTION = "geozone test grid (CC0)"
MEMBERS = ["00001", "00002", "00004", "00005"]  # the four wards around grid vertex (1, 1)
#: South, west, north, east of the members: grid vertices (0, 0) and (2, 2).
GRID_BOUNDS = [
    grid_vertex_lonlat(0, 0)[1],
    grid_vertex_lonlat(0, 2)[0],
    grid_vertex_lonlat(2, 2)[1],
    grid_vertex_lonlat(2, 0)[0],
]


# -- fixtures: tiny layers made from the grid ----------------------------------------------------


def _metric(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf.to_crs(32648)


def grid_layers(grid: BoundarySet) -> dict[str, gpd.GeoDataFrame]:
    """Members 00001, 00002, 00004, 00005 (+ 00003 as a context unit), their shared lines,
    200 m pair zones, the junction at vertex (1, 1) with its zone, two hotspots, incidents."""
    wards = grid.units("ward").set_index("code")
    units = wards.loc[[*MEMBERS, "00003"], ["full_name", "geometry"]].reset_index()
    units = gpd.GeoDataFrame(units, geometry="geometry", crs=4326)
    units["member"] = [True, True, True, True, False]
    units["role"] = ["Chủ trì / host", None, None, None, None]
    metric = _metric(units).set_index("code").geometry
    pairs = [("00001", "00002"), ("00001", "00004"), ("00002", "00005"), ("00004", "00005")]
    lines_m = [shapely.intersection(metric[a].boundary, metric[b].boundary) for a, b in pairs]
    lines = gpd.GeoDataFrame(
        {"code_a": [a for a, _ in pairs], "code_b": [b for _, b in pairs]},
        geometry=lines_m,
        crs=32648,
    ).to_crs(4326)
    zone_m = [
        shapely.intersection(shapely.buffer(line, 200), shapely.union(metric[a], metric[b]))
        for line, (a, b) in zip(lines_m, pairs, strict=True)
    ]
    lon, lat = grid_vertex_lonlat(1, 1)
    vertex_m = _metric(gpd.GeoDataFrame(geometry=[shapely.Point(lon, lat)], crs=4326)).geometry[0]
    disc = shapely.intersection(
        shapely.buffer(vertex_m, 200), shapely.union_all(metric[MEMBERS].to_numpy())
    )
    zones = gpd.GeoDataFrame(
        {
            "kind": ["pair"] * 4 + ["junction"],
            "codes": [[a, b] for a, b in pairs] + [MEMBERS],
            "width_m": [200.0] * 5,
        },
        geometry=[*zone_m, disc],
        crs=32648,
    ).to_crs(4326)
    junctions = gpd.GeoDataFrame({"codes": [MEMBERS]}, geometry=[shapely.Point(lon, lat)], crs=4326)
    square = shapely.box(lon + 0.001, lat + 0.001, lon + 0.002, lat + 0.002)
    hotspots = gpd.GeoDataFrame(
        {
            "name": ["Cầu Thử", "Chợ Ô"],
            "name_en": ["Test bridge", None],
            "note": ["Ma túy, trộm cắp", None],
            "radius_m": [150.0, None],
        },
        geometry=[shapely.Point(lon, lat), square],
        crs=4326,
    )
    incidents = gpd.GeoDataFrame(
        {
            "external_id": ["SYN-1-1", "SYN-1-2", "REAL-7"],
            "category": ["drugs", "Trộm cắp tài sản", "pavement_encroachment"],
            "occurred_at": ["2025-07-02T21:30:00+07:00", "2025-07-03 08:15:00", None],
            "rule": ["border_detector", "territory", "on_boundary"],
            "lead_unit": ["00002", "00001", None],
            "explanation_vi": [XSS, "Vụ việc trên địa bàn Phường Ô 1, cách 37 m", None],
            "explanation_en": ["In the border zone, 12 m from it", "Phường Ô 1 holds it", None],
            "synthetic": [True, True, False],
        },
        geometry=[
            shapely.Point(lon - 0.0005, lat - 0.0005),
            shapely.Point(lon - 0.004, lat - 0.004),
            shapely.Point(lon, lat),
        ],
        crs=4326,
    )
    return {
        "units": units,
        "boundaries_lines": lines,
        "zones": zones,
        "junctions": junctions,
        "hotspots": hotspots,
        "incidents": incidents,
    }


@pytest.fixture(scope="module")
def layers(grid: BoundarySet) -> dict[str, gpd.GeoDataFrame]:
    return grid_layers(grid)


def build(layers: dict[str, gpd.GeoDataFrame], **kwargs: Any) -> Any:
    return cluster_map(**layers, title="Cụm Thử <grid>", attribution=ATTRIBUTION, **kwargs)


@pytest.fixture(scope="module")
def served(layers: dict[str, gpd.GeoDataFrame]) -> str:
    return to_html(build(layers), inline_assets=False)


# -- reading the page ------------------------------------------------------------------------


class _Refs(HTMLParser):
    """Every src/href attribute of the page and the text of its <style> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.refs.append((tag, name, value))

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


def references(html: str) -> _Refs:
    parser = _Refs()
    parser.feed(html)
    return parser


def external_references(html: str, allowed_base: str | None = None) -> list[str]:
    """src/href and CSS url() targets that leave the page, except under ``allowed_base``."""
    parsed = references(html)
    targets = [value for _, _, value in parsed.refs]
    for style in parsed.styles:
        targets += [m.group(2) for m in re.finditer(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""", style)]
    allowed = urlsplit(allowed_base) if allowed_base else None
    bad = []
    for target in targets:
        if target.startswith(("data:", "#")):
            continue
        parts = urlsplit(target)
        same_place = allowed is not None and (parts.scheme, parts.netloc) == (
            allowed.scheme,
            allowed.netloc,
        )
        if same_place and allowed is not None and parts.path.startswith(allowed.path):
            continue
        leaves = bool(parts.scheme or parts.netloc or target.startswith("//"))
        outside_base = allowed is not None and not parts.path.startswith(allowed.path)
        if leaves or outside_base:
            bad.append(target)
    return bad


def js_arguments(html: str, call: str) -> list[Any]:
    """The first JSON argument of every ``call(`` in the page's script (e.g. GZ.decorate)."""
    decoder = json.JSONDecoder()
    found = []
    for match in re.finditer(re.escape(call) + r"\(\s*(?:\w+,\s*)?", html):
        found.append(decoder.raw_decode(html, match.end())[0])
    return found


def tooltips(html: str) -> list[str]:
    """Every tooltip of the GeoJSON layers, in layer order."""
    return [
        feature["properties"]["tooltip_html"]
        for layer in js_arguments(html, "GZ.geojsonLayer")
        for feature in layer["features"]
        if "tooltip_html" in feature["properties"]
    ]


def overlay_names(html: str) -> list[str]:
    """The overlay names of the layer control (folium writes them as JSON keys)."""
    block = html[html.index("overlays :") : html.index("L.control.layers(")]
    return [json.loads(k) for k in re.findall(r'^\s*("(?:[^"\\]|\\.)*")\s*:', block, re.M)]


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
    assert len(lines) == 4 and all(t.endswith("<br>1000 m") for t in lines)


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
    assert incident_summary(20_000, 50_000) == (
        "Hiển thị 20.000 vụ việc mới nhất trong 50.000 / "
        "the newest 20.000 of 50.000 incidents shown"
    )
