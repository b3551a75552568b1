"""Benchmark of assignment against a plain spatial join, measured as a user meets it.

Generates N synthetic incidents nationwide (labelled synthetic) and writes them to a
GeoParquet file, then measures, each part with its baseline in the same run:

- ``warm``: in one process, with the indexes prepared beforehand (as a service keeps them),
  ``geopandas.sjoin(predicate="within")`` of the points to the 2025 wards against geozone's
  jurisdiction (unit chain, on-boundary candidates) and cluster stage (border zones, lead
  unit, explanations). The two alternate for ``--repeat`` rounds; medians are the figures,
  the best round a secondary line.
- ``first``: a fresh process per run: the first, second and third 1 M jurisdiction call after
  ``prepare_index(large_batches=True)`` (wall and CPU time), and the first call of a process
  that prepared nothing (the path of the one-shot command).
- ``process``: whole processes, alternating ``--process-repeat`` times: ``geozone incidents
  assign FILE -o OUT.parquet`` (reads, validates, judges, writes decisions and sentences)
  against a ten-line geopandas script (read the Parquet, ``sjoin(within)`` to the 2025 wards,
  write Parquet). Wall time and peak RSS of each process, medians.
- ``peers``: the same points into the same wards on engines a user could pick instead:
  geozone's jurisdiction on 2 threads and 1, DuckDB with its spatial extension (2 threads and
  1; the extension is loaded from the ``duckdb-extension-spatial`` wheel, offline) and PostGIS
  with GiST indexes (parallel and serial query; a throw-away server as the tests start,
  skipped when PostgreSQL is absent). Each as a median of ``--repeat`` runs over the median
  sjoin of the ``warm`` part, results materialised in the engine (no transfer to Python).

Run: ``.venv/bin/python benchmarks/bench_assign.py [-n 1000000] [--repeat 3]
[--process-repeat 3] [--parts warm,first,process,peers]``. The machine is shared: figures
move by ±20 % between runs; compare the ratios, which come from alternating runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.store.pg

from geozone.assignment import assign_clusters, jurisdiction
from geozone.boundaries.sets import BoundarySet
from geozone.context import load_context
from geozone.incidents.io import write_incidents
from geozone.incidents.synthetic import generate_incidents
from geozone.settings import get_settings
from geozone.vntime import VIETNAM_TZ

PARTS = ("warm", "first", "process", "peers")
#: The bare script a user would write instead of geozone (argv: incidents, wards, output).
BARE_SCRIPT = """\
import sys
import geopandas as gpd

points = gpd.read_parquet(sys.argv[1])
units = gpd.read_parquet(sys.argv[2], columns=["code", "level", "geometry"])
wards = units[units["level"] == "ward"][["code", "geometry"]]
joined = gpd.sjoin(points, wards, predicate="within", how="left")
joined.to_parquet(sys.argv[3])
"""


@dataclass
class Timings:
    """Seconds of repeated runs of one thing."""

    runs: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3, help="in-process rounds (medians)")
    parser.add_argument("--process-repeat", type=int, default=3, help="fresh processes per kind")
    parser.add_argument(
        "--parts", default=",".join(PARTS), help="comma-separated: " + ",".join(PARTS)
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a fresh process of part `first`
    args = parser.parse_args()
    if args.child:
        first_calls_child(Path(args.child), prepared=args.parts == "prepared")
        return
    parts = set(args.parts.split(","))
    context = load_context()
    current = context.boundary_set("vn2025")
    incidents = synthetic(current, context, args.n, args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-assign-") as folder:
        source = Path(folder) / "incidents.parquet"
        write_incidents(incidents, source)
        print(f"written to {source.name}: {source.stat().st_size / 2**20:,.0f} MB GeoParquet")
        sjoin = None
        if parts & {"warm", "peers"}:
            sjoin = warm(current, context, incidents, args.repeat)
        if "first" in parts:
            first_calls(source, args.process_repeat)
        if "process" in parts:
            whole_processes(current, source, Path(folder), args.process_repeat)
        if "peers" in parts and sjoin is not None:
            peers(current, incidents, sjoin, args.repeat)


def synthetic(current: BoundarySet, context: Any, n: int, seed: int) -> pd.DataFrame:
    carried = [t for t in context.territories if t.bset.id == current.id]
    start = time.perf_counter()
    incidents = generate_incidents(
        n,
        seed,
        boundaries=current,
        clusters=[t.cluster for t in carried],
        start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
        end=datetime(2026, 6, 30, tzinfo=VIETNAM_TZ),
    )
    print(
        f"generated {len(incidents):,} SYNTHETIC incidents in {time.perf_counter() - start:.1f} s"
    )
    return incidents


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def sjoin_within(wards: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
    points = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    gpd.sjoin(points, wards, predicate="within")


# -- warm: one process, indexes prepared ---------------------------------------------------


def warm(current: BoundarySet, context: Any, incidents: pd.DataFrame, repeat: int) -> Timings:
    """In-process rounds, indexes prepared first; returns the sjoin baseline's timings."""
    carried = [t for t in context.territories if t.bset.id == current.id]
    start = time.perf_counter()
    current.prepare_index(large_batches=True)
    for territory in carried:
        territory.prepare()
    print(
        f"\n[warm] index warm-up, once per process: {time.perf_counter() - start:.1f} s "
        "(interior cores and their grid from the set's cache, metric outline pieces, "
        "distance indexes, cluster boundary indexes)"
    )
    wards = current.units("ward")[["code", "geometry"]]
    lon, lat = incidents["lon"].to_numpy(), incidents["lat"].to_numpy()
    baseline, located, judged = Timings([]), Timings([]), Timings([])
    rows = 0
    for _ in range(repeat):
        baseline.runs.append(timed(lambda: sjoin_within(wards, lon, lat)))
        start = time.perf_counter()
        units = jurisdiction(incidents, [current])
        located.runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        rows = len(assign_clusters(incidents, units, carried))
        judged.runs.append(time.perf_counter() - start)
    total = Timings([a + b for a, b in zip(located.runs, judged.runs, strict=True)])
    print(f"medians of {repeat} alternating rounds; worker threads: {get_settings().workers}")
    print(f"  baseline sjoin(within) on {len(wards):,} wards: {baseline.median:.2f} s")
    print(f"  jurisdiction (chain + on-boundary): {located.median:.2f} s")
    print(f"  clusters (zones, lead unit, explanations): {judged.median:.2f} s for {rows:,} rows")
    print(
        f"  full assignment: {total.median:.2f} s = {total.median / baseline.median:.2f}× "
        f"baseline; {len(incidents) / total.median:,.0f} incidents/s"
    )
    print(
        f"  (secondary, best of {repeat}: sjoin {baseline.best:.2f} s, jurisdiction "
        f"{located.best:.2f} s, clusters {judged.best:.2f} s, full "
        f"{located.best + judged.best:.2f} s = "
        f"{(located.best + judged.best) / baseline.best:.2f}×)"
    )
    print(f"  peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    return baseline


# -- first: the first call in a fresh process ----------------------------------------------


def first_calls_child(source: Path, prepared: bool) -> None:
    """Child process: time three 1 M jurisdiction calls; print one JSON line."""
    incidents = pd.read_parquet(source, columns=["external_id", "occurred_at", "geometry"])
    xy = shapely.get_coordinates(shapely.from_wkb(incidents.pop("geometry").to_numpy()))
    incidents["lon"], incidents["lat"] = xy[:, 0], xy[:, 1]
    current = load_context().boundary_set("vn2025")
    warmup = timed(lambda: current.prepare_index(large_batches=True)) if prepared else 0.0
    calls = []
    for _ in range(3):
        cpu = time.process_time()
        wall = timed(lambda: jurisdiction(incidents, [current]))
        calls.append({"wall": wall, "cpu": time.process_time() - cpu})
    print(json.dumps({"prepare": warmup, "calls": calls}))


def first_calls(source: Path, repeat: int) -> None:
    runs: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
    for _ in range(repeat):
        for prepared in (True, False):
            command = [sys.executable, __file__, "--child", str(source)]
            command += ["--parts", "prepared" if prepared else "cold"]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs[prepared].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"\n[first] 1 M jurisdiction calls in a fresh process, medians of {repeat} processes")
    for prepared, label in ((True, "after prepare_index(large_batches=True)"), (False, "cold")):
        calls = [[run["calls"][k] for run in runs[prepared]] for k in range(3)]
        walls = [statistics.median(c["wall"] for c in call) for call in calls]
        cpus = [statistics.median(c["cpu"] for c in call) for call in calls]
        prepare = statistics.median(run["prepare"] for run in runs[prepared])
        head = f"prepare {prepare:.2f} s; " if prepared else ""
        print(
            f"  {label}: {head}calls 1/2/3 wall {walls[0]:.2f} / {walls[1]:.2f} / "
            f"{walls[2]:.2f} s, CPU {cpus[0]:.2f} / {cpus[1]:.2f} / {cpus[2]:.2f} s; "
            f"first ÷ second: wall {walls[0] / walls[1]:.2f}, CPU {cpus[0] / cpus[1]:.2f}"
        )


# -- process: the one-shot command against the bare script ---------------------------------


#: Runs argv[1:] and prints its wall time and peak RSS. A small process of its own: a child's
#: peak RSS counts the memory of the process it was spawned from (the kernel carries the
#: high-water mark over exec), which here would be this benchmark's gigabytes.
LAUNCHER = """\
import json, os, sys, time
start = time.perf_counter()
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
print(json.dumps({"wall": wall, "rss_mb": usage.ru_maxrss / 1024, "code": code}))
"""


def run_process(command: list[str]) -> tuple[float, float]:
    """Run a whole process; return its wall seconds and its own peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"]:
        raise RuntimeError(f"{command[:3]} failed ({result['code']}): {done.stderr[-2000:]}")
    return float(result["wall"]), float(result["rss_mb"])


def whole_processes(current: BoundarySet, source: Path, folder: Path, repeat: int) -> None:
    script = folder / "bare_sjoin.py"
    script.write_text(BARE_SCRIPT)
    assert current.display_path is not None
    units = current.display_path.parent / "units.parquet"
    geozone = str(Path(sys.executable).with_name("geozone"))
    commands = {
        "bare geopandas script": [sys.executable, str(script), str(source), str(units)],
        "geozone incidents assign": [geozone, "incidents", "assign", str(source)],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for k in range(repeat):
        for name, command in commands.items():
            out = folder / f"out-{k}-{name.split()[0]}.parquet"
            flag = [str(out)] if name.startswith("bare") else ["-o", str(out)]
            results[name].append(run_process(command + flag))
            out.unlink(missing_ok=True)
    print(f"\n[process] whole processes on {source.name}, alternating, medians of {repeat}")
    medians = {}
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        rss = statistics.median(r for _, r in runs)
        medians[name] = (wall, rss)
        listed = ", ".join(f"{w:.1f}" for w, _ in runs)
        print(f"  {name}: wall {wall:.2f} s (runs {listed}), peak RSS {rss:,.0f} MB")
    (bare, bare_rss), (ours, ours_rss) = medians.values()
    print(
        f"  whole-process ratio: {ours / bare:.2f}× wall (target ≤ 1.5×), peak RSS "
        f"{ours_rss:,.0f} MB (target ≤ 1,536 MB; bare script {bare_rss:,.0f} MB)"
    )


# -- peers: other engines on the same points -----------------------------------------------


@contextmanager
def workers(count: int) -> Iterator[None]:
    """Run geozone with ``count`` worker threads (GEOZONE_WORKERS) inside the block."""
    before = os.environ.get("GEOZONE_WORKERS")
    os.environ["GEOZONE_WORKERS"] = str(count)
    get_settings.cache_clear()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("GEOZONE_WORKERS", None)
        else:
            os.environ["GEOZONE_WORKERS"] = before
        get_settings.cache_clear()


def peers(current: BoundarySet, incidents: pd.DataFrame, sjoin: Timings, repeat: int) -> None:
    wards = current.units("ward")
    lon, lat = incidents["lon"].to_numpy(), incidents["lat"].to_numpy()
    print(
        f"\n[peers] {len(lon):,} points into {len(wards):,} wards, medians of {repeat} runs "
        f"over sjoin(within) {sjoin.median:.2f} s"
    )

    def report(name: str, runs: list[float], note: str = "") -> None:
        median = statistics.median(runs)
        print(f"  {name}: {median:.2f} s = {median / sjoin.median:.2f}× sjoin{note}")

    for threads in (2, 1):
        with workers(threads):
            jurisdiction(incidents, [current])  # once untimed, as for the other engines
            runs = [timed(lambda: jurisdiction(incidents, [current])) for _ in range(repeat)]
        report(f"geozone jurisdiction, {threads} thread{'s' if threads > 1 else ''}", runs)
    duckdb_peer(wards, lon, lat, repeat, report)
    postgis_peer(wards, lon, lat, repeat, report)


def duckdb_peer(
    wards: gpd.GeoDataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    repeat: int,
    report: Callable[..., None],
) -> None:
    try:
        import duckdb
        import duckdb_extension_spatial
    except ImportError as exc:
        print(f"  DuckDB: skipped ({exc}; it is a dev dependency)")
        return
    extension = (
        Path(duckdb_extension_spatial.__file__).parent
        / "extensions"
        / f"v{duckdb.__version__}"
        / "spatial.duckdb_extension"
    )
    con = duckdb.connect()
    con.execute(f"LOAD '{extension}'")
    ward_rows = pd.DataFrame(
        {"code": wards["code"].to_numpy(), "wkb": shapely.to_wkb(wards.geometry.to_numpy())}
    )
    con.register("ward_rows", ward_rows)
    con.register("point_rows", pd.DataFrame({"id": np.arange(len(lon)), "lon": lon, "lat": lat}))
    con.execute("CREATE TABLE wards AS SELECT code, ST_GeomFromWKB(wkb) AS geom FROM ward_rows")
    con.execute("CREATE TABLE points AS SELECT * FROM point_rows")
    query = (
        "CREATE OR REPLACE TEMP TABLE joined AS SELECT p.id, w.code FROM points p "
        "JOIN wards w ON ST_Within(ST_Point(p.lon, p.lat), w.geom)"
    )
    for threads in (2, 1):
        con.execute(f"SET threads = {threads}")
        con.execute(query)  # once untimed: every engine is measured warm
        runs = [timed(lambda: con.execute(query)) for _ in range(repeat)]
        joined = con.execute("SELECT count(*) FROM joined").fetchone()
        plan = "SPATIAL_JOIN" in str(con.execute("EXPLAIN " + query.split(" AS ", 1)[1]).fetchall())
        note = f" ({joined[0] if joined else 0:,} rows; spatial join operator: {plan})"
        report(f"DuckDB {duckdb.__version__} spatial, {threads} thread(s)", runs, note)
    con.close()


def postgis_peer(
    wards: gpd.GeoDataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    repeat: int,
    report: Callable[..., None],
) -> None:
    from tests.store.pg import PostgresUnavailableError, TempPostgres

    try:
        server = TempPostgres().start()
    except PostgresUnavailableError as exc:
        print(f"  PostGIS: skipped ({exc})")
        return
    try:
        import psycopg

        url = server.create_database("bench")
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            load_postgis(conn, wards, lon, lat)
            query = (
                "CREATE UNLOGGED TABLE joined AS SELECT p.id, w.code FROM points p "
                "JOIN wards w ON ST_Within(p.geom, w.geom)"
            )
            # Parallel: workers allowed and made free to start, so the planner uses them
            # wherever it can; serial: none.
            conn.execute("SET parallel_setup_cost = 0")
            conn.execute("SET parallel_tuple_cost = 0")
            for label, gather in (("parallel", 2), ("serial", 0)):
                conn.execute(f"SET max_parallel_workers_per_gather = {gather}")  # type: ignore[arg-type]
                plan = [row[0] for row in conn.execute("EXPLAIN " + query.split(" AS ", 1)[1])]
                runs = []
                for k in range(repeat + 1):  # the first one untimed: every engine warm
                    conn.execute("DROP TABLE IF EXISTS joined")
                    seconds = timed(lambda: conn.execute(query))  # type: ignore[arg-type]
                    runs += [seconds] if k else []
                version = conn.execute("SELECT postgis_lib_version()").fetchone()
                gather = (
                    "parallel workers" if any("Gather" in line for line in plan) else "one process"
                )
                note = f" (plan: {plan[0].split('  ')[0].strip()}, {gather})"
                report(f"PostGIS {version[0] if version else ''} GiST, {label}", runs, note)
    finally:
        server.stop()


def load_postgis(conn: Any, wards: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
    """Wards and points into tables with GiST indexes, analysed (not timed)."""
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute("CREATE TABLE wards (code text, geom geometry)")
    geoms = shapely.set_srid(wards.geometry.to_numpy(), 4326)
    with conn.cursor().copy("COPY wards (code, geom) FROM STDIN") as copy:
        for row in zip(
            wards["code"], shapely.to_wkb(geoms, hex=True, include_srid=True), strict=True
        ):
            copy.write_row(row)
    conn.execute(
        "ALTER TABLE wards ALTER COLUMN geom TYPE geometry(MultiPolygon, 4326) USING ST_Multi(geom)"
    )
    conn.execute("CREATE TABLE points (id bigint, lon float8, lat float8)")
    with conn.cursor().copy("COPY points (id, lon, lat) FROM STDIN") as copy:
        lines = np.char.add(
            np.char.add(np.char.add(np.arange(len(lon)).astype(str), "\t"), lon.astype(str)),
            np.char.add("\t", lat.astype(str)),
        )
        copy.write("\n".join(lines.tolist()) + "\n")
    conn.execute("ALTER TABLE points ADD COLUMN geom geometry(Point, 4326)")
    conn.execute("UPDATE points SET geom = ST_SetSRID(ST_MakePoint(lon, lat), 4326)")
    conn.execute("CREATE INDEX ON wards USING gist (geom)")
    conn.execute("CREATE INDEX ON points USING gist (geom)")
    conn.execute("VACUUM ANALYZE wards")
    conn.execute("VACUUM ANALYZE points")


if __name__ == "__main__":
    main()
