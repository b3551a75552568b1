"""Assignment at national scale: local streaming, dask with 1 and 2 workers, a bare sjoin.

``N`` SYNTHETIC incidents (default 10 M; :mod:`geozone.incidents.synthetic` over the built
vn2025 set and the carried clusters, drawn 100,000 at a time with one seed per piece and
appended to one GeoParquet file, every row and the file's metadata labelled synthetic) are
judged, each run in a fresh process so that its peak RSS is its own:

- ``local``: ``geozone incidents assign FILE -o OUT.parquet`` (streamed, default chunk size):
  rows per second and the process's peak RSS;
- ``dask 1`` and ``dask 2``: ``--engine dask --workers 1|2`` (a LocalCluster of processes):
  rows per second, the speed-up of 2 workers over 1, and the peak RSS of each worker (read
  from the workers themselves at the end of the run);
- ``bare sjoin``: the same points read chunk by chunk (the same chunk size) and
  ``geopandas.sjoin(predicate="within")`` to the 2025 wards, each chunk written to Parquet:
  the baseline of the same run, as a whole process.

Every figure comes from this run; the ratios (geozone / bare sjoin, dask 2 / dask 1) are the
ones to quote on a shared machine. ``--skip-dask`` leaves the dask runs out.

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_scale.py [-n 10000000] [--chunk-rows 50000] \\
        [--incidents FILE] [--keep FILE] [--skip-dask]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Rows drawn at a time when the synthetic file is made.
GENERATE_ROWS = 100_000

#: The bare baseline: the points read chunk by chunk, joined to the wards, written.
BARE_SCRIPT = """\
import sys
import geopandas as gpd
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

source, units_path, output, chunk = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
units = gpd.read_parquet(units_path, columns=["code", "level", "geometry"])
wards = units[units["level"] == "ward"][["code", "geometry"]]
writer = None
for batch in pq.ParquetFile(source).iter_batches(batch_size=chunk):
    frame = batch.to_pandas()
    points = gpd.GeoDataFrame(
        frame.drop(columns="geometry"), geometry=shapely.from_wkb(frame["geometry"]), crs=4326
    )
    joined = gpd.sjoin(points, wards, predicate="within", how="left")
    table = pa.table(joined.to_arrow(index=False))
    if writer is None:
        writer = pq.ParquetWriter(output, table.schema)
    writer.write_table(table.cast(writer.schema))
writer.close()
"""

#: The geozone command line, run by this interpreter.
GEOZONE = "import sys; from geozone.cli import main; sys.argv[0] = 'geozone'; main()"

#: Runs argv[1:] as a process of its own and prints its wall time and own peak RSS (a
#: child's high-water mark must not inherit this benchmark's memory).
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


def generate(path: Path, n: int) -> None:
    """Write ``n`` SYNTHETIC incidents to one GeoParquet file, :data:`GENERATE_ROWS` at a time.

    Each piece is drawn with its own seed and written by
    :func:`geozone.incidents.io.write_incidents` (synthetic column and file metadata), then
    appended as a row group of one file whose metadata is the first piece's, with the count
    of the whole file.
    """
    import pyarrow.parquet as pq

    from geozone.context import judging_context
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents
    from geozone.vntime import VIETNAM_TZ

    context = judging_context()
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    start = datetime(2025, 7, 1, tzinfo=VIETNAM_TZ)
    end = datetime(2026, 6, 30, 23, 59, tzinfo=VIETNAM_TZ)
    partial = path.with_suffix(".partial.parquet")
    writer: pq.ParquetWriter | None = None
    with tempfile.TemporaryDirectory(prefix="bench-scale-gen-") as temp:
        piece = Path(temp) / "piece.parquet"
        for seed, first in enumerate(range(0, n, GENERATE_ROWS)):
            frame = generate_incidents(
                min(GENERATE_ROWS, n - first),
                seed,
                boundaries=current,
                clusters=carried,
                start=start,
                end=end,
            )
            write_incidents(frame, piece)
            table = pq.read_table(piece)
            if writer is None:
                metadata = dict(table.schema.metadata or {})
                for key, value in metadata.items():
                    if key.endswith(b"description"):
                        text = value.decode()
                        metadata[key] = text.replace(
                            f"{len(frame)} of {len(frame)}", f"{n} of {n}"
                        ).encode()
                schema = table.schema.with_metadata(metadata)
                writer = pq.ParquetWriter(partial, schema)
            writer.write_table(table.cast(writer.schema))
            print(f"\r  generated {first + len(frame):,} of {n:,}", end="", flush=True)
    print()
    assert writer is not None
    writer.close()
    partial.replace(path)


def run(command: list[str]) -> tuple[float, float]:
    """Run a whole process; return its wall seconds and its own peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"]:
        raise RuntimeError(f"{command[:6]} failed ({result['code']}): {done.stderr[-2000:]}")
    return float(result["wall"]), float(result["rss_mb"])


def dask_run(source: Path, output: Path, workers: int, chunk_rows: int) -> dict[str, float]:
    """Run ``--engine dask --workers N`` in a child; wall time, client and worker peak RSS."""
    code = f"""
import json, resource, time
from pathlib import Path
from geozone.context import stored_confirmations
from geozone.incidents.distributed import assign_distributed

peaks = []

def worker_peak():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

start = time.perf_counter()
summary = assign_distributed(
    Path({str(source)!r}), Path({str(output)!r}), chunk_rows={chunk_rows},
    workers={workers}, confirmations=stored_confirmations(),
    on_finish=lambda client: peaks.extend(client.run(worker_peak).values()),
)
wall = time.perf_counter() - start
print(json.dumps({{"wall": wall, "rows": summary.read, "workers_rss": peaks,
    "client_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"dask run failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000_000, help="synthetic incidents")
    parser.add_argument("--chunk-rows", type=int, default=None, help="default: the CLI's")
    parser.add_argument("--incidents", type=Path, help="use this file instead of generating")
    parser.add_argument("--keep", type=Path, help="keep the generated file here")
    parser.add_argument("--skip-dask", action="store_true")
    args = parser.parse_args()
    if "GEOZONE_CACHE_DIR" not in os.environ:
        print("note: GEOZONE_CACHE_DIR is not set; the default cache must hold the built sets")
    from geozone.context import load_context
    from geozone.incidents.stream import DEFAULT_CHUNK_ROWS

    chunk = args.chunk_rows or DEFAULT_CHUNK_ROWS
    geozone = [sys.executable, "-c", GEOZONE]
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as temp:
        folder = Path(temp)
        source = args.incidents
        if source is None:
            source = args.keep or folder / "incidents.parquet"
            started = time.perf_counter()
            generate(source, args.n)
            print(f"generated in {time.perf_counter() - started:.0f} s")
        import pyarrow.parquet as pq

        n = pq.ParquetFile(source).metadata.num_rows
        size = source.stat().st_size / 2**20
        print(f"{source.name}: {n:,} SYNTHETIC incidents, {size:,.0f} MB; chunk {chunk:,} rows")
        script = folder / "bare_sjoin.py"
        script.write_text(BARE_SCRIPT)
        units = load_context().boundary_set("vn2025").units_path  # the 2025 wards, as built
        bare = [sys.executable, str(script), str(source), str(units)]
        bare_wall, bare_rss = run([*bare, str(folder / "bare.parquet"), str(chunk)])
        (folder / "bare.parquet").unlink(missing_ok=True)
        print(
            f"bare sjoin (chunked): {bare_wall:.1f} s, {n / bare_wall:,.0f} rows/s, "
            f"peak RSS {bare_rss:,.0f} MB"
        )
        assign = [*geozone, "incidents", "assign", str(source), "--chunk-rows", str(chunk)]
        local_wall, local_rss = run([*assign, "-o", str(folder / "local.parquet")])
        (folder / "local.parquet").unlink(missing_ok=True)
        print(
            f"local streaming: {local_wall:.1f} s, {n / local_wall:,.0f} rows/s, "
            f"peak RSS {local_rss:,.0f} MB (goal ≤ 1,536 MB); "
            f"{local_wall / bare_wall:.2f}× the bare sjoin"
        )
        if args.skip_dask:
            return
        walls = {}
        for workers in (1, 2):
            out = folder / f"dask{workers}"
            figures = dask_run(source, out, workers, chunk)
            walls[workers] = figures["wall"]
            peaks = ", ".join(f"{p:,.0f}" for p in figures["workers_rss"])
            print(
                f"dask {workers} worker(s): {figures['wall']:.1f} s, "
                f"{n / figures['wall']:,.0f} rows/s, peak RSS per worker {peaks} MB "
                f"(client {figures['client_rss']:,.0f} MB); "
                f"{figures['wall'] / bare_wall:.2f}× the bare sjoin"
            )
            subprocess.run(["rm", "-rf", str(out)], check=True)
        print(f"dask speed-up, 2 workers over 1: {walls[1] / walls[2]:.2f}× (goal ≥ 1.7×)")


if __name__ == "__main__":
    main()
