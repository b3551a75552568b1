"""Benchmark of Getis–Ord Gi* on a Hà Nội grid (issue 6).

Draws N SYNTHETIC incidents (dữ liệu mô phỏng) in Hà Nội: ``generate_incidents`` on the
2025 units of province 01 only, with the T11 cluster carried into the 2025 units (so 15 % of
the points sit at the T11 bridge, 35 % along the cluster's borders and half in the wards of
Hà Nội). Then runs ``gi_star_grid`` over the province (cells of 250 m, 999 permutations,
FDR) and prints:

- the time of each stage: incidents to metres, grid build, counting, weights, Gi* z-scores
  (``esda.G_Local`` without permutations), the conditional permutations, FDR, frame assembly;
- the end-to-end time and its ratio to two baselines measured in the same run: counting the
  points into the cells (``numpy.floor`` + ``bincount``), and ``esda.G_Local`` with
  ``permutations=0``;
- the peak traced memory of one end-to-end call (tracemalloc) and the peak RSS.

Run: ``GEOZONE_CACHE_DIR=... uv run python benchmarks/bench_hotspots.py [-n 100000]``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings
from datetime import datetime

import esda
import numpy as np
import shapely

from geozone.analysis import hotspots as hs
from geozone.analysis.hotspots._common import (
    _cells_frame,
    _decide,
    _geometry_to_metric,
    _gi_star,
    _incident_points,
    _to_metric,
    _zone,
)
from geozone.analysis.hotspots._grid import _build_grid
from geozone.boundaries.sets import BoundarySet
from geozone.context import load_context
from geozone.incidents.synthetic import generate_incidents
from geozone.vntime import VIETNAM_TZ

PROVINCE = "01"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--cell", type=float, default=250.0)
    parser.add_argument("--permutations", type=int, default=999)
    args = parser.parse_args()

    context = load_context()
    current = context.boundary_set("vn2025")
    frame = current.frame[current.frame["province_code"] == PROVINCE].reset_index(drop=True)
    hanoi_set = BoundarySet(current.info, frame)
    codes = set(frame["code"])
    clusters = [
        t.cluster
        for t in context.territories
        if t.bset.id == current.id
        and all(str(m.unit_code) in codes for m in t.cluster.members if m.kind == "unit")
    ]
    area = frame.loc[frame["code"] == PROVINCE, "geometry"].iloc[0]
    start = time.perf_counter()
    incidents = generate_incidents(
        args.n,
        args.seed,
        boundaries=hanoi_set,
        clusters=clusters,
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2026, 6, 30, tzinfo=VIETNAM_TZ),
    )
    print(
        f"generated {len(incidents):,} SYNTHETIC incidents in Hà Nội "
        f"(clusters: {', '.join(c.id for c in clusters)}) in {time.perf_counter() - start:.1f} s"
    )

    # -- stages (the same calls gi_star_grid makes, one by one) ---------------------------------
    stages: dict[str, float] = {}

    def timed(name: str, started: float) -> None:
        stages[name] = time.perf_counter() - started

    t = time.perf_counter()
    points = _incident_points(incidents)
    epsg = _zone(points, area)
    x, y = _to_metric(points, epsg)
    region = _geometry_to_metric(area, epsg)
    timed("incidents to metres", t)
    t = time.perf_counter()
    grid = _build_grid(region, args.cell, "square", epsg, clip=True)
    timed("grid build", t)
    t = time.perf_counter()
    cell = grid.cell_of(x, y)
    cell[~shapely.contains_xy(region, x, y)] = -1
    counts = np.bincount(cell[cell >= 0], minlength=grid.n).astype(np.float64)
    timed("counting", t)
    t = time.perf_counter()
    graph, _ = grid.graph("queen")
    timed("weights (queen graph)", t)
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        esda.G_Local(counts, graph, transform="B", star=True, permutations=0)
    g_local = time.perf_counter() - t
    stages["Gi* z-scores (G_Local, no permutations)"] = g_local
    t = time.perf_counter()
    z, p = _gi_star(counts, graph, args.permutations, 0)
    stages[f"{args.permutations} conditional permutations"] = time.perf_counter() - t - g_local
    t = time.perf_counter()
    decided = _decide(z, p, 0.05, True)
    timed("FDR and classes", t)
    t = time.perf_counter()
    cells = grid.frame()
    _cells_frame(
        cells["cell_id"].to_numpy(),
        cells.geometry.to_numpy(),
        counts.astype(np.int64),
        z,
        p,
        decided,
    )
    timed("cell polygons to EPSG:4326 and frame", t)

    # -- baselines ------------------------------------------------------------------------------
    t = time.perf_counter()
    col = np.floor(x / args.cell).astype(np.int64)
    row = np.floor(y / args.cell).astype(np.int64)
    np.unique(col * 1_000_000 + row, return_counts=True)
    baseline_count = time.perf_counter() - t

    # -- end to end -----------------------------------------------------------------------------
    t = time.perf_counter()
    result = hs.gi_star_grid(
        incidents, cell_size_m=args.cell, area=area, permutations=args.permutations, seed=0
    )
    total = time.perf_counter() - t
    tracemalloc.start()
    hs.gi_star_grid(
        incidents, cell_size_m=args.cell, area=area, permutations=args.permutations, seed=0
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"\n{result.message}")
    print(f"grid: {grid.n:,} cells of {args.cell:g} m in EPSG:{epsg}; {result.n_outside:,} outside")
    print("\nwhere the time goes:")
    for name, seconds in stages.items():
        print(f"  {name:<42} {seconds:8.2f} s")
    print(f"  {'sum of stages':<42} {sum(stages.values()):8.2f} s")
    print(f"\ngi_star_grid end to end: {total:.2f} s")
    print(
        f"  = {total / baseline_count:,.0f}× counting the points into cells "
        f"({baseline_count * 1000:.1f} ms)"
    )
    print(f"  = {total / g_local:,.1f}× esda.G_Local without permutations ({g_local:.2f} s)")
    print(f"peak traced memory of one call: {peak / 2**20:,.0f} MiB")
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {rss_mb:,.0f} MB")


if __name__ == "__main__":
    main()
