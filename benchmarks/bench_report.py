"""Benchmark of the T11 cluster review report (geozone.report + maps.report).

Prints figures only; run with ``uv run python benchmarks/bench_report.py [--sizes 3000 50000]``
(the boundary sets must be built: ``geozone data build``; ``GEOZONE_CACHE_DIR`` picks the
cache).

For each size N: SYNTHETIC incidents (``geozone.incidents.synthetic``, seeded) for the
Hoa–Đô–Phúc–Vị
cluster carried into the 2025 units, over one year from 2025-07-01 (the carried cluster's
first year), are generated until about N of them fall in the cluster (half of a draw is
national background), stored in a temporary SQLite store and assigned. N = 3,000 is a
realistic year for five urban wards (the 2018 Việt Trì review counts 61 cases for seven
communes, but a city border area logs every administrative violation: a few thousand); 50,000
is a stress case.

Measured, in the same run on the same rows:

- the report with hotspots (``cluster_report(..., hotspots=True)``) and without;
- where the time goes, from one profiled run (cumulative time per phase; profiling adds
  overhead to Python-heavy parts): the store's query and cluster_rows pages, each table,
  Gi* on the 250 m grid (999 permutations), the named hotspots, the border effect; then
  rendering (JSON, CSV files, the HTML page with and without the interactive map);
- memory: the peak of Python/numpy allocations (``tracemalloc``) during the report;
- baseline: one plain ``store.query`` of the same rows (every page, GeoDataFrame) — the ratio
  says what the report costs beyond reading its incidents once.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geozone.assignment import territories
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.files import load_clusters
from geozone.clusters.model import Confirmation
from geozone.context import Context
from geozone.incidents.pipeline import assign_stale
from geozone.incidents.synthetic import generate_incidents
from geozone.report import ClusterReport, cluster_report
from geozone.settings import get_settings
from geozone.store import MAX_QUERY_LIMIT, IncidentQuery, IncidentStore, open_store
from geozone.vntime import VIETNAM_TZ

CLUSTER = "hoa-do-phuc-vi-vn2025"
START, END = date(2025, 7, 1), date(2026, 6, 30)


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def peak_mib(function: Callable[[], Any]) -> float:
    """Peak traced allocation (Python objects and numpy buffers) during one call, in MiB."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def load() -> Context:
    settings = get_settings()
    legacy = BoundarySet.load("vn-legacy-districts", settings)
    current = BoundarySet.load("vn2025", settings)
    cluster = load_clusters()["hoa-do-phuc-vi"]
    # The T11 cluster ended in 2024: its carried form decides only once a planner confirms it
    # (`geozone clusters confirm`); unconfirmed, the report would have no decisions to count.
    confirmed = {CLUSTER: Confirmation(CLUSTER, START, "bench_report")}
    placed = territories([cluster], [legacy, current], carry_into=current, confirmations=confirmed)
    return Context([legacy, current], {cluster.id: cluster}, placed, {})


def fill(store: IncidentStore, context: Context, target: int, seed: int) -> int:
    """Store and assign synthetic incidents until about ``target`` are in the cluster."""
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.cluster.id == CLUSTER]
    n = 2 * target  # half of a draw is national background
    frame = generate_incidents(
        n,
        seed,
        boundaries=current,
        clusters=carried,
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2026, 6, 30, 23, 59, tzinfo=VIETNAM_TZ),
    )
    for offset in range(0, len(frame), 50_000):
        store.add_incidents(frame.iloc[offset : offset + 50_000])
    assign_stale(store, context)
    return len(frame)


def plain_query(store: IncidentStore) -> int:
    """The baseline: every page of one plain query of the same rows."""
    begin = datetime(2025, 7, 1, tzinfo=VIETNAM_TZ)
    end = datetime(2026, 7, 1, tzinfo=VIETNAM_TZ)
    rows = offset = 0
    while True:
        query = IncidentQuery(
            cluster_id=CLUSTER, start=begin, end=end, limit=MAX_QUERY_LIMIT, offset=offset
        )
        page, total = store.query(query)
        rows += len(page)
        offset += len(page)
        if offset >= total or not len(page):
            return rows


#: Where the time goes: label → (file suffix, function name) whose cumulative time is counted.
PHASES: dict[str, tuple[str, str]] = {
    "store.query pages": ("geozone/store/sql.py", "query"),
    "store.cluster_rows pages": ("geozone/store/sql.py", "cluster_rows"),
    "tables: by category": ("geozone/report/tables.py", "_by_category"),
    "tables: border zone": ("geozone/report/tables.py", "_border_zone"),
    "tables: by member": ("geozone/report/tables.py", "_by_member"),
    "tables: by month": ("geozone/report/tables.py", "_by_period"),
    "tables: membership": ("geozone/report/tables.py", "_membership"),
    "figures": ("geozone/report/figures.py", "headline_figures"),
    "incident points (map layer)": ("geozone/report/incidents.py", "incident_points"),
    "Gi* grid (999 permutations)": ("geozone/analysis/hotspots/gi.py", "gi_star_grid"),
    "named hotspots": ("geozone/analysis/hotspots/places.py", "named_hotspot_figures"),
    "border effect (incl. zones)": ("geozone/analysis/border_effect.py", "border_effect"),
}


def profile(function: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    """One profiled call: its total time and the cumulative time of each of :data:`PHASES`."""
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(ct for (_f, _l, _n), (_cc, _nc, _tt, ct, _c) in stats.items())
    phases = {}
    for label, (suffix, name) in PHASES.items():
        phases[label] = sum(
            ct
            for (file, _line, function_name), (_cc, _nc, _tt, ct, _c) in stats.items()
            if file.endswith(suffix) and function_name == name
        )
    return total, phases


def bench(context: Context, target: int, repeat: int, seed: int) -> None:
    from maps.report import report_html

    with (
        tempfile.TemporaryDirectory() as folder,
        open_store(f"sqlite:///{folder}/store.sqlite") as store,
    ):
        start = time.perf_counter()
        drawn = fill(store, context, target, seed)
        setup = time.perf_counter() - start

        def full_report() -> ClusterReport:
            return cluster_report(store, context, CLUSTER, START, END)

        base, n = timed(lambda: plain_query(store), repeat)
        if n == 0:
            raise SystemExit(f"no incident is decided in {CLUSTER}: the report would be empty")
        full, report = timed(full_report, repeat)
        plain, _ = timed(
            lambda: cluster_report(store, context, CLUSTER, START, END, hotspots=False), repeat
        )
        memory = peak_mib(full_report)
        profiled, phases = profile(full_report)
        to_json, _ = timed(report.to_json, repeat)
        csv, _ = timed(lambda: report.write_csv(Path(folder) / "csv"), repeat)
        static, page = timed(lambda: report_html(report, context, interactive_map=False), repeat)
        html, full_page = timed(lambda: report_html(report, context), repeat)

    print(
        f"\nT11 report, {n:,} incidents in the cluster over a year ({drawn:,} drawn, "
        f"{report.figures['hotspot_cells_tested']} Gi* cells, {len(report.tables)} tables); "
        f"setup (generate, store, assign) {setup:.1f} s; median of {repeat}"
    )
    print(
        f"  report with hotspots {full:.2f} s, without {plain:.2f} s; baseline: one plain "
        f"store.query of the same rows (every page) {base:.2f} s -> report/baseline = "
        f"{full / base:.1f}x (without hotspots {plain / base:.1f}x)"
    )
    print(f"  peak traced memory (Python + numpy) during the report: {memory:.0f} MiB")
    print(f"  where the time goes (one profiled run, {profiled:.2f} s with profiling overhead):")
    for label, seconds in phases.items():
        print(f"    {label:<30} {seconds:6.2f} s  {100 * seconds / profiled:5.1f} %")
    print(
        f"  exports: to_json {to_json:.2f} s, CSV files {csv:.2f} s, HTML with the static map "
        f"{static:.2f} s ({len(page) / 2**20:.1f} MiB), with the interactive map too "
        f"{html:.2f} s ({len(full_page) / 2**20:.1f} MiB)"
    )
    assert report.figures["cases"] == n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    context = load()
    print(f"loaded the boundary sets and the T11 cluster in {time.perf_counter() - start:.1f} s")
    for size in args.sizes:
        bench(context, size, args.repeat, args.seed)


if __name__ == "__main__":
    main()
