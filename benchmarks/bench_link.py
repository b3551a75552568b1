"""How an import's storing and linking rates follow the density of reports, same run.

The same number of SYNTHETIC incidents (``--n``, drawn over the built vn2025 set at its real
places, labelled synthetic) is generated over periods of ``--days`` days each, so that the
reports a day go up as the period shrinks, and each file is imported into a fresh SQLite
store in a process of its own (:func:`~geozone.incidents.pipeline.import_file`). For each it
prints the storing rate (rows read, judged and stored a second), the linking rate (reports
linked into events a second, once every piece is stored), the reports linked, the peak RSS,
and the linking rate as a ratio to the first (sparsest) period's: the baseline of the run.

Linking reads the stored reports around each chunk of new ones, counts the local rate of each
candidate pair's reports over a day around them and matches the pairs: all of it grows with
the reports per place and day, which is what this shows. The generator's default period is
one year: 1 M of its incidents are ~2,700 a day and 10 M ~27,000 a day.

Run (needs the built cache: ``GEOZONE_CACHE_DIR``)::

    .venv/bin/python benchmarks/bench_link.py [--n 200000] [--days 365,73,18,7]

Measured (2-core machine, quiet, 200,000 rows, one run, at b874b15)::

    over 365 days (   548 a day): stored 15,882 rows/s, linked 22,123 reports/s (1.00x), 1,207 MB
    over  73 days ( 2,740 a day): stored 15,338 rows/s, linked 17,941 reports/s (0.81x), 1,601 MB
    over  18 days (11,111 a day): stored 15,177 rows/s, linked  9,142 reports/s (0.41x), 1,635 MB
    over   7 days (28,571 a day): stored 16,192 rows/s, linked  2,474 reports/s (0.11x), 2,239 MB

Storing keeps its rate; linking falls ninefold and its memory nearly doubles from the
sparsest to the density of 10 M of the generator's incidents in a year.

Measured again at 2f2bbb3 (the writer lays its rows out before its lock, linking cuts the
stored reports read to those within reach and keeps the rates counted), same day, against
22589aa (three runs each for 365 and 7 days, one for 73 and 18; "stored" counts the file in
time order read, judged, stored and linked as stored; "linked" the linking left once every
piece is stored)::

    over 365 days (   548 a day): stored 21,826-23,299 rows/s (22589aa 19,386-20,656)
    over  73 days ( 2,740 a day): stored 23,393 rows/s (19,577)
    over  18 days (11,111 a day): stored 17,111 rows/s (16,503)
    over   7 days (28,571 a day): stored 11,121-11,242 rows/s (9,293-9,461),
                                  linked 34,175-37,011 reports/s (27,733-29,549)

The same reports linked in every run (6,502, 6,908, 5,361 and 3,986); peak RSS unchanged
(1.18-1.63 GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))


def generate(path: Path, n: int, days: int, seed: int = 5) -> None:
    """Write ``n`` SYNTHETIC incidents over ``days`` days from 2024-01-01 (Vietnam time)."""
    from geozone.context import judging_context
    from geozone.incidents.io import write_incidents
    from geozone.incidents.synthetic import generate_incidents
    from geozone.vntime import VIETNAM_TZ

    context = judging_context()
    current = context.boundary_set("vn2025")
    carried = [t.cluster for t in context.territories if t.bset.id == current.id]
    start = datetime(2024, 1, 1, tzinfo=VIETNAM_TZ)
    frame = generate_incidents(
        n,
        seed,
        boundaries=current,
        clusters=carried,
        start=start,
        end=start + timedelta(days=days) - timedelta(minutes=1),
    )
    write_incidents(frame, path)


def run(source: Path, url: str) -> dict[str, Any]:
    """Import ``source`` into the store at ``url`` in this process; return the phases' figures."""
    from geozone.context import judging_context
    from geozone.incidents.pipeline import import_file
    from geozone.store import open_store

    context = judging_context()
    marks: dict[str, float] = {}
    began = time.perf_counter()

    def stored(done: int, total: int) -> None:
        marks["stored"] = time.perf_counter() - began

    def linked(done: int, total: int) -> None:
        marks["linked"] = time.perf_counter() - began

    with open_store(url) as store:
        report = import_file(store, source, context, on_stored=stored, on_progress=linked)
    return {
        "rows": report.rows,
        "linked": report.linked,
        "store_s": marks["stored"],
        "link_s": marks["linked"] - marks["stored"],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    """Generate one file per period, import each, print the rates and the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--days", default="365,73,18,7", help="periods, sparsest first")
    parser.add_argument("--run", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        source, url = args.run
        print(json.dumps(run(Path(source), url)))
        return
    from benchmarks.bench_import import run_in_process

    periods = [int(d) for d in args.days.split(",")]
    baseline = None
    with tempfile.TemporaryDirectory(prefix="geozone-bench-link-") as folder:
        for days in periods:
            source = Path(folder) / f"synthetic-{days}d.parquet"
            generate(source, args.n, days)
            url = f"sqlite:///{Path(folder) / f'{days}d.sqlite'}"
            f = run_in_process(__file__, source, url, f"import of {source}")
            link_rate = f["rows"] / f["link_s"]
            baseline = baseline or link_rate
            print(
                f"{f['rows']:,} SYNTHETIC over {days:>4} days ({f['rows'] / days:>7,.0f} a day): "
                f"stored {f['rows'] / f['store_s']:>7,.0f} rows/s, linked "
                f"{link_rate:>7,.0f} reports/s ({link_rate / baseline:4.2f}x the sparsest), "
                f"{f['linked']:,} linked, peak RSS {f['peak_mb']:,.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
