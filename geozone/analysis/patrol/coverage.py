"""What a drawn patrol zone covers: its area, the border zone, hot cells, incidents, units.

A drawn zone is checked first (:func:`check_zone`): a valid polygon inside Vietnam.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.analysis.border_effect import territory_zones
from geozone.analysis.patrol._common import MIN_UNIT_SHARE, _frame_4326, _hot_cells, _Metric
from geozone.assignment import ClusterTerritory
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.zones import BorderZones
from geozone.errors import (
    AnalysisInputError,
    PatrolZoneGeometryError,
    PatrolZoneOutsideClusterError,
)

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
