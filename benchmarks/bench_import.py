"""Import throughput on SQLite: the streamed import against the previous strategy, same run.

A CSV of ``--n`` SYNTHETIC incidents (drawn over the built vn2025 set, labelled synthetic)
is imported into a fresh SQLite store twice, each in a fresh process (so each pays the
context's warm-up and reports its own peak RSS):

- before: the strategy of the previous import (the file read whole, validated, stored in
  pieces, then :func:`~geozone.incidents.pipeline.assign_stale`: every stale incident read
  back from the store and judged);
- now: :func:`~geozone.incidents.pipeline.import_file` (the file streamed; each piece's
  rows judged from the piece as they are stored).

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_import.py [--n 200000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_stream import generate  # noqa: E402


def run(mode: str, source: Path, store_path: Path) -> dict[str, float]:
    """Import ``source`` one way in this process; return the figures."""
    from geozone.context import judging_context
    from geozone.incidents.io import open_incidents
    from geozone.incidents.pipeline import assign_stale, import_file
    from geozone.store import open_store

    context = judging_context()
    started = time.perf_counter()
    with open_store(f"sqlite:///{store_path}") as store:
        if mode == "before":
            opened = open_incidents(source)
            rows = opened.n_rows
            for _, read in opened.pieces(20_000):
                store.add_incidents(read.incidents.reset_index(drop=True))
            assigned = assign_stale(store, context)
        else:
            report = import_file(store, source, context)
            rows, assigned = report.rows, report.assigned
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "assigned": assigned, "seconds": seconds, "peak_mb": peak}


def main() -> None:
    """Generate, import both ways, print rows/s, peak RSS and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        mode, source, store = args.run
        print(json.dumps(run(mode, Path(source), Path(store))))
        return
    with tempfile.TemporaryDirectory(prefix="geozone-bench-import-") as folder:
        work = Path(folder)
        source = work / "synthetic.csv"
        generate(source, args.n)
        figures = {}
        for mode in ("before", "now"):
            done = subprocess.run(
                [sys.executable, __file__, "--run", mode, str(source), str(work / f"{mode}.db")],
                check=True,
                capture_output=True,
                text=True,
            )
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            f = figures[mode]
            print(
                f"{mode:6s} {f['rows']:>9,} SYNTHETIC rows, {f['assigned']:,} assigned: "
                f"{f['seconds']:6.1f} s, {f['rows'] / f['seconds']:>7,.0f} rows/s, "
                f"peak RSS {f['peak_mb']:5.0f} MB",
                flush=True,
            )
        print(f"now / before: x{figures['before']['seconds'] / figures['now']['seconds']:.2f}")


if __name__ == "__main__":
    main()
