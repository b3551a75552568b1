"""Benchmark of the service: /locate under load, cold start, the 50,000-incident cluster map.

Uses the built boundary data of ``GEOZONE_CACHE_DIR`` (or ``GEOZONE_TEST_CACHE_DIR`` when only
that is set; built first if missing) and a temporary store, and prints:

(a) ``GET /locate?lon&lat`` on loopback against a real ``geozone serve`` (uvicorn, one
    process) with random points in Hà Nội, and ``GET /health`` of the same server in the same
    run as the baseline. For each concurrency level (clients on keep-alive connections, a
    lean asyncio HTTP/1.1 client in this process so the client costs little CPU): requests
    per second, p50 and p99 latency. The ratio is the peak /locate throughput over the peak
    /health throughput; p50/p99 are read at saturation, the fewest clients giving at least
    90% of the peak /locate throughput. Targets (issue 5): ratio ≥ 0.5, p99 < 20 ms.
(b) Cold start of ``geozone serve`` with the data built: seconds from process start to the
    first 200 on ``/health``, and its memory then (VmRSS, VmHWM). The first start on an empty
    store also fills it with SYNTHETIC demo incidents; the target applies to the start on the
    filled store. Baseline: the same interpreter importing the app only. The servers import
    compiled bytecode (kept in a cache of the bench's own when PYTHONDONTWRITEBYTECODE is
    set, as an installed service would have it). Targets: < 5 s, < 1.5 GB RSS.
(c) The cluster map (default the Hà Nội T11 cluster ``hoa-do-phuc-vi-vn2025``) with 50,000
    SYNTHETIC incidents (``geozone.incidents.synthetic``) judged by ``geozone.assignment``,
    built by
    ``maps.cluster_map``: HTML size (assets linked as served, and standalone with assets
    embedded), the time to build it, and the time for headless Chromium (Playwright,
    ``/usr/bin/chromium`` or ``GEOZONE_CHROMIUM``) to load the standalone page and draw every
    layer, incidents included (``GZ.incidentsLoadedAt``, then two animation frames).
    Baseline: the same map without incidents. Target: < 3 s.

Run: ``.venv/bin/python benchmarks/bench_api.py [--parts start,locate,map] [--duration 5]
[--clients 1,2,4,8,16] [--map-incidents 50000] [--save-pages DIR] [--profile]``.
``--profile`` also runs cProfile over in-process ``/locate`` calls (no HTTP) and prints where
the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely

from geozone.context import Context, load_context
from geozone.settings import Settings, get_settings

HOST = "127.0.0.1"
#: Hà Nội in the 2025 units.
HANOI_CODE = "01"
T11 = (105.8064, 21.0387)
#: Folder (under the temp dir) of the servers' bytecode when PYTHONDONTWRITEBYTECODE is set.
PYCACHE = "geozone-bench-pycache"
_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


def bench_settings() -> Settings:
    """Settings whose cache is GEOZONE_CACHE_DIR, or GEOZONE_TEST_CACHE_DIR when only it is set."""
    settings = get_settings()
    test_cache = os.environ.get("GEOZONE_TEST_CACHE_DIR")
    if "GEOZONE_CACHE_DIR" not in os.environ and test_cache:
        settings = settings.model_copy(update={"cache_dir": Path(test_cache)})
    return settings


def ensure_built(settings: Settings) -> None:
    """Build the boundary sets as ``geozone serve`` does (nothing to do when they are built)."""
    from geozone.boundaries.build import build_set
    from geozone.boundaries.manifest import load_manifest

    for entry in load_manifest(settings.manifest_path).sets.values():
        build_set(
            entry,
            settings.data_dir,
            settings.boundary_cache,
            display_simplify_deg=settings.display_simplify_deg,
        )


def hanoi_points(context: Context, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` points uniformly inside Hà Nội (rejection sampling in its envelope)."""
    provinces = context.current.units("province")
    (hanoi,) = provinces.loc[provinces["code"] == HANOI_CODE, "geometry"]
    minx, miny, maxx, maxy = hanoi.bounds
    rng = np.random.default_rng(seed)
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    count = 0
    while count < n:
        x = rng.uniform(minx, maxx, 4 * n)
        y = rng.uniform(miny, maxy, 4 * n)
        inside = shapely.contains_xy(hanoi, x, y)
        lons.append(x[inside])
        lats.append(y[inside])
        count += int(inside.sum())
    return np.concatenate(lons)[:n], np.concatenate(lats)[:n]


# -- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def memory_kb(pid: int) -> dict[str, int]:
    """Return VmRSS and VmHWM (peak RSS) of a process in kB, from /proc."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0])
    return found


@dataclass
class Server:
    """A ``geozone serve`` subprocess and what its start took."""

    process: subprocess.Popen[bytes]
    base: str
    started_s: float
    memory: dict[str, int]
    log: Path

    def stop(self) -> None:
        """Stop the server (SIGINT, as Ctrl-C; killed after 20 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(env: dict[str, str], demo: int, log: Path, timeout_s: float) -> Server:
    """Start ``geozone serve`` and time it until ``/health`` answers 200."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    command = [
        sys.executable,
        "-c",
        "from geozone.cli import main; main()",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--demo-incidents",
        str(demo),
    ]
    with log.open("wb") as out, httpx.Client(timeout=1.0) as client:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        while True:
            if process.poll() is not None:
                raise SystemExit(f"geozone serve exited with {process.returncode}:\n{tail(log)}")
            try:
                if client.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > timeout_s:
                process.kill()
                raise SystemExit(f"geozone serve did not answer in {timeout_s:.0f} s:\n{tail(log)}")
            time.sleep(0.02)
        started = time.perf_counter() - start
    return Server(process, base, started, memory_kb(process.pid), log)


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def import_baseline(env: dict[str, str]) -> float:
    """Seconds for the interpreter to import the app and uvicorn, and exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import api.app, api.cli, uvicorn"], env=env, check=True)
    return time.perf_counter() - start


# -- the load generator -------------------------------------------------------------------------


@dataclass
class Load:
    """What one endpoint did at one concurrency."""

    clients: int
    requests: int
    seconds: float
    latencies_ms: np.ndarray
    errors: list[str]

    @property
    def rate(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """A latency percentile in milliseconds."""
        return float(np.percentile(self.latencies_ms, q))


async def _client(
    port: int, paths: Iterator[str], deadline: float, latencies: list[float], errors: list[str]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    host = f"Host: {HOST}:{port}\r\n\r\n"
    try:
        while time.perf_counter() < deadline:
            request = f"GET {next(paths)} HTTP/1.1\r\n{host}".encode()
            sent = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append(time.perf_counter() - sent)
            if head[9:12] != b"200" and len(errors) < 5:
                errors.append(f"{head[9:12].decode()} {request[:80]!r}: {body[:200]!r}")
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(port: int, paths: list[str], clients: int, seconds: float) -> Load:
    cycle = itertools.cycle(paths)
    latencies: list[float] = []
    errors: list[str] = []
    start = time.perf_counter()
    await asyncio.gather(
        *(_client(port, cycle, start + seconds, latencies, errors) for _ in range(clients))
    )
    elapsed = time.perf_counter() - start
    return Load(clients, len(latencies), elapsed, np.array(latencies) * 1e3, errors)


def load(port: int, paths: list[str], clients: int, seconds: float) -> Load:
    """Keep ``clients`` keep-alive connections busy with ``paths`` (cycled) for ``seconds``."""
    return asyncio.run(_load(port, paths, clients, seconds))


def bench_locate(server: Server, context: Context, args: argparse.Namespace) -> None:
    """(a): /locate against /health at each concurrency."""
    port = int(server.base.rsplit(":", 1)[1])
    lons, lats = hanoi_points(context, args.points, args.seed)
    locate_paths = [f"/locate?lon={x:.6f}&lat={y:.6f}" for x, y in zip(lons, lats, strict=True)]
    answer = httpx.get(f"{server.base}/locate", params={"lon": T11[0], "lat": T11[1]}).json()
    leads = sorted({c["lead_unit"] for c in answer["clusters"]} - {None})
    print(
        f"check: T11 bridge -> {answer['locate_status']} {answer['unit_code']} "
        f"({answer['set_id']}), {len(answer['clusters'])} cluster decision(s), leads {leads}"
    )
    load(port, locate_paths[:200], 2, 1.0)  # warm-up (first calls build lazy indexes)
    levels = [int(c) for c in args.clients.split(",")]
    print(
        f"\n(a) {args.duration:.0f} s per level; {len(locate_paths):,} random points in Hà Nội; "
        f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'clients':>7}  {'endpoint':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  errors")
    health: list[Load] = []
    located: list[Load] = []
    for clients in levels:
        for name, paths, out in (
            ("/health", ["/health"], health),
            ("/locate", locate_paths, located),
        ):
            result = load(port, paths, clients, args.duration)
            out.append(result)
            print(
                f"{clients:>7}  {name:<8} {result.rate:>8,.0f} {result.percentile(50):>8.2f} "
                f"{result.percentile(99):>8.2f}  {len(result.errors) or ''}"
            )
            for error in result.errors:
                print(f"          {error}")
    best_health = max(health, key=lambda r: r.rate)
    best_locate = max(located, key=lambda r: r.rate)
    knee = next(r for r in located if r.rate >= 0.9 * best_locate.rate)
    ratio = best_locate.rate / best_health.rate
    p99 = knee.percentile(99)
    print(
        f"peak /health {best_health.rate:,.0f} req/s ({best_health.clients} clients); "
        f"peak /locate {best_locate.rate:,.0f} req/s ({best_locate.clients} clients)"
    )
    print(
        f"/locate at saturation ({knee.clients} clients, {knee.rate:,.0f} req/s): "
        f"p50 {knee.percentile(50):.2f} ms, p99 {p99:.2f} ms"
    )
    print(f"ratio /locate : /health = {ratio:.2f}×  target ≥ 0.5×: {verdict(ratio >= 0.5)}")
    print(f"p99 at saturation {p99:.1f} ms  target < 20 ms: {verdict(p99 < 20)}")


def profile_locate(context: Context, args: argparse.Namespace) -> None:
    """cProfile of in-process ``services.locate_one`` calls (the /locate route minus HTTP)."""
    from api.services import locate as services

    lons, lats = hanoi_points(context, 400, args.seed + 1)
    services.locate_one(context, float(lons[0]), float(lats[0]), None, None, None)
    start = time.perf_counter()
    for x, y in zip(lons[:100], lats[:100], strict=True):
        services.locate_one(context, float(x), float(y), None, None, None)
    per_call = (time.perf_counter() - start) / 100 * 1e3
    print(f"\nin-process services.locate_one: {per_call:.2f} ms per call (mean of 100)")
    profiler = cProfile.Profile()
    profiler.enable()
    for x, y in zip(lons[100:], lats[100:], strict=True):
        services.locate_one(context, float(x), float(y), None, None, None)
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(r"geozone|api|pandas|shapely", 30)
    print(text.getvalue())


# -- the map ------------------------------------------------------------------------------------


@dataclass
class MapPage:
    """A standalone map page and the incidents it must draw."""

    html: str
    incidents: int


def map_pages(context: Context, args: argparse.Namespace) -> dict[str, MapPage]:
    """Build the cluster map with ``args.map_incidents`` incidents, and without (baseline)."""
    from geozone.assignment import assign
    from geozone.incidents.synthetic import generate_incidents
    from geozone.vntime import VIETNAM_TZ
    from maps import cluster_layers, cluster_map, incident_layer, to_html

    territory = context.territory(args.cluster)
    layers = cluster_layers(territory.cluster, territory.bset)
    wanted = args.map_incidents
    start = time.perf_counter()
    chosen = None
    drawn = 2 * wanted
    while chosen is None or len(chosen) < wanted:
        incidents = generate_incidents(
            drawn,
            args.seed,
            boundaries=territory.bset,
            clusters=[territory.cluster],
            start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
            end=datetime(2026, 6, 30, tzinfo=VIETNAM_TZ),
        )
        judged = assign(incidents, context.sets, [territory])
        chosen = incident_layer(incidents, judged.clusters, args.cluster)
        drawn *= 2
    chosen = chosen.iloc[:wanted]
    rules = ", ".join(f"{k} {v:,}" for k, v in chosen["rule"].value_counts().items())
    print(
        f"\n(c) {len(chosen):,} SYNTHETIC incidents of {args.cluster} (of {len(incidents):,} "
        f"drawn, judged with geozone.assignment) in "
        f"{time.perf_counter() - start:.1f} s; {rules}"
    )
    common = {
        "units": layers.units,
        "boundaries_lines": layers.boundaries_lines,
        "zones": layers.zones,
        "junctions": layers.junctions,
        "hotspots": layers.hotspots,
        "title": layers.title,
        "attribution": layers.attribution,
    }
    start = time.perf_counter()
    served = to_html(cluster_map(**common, incidents=chosen), inline_assets=False)
    built = time.perf_counter() - start
    standalone = to_html(
        cluster_map(**common, incidents=chosen, inline_assets=True), inline_assets=True
    )
    empty = to_html(cluster_map(**common, incidents=None, inline_assets=True), inline_assets=True)
    mb = 1024 * 1024
    print(
        f"map built (cluster_map + to_html) in {built:.2f} s; HTML {len(served.encode()) / mb:.2f} "
        f"MB with assets linked (as served), {len(standalone.encode()) / mb:.2f} MB standalone; "
        f"without incidents {len(empty.encode()) / mb:.2f} MB standalone"
    )
    return {"incidents": MapPage(standalone, len(chosen)), "empty": MapPage(empty, 0)}


class Watch:
    """Errors of a page and the requests it makes off the page (not file: or data:)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []

    def error(self, error: Any) -> None:
        """Record a page error."""
        self.errors.append(str(error))

    def request(self, request: Any) -> None:
        """Record a request leaving the page."""
        if not request.url.startswith(("file:", "data:")):
            self.outside.append(request.url)


#: True once the page has drawn: every incident is in the marker-cluster group (counted by
#: its top cluster) and cluster icons are in the marker pane; records the time it saw that.
#: (Independent of ``GZ.incidentsLoadedAt``, which is printed beside it as a cross-check.)
DRAWN = """(n) => {
    const pane = document.querySelector(".leaflet-marker-pane");
    if (n > 0) {
        const key = Object.keys(window).find(k => /^incident_layer_[0-9a-f]+$/.test(k));
        const top = key && window[key]._topClusterLevel;
        if (!top || top.getChildCount() < n || !pane || !pane.children.length) { return false; }
    }
    window.benchDrawnAt = window.benchDrawnAt || performance.now();
    return true;
}"""
STATE = """async () => {
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const nav = performance.getEntriesByType("navigation")[0];
    return {
        painted: performance.now(),
        drawn: window.benchDrawnAt,
        load: nav.loadEventEnd,
        flag: window.GZ ? GZ.incidentsLoadedAt : undefined,
        paths: document.querySelectorAll(".leaflet-overlay-pane path").length,
        icons: document.querySelectorAll(".leaflet-marker-pane > *").length,
    };
}"""


def browser_times(pages: dict[str, MapPage], repeats: int) -> None:
    """Time headless Chromium loading each page until its layers are drawn and painted."""
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("GEOZONE_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        print("no Chromium (apt-get install chromium, or set GEOZONE_CHROMIUM): map not timed")
        return
    results: dict[str, list[float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="geozone-bench-map-") as folder,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for name, spec in pages.items():
            page_file = Path(folder) / f"{name}.html"
            page_file.write_text(spec.html, encoding="utf-8")
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                watch = Watch()
                page.on("pageerror", watch.error)
                page.on("request", watch.request)
                start = time.perf_counter()
                page.goto(page_file.as_uri(), wait_until="load", timeout=120_000)
                page.wait_for_function(DRAWN, arg=spec.incidents, polling="raf", timeout=120_000)
                state = page.evaluate(STATE)
                wall = time.perf_counter() - start
                page.close()
                if watch.errors or watch.outside:
                    print(f"  {name}: page errors {watch.errors[:3]}, off-page {watch.outside[:3]}")
                results.setdefault(name, []).append(wall)
                print(
                    f"  {name:<9} wall {wall:.2f} s; in page: load {fmt_ms(state['load'])}, "
                    f"drawn {fmt_ms(state['drawn'])}, painted {fmt_ms(state['painted'])} "
                    f"(GZ.incidentsLoadedAt {fmt_ms(state['flag'])}); {state['paths']:,} "
                    f"vector paths, {state['icons']:,} marker icons"
                )
        browser.close()
    with_incidents = statistics.median(results["incidents"])
    without = statistics.median(results["empty"])
    print(
        f"render (median of {repeats}, goto to painted): {with_incidents:.2f} s with "
        f"{pages['incidents'].incidents:,} incidents, {without:.2f} s without = "
        f"{with_incidents / without:.1f}× baseline;  target < 3 s: {verdict(with_incidents < 3)}"
    )


def fmt_ms(value: float | None) -> str:
    """Milliseconds since navigation as seconds, or '-'."""
    return "-" if value is None else f"{value / 1e3:.2f} s"


def verdict(ok: bool) -> str:
    """'met' or 'NOT met'."""
    return "met" if ok else "NOT met"


def bench_server(settings: Settings, args: argparse.Namespace) -> None:
    """(b) then (a): cold starts, then the load on the restarted server."""
    with tempfile.TemporaryDirectory(prefix="geozone-bench-api-") as folder:
        env = {
            **os.environ,
            "GEOZONE_CACHE_DIR": str(settings.cache_dir),
            "GEOZONE_STORE_URL": f"sqlite:///{Path(folder) / 'store.sqlite'}",
        }
        # An installed service imports compiled bytecode. Where the environment forbids
        # writing it (PYTHONDONTWRITEBYTECODE) every start would compile pandas, geopandas,
        # scipy, libpysal and fastapi from source: keep the bytecode in a cache of our own.
        if env.pop("PYTHONDONTWRITEBYTECODE", None):
            print("PYTHONDONTWRITEBYTECODE is set here: the server gets a bytecode cache")
        env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / PYCACHE))
        compiling = import_baseline(env)
        baseline = import_baseline(env)
        print(
            f"\n(b) baseline: interpreter + import of the app: {baseline:.2f} s "
            f"(first run, bytecode compiled when missing: {compiling:.2f} s)"
        )
        first = start_server(env, args.demo, Path(folder) / "first.log", args.start_timeout)
        first.stop()
        print(
            f"first start (empty store, fills {args.demo:,} SYNTHETIC demo incidents): "
            f"{first.started_s:.2f} s, RSS {first.memory['VmRSS'] / 1024:,.0f} MB"
        )
        server = start_server(env, args.demo, Path(folder) / "serve.log", args.start_timeout)
        try:
            rss_mb = server.memory["VmRSS"] / 1024
            print(
                f"cold start (built data, filled store): {server.started_s:.2f} s "
                f"= {server.started_s / baseline:.1f}× baseline; RSS {rss_mb:,.0f} MB "
                f"(peak {server.memory['VmHWM'] / 1024:,.0f} MB)"
            )
            print(f"cold start target < 5 s: {verdict(server.started_s < 5)}")
            print(f"memory target < 1.5 GB RSS: {verdict(rss_mb < 1.5 * 1024)}")
            if "locate" in args.parts:
                bench_locate(server, load_context(settings), args)
                after = memory_kb(server.process.pid)
                print(
                    f"server memory after the load: RSS {after['VmRSS'] / 1024:,.0f} MB, "
                    f"peak {after['VmHWM'] / 1024:,.0f} MB"
                )
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--parts",
        default="start,locate,map",
        help="comma-separated: start (b), locate (a; needs start), map (c), profile",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per load level")
    parser.add_argument("--clients", default="1,2,4,8,16", help="concurrency levels")
    parser.add_argument("--points", type=int, default=5_000, help="distinct /locate points")
    parser.add_argument("--demo", type=int, default=20_000, help="serve's --demo-incidents")
    parser.add_argument("--map-incidents", type=int, default=50_000)
    parser.add_argument("--cluster", default="hoa-do-phuc-vi-vn2025")
    parser.add_argument("--repeats", type=int, default=3, help="page loads per map")
    parser.add_argument("--save-pages", type=Path, help="also write the map pages here")
    parser.add_argument("--profile", action="store_true", help="same as --parts …,profile")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--start-timeout", type=float, default=600.0)
    args = parser.parse_args()
    args.parts = set(args.parts.split(",")) | ({"profile"} if args.profile else set())

    settings = bench_settings()
    ensure_built(settings)
    print(f"boundary data: {settings.boundary_cache}")
    if "start" in args.parts:
        bench_server(settings, args)
    if "profile" in args.parts:
        profile_locate(load_context(settings), args)
    if "map" in args.parts:
        pages = map_pages(load_context(settings), args)
        if args.save_pages:
            args.save_pages.mkdir(parents=True, exist_ok=True)
            for name, spec in pages.items():
                (args.save_pages / f"{name}.html").write_text(spec.html, encoding="utf-8")
        browser_times(pages, args.repeats)


if __name__ == "__main__":
    main()
