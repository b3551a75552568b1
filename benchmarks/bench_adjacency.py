"""Benchmark: national ward adjacency and border zones on the 2025 set (figures only).

Run from the checkout, after ``uv run geozone data build``::

    uv run python benchmarks/bench_adjacency.py

It prints the time of the national ward adjacency (3,321 wards, about 7 M vertices), what it
found, the time of the border zones of every line pair in the country, the peak memory, and
a baseline measured in the same run: a plain STRtree "intersects" self-query over the same
polygons (the candidate search alone, without any measuring).
"""

from __future__ import annotations

import platform
import resource
import time
from collections.abc import Callable
from typing import TypeVar

import shapely

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import adjacency
from geozone.clusters.zones import DEFAULT_WIDTH_M, border_zones

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    wards, load_s = timed(lambda: BoundarySet.load("vn2025"))
    frame = wards.units("ward")
    frame = frame[frame["has_geometry"]]
    geoms = frame.geometry.to_numpy()
    vertices = int(shapely.get_num_coordinates(geoms).sum())
    print(
        f"python {platform.python_version()}, shapely {shapely.__version__}, "
        f"GEOS {shapely.geos_version_string}"
    )
    print(f"load vn2025: {load_s:.2f} s; {len(frame)} wards, {vertices:,} vertices")

    def baseline() -> int:
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        return int((left < right).sum())

    candidates, baseline_s = timed(baseline)
    print(f"baseline STRtree intersects self-query: {baseline_s:.2f} s, {candidates} pairs")

    adj, adjacency_s = timed(lambda: adjacency(wards))
    pairs = adj.pairs
    lines = int((pairs["contact"] == "line").sum())
    points = int((pairs["contact"] == "point").sum())
    near = int((pairs["near_length_m"] > 0).sum())
    print(
        f"national ward adjacency: {adjacency_s:.2f} s ({adjacency_s / baseline_s:.1f}x baseline); "
        f"tolerance {adj.tolerance_m:g} m"
    )
    print(
        f"  pairs {len(pairs)}: {lines} line, {points} point; {near} with near (non-coincident) "
        f"edges, {pairs['near_length_m'].sum() / 1000:.1f} km of them; "
        f"cross-province {int(pairs['cross_province'].sum())}"
    )
    counts = adj.junctions["n_units"].value_counts().sort_index()
    print(
        f"  junctions {len(adj.junctions)} ("
        + ", ".join(f"{n} units: {c}" for n, c in counts.items())
        + f"); graph components {adj.graph.n_components}, isolates {len(adj.graph.isolates)}"
    )
    print(f"  peak memory so far: {peak_mib():.0f} MiB")

    width = DEFAULT_WIDTH_M["ward"]
    codes = list(frame["code"])
    zones, zones_s = timed(lambda: border_zones(wards, codes, width, adjacency=adj))
    print(
        f"border zones of all {len(zones.pairs)} line pairs and {len(zones.junction_zones)} "
        f"junctions at {width:g} m (UTM {zones.utm_epsg}): {zones_s:.2f} s "
        f"({zones_s / baseline_s:.1f}x baseline); {len(zones.sides)} sides, "
        f"{zones.zones['area_m2'].sum() / 1e6:,.0f} km² before union"
    )
    union, union_s = timed(lambda: zones.union)
    print(f"  union of all zones: {union_s:.2f} s, {union['area_m2'].iloc[0] / 1e6:,.0f} km²")

    legacy, _ = timed(lambda: BoundarySet.load("vn-legacy-districts"))
    districts, districts_s = timed(lambda: adjacency(legacy, level="district"))
    print(
        f"legacy district adjacency: {districts_s:.2f} s, {len(districts.pairs)} pairs, "
        f"{len(districts.junctions)} junctions"
    )
    total = adjacency_s + zones_s + union_s
    print(f"peak memory: {peak_mib():.0f} MiB; adjacency + zones + union: {total:.1f} s")


if __name__ == "__main__":
    main()
