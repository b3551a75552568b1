"""Kernel density of incidents (per km²) on square cells, for heat layers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots._common import (
    _check_area,
    _check_metres,
    _geometry_to_metric,
    _incident_points,
    _to_metric,
    _zone,
)
from geozone.analysis.hotspots._grid import _build_grid
from geozone.analysis.hotspots.results import KDE_MARGIN_BANDWIDTHS, KDE_RTOL, KdeResult
from geozone.errors import AnalysisInputError

# -- kernel density ----------------------------------------------------------------------------


def silverman_bandwidth(x: NDArray[np.float64], y: NDArray[np.float64]) -> float:
    """Return Silverman's rule-of-thumb bandwidth for a 2-D Gaussian kernel, in metres.

    ``h = σ · n^(-1/6)`` with the robust spread ``σ = min(√((s_x² + s_y²) / 2),
    (IQR_x + IQR_y) / (2 × 1.349))`` of the metric coordinates (sample standard deviations,
    interquartile ranges); the IQR term is dropped when it is 0.

    Parameters
    ----------
    x, y
        Metric coordinates of the points (two or more).
    """
    n = len(x)
    if n < 2:
        return 0.0
    sd = math.sqrt((float(np.var(x, ddof=1)) + float(np.var(y, ddof=1))) / 2.0)
    iqr = (
        float(np.subtract(*np.percentile(x, [75, 25])))
        + float(np.subtract(*np.percentile(y, [75, 25])))
    ) / 2.0
    spread = min(sd, iqr / 1.349) if iqr > 0 else sd
    return float(spread * n ** (-1.0 / 6.0))


def kernel_density(
    incidents: pd.DataFrame,
    *,
    cell_size_m: float = 100.0,
    bandwidth_m: float | None = None,
    area: BaseGeometry | None = None,
) -> KdeResult:
    """Estimate the density of incidents (per km²) on square cells, for heat layers.

    A Gaussian kernel (``sklearn.neighbors.KernelDensity``, tree-based, relative tolerance
    :data:`KDE_RTOL`) on the incidents' UTM coordinates, evaluated at the cell centres and
    scaled to incidents per km², so that density × cell area summed over a grid that holds
    the whole surface gives the number of incidents.

    Bandwidth rule
    --------------
    ``bandwidth_m`` is the kernel's standard deviation. When not given, it follows
    Silverman's rule of thumb for a bivariate Gaussian kernel (Silverman 1986, eq. 4.14:
    ``h = (4 / (d + 2))^(1/(d+4)) σ n^(-1/(d+4))``, the factor being 1 for d = 2), with his
    robust spread ``min(SD, IQR / 1.349)`` averaged over the two axes (§3.4.2); see
    :func:`silverman_bandwidth`. The rule is chosen over ArcGIS's "standard distance" rule
    (``0.9 min(SD, √(1/ln 2) D_m) n^(-0.2)``) because that one sets the radius of a quartic
    kernel with the one-dimensional exponent, whereas this sets the standard deviation of
    the Gaussian kernel used here with the two-dimensional one; both are normal-reference
    rules, and the robust spread keeps a city's several dense clusters from widening the
    kernel to the size of the city. The bandwidth is never below half a cell (rule
    "Silverman (floor: half a cell)"), below which the cell centres would miss the surface.

    Grid
    ----
    Squares anchored like :func:`gi_star_grid`'s, over ``area`` when given, else over the
    bounding box of the incidents widened by :data:`KDE_MARGIN_BANDWIDTHS` bandwidths (so
    the grid holds the whole surface). All incidents shape the surface, even those outside
    ``area``.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``.
    cell_size_m
        Side of the cells in metres.
    bandwidth_m
        Kernel standard deviation in metres; None applies the rule above.
    area
        Polygon (EPSG:4326) the surface is evaluated on.

    Returns
    -------
    KdeResult

    Raises
    ------
    InvalidParameterError
        When ``cell_size_m`` or ``bandwidth_m`` is out of range or the grid would exceed
        :data:`MAX_CELLS` cells.
    AnalysisInputError
        When there is no incident with usable coordinates.
    """
    cell_size_m = _check_metres("cell_size_m", cell_size_m)
    if bandwidth_m is not None:
        bandwidth_m = _check_metres("bandwidth_m", bandwidth_m)
    area = _check_area(area)
    points = _incident_points(incidents)
    n = len(points.lon)
    if n == 0:
        raise AnalysisInputError("no incident with usable coordinates: no density to estimate")
    epsg = _zone(points, area)
    x, y = _to_metric(points, epsg)
    if bandwidth_m is None:
        bandwidth, rule = silverman_bandwidth(x, y), "Silverman"
        if bandwidth < cell_size_m / 2.0:
            bandwidth, rule = cell_size_m / 2.0, "Silverman (floor: half a cell)"
    else:
        bandwidth, rule = bandwidth_m, "given"
    if area is not None:
        grid = _build_grid(_geometry_to_metric(area, epsg), cell_size_m, "square", epsg, clip=True)
    else:
        pad = KDE_MARGIN_BANDWIDTHS * bandwidth
        region = shapely.box(x.min() - pad, y.min() - pad, x.max() + pad, y.max() + pad)
        grid = _build_grid(region, cell_size_m, "square", epsg, clip=False)
    from sklearn.neighbors import KernelDensity

    model = KernelDensity(kernel="gaussian", bandwidth=bandwidth, rtol=KDE_RTOL)
    model.fit(np.column_stack([x, y]))
    log_density = model.score_samples(np.column_stack([grid.x, grid.y]))
    density = n * np.exp(log_density) * 1e6  # per m² of one incident → incidents per km²
    cell_km2 = cell_size_m**2 / 1e6
    frame = grid.frame()
    frame.insert(1, "density", density)
    frame.insert(2, "share", density * cell_km2 / n)
    return KdeResult(frame, float(bandwidth), rule, epsg, cell_size_m, n, points.synthetic)
