"""Benchmark of the incident store: bulk insert and bbox queries, SQLite and PostGIS.

Prints figures only; run with ``uv run python benchmarks/bench_store.py [--rows N]``.
Synthetic rows (``synthetic = True``): random points in Vietnam's bounding box, random times in
2024 and categories, made with numpy. PostgreSQL runs in a throw-away cluster started like the
test suite's (tests/store/pg.py); without PostgreSQL binaries that part is skipped and said so.

Baselines measured in the same run, on the same rows:

- insert: ``pandas.DataFrame.to_sql`` (SQLAlchemy executemany, in the same chunks) into a
  plain table with no index, no constraint and no spatial index;
- bbox query: the same box on that plain table (``lon/lat BETWEEN``, a full scan), read with
  ``pandas.read_sql``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.store.pg

from geozone.incidents.schema import CATEGORIES
from geozone.store import IncidentQuery, open_store
from geozone.vntime import VIETNAM_TZ
from tests.store.pg import PostgresUnavailableError, TempPostgres

#: Vietnam's bounding box (lon/lat).
VN_BBOX = (102.14, 8.56, 109.47, 23.39)
CHUNK = 20_000


def synthetic_incidents(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` synthetic incidents: uniform points in Vietnam's bbox, times in 2024."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = VN_BBOX
    occurred = pd.Timestamp("2024-01-01", tz=VIETNAM_TZ) + pd.to_timedelta(
        rng.integers(0, 366 * 86_400, n), unit="s"
    )
    return pd.DataFrame(
        {
            "external_id": np.char.add("syn-", np.arange(n).astype(str)),
            "occurred_at": occurred,
            "detected_at": occurred + pd.to_timedelta(rng.integers(0, 7_200, n), unit="s"),
            "lon": rng.uniform(minx, maxx, n),
            "lat": rng.uniform(miny, maxy, n),
            "category": rng.choice(list(CATEGORIES), n),
            "status": rng.choice(["open", "solved"], n),
            "subjects": rng.integers(0, 5, n),
            "description": "Dữ liệu tổng hợp (synthetic)",
            "synthetic": True,
        }
    )


def boxes(n: int, size: float, seed: int = 1) -> list[tuple[float, float, float, float]]:
    """``n`` random square boxes of ``size`` degrees inside Vietnam's bbox."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = VN_BBOX
    x = rng.uniform(minx, maxx - size, n)
    y = rng.uniform(miny, maxy - size, n)
    return [
        (float(a), float(b), float(a + size), float(b + size)) for a, b in zip(x, y, strict=True)
    ]


def timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench(name: str, store_url: str, plain_url: str, frame: pd.DataFrame) -> None:
    n = len(frame)
    chunks = [frame.iloc[i : i + CHUNK] for i in range(0, n, CHUNK)]
    with open_store(store_url) as store:
        took = timed(lambda: [store.add_incidents(chunk) for chunk in chunks])
        assert store.count(IncidentQuery()) == n

        plain = sa.create_engine(plain_url)
        baseline = timed(
            lambda: [
                chunk.to_sql("plain_incidents", plain, if_exists="append", index=False)
                for chunk in chunks
            ]
        )
        print(
            f"{name} insert {n:,} rows in chunks of {CHUNK:,}: store {took:.2f} s "
            f"({n / took:,.0f} rows/s; 9 B-tree indexes with the unique id, spatial index) vs "
            f"to_sql into a "
            f"plain table {baseline:.2f} s ({n / baseline:,.0f} rows/s) = {took / baseline:.2f}×"
        )
        repeat = timed(lambda: store.add_incidents(chunks[0]))
        print(f"{name} re-adding {len(chunks[0]):,} stored rows (all duplicates): {repeat:.2f} s")

        for size in (0.1, 1.0):
            sample = boxes(100, size)
            store_ms, plain_ms, rows = [], [], []
            for box in sample:
                start = time.perf_counter()
                _page, total = store.query(IncidentQuery(bbox=box, limit=10_000))
                store_ms.append((time.perf_counter() - start) * 1000)
                rows.append(total)
                sql = sa.text(
                    "SELECT * FROM plain_incidents WHERE lon BETWEEN :minx AND :maxx "
                    "AND lat BETWEEN :miny AND :maxy"
                )
                params = dict(zip(("minx", "miny", "maxx", "maxy"), box, strict=True))
                start = time.perf_counter()
                with plain.connect() as connection:
                    plain_rows = pd.read_sql(sql, connection, params=params)
                plain_ms.append((time.perf_counter() - start) * 1000)
                assert len(plain_rows) == total, (box, len(plain_rows), total)
            s, p = statistics.median(store_ms), statistics.median(plain_ms)
            print(
                f"{name} bbox query {size:g}° box (median of 100, ~{statistics.mean(rows):,.0f} "
                f"rows, GeoDataFrame + total): store {s:.1f} ms vs plain-table scan {p:.1f} ms "
                f"= {s / p:.2f}×"
            )
        plain.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--skip-postgis", action="store_true")
    args = parser.parse_args()
    frame = synthetic_incidents(args.rows)
    with tempfile.TemporaryDirectory() as folder:
        bench(
            "SQLite ",
            f"sqlite:///{folder}/store.sqlite",
            f"sqlite:///{folder}/plain.sqlite",
            frame,
        )
    if args.skip_postgis:
        return
    try:
        server = TempPostgres().start()
    except PostgresUnavailableError as exc:
        print(f"PostGIS: skipped ({exc})")
        return
    try:
        url = server.create_database("bench")
        bench("PostGIS", url, url, frame)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
