"""Patrol zones: what a drawn zone covers, and zones suggested from significant hotspot cells.

A planner draws a polygon over a cluster; :func:`coverage` tells what it covers: its area, the
share of the cluster's border zone (địa bàn giáp ranh) inside it, the share of the cluster's
significant hot cells (by area), the share of the given incidents, and the units it touches.

:func:`suggest_patrol_zones` gives planners a starting point: significant hot cells of a
hotspot result (Getis-Ord Gi*, ``kind == "hot"``) are grouped when they touch or when their
patrol buffers would overlap; a group is kept when it straddles a member boundary (a
meaningful part of it in two members) or lies within the border-zone width W of a boundary two
members share; it is buffered, clipped to the members' territory and assigned to the members
it touches, with a sentence in Vietnamese and English.

All metric work (areas, distances, buffers) is done in the cluster's UTM zone (that of its
border zones, :attr:`geozone.clusters.zones.BorderZones.utm_epsg`); inputs and outputs are
EPSG:4326.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geozone.analysis.border_effect import member_geometries_m, territory_zones
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.zones import BorderZones
from geozone.crs import WGS84, project_geometries
from geozone.errors import (
    AnalysisInputError,
    InvalidParameterError,
    PatrolZoneGeometryError,
    PatrolZoneOutsideClusterError,
)

#: A unit is touched by a zone when at least this share of the zone's area lies in it;
#: smaller overlaps are drawing slop along its boundary.
MIN_UNIT_SHARE = 0.001
#: A group of hot cells straddles a member boundary when at least this share of its area
#: lies in each of two members.
STRADDLE_MIN_SHARE = 0.05
#: Hot cells closer than this (metres) are neighbours even without a patrol buffer (shared
#: edges and corners, with rounding).
CONTACT_M = 1.0
#: Largest patrol buffer accepted, in metres.
MAX_BUFFER_M = 5_000.0
#: Columns a hotspot ``cells`` frame must have (besides ``geometry``).
HOT_CELL_COLUMNS: tuple[str, ...] = ("cell_id", "count", "gi_z", "significant", "kind")
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


# -- the cluster in metres ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Metric:
    """A cluster's members, member union, border zone and shared lines in its UTM zone."""

    epsg: int
    members: pd.Series  # code -> metric polygon
    union: Any
    border: Any
    lines: NDArray[np.object_]
    line_pairs: NDArray[np.object_]  # "A|B" of each line

    @classmethod
    def of(cls, territory: ClusterTerritory, zones: BorderZones) -> _Metric:
        epsg = zones.utm_epsg
        members = member_geometries_m(territory, epsg)
        union = shapely.union_all(members.to_numpy())
        sides = project_geometries(
            zones.sides.geometry.to_numpy(), np.full(len(zones.sides), epsg, dtype=np.int64)
        )
        border = shapely.intersection(shapely.union_all(sides), union)
        lines = zones.lines
        lines_m = project_geometries(
            lines.geometry.to_numpy(), np.full(len(lines), epsg, dtype=np.int64)
        )
        a, b = lines["code_a"].astype(str).to_numpy(), lines["code_b"].astype(str).to_numpy()
        pairs = np.array(
            [f"{min(x, y)}|{max(x, y)}" for x, y in zip(a, b, strict=True)], dtype=object
        )
        return cls(epsg, members, union, border, lines_m, pairs)

    def project(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        return project_geometries(geoms, np.full(len(geoms), self.epsg, dtype=np.int64))

    def to_wgs84(self, geoms: NDArray[np.object_]) -> NDArray[np.object_]:
        back = gpd.GeoSeries(geoms, crs=self.epsg).to_crs(WGS84).to_numpy()
        return _polygonal(np.asarray(back, dtype=object))


def _polygonal(geoms: NDArray[np.object_]) -> NDArray[np.object_]:
    """Make geometries valid and keep their polygons (one Polygon, or a MultiPolygon)."""
    out: NDArray[np.object_] = np.full(len(geoms), shapely.Polygon(), dtype=object)
    if not len(geoms):
        return out
    fixed = np.where(shapely.is_valid(geoms), geoms, shapely.make_valid(geoms))
    parts, owner = shapely.get_parts(fixed, return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)  # collections of multis
    owner = owner[inner]
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    if keep.any():
        shapely.multipolygons(parts[keep], indices=owner[keep], out=out)
    single = shapely.get_num_geometries(out) == 1
    out[single] = shapely.get_geometry(out[single], 0)
    out[shapely.is_missing(out)] = shapely.Polygon()
    return out


# -- checking inputs ---------------------------------------------------------------------------


def check_zone(zone: Any, bset: BoundarySet) -> shapely.Polygon | shapely.MultiPolygon:
    """Check that a patrol zone is a usable polygon in EPSG:4326 within the set's area.

    Parameters
    ----------
    zone
        A shapely Polygon or MultiPolygon in longitude/latitude.
    bset
        The boundary set it is drawn on (its extent stands for Vietnam).

    Returns
    -------
    shapely.Polygon or shapely.MultiPolygon
        The zone, unchanged.

    Raises
    ------
    PatrolZoneGeometryError
        When it is not a polygon, is empty, has non-finite or non-degree coordinates, is
        invalid (the reason is named; repair it first), has no area, or lies outside the
        extent of ``bset``.
    """
    if not isinstance(zone, shapely.Polygon | shapely.MultiPolygon):
        raise PatrolZoneGeometryError(
            f"a patrol zone must be a Polygon or MultiPolygon, not {type(zone).__name__}"
        )
    if zone.is_empty:
        raise PatrolZoneGeometryError("the patrol zone is empty")
    coords = shapely.get_coordinates(zone)
    if not np.isfinite(coords).all():
        raise PatrolZoneGeometryError("the patrol zone has a coordinate that is not finite")
    if (np.abs(coords[:, 0]) > 180).any() or (np.abs(coords[:, 1]) > 90).any():
        raise PatrolZoneGeometryError(
            "the patrol zone's coordinates are not longitude/latitude (EPSG:4326)"
        )
    if not zone.is_valid:
        raise PatrolZoneGeometryError(
            f"the patrol zone is not a valid polygon ({shapely.is_valid_reason(zone)}); "
            "draw it again without crossing edges"
        )
    if not zone.area > 0:
        raise PatrolZoneGeometryError("the patrol zone has no area")
    check_within_set(zone, bset, "the patrol zone")
    return zone


def check_within_set(geom: shapely.Geometry, bset: BoundarySet, what: str) -> None:
    """Refuse a geometry whose extent leaves that of the set's units (outside Vietnam).

    Raises
    ------
    PatrolZoneGeometryError
        Naming ``what``, its extent and the set.
    """
    shaped = bset.frame[bset.frame["has_geometry"]]
    minx, miny, maxx, maxy = shaped.total_bounds
    gx0, gy0, gx1, gy1 = geom.bounds
    if not (minx <= gx0 and gx1 <= maxx and miny <= gy0 and gy1 <= maxy):
        raise PatrolZoneGeometryError(
            f"{what} is outside Vietnam: its extent ({gx0:.4f}, {gy0:.4f}, {gx1:.4f}, "
            f"{gy1:.4f}) is not within that of boundary set {bset.id}"
        )


def _frame_4326(frame: Any, what: str) -> gpd.GeoDataFrame:
    if not isinstance(frame, gpd.GeoDataFrame):
        raise AnalysisInputError(f"{what} must be a GeoDataFrame, not {type(frame).__name__}")
    if frame.crs is not None and not frame.crs.equals(WGS84):
        frame = frame.to_crs(WGS84)
    return frame


def _hot_cells(hot_cells: Any) -> gpd.GeoDataFrame:
    """Check a hotspot ``cells`` frame and return its significant hot cells (EPSG:4326)."""
    cells = _frame_4326(hot_cells, "hot_cells")
    missing = [column for column in HOT_CELL_COLUMNS if column not in cells.columns]
    if missing:
        raise AnalysisInputError(
            f"hot_cells lacks column(s) {missing}; a hotspot result's cells frame has "
            f"{list(HOT_CELL_COLUMNS)} and geometry"
        )
    significant = cells["significant"].fillna(False).to_numpy(dtype=bool)
    hot = cells.loc[significant & (cells["kind"] == "hot").to_numpy(dtype=bool)]
    geoms = hot.geometry.to_numpy()
    bad = shapely.is_missing(geoms) | ~np.isin(shapely.get_type_id(geoms), (3, 6))
    if bad.any():
        raise AnalysisInputError(
            f"hot cell {hot['cell_id'].iloc[int(np.flatnonzero(bad)[0])]!r} is not a polygon"
        )
    gi_z = pd.to_numeric(hot["gi_z"], errors="coerce")
    count = pd.to_numeric(hot["count"], errors="coerce")
    if gi_z.isna().any() or count.isna().any():
        raise AnalysisInputError("hot cells need numeric gi_z and count")
    return hot.assign(gi_z=gi_z.astype(float), count=count)


def _points(incidents: Any) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Longitudes and latitudes of incident points (rows without a point are left out)."""
    frame = _frame_4326(incidents, "incidents")
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if (shapely.get_type_id(geoms[present]) != 0).any():
        raise AnalysisInputError("incidents must be points")
    x = shapely.get_x(geoms[present])
    y = shapely.get_y(geoms[present])
    finite = np.isfinite(x) & np.isfinite(y)
    return x[finite], y[finite]


# -- coverage ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """What a patrol zone covers.

    Attributes
    ----------
    zone_area_km2
        The zone's area.
    border_zone_share
        Share of the cluster's border-zone area inside the zone (None when the members share
        no boundary).
    border_zone_km2
        The border-zone area inside the zone.
    cluster_share
        Share of the zone's area inside the members' territory.
    hot_cells_share
        Share of the area of the significant hot cells within the members' territory that the
        zone covers (None when no hotspot result is given or it has no such cell).
    n_hot_cells
        Significant hot cells the zone overlaps (None without a hotspot result).
    incidents_share
        Share of the given incidents inside the zone (None when none are given).
    n_incidents_inside, n_incidents
        Given incidents inside the zone (edges included), and in all (None when none given).
    units
        Units of the cluster's level the zone touches (at least :data:`MIN_UNIT_SHARE` of its
        area), largest part first: ``code``, ``name`` (full name), ``area_share`` (share of the
        zone's area in the unit) and ``member`` (whether the unit is a cluster member).
    """

    zone_area_km2: float
    border_zone_share: float | None
    border_zone_km2: float
    cluster_share: float
    hot_cells_share: float | None
    n_hot_cells: int | None
    incidents_share: float | None
    n_incidents_inside: int | None
    n_incidents: int | None
    units: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """Return the coverage as a JSON-ready dictionary."""
        return asdict(self)


def coverage(
    zone: shapely.Polygon | shapely.MultiPolygon,
    territory: ClusterTerritory,
    incidents: gpd.GeoDataFrame | None = None,
    hot_cells: gpd.GeoDataFrame | None = None,
    *,
    zones: BorderZones | None = None,
) -> Coverage:
    """Measure what a drawn patrol zone covers in a cluster.

    Parameters
    ----------
    zone
        The patrol zone, a valid Polygon or MultiPolygon in EPSG:4326.
    territory
        The cluster it is drawn for.
    incidents
        Incident points (EPSG:4326, or any CRS set on the frame), for instance the cluster's
        incidents from the store; ``incidents_share`` is over all of them.
    hot_cells
        The ``cells`` frame of a hotspot result (``cell_id``, ``count``, ``gi_z``,
        ``significant``, ``kind``, polygons); only significant ``"hot"`` cells count, clipped
        to the members' territory.
    zones
        The territory's border zones when already built (default:
        :func:`geozone.analysis.border_effect.territory_zones`).

    Returns
    -------
    Coverage

    Raises
    ------
    PatrolZoneGeometryError
        For an unusable polygon (see :func:`check_zone`).
    PatrolZoneOutsideClusterError
        When the zone covers no part of the members' territory.
    AnalysisInputError
        When ``incidents`` or ``hot_cells`` is not a GeoDataFrame of the expected shape.
    """
    polygon = check_zone(zone, territory.bset)
    zones = zones if zones is not None else territory_zones(territory)
    metric = _Metric.of(territory, zones)
    zone_m = metric.project(np.array([polygon], dtype=object))[0]
    area = float(shapely.area(zone_m))
    in_cluster = float(shapely.area(shapely.intersection(zone_m, metric.union)))
    if not in_cluster > 0:
        raise PatrolZoneOutsideClusterError(
            f"the patrol zone covers no part of the territory of cluster {territory.cluster.id} "
            f"({', '.join(metric.members.index)})"
        )
    border_area = float(shapely.area(metric.border))
    covered = float(shapely.area(shapely.intersection(zone_m, metric.border)))
    hot_share: float | None = None
    n_hot: int | None = None
    if hot_cells is not None:
        hot_share, n_hot = _hot_coverage(zone_m, _hot_cells(hot_cells), metric)
    inc_share: float | None = None
    n_inside: int | None = None
    n_total: int | None = None
    if incidents is not None:
        x, y = _points(incidents)
        shapely.prepare(polygon)
        n_inside = int(shapely.intersects_xy(polygon, x, y).sum())
        n_total = len(x)
        inc_share = n_inside / n_total if n_total else None
    return Coverage(
        zone_area_km2=area / 1e6,
        border_zone_share=covered / border_area if border_area > 0 else None,
        border_zone_km2=covered / 1e6,
        cluster_share=in_cluster / area,
        hot_cells_share=hot_share,
        n_hot_cells=n_hot,
        incidents_share=inc_share,
        n_incidents_inside=n_inside,
        n_incidents=n_total,
        units=_units_touched(polygon, zone_m, territory, metric),
    )


def _hot_coverage(zone_m: Any, hot: gpd.GeoDataFrame, metric: _Metric) -> tuple[float | None, int]:
    """Share of the hot-cell area within the members that the zone covers; cells it overlaps."""
    cells_m = metric.project(hot.geometry.to_numpy())
    overlap = shapely.area(shapely.intersection(cells_m, zone_m))
    hot_area = shapely.intersection(shapely.union_all(cells_m), metric.union)
    total = float(shapely.area(hot_area))
    if not total > 0:
        return None, int((overlap > 0).sum())
    inside = float(shapely.area(shapely.intersection(hot_area, zone_m)))
    return inside / total, int((overlap > 0).sum())


def _units_touched(
    polygon: Any, zone_m: Any, territory: ClusterTerritory, metric: _Metric
) -> list[dict[str, Any]]:
    """Units of the cluster's level with at least :data:`MIN_UNIT_SHARE` of the zone."""
    frame = territory.bset.frame
    hit = frame.iloc[frame.sindex.query(polygon, predicate="intersects")]
    hit = hit[(hit["level"] == territory.cluster.level) & hit["has_geometry"]]
    if hit.empty:
        return []
    pieces = shapely.area(shapely.intersection(metric.project(hit.geometry.to_numpy()), zone_m))
    share = pieces / float(shapely.area(zone_m))
    found = pd.DataFrame(
        {
            "code": hit["code"].astype(str).to_numpy(),
            "name": hit["full_name"].astype(str).to_numpy(),
            "area_share": share,
        }
    )
    found = found[found["area_share"] >= MIN_UNIT_SHARE]
    found = found.sort_values(["area_share", "code"], ascending=[False, True])
    found["member"] = found["code"].isin(metric.members.index)
    return [
        {
            "code": str(row["code"]),
            "name": str(row["name"]),
            "area_share": float(row["area_share"]),
            "member": bool(row["member"]),
        }
        for row in found.to_dict("records")
    ]


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
