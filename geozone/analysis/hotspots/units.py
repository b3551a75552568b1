"""Getis–Ord Gi* per administrative unit (wards), on a contiguity graph of the units."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from numpy.typing import NDArray

from geozone.analysis.hotspots._common import (
    EVERY_UNIT,
    _cells_frame,
    _check_test,
    _decide,
    _gi_star,
    _incident_points,
    _join,
    _messages,
    _resolution_note,
    _tested_message,
    _to_metric,
    _too_few_message,
    _vi,
    _vi_decimal,
)
from geozone.analysis.hotspots._grid import _graph_from_edges
from geozone.analysis.hotspots.results import (
    MIN_INCIDENTS,
    MIN_UNITS,
    UNIT_SNAP_M,
    HotspotResult,
    fitted_permutations,
)
from geozone.crs import utm_epsg
from geozone.errors import AnalysisInputError

# -- units -------------------------------------------------------------------------------------


def _units_metric(units: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int, NDArray[np.object_]]:
    """Check the units; return those with geometry (EPSG:4326), the zone, metric polygons."""
    if not isinstance(units, gpd.GeoDataFrame) or "code" not in units.columns:
        raise AnalysisInputError("units must be a GeoDataFrame with a 'code' column")
    frame = units if units.crs is None or units.crs.to_epsg() == 4326 else units.to_crs(4326)
    if frame.crs is None:
        frame = frame.set_crs(4326)
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    frame = frame[present].reset_index(drop=True)
    kinds = set(frame.geometry.geom_type)
    if kinds - {"Polygon", "MultiPolygon"}:
        raise AnalysisInputError(f"unit geometries must be polygons, not {sorted(kinds)}")
    codes = frame["code"].astype(str)
    if codes.duplicated().any():
        raise AnalysisInputError(f"unit codes repeat: {sorted(set(codes[codes.duplicated()]))[:5]}")
    lon = shapely.get_x(shapely.point_on_surface(frame.geometry.to_numpy()))
    epsg = int(utm_epsg(float(np.median(lon)))) if len(lon) else int(utm_epsg(105.0))
    metric = frame.geometry.to_crs(epsg).to_numpy()
    return frame, epsg, metric


def _unit_edges(polygons: NDArray[np.object_]) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Directed neighbour pairs: within :data:`UNIT_SNAP_M`, islands to their nearest unit."""
    n = len(polygons)
    if n == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    tree = shapely.STRtree(polygons)
    left, right = tree.query(polygons, predicate="dwithin", distance=UNIT_SNAP_M)
    other = left != right
    left, right = left[other], right[other]
    linked = np.zeros(n, dtype=bool)
    linked[left] = True
    islands = np.flatnonzero(~linked)
    if len(islands) and n > 1:
        # exclusive: the island itself (an equal geometry) is not its own nearest unit
        found_i, found_j = tree.query_nearest(polygons[islands], exclusive=True, all_matches=True)
        island_i, island_j = islands[found_i], found_j
        left = np.concatenate([left, island_i, island_j])
        right = np.concatenate([right, island_j, island_i])
        pairs = np.unique(np.column_stack([left, right]), axis=0)
        left, right = pairs[:, 0], pairs[:, 1]
    return left.astype(np.intp), right.astype(np.intp)


def unit_graph(units: gpd.GeoDataFrame) -> Graph:
    """Return the contiguity graph :func:`gi_star_units` uses, over the unit codes.

    Two units are neighbours when they lie within :data:`UNIT_SNAP_M` (2 m, the adjacency
    tolerance) of each other: queen contiguity (a shared corner counts) that absorbs slivers
    and tiny gaps. A unit with no neighbour (an island commune, or a unit cut off by a gap
    wider than the tolerance) is linked both ways to its nearest unit(s) by polygon
    distance, so that every unit has a neighbourhood.

    Parameters
    ----------
    units
        Polygons with a ``code`` column (any CRS; EPSG:4326 when none); units without
        geometry are left out.

    Returns
    -------
    libpysal.graph.Graph
        Binary weights, ids the unit codes (as str) in the order of ``units``.
    """
    frame, _, metric = _units_metric(units)
    left, right = _unit_edges(metric)
    graph = _graph_from_edges(len(frame), left, right)
    codes = frame["code"].astype(str).to_numpy()
    adjacency = graph.adjacency.reset_index()
    return Graph.from_arrays(
        codes[adjacency["focal"].to_numpy()],
        codes[adjacency["neighbor"].to_numpy()],
        adjacency["weight"].to_numpy(),
    )


def gi_star_units(
    incidents: pd.DataFrame,
    units: gpd.GeoDataFrame,
    *,
    permutations: int | None = 0,
    seed: int = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    min_incidents: int = MIN_INCIDENTS,
) -> HotspotResult:
    """Find significant hot and cold units (wards) by their incident counts (Gi*).

    The same statistic and inference as :func:`gi_star_grid`, with the units as cells and
    the neighbourhood of :func:`unit_graph` (queen contiguity within 2 m; islands linked to
    their nearest unit). Counts are raw counts: units of very unequal size are compared on
    their totals, not on densities. Gi* needs many units: with a handful (a 3×3 block of
    wards) no unit can be significant.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``.
    units
        Polygons with ``code`` and (optionally) ``name`` columns, e.g.
        ``BoundarySet.units("ward")``. Units without geometry are left out.
    permutations, seed, alpha, fdr, min_incidents
        As in :func:`gi_star_grid` (None: as many as the units allow,
        :func:`~geozone.analysis.hotspots.results.fitted_permutations`). Fewer than
        :data:`MIN_UNITS` units are not tested either.

    Returns
    -------
    HotspotResult
        ``cell_id`` is the unit code, ``name`` the unit name; a point on a shared boundary
        counts in one unit only (the first in ``units``).

    Raises
    ------
    InvalidParameterError
        When a parameter is out of range (named).
    AnalysisInputError
        When the incidents or the units are unusable (named).
    """
    fitted = permutations is None
    permutations, seed, alpha, min_incidents = _check_test(
        0 if permutations is None else permutations, seed, alpha, min_incidents
    )
    points = _incident_points(incidents)
    frame, epsg, metric = _units_metric(units)
    if fitted:
        permutations = fitted_permutations(len(frame))
    x, y = _to_metric(points, epsg)
    unit_of = np.full(len(x), -1, dtype=np.intp)
    if len(x) and len(metric):
        tree = shapely.STRtree(metric)
        point_i, unit_j = tree.query(shapely.points(x, y), predicate="intersects")
        order = np.lexsort((unit_j, point_i))
        first, index = np.unique(point_i[order], return_index=True)
        unit_of[first] = unit_j[order][index]
    n_outside = int((unit_of < 0).sum())
    counts = np.bincount(unit_of[unit_of >= 0], minlength=len(frame)).astype(np.int64)
    n_incidents = int(counts.sum())
    names = frame["name"].astype(str).to_numpy() if "name" in frame.columns else None
    extra = {"name": pd.array(names, dtype="str")} if names is not None else None
    common: dict[str, Any] = {
        "alpha": alpha,
        "permutations": permutations,
        "seed": seed,
        "cell_size_m": None,
        "shape": "units",
        "epsg": epsg,
        "fdr": fdr,
        "neighbours": f"queen ({UNIT_SNAP_M:g} m)",
        "synthetic": points.synthetic,
        "n_outside": n_outside,
        "min_incidents": min_incidents,
    }
    ids = frame["code"].astype(str).to_numpy(dtype=object)
    geometry = frame.geometry.to_numpy()
    nan = np.full(len(frame), np.nan)
    if n_incidents < min_incidents or len(frame) < MIN_UNITS:
        cells = _cells_frame(ids, geometry, counts, nan, nan, None, extra)
        if n_incidents < min_incidents:
            text = _too_few_message(n_incidents, min_incidents, n_outside, EVERY_UNIT)
        else:
            text = (
                f"Quá ít đơn vị để kiểm định ({len(frame)} < {MIN_UNITS}).",
                f"Too few units to test ({len(frame)} < {MIN_UNITS}).",
            )
        return HotspotResult(
            cells,
            "too_few",
            n_incidents=n_incidents,
            **_messages(points.synthetic, text),
            **common,
        )
    left, right = _unit_edges(metric)
    graph = _graph_from_edges(len(frame), left, right)
    z, p = _gi_star(counts.astype(np.float64), graph, permutations, seed)
    decided = _decide(z, p, alpha, fdr)
    cells = _cells_frame(ids, geometry, counts, z, p, decided, extra)
    what = (
        f"{_vi(len(frame))} đơn vị (liền kề chung cạnh hoặc đỉnh, sai lệch đến "
        f"{_vi_decimal(UNIT_SNAP_M)} m)",
        f"{len(frame):,} units (queen contiguity within {UNIT_SNAP_M:g} m)",
    )
    message = _join(
        _tested_message(
            what,
            n_incidents,
            decided["kind"],
            alpha,
            fdr,
            permutations,
            seed,
            n_outside,
            EVERY_UNIT,
        ),
        _resolution_note(len(frame), permutations, alpha, fdr),
    )
    return HotspotResult(
        cells,
        "tested",
        n_incidents=n_incidents,
        **_messages(points.synthetic, message),
        **common,
    )
