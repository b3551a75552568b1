"""The patrol-zone planner page: draw, edit and delete patrol zones saved through the API.

A planner opens the page for one cluster (titled with the cluster's name), enters the API
key once (the page's one key box, ``GZ.keyBox``; the key is kept in ``sessionStorage`` for
that browser tab, never put in a URL; nothing is requested before it is given), and draws
polygons or rectangles with Leaflet.draw. Each drawing asks for a name (default "Vùng tuần
tra N") and is saved at once; edits and deletions are saved when the planner clicks "Save"
in the Leaflet.draw toolbar. Under the drawing tools the page shows the member units, the
border zones and, fetched with the same key when their URLs are given, the incidents, the
significant Gi* hot cells and the suggested patrol zones (each accepted as a zone with one
click). A saved zone's popup names its units, gives its date in Vietnam time and, with a
``coverage`` endpoint, what it covers (border-zone share, hot-cell share, incidents). The
client is ``maps/static/planner.js``.

API contract
------------
``{api_base}`` is the ``api_base`` argument ("" = the page's own origin). Every request sends
the header ``X-API-Key: <key>`` once the planner has entered a key (reads included).

``GET {api_base}/patrol-zones?cluster_id=ID``
    200, a GeoJSON FeatureCollection of the cluster's patrol zones. Each Feature has ``id``
    (int) and ``properties`` {``name``, ``cluster_id``, ``created_at``, ``updated_at``,
    ``units`` (list of unit codes), optional ``unit_names`` (their names), ``notes``}.
``POST {api_base}/patrol-zones``
    JSON body ``{"cluster_id": ID, "name": str, "geometry": <GeoJSON Polygon>}``; 201 with
    the new Feature.
``PUT {api_base}/patrol-zones/{id}``
    The same body; 200 with the updated Feature.
``DELETE {api_base}/patrol-zones/{id}``
    204.
``GET {api_base}/patrol-zones/{id}/coverage`` (optional)
    200, what the zone covers (``zone_area_km2``, ``border_zone_share``,
    ``hot_cells_share``, ``n_hot_cells``, ``n_incidents_inside``, ``n_incidents``,
    ``incidents_share``, ``from``, ``to``, ``synthetic``).

Errors are ``application/problem+json``; the page shows their ``detail`` (or ``title``) in
a visible message box, and on 401/403 draws attention to the key box. The server's Feature
replaces the drawn layer after each save, so the page always shows what was stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import folium
import geopandas as gpd
from folium.elements import JSCSSMixin
from folium.template import Template

from maps.assets import DEFAULT_ASSET_BASE, use_local_assets
from maps.basemap import BasemapSpec
from maps.cluster_map import (
    KEY_LABELS,
    LAYER_NAMES,
    MemberUnits,
    base_map,
    incident_loader,
    zone_collection,
)
from maps.elements import GeoJsonLayer, IncidentLoader, MapDecor, esc, js_json, own_assets

#: Texts of the planner page (plain text; planner.js inserts them with textContent).
PLANNER_LABELS = {
    "key_needed": (
        "Nhập khoá API (vai trò planner) để tải và lưu vùng tuần tra / "
        "Enter a planner API key to load and save patrol zones"
    ),
    "refused": ("Khoá không được chấp nhận; nhập khoá khác / The key was refused; enter another"),
    "name_prompt": "Tên vùng tuần tra / Patrol zone name",
    "default_name": "Vùng tuần tra {n}",
    "suggestion_name": "Vùng gợi ý {n}",
    "saved": "Đã lưu / Saved: {name}",
    "deleted": "Đã xoá / Deleted: {name}",
    "loaded": "Đã tải {n} vùng tuần tra / Loaded {n} patrol zones",
    "unsaved": "Chưa lưu / Not saved",
    "retry": "Lưu lại / Save again",
    "rename": "Đổi tên / Rename",
    "units": "Đơn vị / Units",
    "updated": "Cập nhật (giờ Việt Nam) / Updated (Vietnam time)",
    "notes": "Ghi chú / Notes",
    "coverage": "Độ bao phủ / Coverage",
    "coverage_loading": "Đang tính độ bao phủ… / Computing coverage…",
    "area": "Diện tích / Area",
    "border_share": "Phần vùng giáp ranh / Border-zone share",
    "hot_share": "Phần ô điểm nóng / Hot-cell share",
    "hot_untested": "Chưa đủ vụ việc để kiểm định / Too few incidents to test",
    "incidents": "Vụ việc trong vùng / Incidents inside",
    "count_basis": "Cách tính / How counted",
    "period": "Giai đoạn / Period",
    "synthetic": "DỮ LIỆU MÔ PHỎNG / SYNTHETIC DATA",
    "close": "Đóng / Close",
    "error_prefix": "Lỗi / Error",
    "network_error": "Không kết nối được máy chủ / Cannot reach the server",
    "draw_polygon": "Vẽ vùng tuần tra / Draw a patrol zone",
    "draw_rectangle": "Vẽ vùng hình chữ nhật / Draw a rectangular patrol zone",
    "edit": "Sửa vùng tuần tra / Edit patrol zones",
    "remove": "Xoá vùng tuần tra / Delete patrol zones",
}
#: Texts of a suggested zone's popup.
SUGGESTION_LABELS = {
    "title": "Vùng tuần tra gợi ý / Suggested patrol zone",
    "units": "Đơn vị / Units",
    "incidents": "Vụ việc / Incidents",
    "note": "Gợi ý ban đầu, cần chỉnh sửa / A starting point to edit",
    "accept": "Nhận làm vùng tuần tra / Accept as a patrol zone",
}
ZONE_STYLE = {"color": "#0d47a1", "weight": 3, "fillColor": "#1e88e5", "fillOpacity": 0.25}
UNSAVED_STYLE = {
    "color": "#b00020",
    "weight": 3,
    "dashArray": "6 4",
    "fillColor": "#e57373",
    "fillOpacity": 0.2,
}
SUGGESTION_STYLE = {
    "color": "#2e7d32",
    "weight": 2,
    "dashArray": "8 4",
    "fillColor": "#66bb6a",
    "fillOpacity": 0.15,
}


def endpoints(api_base: str, cluster_id: str, *, coverage: bool = False) -> dict[str, str]:
    """Return the planner's API URLs: ``list``, ``collection``, ``item`` (and ``coverage``)."""
    base = api_base.rstrip("/")
    urls = {
        "list": f"{base}/patrol-zones?cluster_id={quote(cluster_id, safe='')}",
        "collection": f"{base}/patrol-zones",
        "item": f"{base}/patrol-zones/{{id}}",
    }
    if coverage:
        urls["coverage"] = f"{base}/patrol-zones/{{id}}/coverage"
    return urls


class PlannerControl(JSCSSMixin, folium.MacroElement):
    """Leaflet.draw toolbar, API-key box and message box of the planner (``planner.js``)."""

    default_js = own_assets("leaflet_draw_js", "geozone_js", "planner_js")
    default_css = own_assets("leaflet_draw_css", "geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GeozonePlanner.init(
                {{ this._parent.get_name() }}, {{ this.config_json }});
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "PlannerControl"
        self.config_json = js_json(config)


def _swatch(style: dict[str, Any], label: str) -> dict[str, Any]:
    return {
        "swatch": {"kind": "fill", "color": style["color"], "fill": style["fillColor"]},
        "label_html": esc(label),
    }


def _decor(
    members: MemberUnits, heading: str, attribution: str, links: list[dict[str, str]]
) -> MapDecor:
    from maps.cluster_map import members_section as section_of

    members_section = section_of(members)  # folded by old unit when many
    zone_items = [
        _swatch(ZONE_STYLE, "Đã lưu / Saved"),
        _swatch(UNSAVED_STYLE, "Chưa lưu / Not saved"),
        _swatch(SUGGESTION_STYLE, "Gợi ý / Suggested"),
    ]
    return MapDecor(
        {
            "title_html": esc(heading),
            "links": [{"href": link["href"], "label_html": esc(link["label"])} for link in links],
            "prefix_html": "Leaflet",
            "bounds": members.bounds(),
            "attributions_html": [esc(attribution)],
            "legend": {
                "title_html": esc("Chú giải / Legend"),
                "sections": [
                    members_section,
                    {"title_html": esc("Vùng tuần tra / Patrol zones"), "items": zone_items},
                ],
                "attribution_html": esc(f"Nguồn dữ liệu / Data: {attribution}"),
            },
        }
    )


def suggestion_entry(url: str) -> dict[str, Any]:
    """Return the incident loader's entry fetching suggested zones (patrol-suggestions)."""
    name = "Vùng tuần tra gợi ý / Suggested patrol zones"
    return {
        "kind": "suggestions",
        "function": "suggestionLayer",
        "url": url,
        "name_html": esc(name),
        "show": True,
        "config": {"style": SUGGESTION_STYLE, "labels": SUGGESTION_LABELS},
        "legend": {"title_html": esc(name), "items": [_swatch(SUGGESTION_STYLE, name)]},
    }


def _reference_loader(
    control: folium.LayerControl,
    incidents_url: str,
    hotspots_url: str | None,
    suggestions_url: str | None,
    incident_url: str | None,
) -> IncidentLoader:
    from maps.analytics_layers import loader_entries

    entries = [e for e in loader_entries(hotspots_url) if e["kind"] == "gi"] if hotspots_url else []
    if suggestions_url:
        entries.append(suggestion_entry(suggestions_url))
    return incident_loader(control, incidents_url, entries, incident_url)


def planner_map(
    *,
    units: gpd.GeoDataFrame,
    zones: gpd.GeoDataFrame | None,
    cluster_id: str,
    attribution: str,
    api_base: str = "",
    asset_base: str = DEFAULT_ASSET_BASE,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
    basemap: BasemapSpec | None = None,
    inline_assets: bool = False,
    title: str | None = None,
    incidents_url: str | None = None,
    hotspots_url: str | None = None,
    suggestions_url: str | None = None,
    coverage: bool = False,
    links: list[dict[str, str]] | None = None,
    incident_url: str | None = None,
) -> folium.Map:
    """Build the patrol-zone planner page of a cluster (see the module notes for the API).

    Parameters
    ----------
    units
        Member polygons, as for :func:`maps.cluster_map` (``code``, ``full_name``...).
    zones
        The cluster's border zones for reference (``kind``...), or None.
    cluster_id
        The cluster the patrol zones belong to.
    attribution
        Data attribution (plain text).
    api_base
        URL prefix of the API ("" = the page's own origin, e.g. ``/api/v1`` or
        ``https://host/api``).
    asset_base
        URL path or URL the map assets are served under.
    tiles, tiles_attribution
        Basemap URL template and its attribution; None = no basemap.
    basemap
        A local basemap archive served by geozone (takes precedence over ``tiles``).
    inline_assets
        Embed the assets into the page.
    title
        The cluster's name, shown as "Lập vùng tuần tra / Patrol zone planner: <title>"
        (default the cluster id).
    incidents_url
        The incident table URL (``/maps/clusters/{id}/incidents``): with it the page draws
        the incidents (and the layers below) under the drawing tools, fetched with the key.
    hotspots_url
        ``GET /clusters/{id}/hotspots``: the significant Gi* cells.
    suggestions_url
        ``GET /clusters/{id}/patrol-suggestions``: suggested zones, accepted with one click.
    coverage
        Saved zones' popups show ``GET /patrol-zones/{id}/coverage``.
    links
        Links shown under the title (``href``, plain-text ``label``).
    incident_url
        The path of ``GET /incidents/`` (the external id follows): an incident's popup
        fetches its sentences there (the served table leaves them out).

    Returns
    -------
    folium.Map
        Render it with :func:`maps.to_html`.
    """
    members = MemberUnits(units)
    heading = f"Lập vùng tuần tra / Patrol zone planner: {title or cluster_id}"
    m = base_map(
        members.bounds(),
        title=heading,
        tiles=tiles,
        tiles_attribution=tiles_attribution,
        basemap=basemap,
    )
    # Title and legend first: the view is fitted around them.
    _decor(members, heading, attribution, links or []).add_to(m)
    GeoJsonLayer(members.collection(), name=LAYER_NAMES["units"]).add_to(m)
    if zones is not None and len(zones):
        GeoJsonLayer(zone_collection(zones, members), name=LAYER_NAMES["zones"]).add_to(m)
    PlannerControl(
        {
            "cluster_id": cluster_id,
            "endpoints": endpoints(api_base, cluster_id, coverage=coverage),
            "labels": PLANNER_LABELS,
            "key_labels": KEY_LABELS,
            "unit_names": members.names,
            "style": ZONE_STYLE,
            "unsaved_style": UNSAVED_STYLE,
        }
    ).add_to(m)
    control = folium.LayerControl(collapsed=True, position="topright")
    control.add_to(m)
    if incidents_url:
        _reference_loader(
            control, incidents_url, hotspots_url, suggestions_url, incident_url
        ).add_to(m)
    return use_local_assets(m, base=asset_base, inline=inline_assets)
