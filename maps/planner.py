"""The patrol-zone planner page: draw, edit and delete patrol zones saved through the API.

A planner opens the page for one cluster, enters the API key once (an input box in a Leaflet
control; the key is kept in ``sessionStorage`` for that browser tab, never put in a URL),
and draws polygons or rectangles with Leaflet.draw. Each drawing asks for a name (default
"Vùng tuần tra N") and is saved at once; edits and deletions are saved when the planner
clicks "Save" in the Leaflet.draw toolbar. The page shows the member units and the border
zones for reference. The client is ``maps/static/planner.js``.

API contract
------------
``{api_base}`` is the ``api_base`` argument ("" = the page's own origin). Every request sends
the header ``X-API-Key: <key>`` once the planner has entered a key (reads included).

``GET {api_base}/patrol-zones?cluster_id=ID``
    200, a GeoJSON FeatureCollection of the cluster's patrol zones. Each Feature has ``id``
    (int) and ``properties`` {``name``, ``cluster_id``, ``created_at``, ``updated_at``,
    ``units`` (list of unit codes), ``notes``}.
``POST {api_base}/patrol-zones``
    JSON body ``{"cluster_id": ID, "name": str, "geometry": <GeoJSON Polygon>}``; 201 with
    the new Feature.
``PUT {api_base}/patrol-zones/{id}``
    The same body; 200 with the updated Feature.
``DELETE {api_base}/patrol-zones/{id}``
    204.

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
from maps.cluster_map import LAYER_NAMES, MemberUnits, base_map, zone_collection
from maps.elements import GeoJsonLayer, MapDecor, esc, js_json, own_assets

#: Texts of the planner page (plain text; planner.js inserts them with textContent).
PLANNER_LABELS = {
    "key_label": "Khoá API / API key",
    "key_placeholder": "X-API-Key",
    "key_save": "Lưu khoá / Save key",
    "key_forget": "Xoá khoá / Forget key",
    "key_set": "Đã nhập khoá (chỉ giữ trong phiên này) / Key set (kept for this session only)",
    "key_unset": "Chưa nhập khoá / No key entered",
    "key_needed": (
        "Nhập khoá API để tải và lưu vùng tuần tra / "
        "Enter the API key to load and save patrol zones"
    ),
    "name_prompt": "Tên vùng tuần tra / Patrol zone name",
    "default_name": "Vùng tuần tra {n}",
    "saved": "Đã lưu / Saved: {name}",
    "deleted": "Đã xoá / Deleted: {name}",
    "loaded": "Đã tải {n} vùng tuần tra / Loaded {n} patrol zones",
    "unsaved": "Chưa lưu / Not saved",
    "retry": "Lưu lại / Save again",
    "rename": "Đổi tên / Rename",
    "units": "Đơn vị / Units",
    "updated": "Cập nhật / Updated",
    "notes": "Ghi chú / Notes",
    "close": "Đóng / Close",
    "error_prefix": "Lỗi / Error",
    "network_error": "Không kết nối được máy chủ / Cannot reach the server",
    "draw_polygon": "Vẽ vùng tuần tra / Draw a patrol zone",
    "draw_rectangle": "Vẽ vùng hình chữ nhật / Draw a rectangular patrol zone",
    "edit": "Sửa vùng tuần tra / Edit patrol zones",
    "remove": "Xoá vùng tuần tra / Delete patrol zones",
}
ZONE_STYLE = {"color": "#0d47a1", "weight": 3, "fillColor": "#1e88e5", "fillOpacity": 0.25}
UNSAVED_STYLE = {
    "color": "#b00020",
    "weight": 3,
    "dashArray": "6 4",
    "fillColor": "#e57373",
    "fillOpacity": 0.2,
}


def endpoints(api_base: str, cluster_id: str) -> dict[str, str]:
    """Return the planner's API URLs: ``list``, ``collection`` and ``item`` (with ``{id}``)."""
    base = api_base.rstrip("/")
    return {
        "list": f"{base}/patrol-zones?cluster_id={quote(cluster_id, safe='')}",
        "collection": f"{base}/patrol-zones",
        "item": f"{base}/patrol-zones/{{id}}",
    }


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
    inline_assets: bool = False,
    title: str | None = None,
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
    inline_assets
        Embed the assets into the page.
    title
        Shown on the map; default "Lập vùng tuần tra / Patrol zone planner: <cluster_id>".

    Returns
    -------
    folium.Map
        Render it with :func:`maps.to_html`.
    """
    members = MemberUnits(units)
    heading = title or f"Lập vùng tuần tra / Patrol zone planner: {cluster_id}"
    m = base_map(members.bounds(), title=heading, tiles=tiles, tiles_attribution=tiles_attribution)
    # Title and legend first: the view is fitted around them.
    MapDecor(
        {
            "title_html": esc(heading),
            "prefix_html": "Leaflet",
            "bounds": members.bounds(),
            "attributions_html": [esc(attribution)],
            "legend": {
                "title_html": esc("Chú giải / Legend"),
                "sections": [
                    {
                        "title_html": esc("Thành viên / Members"),
                        "items": [
                            {
                                "swatch": {"kind": "fill", "color": colour, "fill": colour},
                                "label_html": esc(members.label(code)),
                            }
                            for code, colour in members.colour.items()
                        ],
                    },
                    {
                        "title_html": esc("Vùng tuần tra / Patrol zones"),
                        "items": [
                            {
                                "swatch": {
                                    "kind": "fill",
                                    "color": ZONE_STYLE["color"],
                                    "fill": ZONE_STYLE["fillColor"],
                                },
                                "label_html": esc("Đã lưu / Saved"),
                            },
                            {
                                "swatch": {
                                    "kind": "fill",
                                    "color": UNSAVED_STYLE["color"],
                                    "fill": UNSAVED_STYLE["fillColor"],
                                },
                                "label_html": esc("Chưa lưu / Not saved"),
                            },
                        ],
                    },
                ],
                "attribution_html": esc(f"Nguồn dữ liệu / Data: {attribution}"),
            },
        }
    ).add_to(m)
    GeoJsonLayer(members.collection(), name=LAYER_NAMES["units"]).add_to(m)
    if zones is not None and len(zones):
        GeoJsonLayer(zone_collection(zones, members), name=LAYER_NAMES["zones"]).add_to(m)
    PlannerControl(
        {
            "cluster_id": cluster_id,
            "endpoints": endpoints(api_base, cluster_id),
            "labels": PLANNER_LABELS,
            "style": ZONE_STYLE,
            "unsaved_style": UNSAVED_STYLE,
        }
    ).add_to(m)
    folium.LayerControl(collapsed=True, position="topright").add_to(m)
    return use_local_assets(m, base=asset_base, inline=inline_assets)
