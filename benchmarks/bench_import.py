"""Import throughput on SQLite: the streamed import against the previous strategy, same run.

A CSV of ``--n`` SYNTHETIC incidents (drawn over the built vn2025 set, labelled synthetic)
is imported into a fresh SQLite store twice, each in a fresh process (so each pays the
context's warm-up and reports its own peak RSS):

- before: ``import_file`` of the code at ``--baseline`` (a git revision, default
  ``reshape-tests``, the code before streaming: the file read whole, stored in pieces, then
  every stale incident read back from the store and judged), extracted with ``git archive``;
- strategy: the same old strategy on today's components (to tell the gain of the strategy
  from the gains of the components: the id ledger, the SQLite assignment writes);
- now: :func:`~geozone.incidents.pipeline.import_file` (the file streamed; each piece's
  rows judged from the piece as they are stored).

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_import.py [--n 200000] [--baseline REV]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: the baseline's geozone comes first


def run(mode: str, source: Path, store_path: Path) -> dict[str, float]:
    """Import ``source`` one way in this process; return the figures."""
    from geozone.context import judging_context
    from geozone.incidents.io import open_incidents
    from geozone.incidents.pipeline import assign_stale, import_file
    from geozone.store import open_store

    context = judging_context()
    started = time.perf_counter()
    with open_store(f"sqlite:///{store_path}") as store:
        if mode == "strategy":
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
    parser.add_argument("--baseline", default="reshape-tests")
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        mode, source, store = args.run
        import geozone

        figures = run(mode, Path(source), Path(store))
        print(json.dumps({**figures, "code": str(Path(geozone.__file__).parent.parent)}))
        return
    from benchmarks.bench_stream import generate

    with tempfile.TemporaryDirectory(prefix="geozone-bench-import-") as folder:
        work = Path(folder)
        source = work / "synthetic.csv"
        generate(source, args.n)
        baseline = work / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "geozone", "data", "pyproject.toml"],
            check=True,
            capture_output=True,
        )
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        figures = {}
        for mode in ("before", "strategy", "now"):
            env = dict(os.environ)
            if mode == "before":
                env["PYTHONPATH"] = os.pathsep.join([str(baseline), str(ROOT)])
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--run",
                    "now" if mode == "before" else mode,
                    str(source),
                    str(work / f"{mode}.db"),
                ],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                cwd=work,
            )
            if done.returncode:
                raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
            figures[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            f = figures[mode]
            print(
                f"{mode:8s} {f['rows']:>9,} SYNTHETIC rows, {f['assigned']:,} assigned: "
                f"{f['seconds']:6.1f} s, {f['rows'] / f['seconds']:>7,.0f} rows/s, "
                f"peak RSS {f['peak_mb']:5.0f} MB  ({f['code']})",
                flush=True,
            )
        before, now = figures["before"]["seconds"], figures["now"]["seconds"]
        print(
            f"now / before: x{before / now:.2f}; now / old strategy on today's components: "
            f"x{figures['strategy']['seconds'] / now:.2f}"
        )


if __name__ == "__main__":
    main()
