"""Point-in-polygon work behind ``BoundarySet.locate_many``: pure index computation.

Given the leaf polygons of a boundary set and arrays of lon/lat, find for every point the
polygons that contain it and those within a metric tolerance of it. The steps follow
``geopandas.sjoin``: validate, query an STRtree, return index arrays; the caller assembles
frames. Nothing loops over points in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from geozone.crs import degrees_bound, project_geometries, project_xy


@dataclass(frozen=True)
class PointMatches:
    """Pairs (point index, polygon index) with the metric distance between them.

    ``distance_m`` is 0 for a polygon that contains the point or has it on its boundary
    (``contains`` is then True). Pairs are sorted by point,
    then by distance, then by polygon index.
    """

    point: NDArray[np.intp]
    polygon: NDArray[np.intp]
    distance_m: NDArray[np.float64]
    contains: NDArray[np.bool_]


#: Batches smaller than this query the polygon tree point by point (no tree of points).
POINT_DRIVEN_MAX = 2_000


class LeafIndex:
    """An STRtree over the leaf polygons of a boundary set, with prepared geometry.

    Parameters
    ----------
    geometries
        Polygons in EPSG:4326 (missing entries are allowed and never match).
    zones
        The UTM EPSG code of each polygon, for metric distances.
    """

    def __init__(self, geometries: NDArray[np.object_], zones: NDArray[np.int64]) -> None:
        self.geometries = geometries
        self.zones = zones
        shapely.prepare(geometries)
        self.tree = shapely.STRtree(geometries)
        self._metric: NDArray[np.object_] = np.full(len(geometries), None, dtype=object)

    def _metric_geometries(self, polygons: NDArray[np.intp]) -> NDArray[np.object_]:
        """Return the polygons projected into their own UTM zone, projecting each once."""
        todo = np.unique(polygons[shapely.is_missing(self._metric[polygons])])
        if len(todo):
            self._metric[todo] = project_geometries(self.geometries[todo], self.zones[todo])
        return self._metric[polygons]

    def match(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], tolerance_m: float
    ) -> PointMatches:
        """Find containing polygons and polygons within ``tolerance_m`` metres of each point."""
        pt, poly = self._candidates(lon, lat, tolerance_m)
        distance = np.zeros(len(pt))
        if tolerance_m > 0:
            contains = shapely.intersects_xy(self.geometries[poly], lon[pt], lat[pt])
            near = ~contains
            if near.any():
                distance[near] = self._metric_distance(pt[near], poly[near], lon, lat)
            keep = distance <= tolerance_m
            pt, poly, distance, contains = pt[keep], poly[keep], distance[keep], contains[keep]
        else:
            contains = np.ones(len(pt), dtype=bool)
        order = np.lexsort((poly, distance, pt))  # ties: lowest polygon index (= code)
        return PointMatches(pt[order], poly[order], distance[order], contains[order])

    def _candidates(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64], tolerance_m: float
    ) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """Return (point, polygon) pairs that touch, or lie within a degree bound of the tolerance.

        The degree bound is never shorter than the tolerance, so no true candidate is lost; the
        exact test that follows is metric. Few points query the polygon tree one by one; many
        points are put in a tree of their own and queried with each polygon, which lets GEOS
        use every prepared polygon once (several times faster for large batches).
        """
        points = shapely.points(lon, lat)
        predicate, distance = (
            ("dwithin", degrees_bound(tolerance_m)) if tolerance_m > 0 else ("intersects", None)
        )
        if len(points) < POINT_DRIVEN_MAX:
            pt, poly = self.tree.query(points, predicate=predicate, distance=distance)
        else:
            poly, pt = shapely.STRtree(points).query(
                self.geometries, predicate=predicate, distance=distance
            )
        return pt, poly

    def _metric_distance(
        self,
        pt: NDArray[np.intp],
        poly: NDArray[np.intp],
        lon: NDArray[np.float64],
        lat: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """Distance in metres from each point to its paired polygon, in the polygon's zone."""
        x, y = project_xy(lon[pt], lat[pt], self.zones[poly])
        return shapely.distance(self._metric_geometries(poly), shapely.points(x, y))  # type: ignore[no-any-return]
