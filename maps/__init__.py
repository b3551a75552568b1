"""Folium map builders and the map page assets. Depends on geozone only.

- :func:`cluster_map`: members, shared boundaries, border zones, junctions, hotspots,
  saved patrol zones and incidents (clustered, heat map) of one cluster;
  :func:`map_of_layers` draws a placed cluster's :class:`ClusterLayers`. Its parts:
  :mod:`maps.overlays` (styles, member units, GeoJSON overlays) and
  :mod:`maps.incident_table` (the compact incident table).
- :mod:`maps.basemap`: an offline basemap archive (PMTiles / MBTiles) served by geozone.
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
- :mod:`maps.settings`: the core's settings plus the basemap (:class:`MapSettings`).

The names below are imported when first used, so that importing :mod:`maps.settings` (the
web service's settings build on it) does not load Folium.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maps.assets import (
        DEFAULT_ASSET_BASE,
        asset_routes,
        check_assets,
        use_local_assets,
    )
    from maps.cluster_map import cluster_map, map_of_layers
    from maps.elements import to_html
    from maps.errors import MapAssetError, MapAssetsMissingError, MapInputError
    from maps.incident_table import incident_data, incident_payload
    from maps.layers import (
        ClusterLayers,
        StoredIncidents,
        cluster_layers,
        cluster_on,
        incident_layer,
        side_names,
        stored_incidents,
    )
    from maps.planner import planner_map

#: The module each public name comes from.
_HOMES = {
    "DEFAULT_ASSET_BASE": "maps.assets",
    "asset_routes": "maps.assets",
    "check_assets": "maps.assets",
    "use_local_assets": "maps.assets",
    "cluster_map": "maps.cluster_map",
    "map_of_layers": "maps.cluster_map",
    "incident_data": "maps.incident_table",
    "incident_payload": "maps.incident_table",
    "to_html": "maps.elements",
    "MapAssetError": "maps.errors",
    "MapAssetsMissingError": "maps.errors",
    "MapInputError": "maps.errors",
    "ClusterLayers": "maps.layers",
    "StoredIncidents": "maps.layers",
    "cluster_layers": "maps.layers",
    "cluster_on": "maps.layers",
    "incident_layer": "maps.layers",
    "side_names": "maps.layers",
    "stored_incidents": "maps.layers",
    "planner_map": "maps.planner",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'maps' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the module's names, those not imported yet included."""
    return sorted({*globals(), *_HOMES})


class _Package(types.ModuleType):
    """The package: a submodule loaded later does not hide the public name it shares.

    Importing ``maps.cluster_map`` (the module) binds ``cluster_map`` on the package; the
    package's ``cluster_map`` is the function, as when it was imported eagerly.
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


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
    "map_of_layers",
    "planner_map",
    "side_names",
    "stored_incidents",
    "to_html",
    "use_local_assets",
]
