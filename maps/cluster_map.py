"""The map of one cluster: members, shared boundaries, border zones, hotspots and incidents.

:func:`cluster_map` takes plain GeoDataFrames (any CRS; drawn in EPSG:4326) and returns a
``folium.Map`` that loads nothing from the internet: Leaflet and its plugins come from
geozone's assets (:mod:`maps.assets`), a basemap only from a local archive served by geozone
(:mod:`maps.basemap`) or a tile URL template when one is given, and the map stays readable
without them (plain background, unit names as labels and tooltips). Attribution is plain
text, in the map's attribution control and in the legend. :func:`map_of_layers` draws the
:class:`maps.layers.ClusterLayers` of a placed cluster.

The overlays are built by :mod:`maps.overlays`; the incidents travel as the compact columnar
table of :mod:`maps.incident_table` (50,000 incidents make a page of about 3 MB) and are
drawn by ``geozone.js``: clustered at low zoom, single points from
:data:`UNCLUSTERED_ZOOM` on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import folium
import geopandas as gpd
import numpy as np
from branca.element import Figure
from folium.map import Layer

from geozone.labels import RULE_LABELS, SYNTHETIC_BANNER, ZONE_KIND_LABELS, bilingual
from geozone.text import format_number
from maps.analytics_layers import ClusterAnalytics, loader_entries
from maps.assets import DEFAULT_ASSET_BASE, use_local_assets
from maps.basemap import BasemapSpec, add_basemap
from maps.elements import (
    GeoJsonLayer,
    IncidentHeat,
    IncidentLayer,
    IncidentLoader,
    MapDecor,
    esc,
)
from maps.incident_table import (
    KIND_COLOURS,
    NUMBER_SLOT,
    POPUP_LABELS,
    incident_data,
    incident_legend,
    incident_payload,
    incident_summary,
    pack_sentences,
    reports_drawn,
    thousands,
)
from maps.overlays import (
    BOUNDARY_STYLE,
    HOTSPOT_STYLE,
    JUNCTION_STYLE,
    JUNCTION_ZONE_STYLE,
    LAYER_NAMES,
    MEMBER_PALETTE,
    PAIR_ZONE_STYLE,
    PATROL_ZONE_STYLE,
    MemberUnits,
    boundary_collection,
    hotspot_collection,
    junction_collection,
    patrol_zone_collection,
    prepare_layer,
    zone_collection,
)

if TYPE_CHECKING:
    from maps.layers import ClusterLayers

#: Texts of the page's one API-key box (``GZ.keyBox``; plain text, set with textContent).
KEY_LABELS = {
    "prompt": (
        "Nhập khoá API để xem vụ việc và vùng tuần tra / "
        "Enter your API key to see incidents and patrol zones"
    ),
    "key_label": "Khoá API / API key",
    "key_placeholder": "X-API-Key",
    "use": "Dùng khoá / Use key",
    "forget": "Xoá khoá / Forget key",
    "kept": "Khoá chỉ giữ trong thẻ này / The key is kept for this tab only",
    "key_set": "Đã nhập khoá (chỉ giữ trong thẻ này) / Key set (kept for this tab only)",
    "sign_in": "Đăng nhập / Sign in",
    "signed_in": "Đã đăng nhập / Signed in",
    "sign_out": "Đăng xuất / Sign out",
    "or_key": "hoặc nhập khoá API / or enter an API key",
}
#: Texts of the incident box of a served map (plain text, set with textContent).
LOADER_LABELS = {
    "title": "Vụ việc / Incidents",
    "need_key": (
        "Cần khoá API vai trò analyst (hoặc cao hơn) để xem vụ việc / "
        "Incidents need an analyst API key (or higher)"
    ),
    "refused": (
        "Khoá không được chấp nhận (sai, đã thu hồi hoặc vai trò thấp hơn analyst); nhập khoá "
        "khác / The key was refused (wrong, revoked or below analyst); enter another"
    ),
    "loading": "Đang tải vụ việc… / Loading incidents…",
    "error_prefix": "Lỗi / Error",
    "network_error": "Không kết nối được máy chủ / Cannot reach the server",
    "key_box": KEY_LABELS,
    # an incident's popup, while its sentences are fetched, and when they cannot be
    "explain_loading": "Đang tải giải thích… / Loading the explanation…",
    "explain_error": (
        "Không tải được giải thích của vụ việc này / Could not load this incident's explanation"
    ),
    "explain_none": (
        "Không có quyết định của cụm này cho vụ việc (có thể đang được tính lại) / No decision "
        "of this cluster is stored for the incident (it may be being recomputed)"
    ),
}
#: Deepest zoom level of the maps (about 0.3 m per pixel).
MAX_ZOOM = 19


#: From this zoom level on, incidents are single points, never cluster bubbles.
UNCLUSTERED_ZOOM = 17
#: A served map with more incidents than this draws them as a heat layer below
#: :data:`POINTS_ZOOM` and as WebGL points from it on (Leaflet.glify), not as clustered
#: markers (``GZ.incidentLayer``): markercluster places every marker (1.7 s for 210,000 in
#: Chromium) and covers the map with bubbles at low zoom.
MANY_INCIDENTS = 20_000
#: From this zoom level on, a map with :data:`MANY_INCIDENTS` shows points, below it heat.
POINTS_ZOOM = 15

__all__ = [
    "BOUNDARY_STYLE",
    "HOTSPOT_STYLE",
    "JUNCTION_STYLE",
    "JUNCTION_ZONE_STYLE",
    "KEY_LABELS",
    "KIND_COLOURS",
    "LAYER_NAMES",
    "LOADER_LABELS",
    "MAX_ZOOM",
    "MEMBER_PALETTE",
    "NUMBER_SLOT",
    "PAIR_ZONE_STYLE",
    "PATROL_ZONE_STYLE",
    "POPUP_LABELS",
    "RULE_LABELS",
    "UNCLUSTERED_ZOOM",
    "MemberUnits",
    "base_map",
    "cluster_map",
    "incident_data",
    "incident_legend",
    "incident_payload",
    "incident_summary",
    "map_of_layers",
    "pack_sentences",
    "prepare_layer",
    "zone_collection",
]


# -- the map -------------------------------------------------------------------------------------


def base_map(
    bounds: list[list[float]],
    *,
    title: str,
    tiles: str | None,
    tiles_attribution: str | None,
    basemap: BasemapSpec | None = None,
) -> folium.Map:
    """Return an empty map centred on ``bounds`` ([[south, west], [north, east]]).

    :class:`maps.elements.MapDecor` fits the view to the bounds once the title and legend
    are in place (leaving room for them).

    ``basemap`` (a local archive served by geozone, :mod:`maps.basemap`) comes first; else
    ``tiles``, a URL template whose tiles are then the map's one request to another host;
    without either the map has a plain background.
    """
    (south, west), (north, east) = bounds
    m = folium.Map(
        location=[(south + north) / 2, (west + east) / 2],
        zoom_start=13,
        tiles=None,
        control_scale=True,
        zoom_control="bottomright",
        font_size="13px",
        maxZoom=MAX_ZOOM,
        zoomSnap=0.25,  # needed by marker clustering when there is no tile layer
    )
    figure = m.get_root()
    if isinstance(figure, Figure):
        figure.title = esc(title)
    if basemap is not None:
        add_basemap(m, basemap, max_zoom=MAX_ZOOM)
    elif tiles:
        folium.TileLayer(
            tiles=tiles,
            attr=esc(tiles_attribution or "Bản đồ nền / Basemap"),
            name="Bản đồ nền / Basemap",
            control=False,
            max_zoom=MAX_ZOOM,
        ).add_to(m)
    return m


def _legend_items(units: MemberUnits) -> list[dict[str, Any]]:
    return [
        {
            "swatch": {"kind": "fill", "color": colour, "fill": colour},
            "label_html": esc(units.label(code)),
        }
        for code, colour in units.colour.items()
    ]


def members_section(units: MemberUnits) -> dict[str, Any]:
    """Return the legend's members: one line each, or folded by old unit when many."""
    if not units.groups:
        return {"title_html": esc("Thành viên / Members"), "items": _legend_items(units)}
    groups = [
        {
            "title_html": esc(f"{name} ({format_number(len(codes))})"),
            "items": [
                {
                    "swatch": {"kind": "fill", "color": c, "fill": c},
                    "label_html": esc(units.label(code)),
                }
                for code in codes
                for c in (units.colour[code],)
            ],
            "open": False,
        }
        for name, codes in units.groups.items()
    ]
    return {
        "title_html": esc("Thành viên theo đơn vị cũ / Members by former unit"),
        "items": [],
        "groups": groups,
    }


def _fill_swatch(style: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "fill", "color": style["color"], "fill": style["fillColor"]}


def _present(frame: gpd.GeoDataFrame | None) -> bool:
    return frame is not None and len(frame) > 0


class _Parts:
    """The layers and legend sections of a map, gathered one overlay at a time."""

    def __init__(self, members: MemberUnits) -> None:
        self.members = members
        self.layers: list[Layer] = [GeoJsonLayer(members.collection(), name=LAYER_NAMES["units"])]
        self.sections: list[dict[str, Any]] = [members_section(members)]
        self.shapes: list[dict[str, Any]] = []
        self.notice: str | None = None
        self.notices: list[str] = []  # escaped
        self.n_incidents = self.n_points = 0

    def overlay(self, collection: dict[str, Any], kind: str, *items: dict[str, Any]) -> None:
        """Add a GeoJSON overlay named ``LAYER_NAMES[kind]`` and its legend lines."""
        self.layers.append(
            GeoJsonLayer(collection, name=LAYER_NAMES[kind], sticky=kind != "junctions")
        )
        self.shapes += items

    def shape_layers(
        self,
        boundaries_lines: gpd.GeoDataFrame | None,
        zones: gpd.GeoDataFrame | None,
        junctions: gpd.GeoDataFrame | None,
        hotspots: gpd.GeoDataFrame | None,
    ) -> None:
        """Add border zones, shared boundaries, named hotspots and junctions, in drawing order."""
        members = self.members
        if zones is not None and _present(zones):
            self.overlay(
                zone_collection(zones, members),
                "zones",
                *(
                    {
                        "swatch": _fill_swatch(style),
                        "label_html": esc(bilingual(ZONE_KIND_LABELS[k])),
                    }
                    for k, style in (("pair", PAIR_ZONE_STYLE), ("junction", JUNCTION_ZONE_STYLE))
                    if k in set(zones["kind"])  # a kind the cluster has none of is not listed
                ),
            )
        if boundaries_lines is not None and _present(boundaries_lines):
            self.overlay(
                boundary_collection(boundaries_lines, members),
                "boundaries",
                {
                    "swatch": {"kind": "line", "color": BOUNDARY_STYLE["color"], "weight": 3},
                    "label_html": esc(LAYER_NAMES["boundaries"]),
                },
            )
        if hotspots is not None and _present(hotspots):
            self.overlay(
                hotspot_collection(hotspots),
                "hotspots",
                {"swatch": _fill_swatch(HOTSPOT_STYLE), "label_html": esc(LAYER_NAMES["hotspots"])},
            )
        if junctions is not None and _present(junctions):
            self.overlay(
                junction_collection(junctions, members),
                "junctions",
                {
                    "swatch": {
                        "kind": "circle",
                        "color": JUNCTION_STYLE["color"],
                        "fill": "#ffffff",
                    },
                    "label_html": esc(LAYER_NAMES["junctions"]),
                },
            )

    def patrol_zones(self, features: dict[str, Any] | None) -> None:
        """Add the saved patrol zones (a GeoJSON FeatureCollection of ``GET /patrol-zones``)."""
        if features is None or not features.get("features"):
            return
        self.overlay(
            patrol_zone_collection(features, self.members),
            "patrol_zones",
            {
                "swatch": _fill_swatch(PATROL_ZONE_STYLE),
                "label_html": esc(LAYER_NAMES["patrol_zones"]),
            },
        )

    def incidents(self, incidents: gpd.GeoDataFrame, heat: bool) -> None:
        """Add the clustered incidents, their heat layer and their legend section."""
        data = incident_data(incidents, self.members.frame)
        self.n_points, self.n_incidents = len(data["lat"]), reports_drawn(data)
        clustered = IncidentLayer(
            data, name=LAYER_NAMES["incidents"], unclustered_zoom=UNCLUSTERED_ZOOM
        )
        self.layers.append(clustered)
        if heat:
            self.layers.append(IncidentHeat(clustered, name=LAYER_NAMES["heat"]))
        self.sections.append(
            {
                "title_html": esc(f"Vụ việc / Incidents ({thousands(self.n_incidents)})"),
                "items": incident_legend(data),
            }
        )
        if "syn" in data and np.any(data["syn"]):
            self.notice = esc(SYNTHETIC_BANNER)

    def analytics(self, analytics: ClusterAnalytics) -> None:
        """Add the Gi* and emerging-trend overlays of a standalone map."""
        self.layers += analytics.layers()
        self.analytics_sections = analytics.legend_sections()
        if analytics.synthetic:
            self.notice = esc(SYNTHETIC_BANNER)

    def legend_sections(self) -> list[dict[str, Any]]:
        """Return the legend: members, boundaries and zones, incidents, then analytics."""
        sections = list(self.sections[:1])
        if self.shapes:
            sections.append(
                {
                    "title_html": esc("Ranh giới và vùng / Boundaries and zones"),
                    "items": self.shapes,
                }
            )
        return sections + self.sections[1:] + getattr(self, "analytics_sections", [])

    def subtitle(self) -> str:
        """Return how many members (and incidents) the map shows."""
        text = f"{len(self.members.colour)} đơn vị thành viên / member units"
        if self.n_incidents:  # stored reports; a linked event is drawn once
            text += f" · {thousands(self.n_incidents)} vụ việc / incidents"
            if self.n_points < self.n_incidents:
                text += f" ({thousands(self.n_points)} sự việc / events)"
        return text


def _decor(parts: _Parts, title: str, attribution: str, links: list[dict[str, str]]) -> MapDecor:
    bounds = parts.members.bounds()
    return MapDecor(
        {
            "title_html": esc(title),
            "subtitle_html": esc(parts.subtitle()),
            "links": [{"href": link["href"], "label_html": esc(link["label"])} for link in links],
            "prefix_html": "Leaflet",
            "bounds": bounds,
            "attributions_html": [esc(attribution)],
            "legend": {
                "title_html": esc("Chú giải / Legend"),
                "sections": parts.legend_sections(),
                "notice_html": parts.notice,
                "notices_html": parts.notices,
                "attribution_html": esc(f"Nguồn dữ liệu / Data: {attribution}"),
            },
        }
    )


def _loader(
    control: folium.LayerControl,
    incidents_url: str,
    hotspots_url: str | None,
    patrol_zones_url: str | None,
    incident_url: str | None,
) -> IncidentLoader:
    entries = loader_entries(hotspots_url) if hotspots_url else []
    if patrol_zones_url:
        entries.append(patrol_zone_entry(patrol_zones_url))
    return incident_loader(control, incidents_url, entries, incident_url)


def incident_loader(
    control: folium.LayerControl,
    incidents_url: str,
    entries: list[dict[str, Any]],
    incident_url: str | None = None,
) -> IncidentLoader:
    """Return the loader that fetches a page's incidents and ``entries`` once a key is given.

    ``incident_url``: the path of ``GET /incidents/`` (before ``{external_id}``), from which
    an open popup fetches its incident's sentences when the table leaves them out.
    """
    return IncidentLoader(
        control,
        {
            "url": incidents_url,
            "incident_url": incident_url,
            "labels": LOADER_LABELS,
            "names_html": {
                "incidents": esc(LAYER_NAMES["incidents"]),
                "heat": esc(LAYER_NAMES["heat"]),
            },
            "unclustered_zoom": UNCLUSTERED_ZOOM,
            "many": MANY_INCIDENTS,
            "points_zoom": POINTS_ZOOM,
            "analytics": entries,
        },
    )


def patrol_zone_entry(url: str, *, show: bool = True) -> dict[str, Any]:
    """Return the incident loader's entry fetching saved patrol zones (``GET /patrol-zones``)."""
    return {
        "kind": "patrol",
        "function": "patrolZoneLayer",
        "url": url,
        "name_html": esc(LAYER_NAMES["patrol_zones"]),
        "show": show,
        "config": {"style": PATROL_ZONE_STYLE},
        "legend": {
            "title_html": esc(LAYER_NAMES["patrol_zones"]),
            "items": [
                {
                    "swatch": _fill_swatch(PATROL_ZONE_STYLE),
                    "label_html": esc("Đã lưu / Saved"),
                }
            ],
        },
    }


def cluster_map(
    *,
    units: gpd.GeoDataFrame,
    boundaries_lines: gpd.GeoDataFrame | None,
    zones: gpd.GeoDataFrame | None,
    junctions: gpd.GeoDataFrame | None,
    hotspots: gpd.GeoDataFrame | None,
    incidents: gpd.GeoDataFrame | None,
    title: str,
    attribution: str,
    tiles: str | None = None,
    tiles_attribution: str | None = None,
    basemap: BasemapSpec | None = None,
    asset_base: str = DEFAULT_ASSET_BASE,
    inline_assets: bool = False,
    heat: bool = True,
    incidents_url: str | None = None,
    analytics: ClusterAnalytics | None = None,
    hotspots_url: str | None = None,
    patrol_zones: dict[str, Any] | None = None,
    patrol_zones_url: str | None = None,
    links: list[dict[str, str]] | None = None,
    layers_collapsed: bool = False,
    incident_url: str | None = None,
    notices: Sequence[str] = (),
) -> folium.Map:
    """Build the map of a cluster.

    Parameters
    ----------
    units
        Member polygons (a display layer): ``code``, ``full_name``; optional ``member``
        (bool; False = a neighbouring unit shown for context, grey) and ``role`` (text shown
        in the tooltip, e.g. which old members a 2025 unit carries).
    boundaries_lines
        Boundaries shared by members: ``code_a``, ``code_b``, optional ``length_m``.
    zones
        Border zones: ``kind`` ("pair" or "junction"), ``codes`` (list) or ``code_a`` /
        ``code_b``, optional ``width_m``; drawn semi-transparent.
    junctions
        Points where three or more members meet: ``codes``.
    hotspots
        Named places: ``name``, optional ``name_en``, ``note``; a polygon, or a point with
        ``radius_m`` (drawn as a circle of that radius).
    incidents
        Points: see :func:`maps.incident_table.incident_data`. Clustered below
        :data:`UNCLUSTERED_ZOOM` (Leaflet.markercluster), with a popup in Vietnamese and
        English and a "DỮ LIỆU MÔ PHỎNG / SYNTHETIC" badge on synthetic records, plus a heat
        layer.
    title
        Shown on the map and as the page title.
    attribution
        Data attribution (plain text), e.g. the boundary set's ``info.attribution``.
    tiles
        Basemap URL template (``https://host/{z}/{x}/{y}.png``); None = no basemap.
    tiles_attribution
        Attribution of the basemap (plain text).
    basemap
        A local basemap archive served by geozone (:func:`maps.basemap.basemap_spec`); it
        takes precedence over ``tiles``.
    asset_base
        URL path or URL geozone's map assets are served under (see :mod:`maps.assets`).
    inline_assets
        Embed the assets into the page (standalone file; needs ``npm ci --prefix maps``).
    heat
        Add the incident heat layer (off when the page opens; toggled in the layer control).
    incidents_url
        When ``incidents`` is None: a URL of the service answering
        :func:`maps.incident_table.incident_payload` JSON to a request with an ``X-API-Key``
        header. The page then offers the key box (``GZ.keyBox``): the key typed there is kept
        in the tab's ``sessionStorage`` (shared with the planner page) and the incidents are
        fetched and drawn; without a key the page says that incidents need an analyst key.
    analytics
        Gi* hotspot and emerging-trend cells computed for a standalone map
        (:func:`maps.analytics_layers.cluster_analytics`): two overlays (emerging off when
        the page opens) with their legend sections.
    hotspots_url
        With ``incidents_url``: the path of ``GET /clusters/{id}/hotspots``; the page fetches
        the same two overlays with the key it holds, alongside the incidents.
    patrol_zones
        The cluster's saved patrol zones (``GET /patrol-zones`` GeoJSON), drawn as an overlay.
    patrol_zones_url
        With ``incidents_url``: the URL of ``GET /patrol-zones?cluster_id=…``, fetched with
        the key.
    links
        Links shown under the title (``href``, plain-text ``label``), e.g. the report.
    layers_collapsed
        Fold the layer list into its button (a small map, such as the report's, where the
        open list would cover the cluster); open otherwise.
    incident_url
        With ``incidents_url``: the path of ``GET /incidents/`` (the external id follows).
        The served table leaves the decisions' sentences out; a popup fetches its
        incident's from there when it opens.
    notices
        Plain-text notices of the store the incidents come from, shown in the legend beside
        the synthetic badge, escaped (an unfinished import:
        :func:`geozone.incidents.notices.unfinished_import_notices`).

    Returns
    -------
    folium.Map
        Render it with :func:`maps.to_html`.

    Raises
    ------
    MapInputError
        For an unusable layer (named, with the column or row at fault).
    """
    parts = _Parts(MemberUnits(units))
    parts.notices = [esc(notice) for notice in notices]
    parts.shape_layers(boundaries_lines, zones, junctions, hotspots)
    parts.patrol_zones(patrol_zones)
    if analytics is not None:
        parts.analytics(analytics)
    if incidents is not None and len(incidents):
        parts.incidents(incidents, heat)
    m = base_map(
        parts.members.bounds(),
        title=title,
        tiles=tiles,
        tiles_attribution=tiles_attribution,
        basemap=basemap,
    )
    # Title and legend first: the view is fitted around them before the layers are drawn.
    _decor(parts, title, attribution, links or []).add_to(m)
    for layer in parts.layers:
        layer.add_to(m)
    control = folium.LayerControl(collapsed=layers_collapsed, position="topright")
    control.add_to(m)
    if incidents is None and incidents_url is not None:
        _loader(control, incidents_url, hotspots_url, patrol_zones_url, incident_url).add_to(m)
    return use_local_assets(m, base=asset_base, inline=inline_assets)


def map_of_layers(
    layers: ClusterLayers,
    *,
    title: str | None = None,
    incidents: gpd.GeoDataFrame | None = None,
    **options: Any,
) -> folium.Map:
    """Build the :func:`cluster_map` of a placed cluster's :class:`~maps.layers.ClusterLayers`.

    ``title`` defaults to the cluster's name; ``options`` are :func:`cluster_map`'s other
    keyword arguments. The layers' notices (a carried cluster's standing) come first.
    """
    options["notices"] = layers.notices_with(options.get("notices", ()))
    return cluster_map(
        units=layers.units,
        boundaries_lines=layers.boundaries_lines,
        zones=layers.zones,
        junctions=layers.junctions,
        hotspots=layers.hotspots,
        incidents=incidents,
        title=title or layers.title,
        attribution=layers.attribution,
        **options,
    )
