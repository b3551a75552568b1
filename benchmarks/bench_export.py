"""Benchmark of reading every stored incident for an export: keyset pages against OFFSET pages.

Prints figures only; run with ``.venv/bin/python benchmarks/bench_export.py [--sizes 100000
400000]`` (no boundary data needed).

For each size N, N SYNTHETIC incidents (one minute apart on a lattice near Hà Nội) are stored
in a temporary SQLite store (or ``--store URL``, emptied first: use a throw-away database),
each with one cluster decision. Then, in the same run on the same rows:

- baseline: OFFSET paging as ``geozone incidents export`` did before, 10,000 rows a page
  (``store.query`` with ``offset`` growing, ordered by time), reading no decisions;
- OFFSET paging with the page's decisions (``store.cluster_rows`` of the same query), as the
  report and the map layers read them;
- keyset paging with decisions (``store.pages``: ``id > last`` by primary key).

Each is timed whole; the figure that matters is the time per 10,000 rows of the first and last
quarter of the pages (flat for keyset paging, growing with the offset otherwise) and the
ratio to the baseline.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from geozone.store import IncidentQuery, IncidentStore, open_store
from geozone.vntime import VIETNAM_TZ

PAGE = 10_000


def fill(store: IncidentStore, n: int) -> None:
    """Store ``n`` synthetic incidents, each with one decision of cluster ``bench``."""
    t0 = pd.Timestamp("2025-07-01 08:00", tz=VIETNAM_TZ)
    for start in range(0, n, 50_000):
        k = np.arange(start, min(n, start + 50_000))
        ids = [f"b{i:09d}" for i in k]
        store.add_incidents(
            pd.DataFrame(
                {
                    "external_id": ids,
                    "occurred_at": t0 + pd.to_timedelta(k[::-1], unit="min"),  # not in id order
                    "lon": 105.70 + (k % 300) * 0.001,
                    "lat": 20.90 + (k // 300 % 300) * 0.001,
                    "category": "theft",
                    "synthetic": True,
                    "description": "SYNTHETIC benchmark incident",
                }
            )
        )
        units = pd.DataFrame(
            {
                "external_id": ids,
                "set_id": "bench",
                "locate_status": "inside",
                "unit_code": "00001",
                "ward_code": "00001",
                "district_code": "001",
                "province_code": "01",
                "on_boundary": False,
                "candidates": [[] for _ in ids],
            }
        )
        decisions = pd.DataFrame(
            {
                "external_id": ids,
                "cluster_id": "bench",
                "member_code": "00001",
                "in_zone": False,
                "zone_kind": None,
                "zone_units": [[] for _ in ids],
                "distance_m": None,
                "boundary_with": None,
                "lead_unit": "00001",
                "cooperating": [["00002"] for _ in ids],
                "rule": "territory",
                "review": False,
                "explanation_vi": "Phường 1 chủ trì theo địa bàn.",
                "explanation_en": "Ward 1 leads by territory.",
            }
        )
        store.save_assignments(units, decisions, stamp="bench")


def offset_pages(store: IncidentStore, with_decisions: bool) -> Iterator[int]:
    offset = 0
    while True:
        query = IncidentQuery(limit=PAGE, offset=offset)
        page, total = store.query(query)
        if with_decisions:
            store.cluster_rows(query)
        offset += len(page)
        yield len(page)
        if offset >= total or page.empty:
            return


def keyset_pages(store: IncidentStore) -> Iterator[int]:
    for page in store.pages(IncidentQuery(), page_rows=PAGE):
        yield len(page.incidents)


def timed(pages: Callable[[], Iterator[int]]) -> tuple[float, list[float], int]:
    times: list[float] = []
    rows = 0
    start = time.perf_counter()
    last = start
    for n in pages():
        now = time.perf_counter()
        times.append(now - last)
        last = now
        rows += n
    return time.perf_counter() - start, times, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--store", help="store URL (default: a temporary SQLite file)")
    args = parser.parse_args()
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            url = args.store or f"sqlite:///{Path(folder) / 'bench.sqlite'}"
            with open_store(url) as store:
                t = time.perf_counter()
                fill(store, n)
                print(f"\nN = {n:,}: stored and assigned in {time.perf_counter() - t:.1f} s")
                runs = {
                    "OFFSET pages, no decisions (baseline: the old export)": lambda: offset_pages(
                        store, False
                    ),
                    "OFFSET pages + cluster_rows": lambda: offset_pages(store, True),
                    "keyset pages with decisions (store.pages)": lambda: keyset_pages(store),
                }
                base = None
                for name, run in runs.items():
                    total, times, rows = timed(run)
                    assert rows == n, (name, rows)
                    q = max(1, len(times) // 4)
                    first, last = sum(times[:q]) / q, sum(times[-q:]) / q
                    base = base or total
                    print(
                        f"  {name:55s} {total:7.2f} s  ratio {total / base:5.2f}  "
                        f"per page: first quarter {first * 1000:6.0f} ms, "
                        f"last quarter {last * 1000:6.0f} ms ({last / first:4.1f}×)"
                    )


if __name__ == "__main__":
    main()
