"""Metric coordinate reference systems for Vietnam.

Metric work (distances, buffers, areas) is done in UTM: zone 48N (EPSG:32648) west of 108°E,
zone 49N (EPSG:32649) east of it. Each geometry is projected in the zone of its own
representative longitude, so that scale error stays under 0.1% across the country.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

WGS84 = "EPSG:4326"
UTM_48N = 32648
UTM_49N = 32649
#: The meridian between UTM zones 48 and 49.
ZONE_SPLIT_LON = 108.0
#: Metres per degree of latitude (and of longitude at the equator), for prefilters only.
METRES_PER_DEGREE = 111_320.0
#: Northernmost latitude of Vietnam, used to bound degree prefilters from above.
MAX_LAT_VN = 23.5


def utm_epsg(lon: NDArray[np.float64] | float) -> NDArray[np.int64]:
    """Return the UTM zone EPSG code for each longitude (48N west of 108°E, else 49N)."""
    return np.where(np.asarray(lon) < ZONE_SPLIT_LON, UTM_48N, UTM_49N).astype(np.int64)


@lru_cache(maxsize=8)
def _transformer(source: int | str, target: int | str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def project_xy(
    x: NDArray[np.float64], y: NDArray[np.float64], epsg: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Project lon/lat arrays into the UTM zone given per point by ``epsg``."""
    out_x = np.empty_like(x, dtype=np.float64)
    out_y = np.empty_like(y, dtype=np.float64)
    for zone in np.unique(epsg):
        mask = epsg == zone
        out_x[mask], out_y[mask] = _transformer(WGS84, int(zone)).transform(x[mask], y[mask])
    return out_x, out_y


def project_geometries(geoms: NDArray[np.object_], epsg: NDArray[np.int64]) -> NDArray[np.object_]:
    """Project lon/lat geometries into the UTM zone given per geometry by ``epsg``."""
    return _reproject(geoms, epsg, to_metric=True)


def unproject_geometries(
    geoms: NDArray[np.object_], epsg: NDArray[np.int64]
) -> NDArray[np.object_]:
    """Return UTM geometries (zone given per geometry by ``epsg``) in lon/lat."""
    return _reproject(geoms, epsg, to_metric=False)


def _reproject(
    geoms: NDArray[np.object_], epsg: NDArray[np.int64], *, to_metric: bool
) -> NDArray[np.object_]:
    out = np.array(geoms, dtype=object, copy=True)
    for zone in np.unique(epsg):
        mask = epsg == zone
        source, target = (WGS84, int(zone)) if to_metric else (int(zone), WGS84)
        transformer = _transformer(source, target)
        out[mask] = shapely.transform(
            geoms[mask], lambda xy, t=transformer: np.column_stack(t.transform(xy[:, 0], xy[:, 1]))
        )
    return out


def zones_of(geoms: NDArray[np.object_]) -> NDArray[np.int64]:
    """Return the UTM zone of each geometry from the longitude of a point inside it."""
    points = shapely.point_on_surface(geoms)
    lon = np.where(shapely.is_missing(points), 0.0, shapely.get_x(points))
    return utm_epsg(lon)


def metric_areas(geoms: NDArray[np.object_]) -> NDArray[np.float64]:
    """Return the area of each lon/lat geometry in square metres (0 for missing)."""
    areas = shapely.area(project_geometries(geoms, zones_of(geoms)))
    return np.nan_to_num(np.asarray(areas, dtype=np.float64), nan=0.0)


def degrees_bound(metres: float) -> float:
    """Return a distance in degrees that is never shorter than ``metres`` anywhere in Vietnam.

    Only for index prefilters; the exact test that follows is metric.
    """
    return metres / (METRES_PER_DEGREE * float(np.cos(np.radians(MAX_LAT_VN)))) * 1.01
