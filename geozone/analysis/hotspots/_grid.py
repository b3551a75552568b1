"""Regular grids of squares or hexagons in a UTM zone, and their neighbourhood graphs.

See the package notes (:mod:`geozone.analysis.hotspots`, *Grids*) for the anchoring, the
cell ids and how the study area is gridded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots._common import (
    _check_metres,
    _geometry_to_metric,
    _Points,
    _to_metric,
    _zone,
)
from geozone.analysis.hotspots.results import (
    HEX_RADIUS,
    MAX_BAND_CELLS,
    MAX_CELLS,
    CellShape,
    Neighbours,
)
from geozone.crs import WGS84
from geozone.errors import InvalidParameterError

# -- grids -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grid:
    """Cells of one shape and size in one UTM zone, with an index from (col, row) to cell."""

    shape: CellShape
    size: float
    epsg: int
    col: NDArray[np.int64]
    row: NDArray[np.int64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    polygons: NDArray[np.object_]
    col0: int
    row0: int
    lookup: NDArray[np.intp]

    @property
    def n(self) -> int:
        return len(self.col)

    @property
    def radius(self) -> float:
        """Circumradius of a hexagon."""
        return self.size * HEX_RADIUS

    @property
    def spacing(self) -> float:
        """Distance between the centres of edge neighbours."""
        return self.size if self.shape == "square" else math.sqrt(3.0) * self.radius

    def ids(self) -> NDArray[np.object_]:
        prefix = f"{'S' if self.shape == 'square' else 'H'}{self.size:g}-{self.epsg}-"
        cols = pd.Series(self.col).astype(str)
        rows = pd.Series(self.row).astype(str)
        return (prefix + cols + "-" + rows).to_numpy(dtype=object)

    def cell_of(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.intp]:
        """Return the cell holding each metric point (-1 when none)."""
        if self.shape == "square":
            col = np.floor(x / self.size).astype(np.int64)
            row = np.floor(y / self.size).astype(np.int64)
        else:
            col, row = _hex_offset(x, y, self.radius)
        i, j = col - self.col0, row - self.row0
        inside = (i >= 0) & (i < self.lookup.shape[0]) & (j >= 0) & (j < self.lookup.shape[1])
        found = np.full(len(x), -1, dtype=np.intp)
        found[inside] = self.lookup[i[inside], j[inside]]
        return found

    def frame(self) -> gpd.GeoDataFrame:
        """Return the cells in EPSG:4326 with their ids."""
        geometry = gpd.GeoSeries(self.polygons, crs=self.epsg).to_crs(WGS84)
        return gpd.GeoDataFrame(
            {"cell_id": pd.array(self.ids(), dtype="str")},
            geometry=geometry.to_numpy(),
            crs=WGS84,
        )

    def graph(self, neighbours: Neighbours) -> tuple[Graph, str]:
        """Return the binary neighbourhood graph of the cells (ids 0..n-1) and its label."""
        if isinstance(neighbours, str):
            if neighbours not in ("queen", "rook"):
                raise InvalidParameterError(
                    f"neighbours must be 'queen', 'rook' or a distance in metres, "
                    f"not {neighbours!r}"
                )
            return self._lattice_graph(neighbours), neighbours
        band = _check_metres("neighbours", neighbours)
        if band < self.spacing:
            raise InvalidParameterError(
                f"neighbours distance band ({band:g} m) must be at least the distance between "
                f"neighbouring cell centres ({self.spacing:.0f} m)"
            )
        reach = math.pi * band**2 / self.size**2
        if reach > MAX_BAND_CELLS:
            raise InvalidParameterError(
                f"neighbours distance band ({band:g} m) reaches about {reach:,.0f} cells of "
                f"{self.size:g} m; the limit is {MAX_BAND_CELLS}"
            )
        centres = gpd.GeoSeries(shapely.points(self.x, self.y), crs=self.epsg)
        graph = Graph.build_distance_band(centres, threshold=band, binary=True)
        return graph, f"band {band:g} m"

    def _lattice_graph(self, kind: Literal["queen", "rook"]) -> Graph:
        if self.shape == "square":
            steps = [(1, 0), (-1, 0), (0, 1), (0, -1)]
            if kind == "queen":
                steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
        else:  # axial directions of a hexagon (queen and rook coincide)
            steps = [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1)]
        focal_parts, neighbour_parts = [], []
        cells = np.arange(self.n, dtype=np.intp)
        q = self.col - (self.row - (self.row & 1)) // 2  # axial q of odd-r offset hexagons
        for dc, dr in steps:
            if self.shape == "square":
                col, row = self.col + dc, self.row + dr
            else:
                row = self.row + dr
                col = (q + dc) + (row - (row & 1)) // 2
            i, j = col - self.col0, row - self.row0
            ok = (i >= 0) & (i < self.lookup.shape[0]) & (j >= 0) & (j < self.lookup.shape[1])
            other = np.full(self.n, -1, dtype=np.intp)
            other[ok] = self.lookup[i[ok], j[ok]]
            keep = other >= 0
            focal_parts.append(cells[keep])
            neighbour_parts.append(other[keep])
        return _graph_from_edges(
            self.n, np.concatenate(focal_parts), np.concatenate(neighbour_parts)
        )


def _graph_from_edges(n: int, focal: NDArray[np.intp], neighbour: NDArray[np.intp]) -> Graph:
    """Build a binary libpysal Graph on ids 0..n-1; isolates get a zero self-weight."""
    linked = np.zeros(n, dtype=bool)
    linked[focal] = True
    alone = np.flatnonzero(~linked)
    focal = np.concatenate([focal, alone])
    neighbour = np.concatenate([neighbour, alone])
    weight = np.concatenate([np.ones(len(focal) - len(alone)), np.zeros(len(alone))])
    order = np.lexsort((neighbour, focal))
    return Graph.from_arrays(focal[order], neighbour[order], weight[order])


def _hex_offset(
    x: NDArray[np.float64], y: NDArray[np.float64], radius: float
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Return the odd-r offset (col, row) of the pointy-top hexagon holding each point."""
    qf = (math.sqrt(3.0) / 3.0 * x - y / 3.0) / radius
    rf = (2.0 / 3.0 * y) / radius
    sf = -qf - rf
    q, r, s = np.round(qf), np.round(rf), np.round(sf)
    dq, dr, ds = np.abs(q - qf), np.abs(r - rf), np.abs(s - sf)
    fix_q = (dq > dr) & (dq > ds)
    fix_r = ~fix_q & (dr > ds)
    q = np.where(fix_q, -r - s, q)
    r = np.where(fix_r, -q - s, r)
    row = r.astype(np.int64)
    col = q.astype(np.int64) + (row - (row & 1)) // 2
    return col, row


def _build_grid(
    region: BaseGeometry, cell_size_m: float, shape: CellShape, epsg: int, *, clip: bool
) -> _Grid:
    """Cells of ``shape`` over the metric ``region``.

    With ``clip`` (an area) the cells whose centre lies in the region (those overlapping it
    when no centre does); without, every cell overlapping the region's box.
    """
    minx, miny, maxx, maxy = region.bounds
    if shape == "square":
        col0, col1 = math.floor(minx / cell_size_m), math.floor(maxx / cell_size_m)
        row0, row1 = math.floor(miny / cell_size_m), math.floor(maxy / cell_size_m)
    else:
        radius = cell_size_m * HEX_RADIUS
        width = math.sqrt(3.0) * radius
        col0, col1 = math.floor(minx / width) - 1, math.ceil(maxx / width) + 1
        row0, row1 = math.floor(miny / (1.5 * radius)) - 1, math.ceil(maxy / (1.5 * radius)) + 1
    n_cols, n_rows = col1 - col0 + 1, row1 - row0 + 1
    if n_cols * n_rows > 4 * MAX_CELLS:
        raise InvalidParameterError(
            f"cell_size_m={cell_size_m:g} gives about {n_cols * n_rows:,} cells over the "
            f"study area; the limit is {MAX_CELLS:,}: use larger cells or a smaller area"
        )
    col, row = (
        a.ravel() for a in np.meshgrid(np.arange(col0, col1 + 1), np.arange(row0, row1 + 1))
    )
    col, row = col.astype(np.int64), row.astype(np.int64)
    if shape == "square":
        x = (col + 0.5) * cell_size_m
        y = (row + 0.5) * cell_size_m
        polygons = shapely.box(
            x - cell_size_m / 2, y - cell_size_m / 2, x + cell_size_m / 2, y + cell_size_m / 2
        )
    else:
        radius = cell_size_m * HEX_RADIUS
        x = math.sqrt(3.0) * radius * (col + 0.5 * (row & 1))
        y = 1.5 * radius * row
        angles = np.radians(30.0 + 60.0 * np.arange(7))
        ring = np.stack(
            [x[:, None] + radius * np.cos(angles), y[:, None] + radius * np.sin(angles)], axis=-1
        )
        polygons = shapely.polygons(ring)
    if clip or shape == "hexagon":
        shapely.prepare(region)
        keep = np.zeros(len(col), dtype=bool)
        if clip:  # an area: the cells whose centre lies in it
            keep = shapely.contains_xy(region, x, y)
        if not keep.any():  # a box of points, or an area smaller than a cell: overlapping cells
            keep = shapely.intersects(region, polygons) & ~shapely.touches(region, polygons)
        col, row, x, y, polygons = col[keep], row[keep], x[keep], y[keep], polygons[keep]
    if len(col) > MAX_CELLS:
        raise InvalidParameterError(
            f"cell_size_m={cell_size_m:g} gives {len(col):,} cells over the study area; "
            f"the limit is {MAX_CELLS:,}: use larger cells or a smaller area"
        )
    lookup = np.full((n_cols, n_rows), -1, dtype=np.intp)
    lookup[col - col0, row - row0] = np.arange(len(col))
    return _Grid(shape, cell_size_m, epsg, col, row, x, y, polygons, col0, row0, lookup)


def _study_grid(
    points: _Points,
    area: BaseGeometry | None,
    cell_size_m: float,
    shape: CellShape,
    margin_m: float = 0.0,
) -> tuple[_Grid | None, NDArray[np.intp], BaseGeometry | None]:
    """Grid the study area and place the incidents; None when there is nothing to grid."""
    epsg = _zone(points, area)
    x, y = _to_metric(points, epsg)
    if area is not None:
        region = _geometry_to_metric(area, epsg)
        grid = _build_grid(region, cell_size_m, shape, epsg, clip=True)
        cell = grid.cell_of(x, y)
        cell[~shapely.contains_xy(region, x, y)] = -1
        return grid, cell, region
    if not len(x):
        return None, np.zeros(0, dtype=np.intp), None
    pad = max(margin_m, 1e-3)
    region = shapely.box(x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
    grid = _build_grid(region, cell_size_m, shape, epsg, clip=False)
    return grid, grid.cell_of(x, y), region
