"""Patrol zones suggested from significant hot cells that straddle a member boundary."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geozone.analysis.border_effect import territory_zones
from geozone.analysis.patrol._common import MIN_UNIT_SHARE, _hot_cells, _Metric, _polygonal
from geozone.assignment import ClusterTerritory
from geozone.clusters.zones import BorderZones
from geozone.crs import WGS84
from geozone.errors import InvalidParameterError

#: A group of hot cells straddles a member boundary when at least this share of its area
#: lies in each of two members.
STRADDLE_MIN_SHARE = 0.05
#: Hot cells closer than this (metres) are neighbours even without a patrol buffer (shared
#: edges and corners, with rounding).
CONTACT_M = 1.0
#: Largest patrol buffer accepted, in metres.
MAX_BUFFER_M = 5_000.0
#: Columns of :func:`suggest_patrol_zones`.
SUGGESTION_COLUMNS: tuple[str, ...] = (
    "suggestion_id",
    "units",
    "unit_names",
    "area_km2",
    "n_cells",
    "max_gi_z",
    "incidents",
    "cell_ids",
    "boundary",
    "distance_m",
    "note",
    "note_en",
    "geometry",
)


# -- suggestions -------------------------------------------------------------------------------


def suggest_patrol_zones(
    hot_cells: gpd.GeoDataFrame,
    territory: ClusterTerritory,
    *,
    buffer_m: float = 100.0,
    min_area_m2: float = 0.0,
    zones: BorderZones | None = None,
) -> gpd.GeoDataFrame:
    """Suggest patrol zones over significant hot cells that straddle a member boundary.

    1. Significant ``"hot"`` cells overlapping the members' territory (by at least
       :data:`MIN_UNIT_SHARE` of their area; cells elsewhere are not the cluster's) are
       grouped: two cells are in one group when they touch
       (within :data:`CONTACT_M`) or lie within ``2 × buffer_m`` of each other, so that
       suggestions never overlap (connected components of that neighbour graph).
    2. A group is kept when it straddles a member boundary (at least
       :data:`STRADDLE_MIN_SHARE` of its area in each of two members) or lies within the
       border-zone width W of a boundary two members share.
    3. It is buffered by ``buffer_m``, clipped to the members' territory, and assigned to the
       members holding at least :data:`MIN_UNIT_SHARE` of it. Zones smaller than
       ``min_area_m2`` are dropped.

    Parameters
    ----------
    hot_cells
        The ``cells`` frame of a hotspot result: polygons with ``cell_id``, ``count``,
        ``gi_z``, ``significant`` and ``kind`` (EPSG:4326, or any CRS set on the frame).
    territory
        The cluster.
    buffer_m
        Margin added around the cells, in metres (0 to 5,000).
    min_area_m2
        Smallest suggestion kept, in square metres.
    zones
        The territory's border zones when already built (default:
        :func:`geozone.analysis.border_effect.territory_zones`).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per suggestion (EPSG:4326, valid polygons), strongest first (``max_gi_z``
        descending, then incidents): ``suggestion_id`` (1, 2, …), ``units`` and
        ``unit_names`` (members touched, by code), ``area_km2``, ``n_cells``, ``max_gi_z``,
        ``incidents`` (sum of the cells' counts), ``cell_ids``, ``boundary`` (the boundary
        shared by two members, ``"A|B"``, that crosses the cells for the longest stretch, else
        the nearest) and ``distance_m`` (from the cells to it), ``note`` (Vietnamese) and
        ``note_en`` (English).

    Raises
    ------
    AnalysisInputError
        When ``hot_cells`` lacks a column or a significant hot cell is not a polygon.
    InvalidParameterError
        For a buffer or minimum area out of range.
    """
    if not (math.isfinite(buffer_m) and 0 <= buffer_m <= MAX_BUFFER_M):
        raise InvalidParameterError(
            f"buffer_m must be a number of metres in [0, {MAX_BUFFER_M:g}], not {buffer_m!r}"
        )
    if not (math.isfinite(min_area_m2) and min_area_m2 >= 0):
        raise InvalidParameterError(f"min_area_m2 must be 0 or more, not {min_area_m2!r}")
    hot = _hot_cells(hot_cells)
    if hot.empty:
        return _empty_suggestions()
    zones = zones if zones is not None else territory_zones(territory)
    metric = _Metric.of(territory, zones)
    cells_m = metric.project(hot.geometry.to_numpy())
    shapely.prepare(metric.union)
    ours = shapely.intersects(metric.union, cells_m)
    overlap = shapely.area(shapely.intersection(cells_m[ours], metric.union))
    ours[ours] = overlap >= MIN_UNIT_SHARE * shapely.area(cells_m[ours])
    if not ours.any():
        return _empty_suggestions()
    hot, cells_m = hot.loc[ours], cells_m[ours]
    groups = _groups(cells_m, 2 * buffer_m + CONTACT_M)
    table = pd.DataFrame(
        {
            "group": groups,
            "count": hot["count"].to_numpy(),
            "gi_z": hot["gi_z"].to_numpy(float),
            "cell_id": hot["cell_id"].to_numpy(dtype=object),
        }
    )
    summary = table.groupby("group", sort=True).agg(
        n_cells=("gi_z", "size"),
        max_gi_z=("gi_z", "max"),
        incidents=("count", "sum"),
        cell_ids=("cell_id", list),
    )
    merged = (
        gpd.GeoDataFrame({"group": groups}, geometry=list(cells_m), crs=metric.epsg)
        .dissolve("group", sort=True)
        .geometry.to_numpy()
    )
    near_pair, distance = _nearest_line(merged, metric)
    straddles = _n_members_straddled(merged, metric) >= 2
    keep = straddles | (distance <= zones.width_m)
    shapes = shapely.intersection(shapely.buffer(merged, buffer_m, quad_segs=8), metric.union)
    shapes = _polygonal(np.asarray(shapes, dtype=object))
    area = shapely.area(shapes)
    keep &= (area > 0) & (area >= min_area_m2)
    if not keep.any():
        return _empty_suggestions()
    chosen = summary.iloc[np.flatnonzero(keep)].copy()
    shapes, area = shapes[keep], area[keep]
    chosen["boundary"] = near_pair[keep]
    chosen["distance_m"] = np.round(distance[keep], 1)
    chosen["area_km2"] = area / 1e6
    chosen["units"] = _members_touched(shapes, area, metric)
    names = _full_names(territory)
    chosen["unit_names"] = [[names[code] for code in codes] for codes in chosen["units"]]
    centre = shapely.centroid(shapes)
    chosen["_x"], chosen["_y"] = shapely.get_x(centre), shapely.get_y(centre)
    chosen["geometry"] = list(metric.to_wgs84(shapes))
    chosen = chosen.sort_values(
        ["max_gi_z", "incidents", "_x", "_y"], ascending=[False, False, True, True]
    ).reset_index(drop=True)
    chosen["suggestion_id"] = np.arange(1, len(chosen) + 1)
    chosen["note"], chosen["note_en"] = _notes(chosen, names)
    frame = gpd.GeoDataFrame(chosen, geometry="geometry", crs=WGS84)
    return frame[list(SUGGESTION_COLUMNS)]


def _empty_suggestions() -> gpd.GeoDataFrame:
    columns: dict[str, pd.Series] = {
        name: pd.Series(dtype=object) for name in SUGGESTION_COLUMNS if name != "geometry"
    }
    for name in ("suggestion_id", "n_cells", "incidents"):
        columns[name] = pd.Series(dtype=np.int64)
    for name in ("area_km2", "max_gi_z", "distance_m"):
        columns[name] = pd.Series(dtype=float)
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def _groups(cells_m: NDArray[np.object_], distance: float) -> NDArray[np.intp]:
    """Label the connected components of the cells within ``distance`` metres of each other."""
    left, right = shapely.STRtree(cells_m).query(cells_m, predicate="dwithin", distance=distance)
    n = len(cells_m)
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.intp)


def _nearest_line(
    groups_m: NDArray[np.object_], metric: _Metric
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Return the boundary two members share ("A|B") each group lies on, and the distance.

    A group crossed by shared lines is given the one with the longest stretch inside it;
    any other, the nearest line.
    """
    pair: NDArray[np.object_] = np.full(len(groups_m), None, dtype=object)
    distance = np.full(len(groups_m), np.inf)
    if not len(metric.lines):
        return pair, distance
    (group, line), gap = shapely.STRtree(metric.lines).query_nearest(
        groups_m, return_distance=True, all_matches=False
    )
    pair[group] = metric.line_pairs[line]
    distance[group] = gap
    inside = shapely.length(shapely.intersection(groups_m[:, None], metric.lines[None, :]))
    crossed = inside.max(axis=1) > 0
    pair[crossed] = metric.line_pairs[inside.argmax(axis=1)[crossed]]
    distance[crossed] = 0.0
    return pair, distance


def _n_members_straddled(groups_m: NDArray[np.object_], metric: _Metric) -> NDArray[np.intp]:
    """How many members hold at least :data:`STRADDLE_MIN_SHARE` of each group's area."""
    members = metric.members.to_numpy()
    pieces = shapely.area(shapely.intersection(groups_m[:, None], members[None, :]))
    area = shapely.area(groups_m)[:, None]
    share = np.divide(pieces, area, out=np.zeros_like(pieces), where=area > 0)
    return np.asarray((share >= STRADDLE_MIN_SHARE).sum(axis=1), dtype=np.intp)


def _members_touched(
    shapes: NDArray[np.object_], area: NDArray[np.float64], metric: _Metric
) -> list[list[str]]:
    """Members holding at least :data:`MIN_UNIT_SHARE` of each shape, by code."""
    members = metric.members.to_numpy()
    pieces = shapely.area(shapely.intersection(shapes[:, None], members[None, :]))
    touched = pieces >= MIN_UNIT_SHARE * area[:, None]
    codes = np.array(sorted(metric.members.index), dtype=object)
    order = np.argsort(metric.members.index.to_numpy(dtype=object))
    return [list(codes[row]) for row in touched[:, order]]


def _full_names(territory: ClusterTerritory) -> dict[str, str]:
    members = territory.members
    return {
        str(code): territory.bset.get(str(code)).full_name
        for code in members.loc[members["has_territory"], "code"]
    }


def _notes(chosen: pd.DataFrame, names: dict[str, str]) -> tuple[list[str], list[str]]:
    """One sentence per suggestion in Vietnamese and in English."""
    vi, en = [], []
    for row in chosen.to_dict("records"):
        pair = str(row["boundary"]).split("|") if row["boundary"] else []
        border = " – ".join(names.get(code, code) for code in pair)
        touched = ", ".join(row["unit_names"])
        number, n_cells, z = row["suggestion_id"], row["n_cells"], row["max_gi_z"]
        count, km2 = row["incidents"], row["area_km2"]
        vi.append(
            f"Gợi ý vùng tuần tra số {number} khu vực giáp ranh {border}: {n_cells} ô điểm "
            f"nóng có ý nghĩa thống kê ({count:g} vụ việc, Gi* z lớn nhất {z:.1f}), diện tích "
            f"{km2:.2f} km², thuộc địa bàn {touched}. Là điểm khởi đầu để cán bộ lập kế hoạch "
            "chỉnh sửa."
        )
        en.append(
            f"Suggested patrol zone {number} in the border area of {border}: {n_cells} "
            f"significant hot cells ({count:g} incidents, max Gi* z {z:.1f}), {km2:.2f} km², "
            f"in {touched}. A starting point for planners to edit."
        )
    return vi, en
