"""Getis–Ord Gi* on a regular grid, and the grid's cells.

See the package notes (:mod:`geozone.analysis.hotspots`) for the grid, the statistic, the
inference and the guard.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots._common import (
    _cells_frame,
    _cells_what,
    _check_area,
    _check_metres,
    _check_shape,
    _check_test,
    _decide,
    _geometry_to_metric,
    _gi_star,
    _incident_points,
    _join,
    _messages,
    _resolution_note,
    _sparse_note,
    _tested_message,
    _too_few_cells_message,
    _too_few_message,
    _zone,
)
from geozone.analysis.hotspots._grid import _build_grid, _study_grid
from geozone.analysis.hotspots.results import (
    CELL_COLUMNS,
    MIN_INCIDENTS,
    MIN_NONEMPTY_CELLS,
    CellShape,
    HotspotResult,
    Neighbours,
    fitted_permutations,
)
from geozone.crs import WGS84, utm_epsg
from geozone.errors import InvalidParameterError

# -- the grid's cells -------------------------------------------------------------------------


def grid_cells(
    extent: tuple[float, float, float, float] | BaseGeometry,
    cell_size_m: float = 250.0,
    shape: CellShape = "square",
) -> gpd.GeoDataFrame:
    """Return the grid cells covering an extent, in EPSG:4326.

    Parameters
    ----------
    extent
        ``(min_lon, min_lat, max_lon, max_lat)`` (every cell overlapping the box is kept), or
        a polygon in EPSG:4326 (the cells whose centre lies in it are kept).
    cell_size_m
        Side of the squares in metres; hexagons have the same area.
    shape
        "square" or "hexagon".

    Returns
    -------
    geopandas.GeoDataFrame
        ``cell_id``, ``col``, ``row`` and the cell polygons (EPSG:4326);
        ``attrs["epsg"]`` is the UTM zone the grid is laid out in (that of the extent's
        representative point), ``attrs["cell_size_m"]`` and ``attrs["shape"]`` its
        parameters.

    Raises
    ------
    InvalidParameterError
        When ``cell_size_m`` is not positive, the grid would exceed :data:`MAX_CELLS`, the
        shape is unknown or the extent is not in lon/lat.
    """
    cell_size_m = _check_metres("cell_size_m", cell_size_m)
    shape = _check_shape(shape)
    if isinstance(extent, BaseGeometry):
        region = _check_area(extent)
        clip = True
    else:
        try:
            min_lon, min_lat, max_lon, max_lat = (float(v) for v in extent)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"extent must be (min_lon, min_lat, max_lon, max_lat) or a polygon, not {extent!r}"
            ) from None
        if not (min_lon < max_lon and min_lat < max_lat):
            raise InvalidParameterError(
                f"extent {extent!r} is not (min_lon, min_lat, max_lon, max_lat)"
            )
        region = _check_area(shapely.box(min_lon, min_lat, max_lon, max_lat))
        clip = False
    assert region is not None
    epsg = int(utm_epsg(float(shapely.point_on_surface(region).x)))
    metric = _geometry_to_metric(region, epsg)
    grid = _build_grid(metric, cell_size_m, shape, epsg, clip=clip)
    frame = grid.frame()
    frame.insert(1, "col", grid.col)
    frame.insert(2, "row", grid.row)
    frame.attrs.update({"epsg": epsg, "cell_size_m": cell_size_m, "shape": shape})
    return frame


# -- Gi* on the grid --------------------------------------------------------------------------


def gi_star_grid(
    incidents: pd.DataFrame,
    *,
    cell_size_m: float = 250.0,
    shape: CellShape = "square",
    area: BaseGeometry | None = None,
    permutations: int | None = 0,
    seed: int = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    min_incidents: int = MIN_INCIDENTS,
    neighbours: Neighbours = "queen",
    min_nonempty_cells: int = MIN_NONEMPTY_CELLS,
) -> HotspotResult:
    """Find significant hot and cold spots of incident counts on a regular grid (Gi*).

    See the package notes (:mod:`geozone.analysis.hotspots`) for the grid, the statistic,
    the inference and the guard.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``.
    cell_size_m
        Side of the square cells in metres (hexagons have the same area).
    shape
        "square" or "hexagon".
    area
        The study area (Polygon/MultiPolygon, EPSG:4326): the cells whose centre lies in it
        are tested; incidents outside those cells are left out. Default: the bounding box of
        the incidents.
    permutations
        Conditional permutations for the pseudo p-values (0 to 9,999; 0 uses the normal
        approximation, unreliable on sparse counts); None: as many as the grid allows
        (:func:`~geozone.analysis.hotspots.results.fitted_permutations`: 9,999 up to 4,000
        cells, fewer beyond), what every output of geozone uses.
    seed
        Seed of the permutations (0 to 2³² - 1).
    alpha
        Significance level, in (0, 1).
    fdr
        Adjust for the number of cells (Benjamini–Hochberg) before comparing with ``alpha``.
    min_incidents
        Below this many incidents counted, nothing is tested (status "too_few").
    neighbours
        "queen" (default), "rook" (squares: 4 edge neighbours) or a distance band in metres
        between cell centres (at least the cell spacing, reaching at most
        :data:`MAX_BAND_CELLS` cells).
    min_nonempty_cells
        Below this many cells holding an incident, nothing is tested (status "too_few").

    Returns
    -------
    HotspotResult

    Raises
    ------
    InvalidParameterError
        When a parameter is out of range (named) or the grid would exceed :data:`MAX_CELLS`.
    AnalysisInputError
        When the incidents have no usable point geometry or lon/lat columns.
    """
    cell_size_m = _check_metres("cell_size_m", cell_size_m)
    shape = _check_shape(shape)
    fitted = permutations is None
    permutations, seed, alpha, min_incidents = _check_test(
        0 if permutations is None else permutations, seed, alpha, min_incidents
    )
    if isinstance(min_nonempty_cells, bool) or not isinstance(min_nonempty_cells, int):
        raise InvalidParameterError(
            f"min_nonempty_cells must be a whole number, not {min_nonempty_cells!r}"
        )
    area = _check_area(area)
    if not isinstance(neighbours, str):
        _check_metres("neighbours", neighbours)
    points = _incident_points(incidents)
    grid, cell, _ = _study_grid(points, area, cell_size_m, shape)
    if fitted:
        permutations = fitted_permutations(grid.n if grid is not None else 0)
    epsg = grid.epsg if grid is not None else _zone(points, area)
    common: dict[str, Any] = {
        "alpha": alpha,
        "permutations": permutations,
        "seed": seed,
        "cell_size_m": cell_size_m,
        "shape": shape,
        "epsg": epsg,
        "fdr": fdr,
        "synthetic": points.synthetic,
        "min_incidents": min_incidents,
        "min_nonempty_cells": min_nonempty_cells,
    }
    n_outside = int((cell < 0).sum())
    if grid is None:
        messages = _messages(points.synthetic, _too_few_message(0, min_incidents, n_outside))
        empty = gpd.GeoDataFrame({name: [] for name in CELL_COLUMNS}, geometry=[], crs=WGS84)
        return HotspotResult(
            empty,
            "too_few",
            n_incidents=0,
            n_outside=n_outside,
            n_nonempty=0,
            **messages,
            **common,
        )
    counts = np.bincount(cell[cell >= 0], minlength=grid.n).astype(np.int64)
    n_incidents = int(counts.sum())
    n_nonempty = int(np.count_nonzero(counts))
    frame = grid.frame()
    graph, label = grid.graph(neighbours)
    nan = np.full(grid.n, np.nan)
    if n_incidents < min_incidents or n_nonempty < min_nonempty_cells:
        cells = _cells_frame(
            frame["cell_id"].to_numpy(), frame.geometry.to_numpy(), counts, nan, nan, None
        )
        if n_incidents < min_incidents:
            text = _too_few_message(n_incidents, min_incidents, n_outside)
        else:
            text = _too_few_cells_message(n_incidents, n_nonempty, min_nonempty_cells, n_outside)
        return HotspotResult(
            cells,
            "too_few",
            n_incidents=n_incidents,
            neighbours=label,
            n_outside=n_outside,
            n_nonempty=n_nonempty,
            **_messages(points.synthetic, text),
            **common,
        )
    z, p = _gi_star(counts.astype(np.float64), graph, permutations, seed)
    decided = _decide(z, p, alpha, fdr)
    cells = _cells_frame(
        frame["cell_id"].to_numpy(), frame.geometry.to_numpy(), counts, z, p, decided
    )
    what = _cells_what(grid.n, shape, cell_size_m, label)
    message = _join(
        _tested_message(
            what, n_incidents, decided["kind"], alpha, fdr, permutations, seed, n_outside
        ),
        _resolution_note(grid.n, permutations, alpha, fdr),
        _sparse_note(n_incidents, n_nonempty, grid.n, permutations),
    )
    return HotspotResult(
        cells,
        "tested",
        n_incidents=n_incidents,
        neighbours=label,
        n_outside=n_outside,
        n_nonempty=n_nonempty,
        **_messages(points.synthetic, message),
        **common,
    )
