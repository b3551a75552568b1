"""Measures of border zones: band widths and areas, and distances to a group's shared lines.

:func:`measure_bands` checks the bands :func:`geozone.clusters.zones.border_zones` built
against their nominal width and area (QA and tests); :func:`distance_to_shared_boundary` and
:func:`nearest_shared_boundary` measure points against a group without building its zones
(vectorised: an STRtree over the shared lines, in the group's UTM zone).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import DEFAULT_SNAP_M, Adjacency, select_units
from geozone.clusters.zones import BorderZones, _group_adjacency, _nearest, group_epsg


def measure_bands(zones: BorderZones) -> pd.DataFrame:
    """Measure each pair zone's effective width and area against its nominal values (QA, tests).

    Returns
    -------
    pandas.DataFrame
        One row per pair zone: ``zone_id``, ``code_a``, ``code_b``, ``width_m``,
        ``max_distance_m`` (the largest distance from a vertex of the zone to the exact
        shared line: the discrete Hausdorff distance from zone to line, which should be W
        within 1%), ``width_ratio`` (max_distance_m / W), ``shared_length_m`` (length of
        the shared line), ``area_m2``, ``nominal_area_m2`` (2·W·L, the area of a band
        along a straight line of length L without its end caps or clipping) and
        ``area_ratio``. All measured in the group's UTM zone.
    """
    pairs = zones.pairs
    if pairs.empty:
        return pd.DataFrame(
            columns=[
                "zone_id",
                "code_a",
                "code_b",
                "width_m",
                "max_distance_m",
                "width_ratio",
                "shared_length_m",
                "area_m2",
                "nominal_area_m2",
                "area_ratio",
            ]
        )
    line_of = pd.Series(
        zones._metric_lines, index=(zones.lines["code_a"] + "-" + zones.lines["code_b"]).to_numpy()
    )
    line_m = line_of[pairs["zone_id"]].to_numpy()
    piece_m = zones._metric_zones[pairs.index.to_numpy()]
    coords, owner = shapely.get_coordinates(piece_m, return_index=True)
    distance = shapely.distance(shapely.points(coords), line_m[owner])
    farthest = np.zeros(len(pairs))
    np.maximum.at(farthest, owner, distance)
    length = shapely.length(line_m)
    area = shapely.area(piece_m)
    nominal = 2 * zones.width_m * length
    return pd.DataFrame(
        {
            "zone_id": pairs["zone_id"].to_numpy(),
            "code_a": pairs["code_a"].to_numpy(),
            "code_b": pairs["code_b"].to_numpy(),
            "width_m": zones.width_m,
            "max_distance_m": farthest,
            "width_ratio": farthest / zones.width_m,
            "shared_length_m": length,
            "area_m2": area,
            "nominal_area_m2": nominal,
            "area_ratio": area / nominal,
        }
    )


def nearest_shared_boundary(
    bset: BoundarySet,
    codes: Sequence[str],
    lon: ArrayLike,
    lat: ArrayLike,
    *,
    level: Level | None = None,
    tolerance_m: float = DEFAULT_SNAP_M,
    adjacency: Adjacency | None = None,
) -> pd.DataFrame:
    """For each point, the nearest boundary shared by two units of a group, and its distance.

    Parameters
    ----------
    bset, codes, level, tolerance_m, adjacency
        The group, as for :func:`border_zones`.
    lon, lat
        Points in EPSG:4326 (same length).

    Returns
    -------
    pandas.DataFrame
        One row per point in input order: ``distance_m`` (metres, in the group's UTM zone;
        NaN for invalid coordinates or a group sharing no boundary line), ``code_a`` and
        ``code_b`` of the nearest shared boundary (None likewise).
    """
    level = level or bset.leaf_level
    members = select_units(bset, level, codes)
    lines, _, _ = _group_adjacency(bset, level, tuple(members["code"]), tolerance_m, adjacency)
    return _nearest(lines, None, group_epsg(members.geometry.to_numpy()), lon, lat)


def distance_to_shared_boundary(
    bset: BoundarySet,
    codes: Sequence[str],
    lon: ArrayLike,
    lat: ArrayLike,
    *,
    level: Level | None = None,
    tolerance_m: float = DEFAULT_SNAP_M,
    adjacency: Adjacency | None = None,
) -> NDArray[np.float64]:
    """Distance in metres from each point to the nearest boundary shared inside a group.

    Vectorised (an STRtree over the shared lines, no loop over points). Only line contacts
    have a shared boundary; see :func:`nearest_shared_boundary` for the arguments and for
    which pair is nearest.
    """
    return nearest_shared_boundary(
        bset, codes, lon, lat, level=level, tolerance_m=tolerance_m, adjacency=adjacency
    )["distance_m"].to_numpy()
