"""Import throughput on SQLite and PostGIS, end to end, against a baseline revision, same run.

A CSV of ``--n`` SYNTHETIC incidents (drawn over the built vn2025 set, labelled synthetic)
is imported (read → validate → judge → store → link events) by
:func:`~geozone.incidents.pipeline.import_file` into a fresh store of each backend, once with
the code at ``--baseline`` (a git revision extracted with ``git archive``; default: the tree
before the store side of issue 17's import work) and once with today's code. Each import runs
in a fresh process, so each pays the context's warm-up and reports its own peak RSS.

For each run it prints rows/s end to end, wall and CPU seconds (the machine is shared: CPU
time is the steadier figure), the peak RSS, and the split of the time between

- **store**: the calls into the store (writing incidents, decisions and events; the id,
  report and event reads of linking), timed around the store's methods and the functions of
  :mod:`geozone.store.events` as the pipeline calls them;
- **read+judge**: the rest (reading, validating, judging, linking in Python).

Run (needs the built cache: ``GEOZONE_CACHE_DIR``; PostGIS needs the PostgreSQL binaries the
store tests use, else it is skipped with the reason)::

    .venv/bin/python benchmarks/bench_import.py [--n 200000] [--baseline REV] [--skip-postgis]
        [--ordered]

The generated file holds, per 100,000 rows, one run over the whole period (2024-01 to
2026-06): each piece of a larger file spans most of it. Linking waits for every piece to
be stored and then goes through the new reports in order of detection, so the events (and
the "linked" count) are the same with ``--ordered``, which sorts the file by time first
(an export in time order): only storing sees the order.

Measured (2-core machine shared with other work, 200,000 rows, ``--baseline main`` at
f28f1c3): SQLite 6,129 -> 6,662 rows/s (CPU x1.14), PostGIS 3,280 -> 3,311 rows/s (CPU
x0.97); ``--ordered`` on SQLite 8,873 -> 4,885 rows/s (CPU x0.81: linking is no longer
cheaper for a sorted file). The baseline linked 4,826 reports in file order and 5,356
sorted; linking the whole file at once links 5,429, as the store now does either way.

Measured after the store side of issue 17's throughput work (import17e: each report stored
as its own event, one SQLite R*Tree, pieces stored on a writer thread while the next is
judged; same machine, shared, 200,000 rows, ``--baseline main`` at 1f10b5e, one run):
SQLite 10,631 -> 12,074 rows/s (wall x1.14, CPU x1.02, store CPU x1.16), peak RSS 1,687 ->
1,836 MB (a second piece held while one is stored); PostGIS 4,396 -> 5,991 rows/s (wall
x1.36). The machine's noise is large: the same pair measured 9,158 -> 10,648 and 10,498 ->
12,608 rows/s in other runs, and 10,123 -> 13,167 rows/s (wall x1.30, CPU x1.13, store CPU
x1.22; 1,692 -> 1,834 MB) once linking's reads took only the fields it uses. Timed by the
import's callbacks, one run after the other: main stored 200,000 rows in 15.1 s and linked
them in 6.5 s; this code stored them in 10.2 s (11.7 s with the pieces stored in turn, not
on a thread) and linked them in 6.3 s. 1 M rows: 53.7 s to store, 42.4 s to link (10,400
rows/s), peak RSS 2.19 GB. With pieces stored on a thread the store's wall time overlaps
the rest's: the split's "read+judge" wall is the time not spent in store calls.

Measured after pieces in time order are linked as the next is stored, from a writer process
(quiet 2-core machine, 300,000 rows, ``--ordered --skip-postgis --baseline 7979806``, one
run): SQLite 11,389 -> 14,445 rows/s (wall x1.27, CPU x1.01: the same work on two cores),
peak RSS 1,875 -> 1,936 MB plus the writer process's 464 MB (its CPU is counted with the
store's). Without ``--ordered`` the pieces overlap in time, are linked once all are stored,
and are stored from a thread, as before (1 M rows: 108 s before, 107 s now).

Measured after a piece's events are written once the next piece is read and judged (not
while the writer holds SQLite's write lock), and pieces nearly in time order are linked as
stored (quiet 2-core machine, 300,000 rows, ``--skip-postgis --baseline 1d83ea7``; this
file's pieces are runs over the whole period, linked once all are stored, as before):
SQLite 10,494 -> 11,321 rows/s (wall x1.08, CPU x1.06; peak RSS 1,882 -> 1,898 MB plus the
writer process's 455 MB). ``geozone incidents generate`` writes pieces of overlapping
periods, now linked as stored: its 1 M rows, the importing function timed alone, 71.7 ->
44.0 s; ``--ordered`` files gain the writes after the next piece (300,000 in time order,
timed alone: 18.3 -> 15.1 s).

Measured after SQLite's R*Tree gave way to a B-tree index of cell and detection time
(migration 0014), a piece's events and its re-judged decisions went into one transaction,
and linking's reads stopped padding a statement with copies of its last box (same 2-core
machine, 200,000 rows, ``--baseline 28710ce``, each run with its own store): SQLite 8,634
-> 12,918 rows/s (wall x1.50, CPU x1.42, store CPU x1.78; peak RSS 2,005 -> 1,713 MB),
PostGIS 2,709 -> 4,104 rows/s (wall x1.51, CPU x1.20); 5,429 linked in each run. The
padding was most of it here: this file's boxes span months, and a copy of a chunk's last box
read its reports again (1,146,670 rows read for 201,500 reports, now 214,013).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))  # after PYTHONPATH: the baseline's geozone comes first

#: The tree before the store side of issue 17's import work.
BASELINE = "8057ab1"
#: Store methods and :mod:`geozone.store.events` functions timed as the store's share.
STORE_METHODS = (
    "add_incidents",
    "add_judged",
    "known_ids",
    "save_assignments",
    "stored_by",
    "get_many",
    "stale_ids",
    "begin_batch",
    "batch",
    "finish_batch",
)
EVENT_FUNCTIONS = (
    "reports_in",
    "reports_of",
    "event_members",
    "save_events",
    "unlinks_of",
    "lead_detectors",
)


class _StoreClock:
    """Wall and CPU seconds spent inside the wrapped store calls (outermost calls only).

    Per thread: the import stores a piece on a writer thread while it judges the next, so
    the CPU is the calling thread's (``thread_time``) and the store's wall time may overlap
    the rest's.
    """

    def __init__(self) -> None:
        self.wall = 0.0
        self.cpu = 0.0
        self.local = threading.local()
        self.lock = threading.Lock()

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if getattr(self.local, "depth", 0):
                return function(*args, **kwargs)
            self.local.depth = 1
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                with self.lock:
                    self.wall += time.perf_counter() - wall
                    self.cpu += time.thread_time() - cpu
                self.local.depth = 0

        return timed

    def install(self) -> None:
        """Wrap the store's methods and the store functions the pipeline calls."""
        import geozone.incidents.events as events
        import geozone.incidents.pipeline as pipeline
        from geozone.store.sql import SqlIncidentStore

        for name in STORE_METHODS:
            if hasattr(SqlIncidentStore, name):
                setattr(SqlIncidentStore, name, self.wrap(getattr(SqlIncidentStore, name)))
        for name in EVENT_FUNCTIONS:
            if hasattr(events, name):
                setattr(events, name, self.wrap(getattr(events, name)))
        if hasattr(pipeline, "store_address_only"):
            pipeline.store_address_only = self.wrap(pipeline.store_address_only)


def run(source: Path, url: str) -> dict[str, float]:
    """Import ``source`` into the store at ``url`` in this process; return the figures."""
    from geozone.context import judging_context
    from geozone.incidents.pipeline import import_file
    from geozone.store import open_store

    clock = _StoreClock()
    clock.install()
    context = judging_context()
    # As the command does, at the revisions that do (9695576 on): the context's objects are
    # left out of the collector's passes.
    freeze = getattr(import_module("geozone.context"), "freeze_long_lived", None)
    if freeze is not None:
        freeze()
    wall, cpu, writer_cpu = time.perf_counter(), time.process_time(), _children_cpu()
    with open_store(url) as store, _ChildrenRss() as writer_rss:
        report = import_file(store, source, context)
    writer_cpu = _children_cpu() - writer_cpu  # the writer process, if the import had one
    return {
        "rows": report.rows,
        "stored": report.stored,
        "assigned": report.assigned,
        "linked": report.linked,
        "seconds": time.perf_counter() - wall,
        "cpu": time.process_time() - cpu + writer_cpu,
        "store_seconds": clock.wall,
        "store_cpu": clock.cpu + writer_cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "writer_cpu": writer_cpu,
        "writer_peak_mb": writer_rss.peak_mb,
    }


class _ChildrenRss:
    """Samples the RSS of this process's children (an import's writer process) every 0.25 s.

    ``ru_maxrss`` of the children counts a spawned child's pages as forked, before it
    executes a fresh interpreter: the parent's size, not the child's.
    """

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _ChildrenRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.25):
            total = 0
            for task in Path(f"/proc/{me}/task").glob("*/children"):
                for child in task.read_text().split():
                    total += _rss_kb(child)
            self.peak_mb = max(self.peak_mb, total / 1024)


def _rss_kb(pid: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:  # ended meanwhile
        pass
    return 0


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (an import's writer process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _line(label: str, f: dict[str, Any]) -> str:
    rest_wall, rest_cpu = f["seconds"] - f["store_seconds"], f["cpu"] - f["store_cpu"]
    return (
        f"{label:17s} {f['rows']:>9,} SYNTHETIC rows ({f['stored']:,} stored, "
        f"{f['linked']:,} linked): {f['seconds']:6.1f} s, {f['rows'] / f['seconds']:>7,.0f} "
        f"rows/s, CPU {f['cpu']:5.1f} s ({f['rows'] / f['cpu']:>7,.0f} rows/CPU-s), "
        f"peak RSS {f['peak_mb']:5.0f} MB"
        + (
            f" + writer process {f['writer_peak_mb']:4.0f} MB (CPU {f['writer_cpu']:5.1f} s)"
            if f.get("writer_cpu")
            else ""
        )
        + f"\n{'':17s} split: store {f['store_seconds']:5.1f} s (CPU {f['store_cpu']:5.1f} s, "
        f"{100 * f['store_cpu'] / f['cpu']:3.0f} % of CPU), read+judge {rest_wall:5.1f} s "
        f"(CPU {rest_cpu:5.1f} s)"
    )


def run_in_process(
    script: str,
    source: Path,
    url: str,
    label: str,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> dict[str, Any]:
    """Run ``script --run SOURCE URL`` in a fresh process; return the JSON of its last line.

    Each import pays its own warm-up and reports its own peak RSS.
    """
    done = subprocess.run(
        [sys.executable, script, "--run", str(source), url],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )
    if done.returncode:
        raise SystemExit(f"{label} failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def _import(code: str, baseline: Path, source: Path, url: str, work: Path) -> dict[str, Any]:
    # The run's own store holds the context's confirmations too: a store migrated by newer
    # code (the default one, say) is one the baseline's migrations cannot open.
    env = dict(os.environ, GEOZONE_STORE_URL=url)
    if code == "before":
        env["PYTHONPATH"] = os.pathsep.join([str(baseline), str(ROOT)])
    return run_in_process(__file__, source, url, code, env=env, cwd=work)


def _sort_by_time(source: Path) -> None:
    """Sort a generated CSV by its rows' occurrence time, in place (same rows, same text)."""
    import pandas as pd

    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    when = pd.to_datetime(frame["occurred_at"], utc=True, format="ISO8601")
    frame.iloc[when.argsort(kind="stable")].to_csv(source, index=False)


def main() -> None:
    """Generate, import with both codes on each backend, print the figures and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--skip-postgis", action="store_true")
    parser.add_argument(
        "--ordered",
        action="store_true",
        help="sort the file by occurrence time (the generator's file holds one run over the "
        "whole period per 100,000 rows, so a piece of a larger file spans every time)",
    )
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        source, url = args.run
        print(json.dumps(run(Path(source), url)))
        return
    from benchmarks.bench_stream import generate

    with tempfile.TemporaryDirectory(prefix="geozone-bench-import-") as folder:
        work = Path(folder)
        source = work / "synthetic.csv"
        generate(source, args.n)
        if args.ordered:
            _sort_by_time(source)
        baseline = work / "baseline"
        baseline.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", args.baseline, "geozone", "data", "pyproject.toml"],
            check=True,
            capture_output=True,
        )
        subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive.stdout, check=True)
        backends: list[tuple[str, Callable[[str], str]]] = [
            ("SQLite", lambda code: f"sqlite:///{work / f'{code}.sqlite'}")
        ]
        server = None
        if not args.skip_postgis:
            from tests.store.pg import PostgresUnavailableError, TempPostgres

            try:
                server = TempPostgres().start()
            except PostgresUnavailableError as exc:
                print(f"PostGIS: skipped ({exc})")
            else:
                pg = server
                backends.append(("PostGIS", lambda code: pg.create_database(f"bench_{code}")))
        try:
            for backend, url in backends:
                figures = {}
                for code in ("before", "now"):
                    figures[code] = _import(code, baseline, source, url(code), work)
                    label = f"{backend} {code}" + (
                        f" ({args.baseline})" if code == "before" else ""
                    )
                    print(_line(label, figures[code]), flush=True)
                before, now = figures["before"], figures["now"]
                print(
                    f"{backend}: now / before x{before['seconds'] / now['seconds']:.2f} wall, "
                    f"x{before['cpu'] / now['cpu']:.2f} CPU; store CPU "
                    f"x{before['store_cpu'] / now['store_cpu']:.2f}",
                    flush=True,
                )
        finally:
            if server is not None:
                server.stop()


if __name__ == "__main__":
    main()
