"""Limits, defaults and result types of the hotspot analyses.

The limits bound every parameter the analyses take (checked by
:mod:`geozone.analysis.hotspots._common`); the results carry their parameters, their
status and a message, and export as GeoJSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import geopandas as gpd
import pandas as pd

from geozone.clusters.adjacency import DEFAULT_SNAP_M

#: Fewer incidents than this are not tested (the result says "too few").
MIN_INCIDENTS = 30
#: Fewer grid cells holding an incident than this are not tested (the result says "too few").
MIN_NONEMPTY_CELLS = 10
#: Permutations of the conditional test every output uses by default (its smallest p-value
#: is 1 / 10,000), fewer on large grids (:func:`fitted_permutations`).
DEFAULT_PERMUTATIONS = 9_999
#: The default permutations are the largest of these whose work (cells × (permutations + 1))
#: stays within :data:`PERMUTATION_WORK`.
PERMUTATION_STEPS: tuple[int, ...] = (9_999, 4_999, 999, 499, 99)
#: Largest cells × (permutations + 1) the default permutations may cost.
PERMUTATION_WORK = 40_000_000
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


def fitted_permutations(n_cells: int) -> int:
    """Return the default number of permutations for a test over ``n_cells`` cells.

    The largest of :data:`PERMUTATION_STEPS` whose work, ``n_cells × (permutations + 1)``,
    is at most :data:`PERMUTATION_WORK` (the smallest step beyond that). It depends on the
    grid only, never on the counts, so the test stays valid; the result records the number.

    Parameters
    ----------
    n_cells
        Cells (or units) tested.

    Returns
    -------
    int
    """
    for count in PERMUTATION_STEPS:
        if max(n_cells, 1) * (count + 1) <= PERMUTATION_WORK:
            return count
    return PERMUTATION_STEPS[-1]


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
        "tested", or "too_few" when fewer than the minimum incidents (or units, or grid cells
        holding an incident) were counted: then the statistics are NaN, no cell is
        significant and the message says which minimum was not reached.
    message
        One sentence for the user (what was tested and found, or why nothing was), in
        English; opened with "SYNTHETIC data (dữ liệu mô phỏng)" for synthetic incidents.
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
    message_vi, message_en
        The message wholly in Vietnamese and wholly in English (opened with "DỮ LIỆU MÔ
        PHỎNG" and "SYNTHETIC data" for synthetic incidents).
    n_nonempty
        Grid cells holding at least one incident (None for units).
    min_nonempty_cells
        The fewest such cells the guard tests (None for units).
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
    message_vi: str = ""
    message_en: str = ""

    n_nonempty: int | None = None
    min_nonempty_cells: int | None = None

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
            "message_vi": self.message_vi,
            "message_en": self.message_en,
            "n_incidents": self.n_incidents,
            "n_outside": self.n_outside,
            "min_incidents": self.min_incidents,
            "n_cells": len(self.cells),
            "n_nonempty": self.n_nonempty,
            "min_nonempty_cells": self.min_nonempty_cells,
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
    status, message, message_vi, message_en
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
    message_vi: str = ""
    message_en: str = ""

    def metadata(self) -> dict[str, Any]:
        """Return the parameters, the bins and the status as a JSON-ready dict."""
        counts = self.cells["category"].value_counts()
        return {
            "analysis": "emerging_hotspots",
            "status": self.status,
            "message": self.message,
            "message_vi": self.message_vi,
            "message_en": self.message_en,
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
