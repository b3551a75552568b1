"""Hotspots: where incidents concentrate, and how that changes over time.

Five tools, built on esda, libpysal, scipy and scikit-learn (this module builds the grids,
counts the incidents, builds the weights and assembles the results; the statistics are the
libraries'):

- :func:`kernel_density`: a smooth density surface (incidents per km²) for heat layers;
- :func:`gi_star_grid`: Getis–Ord Gi* on a regular grid of squares or hexagons;
- :func:`gi_star_units`: Getis–Ord Gi* per administrative unit (wards);
- :func:`emerging_hotspots`: Gi* per time bin and a Mann–Kendall trend per cell, classed as
  new / intensifying / persistent / diminishing / sporadic / none;
- :func:`named_hotspot_figures`: figures for named places such as the T11 bridge area
  (:func:`cluster_places` reads them from the cluster definitions).

Incidents
---------
A GeoDataFrame of points in EPSG:4326 (as :meth:`IncidentStore.query` returns it), or a frame
with ``lon``/``lat`` columns (as :func:`geozone.incidents.synthetic.generate_incidents` returns it).
Rows without usable coordinates are left out. When any row has ``synthetic`` True, every
result says so (``synthetic`` flag, and messages open with "SYNTHETIC data (dữ liệu mô
phỏng)").

Metric work
-----------
All distances, cells, areas and densities are computed in one UTM zone (:mod:`geozone.crs`):
the zone of the study area's representative point when an ``area`` is given, else the zone of
the median longitude of the incidents. Results are returned in EPSG:4326 with ``epsg`` naming
the zone used.

Grids
-----
Squares of side ``cell_size_m`` are anchored at multiples of the cell size in the UTM zone, so
the same cell has the same ``cell_id`` in every analysis (``S250-32648-2338-9296``: shape and
size, zone, column, row). Hexagons are pointy-top, in rows ``1.5 R`` apart, odd rows shifted by
half a cell, and have the same area as the square (``R = s·√(2 / (3√3))``, about 0.62 s): counts
on squares and hexagons of one ``cell_size_m`` are comparable (``H250-…``). Points are put in
cells arithmetically (floor for squares, cube rounding of axial coordinates for hexagons),
with no spatial join.

The grid covers the **study area**: when ``area`` (a polygon in EPSG:4326) is given, the cells
whose centre lies in it (or, for an area smaller than a cell, the cells overlapping it); else
every cell overlapping the bounding box of the incidents. **Empty cells in the study area are
included**: Gi* compares each neighbourhood with the whole area, and the zeros are part of that
comparison. Incidents outside ``area``, or in an edge cell whose centre lies outside it, are not
counted (``n_outside``). Cells are kept by their centre rather than by any overlap because a
cell that only grazes the area has almost no room for incidents and would come out as a
spurious cold spot. Without an area the bounding box may include places the data does not
cover (another province): pass the area the data is about.

Getis–Ord Gi*
-------------
``esda.G_Local(counts, graph, transform="B", star=True)``: binary weights, the cell itself
included, over queen contiguity (the 8 cells around a square, the 6 around a hexagon), rook
contiguity (4 for squares) or a distance band (every cell whose centre lies within the given
number of metres). ``gi_z`` is the Getis–Ord z-score (moments under total randomisation).

Inference
---------
By default (``permutations=0``) the p-value comes from the z-score under the normal
approximation, two-sided (``2 × esda's p_norm``), as ArcGIS's Hot Spot Analysis does: it is
what every output of geozone shows unless asked otherwise
(:data:`geozone.analysis.study.HOTSPOT_DEFAULTS`).
With ``permutations > 0`` the p-value is esda's conditional permutation test
(``esda.crand.crand`` with the very statistic ``G_Local`` uses, ``alternative="folded"``):
the cell's own count is held fixed and its neighbours are replaced by random sets of as many
other cells, ``permutations`` times (seeded; the same seed gives the same p-values). A cell is
therefore hot when **its neighbourhood** holds more incidents than random neighbourhoods: a
concentration that spans neighbouring cells, not a lone spike (a spike still shows in
``gi_z``). The folded alternative is two-sided and counts ties against significance;
``G_Local``'s own ``p_sim`` (esda's "directed" alternative) is half a two-sided p-value and,
with the many ties of sparse counts, gives its smallest value to empty cells among empty cells,
so it is not used.

p-values are adjusted for the number of cells with the Benjamini–Hochberg false discovery rate
(``scipy.stats.false_discovery_control``; ``q_value``). A cell is significant when its q-value
(or p-value, with ``fdr=False``) is at most ``alpha``; it is "hot" when significant with a
positive ``gi_z``, "cold" when negative. ``confidence`` is 99, 95 or 90 when that value is at
most 0.01, 0.05 or 0.10 (ArcGIS's Gi_Bin levels), else 0.

Power
-----
A permutation p-value is never below ``1 / (permutations + 1)``; after FDR over ``m`` cells,
a cell can only be significant if at least ``m / (alpha (permutations + 1))`` cells reach that
smallest p-value. Results say so in their message when one hot spot (a block of nine cells)
cannot reach significance. Incident counts are heavy-tailed besides: a random neighbourhood
that happens to hold one of the few busiest cells beats most real neighbourhoods, so a
neighbourhood's p-value cannot fall much below (its k neighbours × the number of cells as busy)
/ m, however many permutations are drawn. On a city-wide grid FDR then flags little or nothing:
in ``benchmarks/bench_hotspots.py`` (53,724 cells of 250 m over Hà Nội, 100,000 synthetic
incidents, 15 % of them at the T11 bridge) neither 999 nor 9,999 permutations flag any cell,
while the normal approximation (``permutations=0``, as ArcGIS's Hot Spot Analysis) flags 138.
Permutation inference suits a cluster's territory, passed as ``area``: on the same incidents
restricted to the T11 cluster's five wards (381 cells), 999 permutations flag the 3 × 3 block
of cells around the bridge (8 cells). For a city-wide map use ``permutations=0`` or
``fdr=False``, and say so.

Minimum count
-------------
With fewer than ``min_incidents`` (default :data:`MIN_INCIDENTS`, 30) incidents counted, no
test is run: the result has ``status`` "too_few", the counts, NaN statistics, no significant
cell and a message such as "Too few incidents to test (12 < 30)". A map of so few incidents
would show noise.

Randomness
----------
esda's permutation engine seeds numpy's global generator; the state is restored afterwards, so
calling these functions does not change other code's random draws.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from libpysal.graph import Graph
from numpy.typing import NDArray
from scipy import stats
from shapely.geometry.base import BaseGeometry

from geozone.clusters.adjacency import DEFAULT_SNAP_M
from geozone.clusters.model import Cluster
from geozone.crs import WGS84, project_xy, utm_epsg
from geozone.errors import AnalysisInputError, InvalidParameterError
from geozone.incidents.schema import CATEGORIES
from geozone.vntime import VIETNAM_TZ

#: Fewer incidents than this are not tested (the result says "too few").
MIN_INCIDENTS = 30
#: Largest number of cells in a grid (Gi*, emerging hotspots, density).
MAX_CELLS = 250_000
#: Largest number of permutations.
MAX_PERMUTATIONS = 9_999
#: Largest number of cells a distance band may reach around a cell.
MAX_BAND_CELLS = 500
#: Largest cell size and bandwidth, in metres.
MAX_CELL_M = 50_000.0
#: Significance levels and the confidence they stand for (ArcGIS Gi_Bin).
CONFIDENCE_LEVELS: tuple[tuple[float, int], ...] = ((0.01, 99), (0.05, 95), (0.10, 90))
#: Units closer than this many metres are neighbours in :func:`gi_star_units`.
UNIT_SNAP_M = DEFAULT_SNAP_M
#: Fewest units :func:`gi_star_units` tests.
MIN_UNITS = 3
#: Emerging hotspots: share of bins a cell must be hot in to be persistent & co.
PERSISTENT_SHARE = 0.9
#: Emerging hotspots: fewest and most time bins.
MIN_BINS = 3
MAX_BINS = 240
#: Kernel density: the grid reaches this many bandwidths beyond the incidents.
KDE_MARGIN_BANDWIDTHS = 4.0
#: Kernel density: relative tolerance of scikit-learn's tree-based evaluation.
KDE_RTOL = 1e-3
#: Hexagon circumradius per unit of ``cell_size_m`` (same area as the square).
HEX_RADIUS = math.sqrt(2.0 / (3.0 * math.sqrt(3.0)))

CellShape = Literal["square", "hexagon"]
Status = Literal["tested", "too_few"]
Neighbours = Literal["queen", "rook"] | float
EMERGING_CATEGORIES: tuple[str, ...] = (
    "new",
    "intensifying",
    "persistent",
    "diminishing",
    "sporadic",
    "none",
)
CELL_COLUMNS: tuple[str, ...] = (
    "cell_id",
    "count",
    "gi_z",
    "p_sim",
    "q_value",
    "significant",
    "kind",
    "confidence",
)
NAMED_COLUMNS: tuple[str, ...] = (
    "place",
    "n_incidents",
    "share",
    "n_criminal",
    "n_administrative",
    "top_category",
    "area_km2",
    "density_km2",
    "overall_density_km2",
    "ratio",
    "hot_cell",
)
SYNTHETIC_NOTE = "SYNTHETIC data (dữ liệu mô phỏng)"


# -- results -----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class HotspotResult:
    """Getis–Ord Gi* per grid cell or unit, with its parameters.

    Attributes
    ----------
    cells
        EPSG:4326, one row per cell of the study area (or per unit): ``cell_id`` (str; the unit
        code for units), ``count`` (int), ``gi_z`` (float), ``p_sim`` (two-sided pseudo
        p-value, or normal p-value with no permutations), ``q_value`` (Benjamini–Hochberg
        adjusted), ``significant`` (bool), ``kind`` ("hot", "cold" or "none"), ``confidence``
        (99, 95, 90 or 0), ``geometry``; units also carry ``name``.
    status
        "tested", or "too_few" when fewer than the minimum incidents (or units) were counted:
        then the statistics are NaN and no cell is significant.
    message
        One sentence for the user (what was tested and found, or why nothing was).
    n_incidents
        Incidents counted in the cells.
    alpha, permutations, seed
        Significance level, number of permutations, seed of the permutations.
    cell_size_m
        Cell size (None for units).
    shape
        "square", "hexagon" or "units".
    epsg
        The UTM zone the work was done in.
    fdr
        Whether significance uses the FDR-adjusted q-values.
    neighbours
        The neighbourhood: "queen", "rook", "band 500 m", or for units "queen (2 m)".
    synthetic
        Whether the incidents are synthetic.
    n_outside
        Incidents left out because they lie outside the study area (or every unit).
    min_incidents
        The minimum count used by the guard.
    """

    cells: gpd.GeoDataFrame
    status: Status
    message: str
    n_incidents: int
    alpha: float
    permutations: int
    seed: int
    cell_size_m: float | None
    shape: str
    epsg: int
    fdr: bool = True
    neighbours: str = "queen"
    synthetic: bool = False
    n_outside: int = 0
    min_incidents: int = MIN_INCIDENTS

    @property
    def hot(self) -> gpd.GeoDataFrame:
        """Return the significant hot cells."""
        return self.cells[self.cells["kind"] == "hot"]

    def metadata(self) -> dict[str, Any]:
        """Return the parameters and the status as a JSON-ready dict."""
        return {
            "analysis": "getis_ord_gi_star",
            "status": self.status,
            "message": self.message,
            "n_incidents": self.n_incidents,
            "n_outside": self.n_outside,
            "min_incidents": self.min_incidents,
            "n_cells": len(self.cells),
            "n_hot": int((self.cells["kind"] == "hot").sum()),
            "n_cold": int((self.cells["kind"] == "cold").sum()),
            "alpha": self.alpha,
            "fdr": self.fdr,
            "permutations": self.permutations,
            "seed": self.seed,
            "cell_size_m": self.cell_size_m,
            "shape": self.shape,
            "neighbours": self.neighbours,
            "epsg": self.epsg,
            "synthetic": self.synthetic,
        }

    def to_geojson(self) -> dict[str, Any]:
        """Return a GeoJSON FeatureCollection of the cells, metadata in ``properties``."""
        return _feature_collection(self.cells, self.metadata())


@dataclass(frozen=True, eq=False)
class KdeResult:
    """A kernel density surface on square cells.

    Attributes
    ----------
    grid
        EPSG:4326 square cells: ``cell_id``, ``density`` (estimated incidents per km² at the
        cell centre), ``share`` (the cell's share of the incidents: density × cell area / n),
        ``geometry``.
    bandwidth_m
        Standard deviation of the Gaussian kernel, in metres.
    rule
        "Silverman", "Silverman (floor: half a cell)" or "given".
    epsg
        The UTM zone the surface was computed in.
    cell_size_m
        Side of the cells.
    n_incidents
        Incidents the surface was estimated from.
    synthetic
        Whether the incidents are synthetic.
    """

    grid: gpd.GeoDataFrame
    bandwidth_m: float
    rule: str
    epsg: int
    cell_size_m: float
    n_incidents: int
    synthetic: bool = False

    def metadata(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict."""
        return {
            "analysis": "kernel_density",
            "kernel": "gaussian",
            "bandwidth_m": self.bandwidth_m,
            "rule": self.rule,
            "cell_size_m": self.cell_size_m,
            "n_incidents": self.n_incidents,
            "density_unit": "incidents per km²",
            "epsg": self.epsg,
            "synthetic": self.synthetic,
        }

    def to_geojson(self) -> dict[str, Any]:
        """Return a GeoJSON FeatureCollection of the cells, metadata in ``properties``."""
        return _feature_collection(self.grid, self.metadata())


@dataclass(frozen=True, eq=False)
class EmergingResult:
    """Emerging hotspots: Gi* per time bin and its trend per cell.

    Attributes
    ----------
    cells
        EPSG:4326, one row per cell: ``cell_id``, ``count`` (incidents over all bins),
        ``category`` (see :func:`emerging_category`), ``trend_tau`` (Kendall's tau of the Gi*
        z-scores against time), ``trend_p`` (its two-sided p-value; NaN for cells with no
        incident and no hot bin), ``hot_bins``, ``n_bins``, ``final_hot``, ``geometry``.
    bins
        The time bins, ``[start, end)`` in Vietnam time.
    status, message
        As in :class:`HotspotResult` ("too_few" also when there are fewer than
        :data:`MIN_BINS` bins).
    gi_z
        Space-time Gi* z-score per cell (rows, by ``cell_id``) and bin (columns, bin
        starts), against the whole period: the series the trend is computed on.
    hot
        Whether each cell is a significant hot spot in each bin (same layout).
    """

    cells: gpd.GeoDataFrame
    bins: list[tuple[pd.Timestamp, pd.Timestamp]]
    status: Status
    message: str
    n_incidents: int
    alpha: float
    permutations: int
    seed: int
    cell_size_m: float
    shape: str
    epsg: int
    bin: str
    fdr: bool = True
    neighbours: str = "queen"
    synthetic: bool = False
    n_outside: int = 0
    gi_z: pd.DataFrame | None = None
    hot: pd.DataFrame | None = None

    def metadata(self) -> dict[str, Any]:
        """Return the parameters, the bins and the status as a JSON-ready dict."""
        counts = self.cells["category"].value_counts()
        return {
            "analysis": "emerging_hotspots",
            "status": self.status,
            "message": self.message,
            "n_incidents": self.n_incidents,
            "n_outside": self.n_outside,
            "n_cells": len(self.cells),
            "categories": {name: int(counts.get(name, 0)) for name in EMERGING_CATEGORIES},
            "bin": self.bin,
            "bins": [[start.isoformat(), end.isoformat()] for start, end in self.bins],
            "alpha": self.alpha,
            "fdr": self.fdr,
            "permutations": self.permutations,
            "seed": self.seed,
            "cell_size_m": self.cell_size_m,
            "shape": self.shape,
            "neighbours": self.neighbours,
            "epsg": self.epsg,
            "synthetic": self.synthetic,
        }

    def to_geojson(self) -> dict[str, Any]:
        """Return a GeoJSON FeatureCollection of the cells, metadata in ``properties``."""
        return _feature_collection(self.cells, self.metadata())


def _feature_collection(frame: gpd.GeoDataFrame, metadata: dict[str, Any]) -> dict[str, Any]:
    collection: dict[str, Any] = json.loads(frame.to_json(na="null", drop_id=True))
    collection["properties"] = metadata
    return collection


# -- validation --------------------------------------------------------------------------------


def _check_metres(name: str, value: float, upper: float = MAX_CELL_M) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{name} must be a number of metres, not {value!r}") from None
    if not math.isfinite(number) or number <= 0 or number > upper:
        raise InvalidParameterError(
            f"{name} must be a number of metres in (0, {upper:,.0f}], not {value!r}"
        )
    return number


def _check_int(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidParameterError(f"{name} must be a whole number, not {value!r}")
    if not low <= int(value) <= high:
        raise InvalidParameterError(f"{name} must be in [{low:,}, {high:,}], not {value}")
    return int(value)


def _check_alpha(alpha: float) -> float:
    try:
        number = float(alpha)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"alpha must be a number in (0, 1), not {alpha!r}") from None
    if not 0.0 < number < 1.0:
        raise InvalidParameterError(f"alpha must be in (0, 1), not {alpha!r}")
    return number


def _check_shape(shape: str) -> CellShape:
    if shape == "square":
        return "square"
    if shape == "hexagon":
        return "hexagon"
    raise InvalidParameterError(f"shape must be 'square' or 'hexagon', not {shape!r}")


def _check_test(
    permutations: int, seed: int, alpha: float, min_incidents: int
) -> tuple[int, int, float, int]:
    return (
        _check_int("permutations", permutations, 0, MAX_PERMUTATIONS),
        _check_int("seed", seed, 0, 2**32 - 1),
        _check_alpha(alpha),
        _check_int("min_incidents", min_incidents, 1, 10**9),
    )


def _check_area(area: BaseGeometry | None) -> BaseGeometry | None:
    if area is None:
        return None
    if not isinstance(area, BaseGeometry) or area.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidParameterError(
            f"area must be a shapely Polygon or MultiPolygon in EPSG:4326, not {area!r:.80}"
        )
    if area.is_empty:
        raise InvalidParameterError("area is empty")
    minx, miny, maxx, maxy = area.bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise InvalidParameterError("area must be in lon/lat degrees (EPSG:4326)")
    return area if area.is_valid else shapely.make_valid(area)


# -- incidents ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """Usable incident coordinates and where they came from."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    rows: NDArray[np.intp]
    synthetic: bool


def _incident_points(incidents: pd.DataFrame) -> _Points:
    """Return the lon/lat of the incidents that have usable coordinates."""
    if not isinstance(incidents, pd.DataFrame):
        raise AnalysisInputError(
            f"incidents must be a (Geo)DataFrame, not {type(incidents).__name__}"
        )
    if isinstance(incidents, gpd.GeoDataFrame) and incidents.active_geometry_name is not None:
        geoms = incidents.geometry
        if geoms.crs is not None and geoms.crs.to_epsg() != 4326:
            geoms = geoms.to_crs(4326)
        array = geoms.to_numpy()
        present = ~(shapely.is_missing(array) | shapely.is_empty(array))
        kinds = shapely.get_type_id(array[present])
        if (kinds != 0).any():
            names = sorted(set(kinds[kinds != 0].tolist()))
            raise AnalysisInputError(
                f"incident geometries must be points (found geometry type ids {names})"
            )
        lon = np.full(len(array), np.nan)
        lat = np.full(len(array), np.nan)
        lon[present] = shapely.get_x(array[present])
        lat[present] = shapely.get_y(array[present])
    elif {"lon", "lat"} <= set(incidents.columns):
        lon = pd.to_numeric(incidents["lon"], errors="coerce").to_numpy(np.float64)
        lat = pd.to_numeric(incidents["lat"], errors="coerce").to_numpy(np.float64)
    else:
        raise AnalysisInputError(
            "incidents need a point geometry (EPSG:4326) or lon and lat columns"
        )
    ok = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180.0) & (np.abs(lat) <= 90.0)
    rows = np.flatnonzero(ok)
    synthetic = bool(
        "synthetic" in incidents.columns and incidents["synthetic"].fillna(False).astype(bool).any()
    )
    return _Points(lon[rows], lat[rows], rows, synthetic)


def _zone(points: _Points, area: BaseGeometry | None) -> int:
    """Return the UTM zone of the study area (or of the incidents' median longitude)."""
    if area is not None:
        return int(utm_epsg(float(shapely.point_on_surface(area).x)))
    if len(points.lon):
        return int(utm_epsg(float(np.median(points.lon))))
    return int(utm_epsg(105.0))


def _to_metric(points: _Points, epsg: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    return project_xy(points.lon, points.lat, np.full(len(points.lon), epsg, dtype=np.int64))


def _geometry_to_metric(geometry: BaseGeometry, epsg: int) -> BaseGeometry:
    return gpd.GeoSeries([geometry], crs=WGS84).to_crs(epsg).iloc[0]


def _prefix(synthetic: bool, text: str) -> str:
    return f"{SYNTHETIC_NOTE}: {text}" if synthetic else text


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


# -- Gi* ---------------------------------------------------------------------------------------


def _gi_star(
    y: NDArray[np.float64], graph: Graph, permutations: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the Gi* z-scores and two-sided p-values of ``y`` over ``graph`` (esda)."""
    import esda  # deferred: esda is slow to import and only analyses need it
    from esda.crand import crand
    from esda.getisord import _g_local_star_crand

    y = np.asarray(y, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = esda.G_Local(y, graph, transform="B", star=True, permutations=0)
    z = np.asarray(local.Zs, dtype=np.float64)
    if permutations == 0:
        p = np.minimum(1.0, 2.0 * np.asarray(local.p_norm, dtype=np.float64))
    else:
        state = np.random.get_state()  # noqa: NPY002 (esda seeds the legacy global)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_sim, _ = crand(
                    y,
                    local.w,
                    local.Gs,
                    permutations,
                    False,
                    1,
                    _g_local_star_crand,
                    scaling=y.sum(),
                    seed=seed,
                    alternative="folded",
                )
        finally:
            np.random.set_state(state)  # noqa: NPY002
        # esda returns float32 (k + 1) / (P + 1): snap back to the exact fractions.
        p = np.round(np.asarray(p_sim, dtype=np.float64) * (permutations + 1)) / (permutations + 1)
    undefined = ~np.isfinite(z)
    z = np.where(undefined, np.nan, z)
    p = np.where(undefined | ~np.isfinite(p), np.nan, p)
    return z, p


def _decide(
    z: NDArray[np.float64], p: NDArray[np.float64], alpha: float, fdr: bool
) -> dict[str, NDArray[Any]]:
    """q-values, significance, kind and confidence of each cell."""
    filled = np.where(np.isnan(p), 1.0, p)
    q = stats.false_discovery_control(filled, method="bh") if len(p) else filled
    q = np.where(np.isnan(p), np.nan, q)
    tested = np.where(np.isnan(q if fdr else p), 1.0, q if fdr else p)
    significant = tested <= alpha
    kind = np.where(significant & (z > 0), "hot", np.where(significant & (z < 0), "cold", "none"))
    significant = kind != "none"
    confidence = np.zeros(len(p), dtype=np.int64)
    for level, label in reversed(CONFIDENCE_LEVELS):
        confidence[tested <= level] = label
    return {
        "q_value": np.asarray(q, dtype=np.float64),
        "significant": significant,
        "kind": kind.astype(object),
        "confidence": confidence,
    }


def _cells_frame(
    ids: NDArray[np.object_],
    geometry: NDArray[np.object_],
    counts: NDArray[np.int64],
    z: NDArray[np.float64],
    p: NDArray[np.float64],
    decided: dict[str, NDArray[Any]] | None,
    extra: dict[str, Any] | None = None,
) -> gpd.GeoDataFrame:
    n = len(ids)
    if decided is None:
        decided = {
            "q_value": np.full(n, np.nan),
            "significant": np.zeros(n, dtype=bool),
            "kind": np.full(n, "none", dtype=object),
            "confidence": np.zeros(n, dtype=np.int64),
        }
    data: dict[str, Any] = {
        "cell_id": pd.array(np.asarray(ids, dtype=object), dtype="str"),
        "count": np.asarray(counts, dtype=np.int64),
        "gi_z": np.asarray(z, dtype=np.float64),
        "p_sim": np.asarray(p, dtype=np.float64),
        **decided,
    }
    data["kind"] = pd.array(np.asarray(data["kind"], dtype=object), dtype="str")
    if extra:
        data.update(extra)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=WGS84)


def _resolution_note(n_cells: int, permutations: int, alpha: float, fdr: bool) -> str:
    """Say when FDR over many cells cannot flag a single 3×3 hot spot at this resolution."""
    if not fdr or permutations == 0:
        return ""
    need = math.ceil(n_cells / (alpha * (permutations + 1)) - 1e-9)
    if need <= 9:
        return ""
    return (
        f" Note: with {permutations:,} permutations the smallest p-value is "
        f"1/{permutations + 1:,}; after FDR over {n_cells:,} cells at least {need:,} cells "
        "must reach it before any is significant: restrict the area, raise permutations or "
        "use the normal approximation (permutations=0) for more power."
    )


def _tested_message(
    what: str,
    n_incidents: int,
    kinds: NDArray[Any],
    alpha: float,
    fdr: bool,
    permutations: int,
    seed: int,
    n_outside: int,
    where: str = "the study area",
) -> str:
    hot, cold = int((kinds == "hot").sum()), int((kinds == "cold").sum())
    correction = "FDR-adjusted" if fdr else "no multiple-testing correction"
    inference = (
        f"{permutations:,} permutations, seed {seed}" if permutations else "normal approximation"
    )
    outside = f"; {n_outside:,} outside {where} left out" if n_outside else ""
    return (
        f"Getis–Ord Gi* on {what}: {hot:,} hot and {cold:,} cold significant at "
        f"α = {alpha:g} ({correction}; {inference}); {n_incidents:,} incidents{outside}."
    )


def _too_few_message(n: int, minimum: int, n_outside: int, where: str = "the study area") -> str:
    outside = f"; {n_outside:,} outside {where} left out" if n_outside else ""
    return f"Too few incidents to test ({n:,} < {minimum:,}){outside}."


def gi_star_grid(
    incidents: pd.DataFrame,
    *,
    cell_size_m: float = 250.0,
    shape: CellShape = "square",
    area: BaseGeometry | None = None,
    permutations: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    min_incidents: int = MIN_INCIDENTS,
    neighbours: Neighbours = "queen",
) -> HotspotResult:
    """Find significant hot and cold spots of incident counts on a regular grid (Gi*).

    See the module notes for the grid, the statistic, the inference and the guard.

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
        approximation).
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
    permutations, seed, alpha, min_incidents = _check_test(permutations, seed, alpha, min_incidents)
    area = _check_area(area)
    if not isinstance(neighbours, str):
        _check_metres("neighbours", neighbours)
    points = _incident_points(incidents)
    grid, cell, _ = _study_grid(points, area, cell_size_m, shape)
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
    }
    n_outside = int((cell < 0).sum())
    if grid is None:
        message = _prefix(points.synthetic, _too_few_message(0, min_incidents, n_outside))
        empty = gpd.GeoDataFrame({name: [] for name in CELL_COLUMNS}, geometry=[], crs=WGS84)
        return HotspotResult(empty, "too_few", message, 0, n_outside=n_outside, **common)
    counts = np.bincount(cell[cell >= 0], minlength=grid.n).astype(np.int64)
    n_incidents = int(counts.sum())
    frame = grid.frame()
    graph, label = grid.graph(neighbours)
    nan = np.full(grid.n, np.nan)
    if n_incidents < min_incidents:
        cells = _cells_frame(
            frame["cell_id"].to_numpy(), frame.geometry.to_numpy(), counts, nan, nan, None
        )
        message = _prefix(points.synthetic, _too_few_message(n_incidents, min_incidents, n_outside))
        return HotspotResult(
            cells, "too_few", message, n_incidents, neighbours=label, n_outside=n_outside, **common
        )
    z, p = _gi_star(counts.astype(np.float64), graph, permutations, seed)
    decided = _decide(z, p, alpha, fdr)
    cells = _cells_frame(
        frame["cell_id"].to_numpy(), frame.geometry.to_numpy(), counts, z, p, decided
    )
    what = f"{grid.n:,} {shape} cells of {cell_size_m:g} m ({label})"
    message = _tested_message(
        what, n_incidents, decided["kind"], alpha, fdr, permutations, seed, n_outside
    ) + _resolution_note(grid.n, permutations, alpha, fdr)
    return HotspotResult(
        cells,
        "tested",
        _prefix(points.synthetic, message),
        n_incidents,
        neighbours=label,
        n_outside=n_outside,
        **common,
    )


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
    permutations: int = 0,
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
        As in :func:`gi_star_grid`. Fewer than :data:`MIN_UNITS` units are not tested either.

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
    permutations, seed, alpha, min_incidents = _check_test(permutations, seed, alpha, min_incidents)
    points = _incident_points(incidents)
    frame, epsg, metric = _units_metric(units)
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
            text = _too_few_message(n_incidents, min_incidents, n_outside, "every unit")
        else:
            text = f"Too few units to test ({len(frame)} < {MIN_UNITS})."
        return HotspotResult(
            cells, "too_few", _prefix(points.synthetic, text), n_incidents, **common
        )
    left, right = _unit_edges(metric)
    graph = _graph_from_edges(len(frame), left, right)
    z, p = _gi_star(counts.astype(np.float64), graph, permutations, seed)
    decided = _decide(z, p, alpha, fdr)
    cells = _cells_frame(ids, geometry, counts, z, p, decided, extra)
    what = f"{len(frame):,} units (queen contiguity within {UNIT_SNAP_M:g} m)"
    message = _tested_message(
        what, n_incidents, decided["kind"], alpha, fdr, permutations, seed, n_outside, "every unit"
    ) + _resolution_note(len(frame), permutations, alpha, fdr)
    return HotspotResult(cells, "tested", _prefix(points.synthetic, message), n_incidents, **common)


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


# -- emerging hotspots -------------------------------------------------------------------------


def _times(incidents: pd.DataFrame, rows: NDArray[np.intp], column: str) -> pd.DatetimeIndex:
    if column not in incidents.columns:
        raise AnalysisInputError(f"incidents lack the time column {column!r}")
    values = pd.to_datetime(incidents[column].iloc[rows], errors="coerce")
    index = pd.DatetimeIndex(values)
    if index.tz is None:
        index = index.tz_localize(VIETNAM_TZ)
    return index.tz_convert(VIETNAM_TZ)


def _time_bins(
    times: pd.DatetimeIndex, bin: str | int
) -> tuple[list[tuple[pd.Timestamp, pd.Timestamp]], NDArray[np.intp], str]:
    """Return the bins ``[start, end)``, the bin of each time (-1 when none) and a label."""
    valid = ~np.asarray(times.isna(), dtype=bool)
    if not valid.any():
        return [], np.full(len(times), -1, dtype=np.intp), str(bin)
    first, last = times[valid].min(), times[valid].max()
    if isinstance(bin, int | np.integer) and not isinstance(bin, bool):
        n_bins = _check_int("bin", int(bin), MIN_BINS, MAX_BINS)
        span = last - first
        if span <= pd.Timedelta(0):
            span = pd.Timedelta(seconds=1)
        edges = [first + span * k / n_bins for k in range(n_bins)] + [
            last + pd.Timedelta(microseconds=1)
        ]
        label = f"{n_bins} equal bins"
    elif isinstance(bin, str):
        try:
            offset = pd.tseries.frequencies.to_offset(bin)
        except ValueError:
            raise InvalidParameterError(
                f"bin must be a pandas offset alias ('MS', 'W', '7D', 'QS') or a number of "
                f"bins, not {bin!r}"
            ) from None
        start = (
            offset.rollback(first.normalize())
            if not isinstance(offset, pd.offsets.Tick)
            else first.normalize()
        )
        count = 0
        edges = [start]
        while edges[-1] <= last:
            edges.append(edges[-1] + offset)
            count += 1
            if count > MAX_BINS:
                raise InvalidParameterError(
                    f"bin {bin!r} gives more than {MAX_BINS} bins over {first:%Y-%m-%d} to "
                    f"{last:%Y-%m-%d}: use longer bins"
                )
        label = bin
    else:
        raise InvalidParameterError(
            f"bin must be a pandas offset alias or a number of bins, not {bin!r}"
        )
    edge_values = pd.DatetimeIndex(edges).as_unit("us").asi8
    positions = np.searchsorted(edge_values, times.as_unit("us").asi8, side="right") - 1
    positions = np.where(valid & (positions >= 0) & (positions < len(edges) - 1), positions, -1)
    bins = [(pd.Timestamp(edges[k]), pd.Timestamp(edges[k + 1])) for k in range(len(edges) - 1)]
    return bins, positions.astype(np.intp), label


def _space_time_z(counts: NDArray[np.int64], graph: Graph) -> NDArray[np.float64]:
    """Gi* z-scores of every cell and bin against the mean and variance of the whole cube.

    One ``esda.G_Local`` over the cells × bins counts, whose neighbourhoods are the spatial
    ones within each bin (a block-diagonal graph): the z-scores share one reference (the
    space-time cube), so a neighbourhood that fills up over time gets rising z-scores.
    """
    import esda

    n_cells, n_bins = counts.shape
    edges = graph.adjacency.reset_index()
    edges = edges[edges["weight"] > 0]
    focal = edges["focal"].to_numpy(dtype=np.intp)
    neighbour = edges["neighbor"].to_numpy(dtype=np.intp)
    offsets = np.repeat(np.arange(n_bins, dtype=np.intp) * n_cells, len(focal))
    cube = _graph_from_edges(
        n_cells * n_bins, np.tile(focal, n_bins) + offsets, np.tile(neighbour, n_bins) + offsets
    )
    y = counts.T.ravel().astype(np.float64)  # bin-major: node = bin * n_cells + cell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = esda.G_Local(y, cube, transform="B", star=True, permutations=0)
    z = np.asarray(local.Zs, dtype=np.float64).reshape(n_bins, n_cells).T
    return np.where(np.isfinite(z), z, np.nan)


def emerging_category(
    hot: NDArray[np.bool_],
    trend_tau: NDArray[np.float64],
    trend_p: NDArray[np.float64],
    alpha: float = 0.05,
) -> NDArray[np.object_]:
    """Class each cell from its hot bins and its Gi* trend (adapted from ESRI's EHSA).

    With ``n`` bins, ``H`` the bins a cell is a significant hot spot in, "final" the last
    bin, and the Mann–Kendall trend significant when its p-value is at most ``alpha``:

    ============== ==============================================================
    new            hot in the final bin only (H = 1), never before
    intensifying   H ≥ 90 % of n, hot in the final bin, significant upward trend
    diminishing    H ≥ 90 % of n, significant downward trend
    persistent     H ≥ 90 % of n, no significant trend (nor upward without the
                   final bin)
    sporadic       hot in some bins (on again, off again), fewer than 90 %, and
                   not new; hot in the final bin or not
    none           never hot
    ============== ==============================================================

    ESRI's consecutive, oscillating and historical classes and all cold-spot classes are
    not used (cold spots are rarely meaningful for sparse incident counts): a historical hot
    spot (≥ 90 % but not in the final bin) is persistent or diminishing here.

    Parameters
    ----------
    hot
        Cells × bins, True where the cell is a significant hot spot.
    trend_tau, trend_p
        Kendall's tau and its p-value per cell (NaN: no trend).
    alpha
        Significance level of the trend.

    Returns
    -------
    numpy.ndarray
        One category per cell (object array of str).
    """
    hot = np.asarray(hot, dtype=bool)
    n_cells, n_bins = hot.shape
    count = hot.sum(axis=1)
    final = hot[:, -1] if n_bins else np.zeros(n_cells, dtype=bool)
    mostly = count >= PERSISTENT_SHARE * n_bins - 1e-9
    trend = np.nan_to_num(np.asarray(trend_p, dtype=np.float64), nan=1.0) <= alpha
    tau = np.nan_to_num(np.asarray(trend_tau, dtype=np.float64), nan=0.0)
    up, down = trend & (tau > 0), trend & (tau < 0)
    category = np.select(
        [
            count == 0,
            (count == 1) & final,
            mostly & up & final,
            mostly & down,
            mostly,
        ],
        ["none", "new", "intensifying", "diminishing", "persistent"],
        "sporadic",
    )
    return category.astype(object)


def emerging_hotspots(
    incidents: pd.DataFrame,
    *,
    time_column: str = "occurred_at",
    bin: str | int = "MS",
    cell_size_m: float = 250.0,
    shape: CellShape = "square",
    area: BaseGeometry | None = None,
    permutations: int = 0,
    seed: int = 0,
    alpha: float = 0.05,
    fdr: bool = True,
    min_incidents: int = MIN_INCIDENTS,
    neighbours: Neighbours = "queen",
) -> EmergingResult:
    """Find hot spots that appear, grow, last or fade over time (emerging hot spots).

    1. The incidents are counted per cell (the grid of :func:`gi_star_grid`) and time bin.
    2. **Hot or not.** In every bin with incidents, Gi* is tested per cell exactly as by
       :func:`gi_star_grid` (bin ``k`` uses seed ``seed + k``; FDR within the bin). A cell is
       hot in a bin when it is a significant hot spot there: its neighbourhood holds more of
       that bin's incidents than random neighbourhoods do. A bin without incidents has no
       hot spot.
    3. **Intensity.** The space-time Gi* z-score of every cell and bin (``gi_z``): one
       ``esda.G_Local`` over the whole cube of counts, each neighbourhood taken within its
       bin, so that all z-scores share the mean and variance of the whole period (as in
       ESRI's space-time cube; without temporal neighbours). Per-bin z-scores would not do:
       each is standardised by its own bin's spread, which grows with the hot spot itself,
       so a hot spot that doubles keeps about the same per-bin z-score.
    4. **Trend.** The trend of each cell's ``gi_z`` over the bins is the Mann–Kendall test,
       which is Kendall's tau between the series and the bin index:
       ``scipy.stats.kendalltau(bin_index, z)`` (tau-b, two-sided; exact p-value for short
       series without ties, normal approximation with the tie correction otherwise). It is
       computed for the cells with an incident or a hot bin (ESRI analyses "locations with
       data"); the others have NaN.
    5. Cells are classed by :func:`emerging_category`.

    The last bin may be partial (the data ends within it); Gi* compares cells within a bin,
    so a partial bin lowers every count alike.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``, and a time column.
    time_column
        Column of the incident times (naive times are Vietnam time).
    bin
        A pandas offset alias (default "MS": calendar months; "W", "QS", "14D"...), bins
        starting at the period holding the first incident; or a number of equal bins from the
        first to the last incident. From :data:`MIN_BINS` to :data:`MAX_BINS` bins.
    cell_size_m, shape, area, neighbours
        The grid, as in :func:`gi_star_grid`.
    permutations, seed, alpha, fdr
        Per-bin inference, as in :func:`gi_star_grid` (default: normal p-values; with
        permutations, their smallest p-value limits the power after FDR on large grids, and
        the message says when).
    min_incidents
        Below this many incidents (all bins together), nothing is tested.

    Returns
    -------
    EmergingResult

    Raises
    ------
    InvalidParameterError
        When a parameter is out of range (named).
    AnalysisInputError
        When the incidents have no usable points or lack the time column.
    """
    cell_size_m = _check_metres("cell_size_m", cell_size_m)
    shape = _check_shape(shape)
    permutations, seed, alpha, min_incidents = _check_test(permutations, seed, alpha, min_incidents)
    area = _check_area(area)
    if not isinstance(neighbours, str):
        _check_metres("neighbours", neighbours)
    points = _incident_points(incidents)
    times = _times(incidents, points.rows, time_column)
    bins, bin_of, label = _time_bins(times, bin)
    grid, cell, _ = _study_grid(points, area, cell_size_m, shape)
    n_bins = len(bins)
    epsg = grid.epsg if grid is not None else _zone(points, area)
    counted = (cell >= 0) & (bin_of >= 0)
    n_outside = int((cell < 0).sum())
    n_incidents = int(counted.sum())
    common: dict[str, Any] = {
        "alpha": alpha,
        "permutations": permutations,
        "seed": seed,
        "cell_size_m": cell_size_m,
        "shape": shape,
        "epsg": epsg,
        "bin": label,
        "fdr": fdr,
        "synthetic": points.synthetic,
        "n_outside": n_outside,
    }
    if grid is None:
        empty = gpd.GeoDataFrame(
            {
                "cell_id": [],
                "count": [],
                "category": [],
                "trend_tau": [],
                "trend_p": [],
                "hot_bins": [],
                "n_bins": [],
                "final_hot": [],
            },
            geometry=[],
            crs=WGS84,
        )
        text = _too_few_message(0, min_incidents, n_outside)
        return EmergingResult(empty, bins, "too_few", _prefix(points.synthetic, text), 0, **common)
    graph, neighbour_label = grid.graph(neighbours)
    common["neighbours"] = neighbour_label
    flat = np.bincount(
        cell[counted] * max(n_bins, 1) + bin_of[counted], minlength=grid.n * max(n_bins, 1)
    )
    counts = flat.reshape(grid.n, max(n_bins, 1))[:, :n_bins]
    total = counts.sum(axis=1).astype(np.int64)
    frame = grid.frame()
    starts = [start for start, _ in bins]
    z = np.zeros((grid.n, n_bins))
    hot = np.zeros((grid.n, n_bins), dtype=bool)
    tau = np.full(grid.n, np.nan)
    trend_p = np.full(grid.n, np.nan)
    if n_incidents < min_incidents or n_bins < MIN_BINS:
        status: Status = "too_few"
        if n_incidents < min_incidents:
            text = _too_few_message(n_incidents, min_incidents, n_outside)
        else:
            text = f"Too few time bins to test a trend ({n_bins} < {MIN_BINS})."
        z[:] = np.nan
    else:
        status = "tested"
        for k in range(n_bins):
            y = counts[:, k].astype(np.float64)
            if y.sum() == 0:
                continue
            z_k, p_k = _gi_star(y, graph, permutations, (seed + k) % 2**32)
            hot[:, k] = _decide(z_k, p_k, alpha, fdr)["kind"] == "hot"
        z = _space_time_z(counts, graph)
        candidates = np.flatnonzero((total > 0) | hot.any(axis=1))
        if len(candidates):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                index = np.broadcast_to(
                    np.arange(n_bins, dtype=np.float64), (len(candidates), n_bins)
                )
                result = stats.kendalltau(index, z[candidates], axis=1)
            tau[candidates] = np.asarray(result.statistic, dtype=np.float64)
            trend_p[candidates] = np.asarray(result.pvalue, dtype=np.float64)
        text = ""
    category = (
        emerging_category(hot, tau, trend_p, alpha)
        if status == "tested"
        else np.full(grid.n, "none", dtype=object)
    )
    cells = gpd.GeoDataFrame(
        {
            "cell_id": frame["cell_id"],
            "count": total,
            "category": pd.array(category, dtype="str"),
            "trend_tau": tau,
            "trend_p": trend_p,
            "hot_bins": hot.sum(axis=1).astype(np.int64),
            "n_bins": np.full(grid.n, n_bins, dtype=np.int64),
            "final_hot": hot[:, -1] if n_bins else np.zeros(grid.n, dtype=bool),
        },
        geometry=frame.geometry.to_numpy(),
        crs=WGS84,
    )
    if status == "tested":
        found = pd.Series(category).value_counts()
        listed = ", ".join(
            f"{int(found[name]):,} {name}" for name in EMERGING_CATEGORIES[:-1] if name in found
        )
        text = (
            f"Emerging hot spots on {grid.n:,} {shape} cells of {cell_size_m:g} m over "
            f"{n_bins} bins ({label}, {starts[0]:%Y-%m-%d} to {bins[-1][1]:%Y-%m-%d}): "
            f"{listed or 'no hot spot'} (α = {alpha:g}, "
            f"{'FDR per bin' if fdr else 'no multiple-testing correction'}, "
            f"{permutations:,} permutations, seed {seed}); {n_incidents:,} incidents."
        ) + _resolution_note(grid.n, permutations, alpha, fdr)
    ids = frame["cell_id"].astype(str).to_numpy()
    columns = pd.Index(starts, name="bin_start")
    return EmergingResult(
        cells,
        bins,
        status,
        _prefix(points.synthetic, text),
        n_incidents,
        gi_z=pd.DataFrame(z, index=pd.Index(ids, name="cell_id"), columns=columns),
        hot=pd.DataFrame(hot, index=pd.Index(ids, name="cell_id"), columns=columns),
        **common,
    )


# -- named places ------------------------------------------------------------------------------


def cluster_places(clusters: Iterable[Cluster]) -> dict[str, BaseGeometry]:
    """Return the named hotspots of clusters as polygons (EPSG:4326), by hotspot name.

    Points become discs of their own ``radius_m`` (:meth:`geozone.clusters.model.Hotspot.area`),
    e.g. "Cầu T11", the T11 bridge with 150 m. A name met twice (a cluster and its carried
    copy) is kept once.
    """
    places: dict[str, BaseGeometry] = {}
    for cluster in clusters:
        for hotspot in cluster.hotspots:
            places.setdefault(hotspot.name, hotspot.area())
    return places


def named_hotspot_figures(
    incidents: pd.DataFrame,
    hotspots: Mapping[str, tuple[float, float] | BaseGeometry],
    radius_m: float = 300.0,
    *,
    area: BaseGeometry | None = None,
    result: HotspotResult | None = None,
) -> pd.DataFrame:
    """Return figures for named places: incidents there, their share, kinds and density.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``; a ``category``
        column gives the criminal / administrative split.
    hotspots
        Name → ``(lon, lat)``, a shapely Point (both taken as a disc of ``radius_m``) or a
        polygon (EPSG:4326), e.g. :func:`cluster_places` of the clusters.
    radius_m
        Radius around point places, in metres.
    area
        Study area for the overall density (EPSG:4326). Default: the convex hull of the
        incidents.
    result
        A Gi* result: then ``hot_cell`` says whether a significant hot cell overlaps the place.

    Returns
    -------
    pandas.DataFrame
        One row per place, in the order given: ``place``, ``n_incidents`` (within the place),
        ``share`` (of all incidents given), ``n_criminal``, ``n_administrative``,
        ``top_category``, ``area_km2``, ``density_km2``, ``overall_density_km2`` (all
        incidents over the study area), ``ratio`` (density / overall density), ``hot_cell``
        (bool, or NA without ``result``). ``attrs`` carries ``n_total``, ``study_area_km2``,
        ``epsg`` and ``synthetic``.

    Raises
    ------
    InvalidParameterError
        When ``radius_m`` is out of range or a place is not a point or polygon.
    AnalysisInputError
        When the incidents are unusable.
    """
    radius_m = _check_metres("radius_m", radius_m)
    area = _check_area(area)
    points = _incident_points(incidents)
    shapes: list[BaseGeometry] = []
    for name, place in hotspots.items():
        if isinstance(place, BaseGeometry):
            geometry = place
        else:
            try:
                lon, lat = (float(v) for v in place)
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"place {name!r} must be (lon, lat) or a shapely geometry, not {place!r}"
                ) from None
            geometry = shapely.Point(lon, lat)
        if geometry.geom_type not in ("Point", "Polygon", "MultiPolygon") or geometry.is_empty:
            raise InvalidParameterError(f"place {name!r} must be a point or a polygon")
        shapes.append(geometry)
    if area is None and not len(points.lon) and shapes:
        epsg = int(utm_epsg(float(shapely.point_on_surface(shapes[0]).x)))
    else:
        epsg = _zone(points, area)
    x, y = _to_metric(points, epsg)
    metric = gpd.GeoSeries(shapes, crs=WGS84).to_crs(epsg).to_numpy()
    is_point = shapely.get_type_id(metric) == 0
    metric[is_point] = shapely.buffer(metric[is_point], radius_m, quad_segs=32)
    n_total = len(x)
    if area is not None:
        study = _geometry_to_metric(area, epsg)
    else:
        study = (
            shapely.convex_hull(shapely.multipoints(np.column_stack([x, y]))) if n_total else None
        )
    study_km2 = float(shapely.area(study)) / 1e6 if study is not None else 0.0
    overall = n_total / study_km2 if study_km2 > 0 else np.nan
    categories = (
        incidents["category"].iloc[points.rows].astype(str).to_numpy()
        if "category" in incidents.columns
        else np.full(n_total, "", dtype=object)
    )
    kind_of = {code: category.kind for code, category in CATEGORIES.items()}
    kind = pd.Series(categories, dtype=object).map(kind_of).fillna("other").to_numpy(dtype=object)
    hot_geoms = None
    if result is not None:
        hot_geoms = gpd.GeoSeries(result.hot.geometry.to_numpy(), crs=WGS84).to_crs(epsg).to_numpy()
    rows = []
    for name, geometry in zip(hotspots, metric, strict=True):
        shapely.prepare(geometry)
        inside = shapely.contains_xy(geometry, x, y) if n_total else np.zeros(0, dtype=bool)
        count = int(inside.sum())
        area_km2 = float(shapely.area(geometry)) / 1e6
        top = pd.Series(categories[inside]).value_counts()
        density = count / area_km2 if area_km2 > 0 else np.nan
        hot_cell: object = pd.NA
        if hot_geoms is not None:
            hot_cell = bool(len(hot_geoms) and shapely.intersects(geometry, hot_geoms).any())
        rows.append(
            {
                "place": name,
                "n_incidents": count,
                "share": count / n_total if n_total else np.nan,
                "n_criminal": int((kind[inside] == "criminal").sum()),
                "n_administrative": int((kind[inside] == "administrative").sum()),
                "top_category": str(top.index[0]) if len(top) and top.index[0] else None,
                "area_km2": area_km2,
                "density_km2": density,
                "overall_density_km2": overall,
                "ratio": density / overall if overall and np.isfinite(overall) else np.nan,
                "hot_cell": hot_cell,
            }
        )
    table = pd.DataFrame(rows, columns=list(NAMED_COLUMNS))
    table.attrs.update(
        {
            "n_total": n_total,
            "study_area_km2": study_km2,
            "epsg": epsg,
            "synthetic": points.synthetic,
            "radius_m": radius_m,
        }
    )
    return table
