"""Benchmark of the foundation: national build, loading a built set, locate_many.

Prints figures only; run with ``uv run python benchmarks/bench_foundation.py [--skip-build]``.
Baseline measured in the same run: ``geopandas.sjoin(predicate="within")`` of the same points
on the same wards. Targets (issue 2): build < 3 min, load < 3 s, locate_many ≤ 2× sjoin.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from geozone.boundaries.build import build_set
from geozone.boundaries.manifest import load_manifest
from geozone.boundaries.sets import BoundarySet
from geozone.settings import get_settings


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_build() -> None:
    settings = get_settings()
    manifest = load_manifest(settings.manifest_path)
    with tempfile.TemporaryDirectory() as tmp:
        for entry in manifest.sets.values():
            start = time.perf_counter()
            report = build_set(entry, settings.data_dir, Path(tmp))
            total = time.perf_counter() - start
            steps = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
            print(f"build {entry.id}: {total:.1f} s ({steps})")


def bench_load() -> None:
    code = (
        "import time; t0=time.perf_counter();"
        "from geozone.boundaries.sets import BoundarySet; t1=time.perf_counter();"
        "b=BoundarySet.load('vn2025'); t2=time.perf_counter(); b.locate(105.8064, 21.0387);"
        "print(f'{t1-t0:.2f} {t2-t1:.2f} {time.perf_counter()-t2:.2f}')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imports, load, first = out.stdout.split()
    print(
        f"fresh process: imports (geopandas…) {imports} s; load vn2025 {load} s; "
        f"first locate (builds the index) {first} s"
    )


def bench_locate(n: int) -> None:
    bset = BoundarySet.load("vn2025")
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(102.1, 109.5, n), rng.uniform(8.5, 23.4, n)
    wards = bset.units("ward")[["code", "geometry"]]
    bset.locate_many(lon[:10], lat[:10])  # build the index outside the timing

    start = time.perf_counter()
    points = gpd.GeoDataFrame(geometry=shapely.points(lon, lat), crs=4326)
    joined = gpd.sjoin(points, wards, predicate="within")
    baseline = time.perf_counter() - start
    print(
        f"baseline sjoin(within) {n:,} points on {len(wards):,} wards: {baseline:.2f} s "
        f"({len(joined):,} inside)"
    )
    for tolerance in (0.0, 10.0):
        start = time.perf_counter()
        result = bset.locate_many(lon, lat, tolerance_m=tolerance)
        took = time.perf_counter() - start
        print(
            f"locate_many tolerance {tolerance:g} m: {took:.2f} s "
            f"= {took / baseline:.2f}× baseline, "
            f"{n / took:,.0f} points/s, {(result['status'] == 'inside').sum():,} inside, "
            f"{int(result['on_boundary'].sum()):,} on a boundary"
        )
    start = time.perf_counter()
    for i in range(1000):
        bset.locate(lon[i], lat[i])
    print(f"single locate: {(time.perf_counter() - start):.3f} ms per call (1,000 calls)")
    print(f"peak RSS: {_peak_rss_mb():,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("-n", type=int, default=1_000_000)
    args = parser.parse_args()
    if not args.skip_build:
        bench_build()
    bench_load()
    bench_locate(args.n)


if __name__ == "__main__":
    main()
