"""Export layers to GeoJSON or GeoPackage (opens in QGIS), always with their attribution.

Every feature carries an ``attribution`` property (the boundary set's text from the manifest)
and, for incident layers, the ``synthetic`` flag; a GeoPackage also records it in each
layer's description.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio

from geozone.errors import GeozoneError

FORMATS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}


def write_layers(layers: Mapping[str, gpd.GeoDataFrame], path: Path, attribution: str) -> list[str]:
    """Write named layers to ``path`` (.gpkg: one file, many layers; .geojson: one layer).

    Parameters
    ----------
    layers
        Layer name → frame (any CRS; written in EPSG:4326). List columns become text.
    path
        Output file; its suffix picks the format. An existing file is replaced.
    attribution
        Data attribution, written on every feature.

    Returns
    -------
    list of str
        The layer names written.
    """
    driver = FORMATS.get(path.suffix.lower())
    if driver is None:
        raise GeozoneError(f"cannot export to {path.name}: use .geojson or .gpkg")
    if driver == "GeoJSON" and len(layers) != 1:
        names = ", ".join(layers)
        raise GeozoneError(f"GeoJSON holds one layer; got {names} — export to .gpkg instead")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    for name, frame in layers.items():
        out = frame.to_crs(4326).copy()
        for column in out.columns:
            if (
                column != out.geometry.name
                and out[column].map(lambda v: isinstance(v, list | tuple)).any()
            ):
                out[column] = out[column].map(
                    lambda v: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
                )
        out["attribution"] = attribution
        options = {"layer": name} if driver == "GPKG" else {}
        pyogrio.write_dataframe(
            out,
            path,
            driver=driver,
            append=driver == "GPKG" and path.exists(),
            layer_options={"DESCRIPTION": attribution} if driver == "GPKG" else None,
            **options,
        )
    return list(layers)
