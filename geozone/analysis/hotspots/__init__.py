"""Hotspots: where incidents concentrate, and how that changes over time.

Five tools, built on esda, libpysal, scipy and scikit-learn (this package builds the grids,
counts the incidents, builds the weights and assembles the results; the statistics are the
libraries'), each in its module and all importable from the package:

- :func:`kernel_density` (:mod:`~geozone.analysis.hotspots.kde`): a smooth density surface
  (incidents per km²) for heat layers;
- :func:`gi_star_grid` (:mod:`~geozone.analysis.hotspots.gi`, with :func:`grid_cells`):
  Getis–Ord Gi* on a regular grid of squares or hexagons;
- :func:`gi_star_units` (:mod:`~geozone.analysis.hotspots.units`, with :func:`unit_graph`):
  Getis–Ord Gi* per administrative unit (wards);
- :func:`emerging_hotspots` (:mod:`~geozone.analysis.hotspots.emerging`): Gi* per time bin
  and a Mann–Kendall trend per cell, classed as new / intensifying / persistent / diminishing
  / sporadic / none;
- :func:`named_hotspot_figures` (:mod:`~geozone.analysis.hotspots.places`): figures for named
  places such as the T11 bridge area (:func:`cluster_places` reads them from the cluster
  definitions).

The limits and the result types are in :mod:`~geozone.analysis.hotspots.results`; what the
tools share (parameter checks, incident points, the Gi* engine) in the private ``_common``,
and the grids and their neighbourhood graphs in the private ``_grid``.

Incidents
---------
A GeoDataFrame of points in EPSG:4326 (as :meth:`IncidentStore.query` returns it), or a frame
with ``lon``/``lat`` columns (as :func:`geozone.incidents.synthetic.generate_incidents` returns it).
Rows without usable coordinates are left out. When any row has ``synthetic`` True, every
result says so (``synthetic`` flag, and messages open with "SYNTHETIC data (dữ liệu mô
phỏng)"). Every result's message is also written in each language alone: ``message_vi``
(opened with "DỮ LIỆU MÔ PHỎNG") and ``message_en`` (opened with "SYNTHETIC data").

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
Every output of geozone (:data:`geozone.analysis.study.HOTSPOT_DEFAULTS`) uses the
permutation test below with ``permutations=None``: 9,999 permutations, fewer on large grids
(:func:`~geozone.analysis.hotspots.results.fitted_permutations`, by the number of cells
only). With ``permutations=0`` (the functions' own default) the p-value comes from the
z-score under the normal approximation, two-sided (``2 × esda's p_norm``), as ArcGIS's Hot
Spot Analysis does; on sparse counts it is far off (a cell beside a single incident among
thousands of empty cells gets a z of 10 or more), so it is no longer what the outputs show.
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
of cells around the bridge (8 cells). A city-wide map needs larger cells;
``permutations=0`` or ``fdr=False`` flag more, but say so: the first is unreliable on sparse
counts, the second does not correct for the number of cells.

Minimum data
------------
With fewer than ``min_incidents`` (default :data:`MIN_INCIDENTS`, 30) incidents counted, or
(grids) fewer than ``min_nonempty_cells`` (default :data:`MIN_NONEMPTY_CELLS`, 10) cells
holding an incident, no test is run: the result has ``status`` "too_few", the counts, NaN
statistics, no significant cell and a message such as "Too few incidents to test (12 < 30)"
or "Data too sparse to test: 45 incidents fall in only 3 cells …". A map of so few incidents
would show noise. A tested grid with fewer incidents than cells says so in its message
("Sparse data: …").

Randomness
----------
esda's permutation engine seeds numpy's global generator; the state is restored afterwards, so
calling these functions does not change other code's random draws.
"""

from geozone.analysis.hotspots.emerging import emerging_category, emerging_hotspots
from geozone.analysis.hotspots.gi import gi_star_grid, grid_cells
from geozone.analysis.hotspots.kde import kernel_density, silverman_bandwidth
from geozone.analysis.hotspots.places import cluster_places, named_hotspot_figures
from geozone.analysis.hotspots.results import (
    CELL_COLUMNS,
    CONFIDENCE_LEVELS,
    EMERGING_CATEGORIES,
    HEX_RADIUS,
    KDE_MARGIN_BANDWIDTHS,
    KDE_RTOL,
    MAX_BAND_CELLS,
    MAX_BINS,
    MAX_CELL_M,
    MAX_CELLS,
    MAX_PERMUTATIONS,
    MIN_BINS,
    MIN_INCIDENTS,
    MIN_NONEMPTY_CELLS,
    MIN_UNITS,
    NAMED_COLUMNS,
    PERSISTENT_SHARE,
    UNIT_SNAP_M,
    CellShape,
    EmergingResult,
    HotspotResult,
    KdeResult,
    Neighbours,
    Status,
    fitted_permutations,
)
from geozone.analysis.hotspots.units import gi_star_units, unit_graph

__all__ = [
    "CELL_COLUMNS",
    "CONFIDENCE_LEVELS",
    "EMERGING_CATEGORIES",
    "HEX_RADIUS",
    "KDE_MARGIN_BANDWIDTHS",
    "KDE_RTOL",
    "MAX_BAND_CELLS",
    "MAX_BINS",
    "MAX_CELLS",
    "MAX_CELL_M",
    "MAX_PERMUTATIONS",
    "MIN_BINS",
    "MIN_INCIDENTS",
    "MIN_NONEMPTY_CELLS",
    "MIN_UNITS",
    "NAMED_COLUMNS",
    "PERSISTENT_SHARE",
    "UNIT_SNAP_M",
    "CellShape",
    "EmergingResult",
    "HotspotResult",
    "KdeResult",
    "Neighbours",
    "Status",
    "cluster_places",
    "emerging_category",
    "emerging_hotspots",
    "fitted_permutations",
    "gi_star_grid",
    "gi_star_units",
    "grid_cells",
    "kernel_density",
    "named_hotspot_figures",
    "silverman_bandwidth",
    "unit_graph",
]
