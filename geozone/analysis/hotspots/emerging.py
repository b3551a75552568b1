"""Emerging hot spots: Gi* per time bin and a Mann–Kendall trend per cell."""

from __future__ import annotations

import warnings
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.graph import Graph
from numpy.typing import NDArray
from scipy import stats
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots._common import (
    SHAPES_VI,
    _check_area,
    _check_int,
    _check_metres,
    _check_shape,
    _check_test,
    _decide,
    _gi_star,
    _incident_points,
    _join,
    _messages,
    _resolution_note,
    _too_few_message,
    _vi,
    _vi_decimal,
    _zone,
)
from geozone.analysis.hotspots._grid import _graph_from_edges, _study_grid
from geozone.analysis.hotspots.results import (
    EMERGING_CATEGORIES,
    MAX_BINS,
    MIN_BINS,
    MIN_INCIDENTS,
    PERSISTENT_SHARE,
    CellShape,
    EmergingResult,
    Neighbours,
    Status,
)
from geozone.crs import WGS84
from geozone.errors import AnalysisInputError, InvalidParameterError
from geozone.labels import EMERGING_LABELS
from geozone.text import format_date
from geozone.vntime import local_index

# -- emerging hotspots -------------------------------------------------------------------------


def _times(incidents: pd.DataFrame, rows: NDArray[np.intp], column: str) -> pd.DatetimeIndex:
    if column not in incidents.columns:
        raise AnalysisInputError(f"incidents lack the time column {column!r}")
    return local_index(pd.to_datetime(incidents[column].iloc[rows], errors="coerce"))


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
        text = _too_few_message(0, min_incidents, n_outside)
        return EmergingResult(
            _no_cells(),
            bins,
            "too_few",
            n_incidents=0,
            **_messages(points.synthetic, text),
            **common,
        )
    graph, neighbour_label = grid.graph(neighbours)
    common["neighbours"] = neighbour_label
    flat = np.bincount(
        cell[counted] * max(n_bins, 1) + bin_of[counted], minlength=grid.n * max(n_bins, 1)
    )
    counts = flat.reshape(grid.n, max(n_bins, 1))[:, :n_bins]
    total = counts.sum(axis=1).astype(np.int64)
    frame = grid.frame()
    starts = [start for start, _ in bins]
    if n_incidents < min_incidents or n_bins < MIN_BINS:
        status: Status = "too_few"
        if n_incidents < min_incidents:
            text = _too_few_message(n_incidents, min_incidents, n_outside)
        else:
            text = (
                f"Quá ít khoảng thời gian để kiểm định xu hướng ({n_bins} < {MIN_BINS}).",
                f"Too few time bins to test a trend ({n_bins} < {MIN_BINS}).",
            )
        z = np.full((grid.n, n_bins), np.nan)
        hot = np.zeros((grid.n, n_bins), dtype=bool)
        tau = np.full(grid.n, np.nan)
        trend_p = np.full(grid.n, np.nan)
        category = np.full(grid.n, "none", dtype=object)
    else:
        status = "tested"
        hot = _hot_per_bin(counts, graph, permutations, seed, alpha, fdr)
        z = _space_time_z(counts, graph)
        tau, trend_p = _mann_kendall(z, (total > 0) | hot.any(axis=1))
        category = emerging_category(hot, tau, trend_p, alpha)
        found = pd.Series(category).value_counts()
        shown = [name for name in EMERGING_CATEGORIES[:-1] if name in found]
        listed = ", ".join(f"{int(found[name]):,} {name}" for name in shown)
        listed_vi = ", ".join(
            f"{_vi(int(found[name]))} ô {EMERGING_LABELS[name][0].lower()}" for name in shown
        )
        label_vi = label.replace(" equal bins", " khoảng bằng nhau")
        text = _join(
            (
                f"Điểm nóng mới nổi trên {_vi(grid.n)} ô {SHAPES_VI.get(shape, shape)} cỡ "
                f"{_vi_decimal(cell_size_m)} m qua {n_bins} khoảng thời gian ({label_vi}, từ "
                f"{format_date(starts[0])} đến {format_date(bins[-1][1])}): "
                f"{listed_vi or 'không có điểm nóng'} (α = {_vi_decimal(alpha)}, "
                f"{'hiệu chỉnh FDR theo từng khoảng' if fdr else 'không hiệu chỉnh kiểm định bội'}"
                f", {_vi(permutations)} hoán vị, hạt giống {seed}); {_vi(n_incidents)} vụ việc.",
                f"Emerging hot spots on {grid.n:,} {shape} cells of {cell_size_m:g} m over "
                f"{n_bins} bins ({label}, {starts[0]:%Y-%m-%d} to {bins[-1][1]:%Y-%m-%d}): "
                f"{listed or 'no hot spot'} (α = {alpha:g}, "
                f"{'FDR per bin' if fdr else 'no multiple-testing correction'}, "
                f"{permutations:,} permutations, seed {seed}); {n_incidents:,} incidents.",
            ),
            _resolution_note(grid.n, permutations, alpha, fdr),
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
    ids = frame["cell_id"].astype(str).to_numpy()
    columns = pd.Index(starts, name="bin_start")
    return EmergingResult(
        cells,
        bins,
        status,
        n_incidents=n_incidents,
        **_messages(points.synthetic, text),
        gi_z=pd.DataFrame(z, index=pd.Index(ids, name="cell_id"), columns=columns),
        hot=pd.DataFrame(hot, index=pd.Index(ids, name="cell_id"), columns=columns),
        **common,
    )


def _no_cells() -> gpd.GeoDataFrame:
    """Return the (no) cells of an emerging analysis without a grid: no usable incident."""
    columns = ["cell_id", "count", "category", "trend_tau", "trend_p", "hot_bins", "n_bins"]
    return gpd.GeoDataFrame(
        {**{name: [] for name in columns}, "final_hot": []}, geometry=[], crs=WGS84
    )


def _hot_per_bin(
    counts: NDArray[np.int64],
    graph: Graph,
    permutations: int,
    seed: int,
    alpha: float,
    fdr: bool,
) -> NDArray[np.bool_]:
    """Tell whether each cell is a significant Gi* hot spot in each bin (bin k: seed + k)."""
    hot = np.zeros(counts.shape, dtype=bool)
    for k in range(counts.shape[1]):  # a handful of bins, each a vectorised Gi*
        y = counts[:, k].astype(np.float64)
        if y.sum() == 0:
            continue
        z_k, p_k = _gi_star(y, graph, permutations, (seed + k) % 2**32)
        hot[:, k] = _decide(z_k, p_k, alpha, fdr)["kind"] == "hot"
    return hot


def _mann_kendall(
    z: NDArray[np.float64], with_data: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return Kendall's tau and p of each row of ``z`` against the bin index (NaN elsewhere)."""
    n_cells, n_bins = z.shape
    tau = np.full(n_cells, np.nan)
    trend_p = np.full(n_cells, np.nan)
    candidates = np.flatnonzero(with_data)
    if len(candidates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            index = np.broadcast_to(np.arange(n_bins, dtype=np.float64), (len(candidates), n_bins))
            result = stats.kendalltau(index, z[candidates], axis=1)
        tau[candidates] = np.asarray(result.statistic, dtype=np.float64)
        trend_p[candidates] = np.asarray(result.pvalue, dtype=np.float64)
    return tau, trend_p
