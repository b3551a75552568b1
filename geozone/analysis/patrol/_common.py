"""What coverage and suggestions share: the cluster in metres, the check of hot cells."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.analysis.border_effect import member_geometries_m
from geozone.assignment import ClusterTerritory
from geozone.clusters.zones import BorderZones
from geozone.crs import WGS84, project_geometries
from geozone.errors import AnalysisInputError

#: A unit is touched by a zone when at least this share of the zone's area lies in it;
#: smaller overlaps are drawing slop along its boundary.
MIN_UNIT_SHARE = 0.001
#: Columns a hotspot ``cells`` frame must have (besides ``geometry``).
HOT_CELL_COLUMNS: tuple[str, ...] = ("cell_id", "count", "gi_z", "significant", "kind")


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
