"""Benchmark of the OGC ``units`` collection: the page a GIS client asks for, before and after.

Uses the built boundary data of ``GEOZONE_CACHE_DIR`` (``geozone data build``) and a temporary
store; the app runs in this process (Starlette's test client, no network), so the times are
the server's work: query, encoding and compression.

Rows, for one page of ``/collections/units/items?limit=N`` of the current set:

- ``baseline``: the page as the service built it before (full-resolution geometries turned
  into dicts, FastAPI's ``jsonable_encoder``, then ``json.dumps``), measured here by running
  that path directly, with no compression;
- ``full``: ``resolution=full`` as served now (orjson, GeoJSON text spliced in), with and
  without gzip;
- ``simplified``: the default (the set's display layer), with and without gzip.

For each: the median seconds over ``--repeats`` requests, the bytes sent, and both as a
ratio to the baseline measured in the same run.

Run: ``GEOZONE_CACHE_DIR=/path/to/cache .venv/bin/python benchmarks/bench_ogc.py
[--limit 10000] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from api.app import create_app
from api.services.boundaries import unit_features
from api.settings import ApiSettings
from geozone.context import load_context


def timed(action: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Return the median seconds of ``action`` and the byte count it returned."""
    times, size = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        size = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ApiSettings(store_url=f"sqlite:///{Path(tmp) / 'store.sqlite'}")
        context = load_context(settings)
        bset = context.current
        frame = bset.frame[bset.frame["has_geometry"]].iloc[: args.limit]
        print(f"set {bset.id}: {len(frame):,} units on the page (limit {args.limit:,})")

        def baseline() -> int:
            body = {"type": "FeatureCollection", "features": unit_features(bset, frame)}
            text = json.dumps(
                jsonable_encoder(body), ensure_ascii=False, allow_nan=False, separators=(",", ":")
            )
            return len(text.encode("utf-8"))

        app = create_app(settings, context=context)
        rows: list[tuple[str, float, int]] = []
        with TestClient(app) as client:

            def served(resolution: str, encoding: str) -> Callable[[], int]:
                def fetch() -> int:
                    response = client.get(
                        "/collections/units/items",
                        params={"limit": args.limit, "resolution": resolution},
                        headers={"Accept-Encoding": encoding},
                    )
                    assert response.status_code == 200, response.text
                    return int(response.headers["content-length"])

                return fetch

            first = client.get("/collections/units/items", params={"limit": args.limit})
            assert first.json()["numberReturned"] == len(frame)  # reads the display layer once
            rows.append(("baseline (before: full, dicts, no gzip)", *timed(baseline, args.repeats)))
            for resolution in ("full", "simplified"):
                for encoding in ("identity", "gzip"):
                    seconds, size = timed(served(resolution, encoding), args.repeats)
                    rows.append((f"{resolution}, {encoding}", seconds, size))
        base_s, base_b = rows[0][1], rows[0][2]
        print(f"{'page':42} {'seconds':>8} {'MB sent':>9} {'time/base':>9} {'size/base':>9}")
        for name, seconds, size in rows:
            print(
                f"{name:42} {seconds:8.2f} {size / 1e6:9.1f} "
                f"{seconds / base_s:9.3f} {size / base_b:9.3f}"
            )
        print("(gzip rows include the test client's decompression of the answer)")


if __name__ == "__main__":
    main()
