r"""folium elements geozone's map pages are built from, and the HTML export.

Every element declares the files it needs in ``default_js`` / ``default_css`` under the names
of :data:`maps.assets.ASSETS`; :func:`maps.assets.use_local_assets` points them at the local
copies. Data reach the page as JSON (UTF-8, diacritics kept; ``<`` written ``\\u003c`` so no
string can close the script element); every string the page inserts as HTML is escaped here
with :func:`html.escape` first (property names ending in ``_html``, see ``geozone.js``).
"""

from __future__ import annotations

import html
from typing import Any

import folium
import orjson
from folium.elements import JSCSSMixin
from folium.map import Layer
from folium.template import Template

from maps.assets import DEFAULT_ASSET_BASE, asset_url, recorded_base, use_local_assets


def esc(text: object) -> str:
    """HTML-escape ``text`` (quotes included); None becomes an empty string."""
    return "" if text is None else html.escape(str(text), quote=True)


def js_json(value: Any) -> str:
    """Serialise ``value`` as JSON safe to embed in a ``<script>`` element (numpy allowed)."""
    text = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode("utf-8")
    return text.replace("<", "\\u003c")


def own_assets(*names: str) -> list[tuple[str, str]]:
    """Return ``default_js`` / ``default_css`` entries for assets (default-base URLs)."""
    return [(name, asset_url(name, DEFAULT_ASSET_BASE)) for name in names]


class GeoJsonLayer(JSCSSMixin, Layer):
    """A GeoJSON overlay styled and labelled from feature properties (``GZ.geojsonLayer``).

    Parameters
    ----------
    data
        A GeoJSON FeatureCollection whose properties may hold ``style``, ``tooltip_html``,
        ``label_html`` and ``radius_m``.
    name
        The layer's name in the layer control (plain text).
    sticky
        Tooltips follow the mouse (polygons and lines).
    show
        Shown when the page opens.
    """

    default_js = own_assets("geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GZ.geojsonLayer(
                {{ this.data_json }}, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(
        self, data: dict[str, Any], *, name: str, sticky: bool = True, show: bool = True
    ) -> None:
        super().__init__(name=esc(name), overlay=True, control=True, show=show)
        self._name = "GeoJsonLayer"
        self.data_json = js_json(data)
        self.options_json = js_json({"sticky": sticky})


class IncidentLayer(JSCSSMixin, Layer):
    """Incidents as circle markers in one marker-cluster group (``GZ.incidentLayer``).

    ``data`` is the columnar table built by :func:`maps.incident_table.incident_data`; the
    page keeps it in ``<layer name>_data`` for :class:`IncidentHeat`. From
    ``unclustered_zoom`` on, markers are single points (no cluster bubbles).
    """

    default_js = own_assets("markerclusterjs", "geozone_js")
    default_css = own_assets("markerclustercss", "markerclusterdefaultcss", "geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }}_data = {{ this.data_json }};
            var {{ this.get_name() }} = GZ.incidentLayer(
                {{ this._parent.get_name() }}, {{ this.get_name() }}_data,
                {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(
        self, data: dict[str, Any], *, name: str, show: bool = True, unclustered_zoom: int = 17
    ) -> None:
        super().__init__(name=esc(name), overlay=True, control=True, show=show)
        self._name = "IncidentLayer"
        self.data_json = js_json(data)
        self.options_json = js_json({"unclustered_zoom": unclustered_zoom})


class IncidentHeat(JSCSSMixin, Layer):
    """A heat layer of the incidents of an :class:`IncidentLayer` (``GZ.incidentHeat``)."""

    default_js = own_assets("leaflet-heat.js", "geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GZ.incidentHeat(
                {{ this.source.get_name() }}_data, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(self, source: IncidentLayer, *, name: str, show: bool = False) -> None:
        super().__init__(name=esc(name), overlay=True, control=True, show=show)
        self._name = "IncidentHeat"
        self.source = source
        self.options_json = js_json({})


class IncidentLoader(JSCSSMixin, folium.MacroElement):
    """The key box of a served cluster map that fetches its incidents (``GZ.incidentLoader``).

    Add it after the ``folium.LayerControl`` it adds the incident layers to. ``config``:
    ``url`` (answering :func:`maps.cluster_map.incident_payload` JSON), ``labels`` (plain
    text) and ``names_html`` (escaped layer names for the layer control).
    """

    default_js = own_assets(
        "markerclusterjs", "leaflet-heat.js", "glify_js", "geozone_js", "incidents_js"
    )
    default_css = own_assets("markerclustercss", "markerclusterdefaultcss", "geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = GZ.incidentLoader(
                {{ this._parent.get_name() }}, {{ this.control.get_name() }},
                {{ this.config_json }});
        {% endmacro %}
        """
    )

    def __init__(self, control: folium.LayerControl, config: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "IncidentLoader"
        self.control = control
        self.config_json = js_json(config)


class VectorBasemap(JSCSSMixin, folium.MacroElement):
    """A vector-tile basemap drawn by protomaps-leaflet (``GZ.vectorBasemap``).

    ``options``: ``url`` (a ``{z}/{x}/{y}`` template served by geozone), ``maxDataZoom``,
    ``maxZoom``, ``attribution`` (escaped), ``flavor`` and ``lang``.
    """

    default_js = own_assets("protomaps_leaflet_js", "geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            GZ.vectorBasemap({{ this._parent.get_name() }}, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "VectorBasemap"
        self.options_json = js_json(options)


class InlineBasemap(JSCSSMixin, folium.MacroElement):
    """A basemap whose tiles the page carries (a standalone file): ``GZ.inlineBasemap``.

    ``options``: ``kind`` (raster or vector), ``tiles`` (base64 by ``"z/x/y"``),
    ``media_type``, ``maxDataZoom``, ``maxZoom``, ``attribution`` (escaped), ``flavor``,
    ``lang``.
    """

    default_js = own_assets("protomaps_leaflet_js", "geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            GZ.inlineBasemap({{ this._parent.get_name() }}, {{ this.options_json }});
        {% endmacro %}
        """
    )

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "InlineBasemap"
        self.options_json = js_json(options)


class MapDecor(JSCSSMixin, folium.MacroElement):
    """Title, plain-text attribution and legend (``GZ.decorate``); add it after the layers."""

    default_js = own_assets("geozone_js")
    default_css = own_assets("geozone_css")
    _template = Template(
        """
        {% macro script(this, kwargs) %}
            GZ.decorate({{ this._parent.get_name() }}, {{ this.spec_json }});
        {% endmacro %}
        """
    )

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "MapDecor"
        self.spec_json = js_json(spec)


def to_html(m: folium.Map, *, inline_assets: bool, asset_base: str | None = None) -> str:
    """Render a geozone map to a complete HTML page.

    Parameters
    ----------
    m
        A map from :func:`maps.cluster_map` or :func:`maps.planner_map`.
    inline_assets
        Embed Leaflet, the plugins and geozone's files into the page (a standalone file that
        opens offline from disk); otherwise link them under ``asset_base``.
    asset_base
        URL path or URL the assets are served under; default the one the map was built with.

    Returns
    -------
    str
        The page (UTF-8 text).

    Raises
    ------
    MapAssetsMissingError
        With ``inline_assets``, when ``npm ci --prefix maps`` has not been run.
    """
    use_local_assets(
        m, base=asset_base if asset_base is not None else recorded_base(m), inline=inline_assets
    )
    return str(m.get_root().render())
