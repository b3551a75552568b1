"""The one-shot command against a bare geopandas script, both measured as whole processes.

A user runs ``geozone incidents assign FILE -o OUT.parquet`` once: the process starts, reads
and validates the file, loads the boundary sets and clusters, judges every incident (unit
chain, on-boundary candidates, border zones, lead unit, sentences in two languages) and
writes the result. The baseline is what the user would write instead, ten lines of
geopandas: read the Parquet, ``sjoin(predicate="within")`` to the 2025 wards, write Parquet.

The incidents are SYNTHETIC (``geozone incidents generate``, labelled synthetic on every row
and in the file's metadata). The two commands run as fresh processes in alternation,
``--repeat`` times each; the figures are the medians of wall time and of each process's own
peak RSS, and their ratios; the best run of each is a secondary line.

Run (the built sets must exist; the shared cache has them)::

    GEOZONE_CACHE_DIR=/work/main/.cache/geozone .venv/bin/python benchmarks/bench_oneshot.py \\
        [-n 1000000] [--seed 7] [--repeat 3] [--incidents FILE]

The machine may be shared: absolute figures move between runs; the ratios come from
alternating runs under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: The script a user would write instead of geozone (argv: incidents, units, output).
BARE_SCRIPT = """\
import sys
import geopandas as gpd

points = gpd.read_parquet(sys.argv[1])
units = gpd.read_parquet(sys.argv[2], columns=["code", "level", "geometry"])
wards = units[units["level"] == "ward"][["code", "geometry"]]
joined = gpd.sjoin(points, wards, predicate="within", how="left")
joined.to_parquet(sys.argv[3])
"""

#: The geozone command line, run by this interpreter (the geozone it imports is measured).
GEOZONE = "import sys; from geozone.cli import main; sys.argv[0] = 'geozone'; main()"

#: Runs argv[1:] and prints its wall time, CPU time and own peak RSS. A small process of its
#: own: a child's peak RSS counts the memory of the process it was spawned from (the kernel
#: keeps the high-water mark over exec), which must not be this benchmark's.
LAUNCHER = """\
import json, os, sys, time
start = time.perf_counter()
quiet = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ, file_actions=quiet)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
code = os.waitstatus_to_exitcode(status)
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps({"wall": wall, "cpu": cpu, "rss_mb": usage.ru_maxrss / 1024, "code": code}))
"""


def run(command: list[str]) -> tuple[float, float, float]:
    """Run a whole process; return its wall seconds, CPU seconds and own peak RSS in MB."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *command], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["code"]:
        raise RuntimeError(f"{command[:4]} failed ({result['code']}): {done.stderr[-2000:]}")
    return float(result["wall"]), float(result["cpu"]), float(result["rss_mb"])


def units_file() -> Path:
    """The built 2025 set's units (GeoParquet with code, level, geometry)."""
    from geozone.context import load_context

    path = load_context().boundary_set("vn2025").units_path
    assert path is not None
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=1_000_000, help="synthetic incidents")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--incidents", type=Path, help="use this file instead of generating")
    args = parser.parse_args()
    if "GEOZONE_CACHE_DIR" not in os.environ:
        print("note: GEOZONE_CACHE_DIR is not set; the default cache must hold the built sets")
    units = units_file()
    geozone = [sys.executable, "-c", GEOZONE]
    with tempfile.TemporaryDirectory(prefix="bench-oneshot-") as temp:
        folder = Path(temp)
        source = args.incidents
        if source is None:
            source = folder / "incidents.parquet"
            generate = ["incidents", "generate", "-n", str(args.n), "--seed", str(args.seed)]
            subprocess.run(
                [*geozone, *generate, "-o", str(source)], check=True, capture_output=True
            )
        script = folder / "bare_sjoin.py"
        script.write_text(BARE_SCRIPT)
        commands = {
            "bare geopandas script": [sys.executable, str(script), str(source), str(units)],
            "geozone incidents assign": [*geozone, "incidents", "assign", str(source), "-o"],
        }
        runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
        print(f"{source.name}: {source.stat().st_size / 2**20:,.0f} MB, SYNTHETIC incidents")
        for k in range(args.repeat):
            for name, command in commands.items():
                out = folder / f"out-{k}-{name.split()[0]}.parquet"
                runs[name].append(run([*command, str(out)]))
                out.unlink(missing_ok=True)
                wall, cpu, rss = runs[name][-1]
                print(f"  run {k + 1} {name}: {wall:.2f} s ({cpu:.2f} s CPU), {rss:,.0f} MB")
    report(runs)


def report(runs: dict[str, list[tuple[float, float, float]]]) -> None:
    """Print the medians, their ratios and (secondary) the best runs.

    CPU time (user and system, all threads) is printed too: on a shared machine it moves
    less than wall time with the load.
    """
    medians = {}
    print(f"\nwhole processes, alternating, medians of {len(next(iter(runs.values())))}:")
    for name, measured in runs.items():
        wall = statistics.median(w for w, _, _ in measured)
        cpu = statistics.median(c for _, c, _ in measured)
        rss = statistics.median(r for _, _, r in measured)
        medians[name] = (wall, cpu, rss)
        print(f"  {name}: wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:,.0f} MB")
    (bare, bare_cpu, bare_rss), (ours, ours_cpu, ours_rss) = medians.values()
    print(
        f"ratio (geozone / bare): wall {ours / bare:.2f}× (target ≤ 1.5×), "
        f"CPU {ours_cpu / bare_cpu:.2f}×, "
        f"peak RSS {ours_rss / bare_rss:.2f}× ({ours_rss:,.0f} MB; target ≤ 1,536 MB)"
    )
    best = {name: min(w for w, _, _ in measured) for name, measured in runs.items()}
    bare_best, ours_best = best.values()
    print(
        f"  (secondary, best runs: {ours_best:.2f} s / {bare_best:.2f} s = "
        f"{ours_best / bare_best:.2f}×)"
    )


if __name__ == "__main__":
    main()
