"""Folium map builders and the map page assets. Depends on geozone only.

- :func:`cluster_map`: members, shared boundaries, border zones, junctions, hotspots and
  incidents (clustered, heat map) of one cluster.
- :func:`planner_map`: the patrol-zone planner page (Leaflet.draw, saved through the API).
- :func:`to_html`: render a map to a page, assets linked or embedded.
- :mod:`maps.layers`: the layers of a placed cluster (:func:`cluster_layers`, the version in
  force on a day: :func:`cluster_on`) and its stored incidents with their stored decisions
  (:func:`stored_incidents`).
- :mod:`maps.assets`: Leaflet and plugins installed from npm (``npm ci --prefix maps``) and
  served locally (:func:`asset_routes`); never loaded from a CDN.
- :mod:`maps.report`: the printable cluster review page, with the static SVG map of
  :mod:`maps.static_map`; its markup is in Jinja2 templates (``maps/templates``, shipped in
  the package, autoescaped: :mod:`maps._jinja`).
"""

from maps.assets import (
    DEFAULT_ASSET_BASE,
    asset_routes,
    check_assets,
    use_local_assets,
)
from maps.cluster_map import cluster_map, incident_data, incident_payload
from maps.elements import to_html
from maps.errors import MapAssetError, MapAssetsMissingError, MapInputError
from maps.layers import (
    ClusterLayers,
    StoredIncidents,
    cluster_layers,
    cluster_on,
    incident_layer,
    stored_incidents,
)
from maps.planner import planner_map

__all__ = [
    "DEFAULT_ASSET_BASE",
    "ClusterLayers",
    "MapAssetError",
    "MapAssetsMissingError",
    "MapInputError",
    "StoredIncidents",
    "asset_routes",
    "check_assets",
    "cluster_layers",
    "cluster_map",
    "cluster_on",
    "incident_data",
    "incident_layer",
    "incident_payload",
    "planner_map",
    "stored_incidents",
    "to_html",
    "use_local_assets",
]
