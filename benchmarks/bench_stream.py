"""Streamed assignment against the one-shot path: peak memory and rows per second.

A CSV of ``--n`` SYNTHETIC incidents (drawn by :mod:`geozone.incidents.synthetic` over the
built vn2025 set, 100,000 at a time, every row labelled synthetic) is judged twice, each in a
fresh process so that its peak RSS is its own:

- one-shot: :func:`~geozone.incidents.io.read_incidents` of the whole file, one
  :func:`~geozone.assignment.assign`, one write (what ``incidents assign`` did before);
- streamed: :func:`~geozone.incidents.stream.assign_file` with ``--chunk-rows`` (what
  ``incidents assign`` does now).

Each process reports its wall time, rows per second, its RSS once the judging context is
loaded (the fixed part: boundary sets, cores, territories) and its peak RSS. The one-shot path
is the baseline of the same run: the ratios are streamed / one-shot. Both run at two sizes,
``--n / 4`` and ``--n``; the 10 M projection is the straight line through the two (the streamed
peak barely moves with N: what grows is the ledger of ids met, 1.5 bytes an id in memory
once spilled, see ``geozone.incidents.io._ids``).

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_stream.py [--n 1000000] [--chunk-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    """Current resident memory of this process in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def generate(path: Path, n: int) -> None:
    """Write ``n`` SYNTHETIC incidents to a CSV, 100,000 at a time."""
    from geozone.context import judging_context
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents
    from geozone.vntime import VIETNAM_TZ

    context = judging_context()
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    legacy = next((b for b in context.sets if b.id == "vn-legacy-districts"), None)
    start = datetime(2024, 1, 1, tzinfo=VIETNAM_TZ)
    end = datetime(2026, 6, 30, 23, 59, tzinfo=VIETNAM_TZ)
    with path.open("wb") as out:
        for seed, first in enumerate(range(0, n, 100_000)):
            frame = generate_incidents(
                min(100_000, n - first),
                seed,
                boundaries=current,
                clusters=carried,
                start=start,
                end=end,
                legacy=legacy,
            )
            piece = path.with_suffix(".piece.csv")
            write_incidents(frame, piece)
            data = piece.read_bytes()
            out.write(data if first == 0 else data.split(b"\n", 1)[1])
            piece.unlink()


def run(mode: str, source: Path, output: Path, chunk_rows: int) -> dict[str, float]:
    """Judge ``source`` one way in this process; return the figures."""
    from geozone.context import judging_context
    from geozone.incidents.io import read_incidents
    from geozone.incidents.stream import assign_file, judge, write_assigned

    context = judging_context()
    base = rss_mb()
    started = time.perf_counter()
    if mode == "one-shot":
        read = read_incidents(source)
        write_assigned(judge(read, context), output)
        rows = read.n_rows
    else:
        rows = assign_file(source, output, context, chunk_rows=chunk_rows).read
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "context_mb": base, "peak_mb": peak}


def child(mode: str, source: Path, output: Path, chunk_rows: int) -> dict[str, float]:
    """Run one mode in a fresh process."""
    done = subprocess.run(
        [sys.executable, __file__, "--run", mode, str(source), str(output), str(chunk_rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    """Generate, judge both ways, print the figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--run", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        mode, source, output, chunk = args.run
        print(json.dumps(run(mode, Path(source), Path(output), int(chunk))))
        return
    with tempfile.TemporaryDirectory(prefix="geozone-bench-stream-") as folder:
        work = Path(folder)
        results: dict[tuple[str, int], dict[str, float]] = {}
        for n in (args.n // 4, args.n):
            source = work / f"synthetic-{n}.csv"
            generate(source, n)
            for mode in ("one-shot", "streamed"):
                figures = child(mode, source, work / f"{mode}.parquet", args.chunk_rows)
                results[(mode, n)] = figures
                print(
                    f"{mode:9s} {n:>10,} SYNTHETIC rows: {figures['seconds']:7.1f} s, "
                    f"{figures['rows'] / figures['seconds']:>8,.0f} rows/s, context "
                    f"{figures['context_mb']:6.0f} MB, peak RSS {figures['peak_mb']:6.0f} MB",
                    flush=True,
                )
            source.unlink()
        one, streamed = results[("one-shot", args.n)], results[("streamed", args.n)]
        small = results[("streamed", args.n // 4)]
        print(
            f"\nstreamed / one-shot at {args.n:,}: rows/s x"
            f"{(one['seconds'] / streamed['seconds']):.2f}, peak RSS x"
            f"{streamed['peak_mb'] / one['peak_mb']:.2f}; streamed peak at N/4 "
            f"{small['peak_mb']:.0f} MB vs N {streamed['peak_mb']:.0f} MB"
        )
        target = 10_000_000
        one_small = results[("one-shot", args.n // 4)]

        def projected(big: dict[str, float], little: dict[str, float], key: str) -> float:
            """Straight line through the two sizes, at 10 M rows."""
            slope = (big[key] - little[key]) / (args.n - args.n // 4)
            return big[key] + slope * (target - args.n)

        print(
            f"projection for {target:,} (straight line through N/4 and N): streamed "
            f"~{projected(streamed, small, 'peak_mb') / 1024:.1f} GB peak, "
            f"~{projected(streamed, small, 'seconds') / 60:.0f} min; one-shot "
            f"~{projected(one, one_small, 'peak_mb') / 1024:.1f} GB peak, "
            f"~{projected(one, one_small, 'seconds') / 60:.0f} min"
        )


if __name__ == "__main__":
    main()
