"""Benchmark of the served cluster map: from the key typed to the incidents painted, in Chromium.

Uses the built boundary data of ``GEOZONE_CACHE_DIR`` and a store of SYNTHETIC incidents of
the Hà Nội T11 cluster (``hoa-do-phuc-vi-vn2025``, confirmed as a carried cluster), judged by
``geozone.assignment`` as ``geozone serve`` judges them. The store is built once per size
and kept in ``--store-dir`` (default a folder in the temp dir) for later runs.

For each size, uvicorn serves :func:`api.app.create_app` on loopback and headless Chromium
(Debian's, through Playwright) opens ``/maps/clusters/hoa-do-phuc-vi-vn2025`` at 1440×900,
types an analyst key into the page's key box and waits until every incident is drawn
(``GZ.incidentsLoadedAt``, then two animation frames). Printed, in the same run:

- **before**: the incident table built for the request, as every request built it before
  this change (the page's cache emptied just before the key is typed): key → painted,
  and the server's part of it;
- **after**: the same page once the table was built in the background while the page was
  open (what a user gets: the table is built when the page opens, and once per assignment):
  key → painted, server part, and the ratio after / before;
- the Gi* layer: how long after the markers it is drawn;
- signed in at ``/login`` (no key typed), every cache empty, as for the first user after an
  import: page opened → markers painted (the table built for it) and the Gi* layer after
  them (its incidents read once for Gi* and emerging, the page's request and the warm-up
  sharing one computation: :meth:`api.services.analytics.AnalyticsCache.once`);
- at zoom 19 over the T11 bridge: how many cluster bubbles are left (target 0);
- requests off loopback (target 0);
- for each, the table build's wall time and the CPU time of the thread that built it: on a
  busy machine (other processes on the same cores) the wall times grow, the CPU time not.

Each run first waits until the process is idle (the hotspot layers of the run before are
computed after its markers, in the background); ``--gi-timeout`` bounds the wait for the
Gi* layer (nan past it).

Targets (issue 18): 50,000 incidents < 1.5 s, 200,000 < 3 s, Gi* within 1 s of the markers.

Run: ``GEOZONE_CACHE_DIR=... .venv/bin/python benchmarks/bench_maps.py [--sizes 50000,200000]
[--repeats 3] [--store-dir DIR] [--cold-sizes 50000,200000] [--gi-timeout 600] [--profile]``;
``--profile`` prints where the cold build of the table spends its time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import faulthandler
import io
import os
import pstats
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from geozone.clusters.model import Confirmation
from geozone.settings import get_settings

T11 = "hoa-do-phuc-vi-vn2025"
#: The T11 cluster carried into the 2025 units, confirmed (as the tests confirm it).
CONFIRMED = Confirmation(T11, datetime(2025, 7, 1).date(), "test")
T11_LONLAT = (105.8064, 21.0387)
CHROMIUM = os.environ.get("GEOZONE_CHROMIUM", "/usr/bin/chromium")
FIND_MAP = "Object.keys(window).find(k => k.startsWith('map_') && window[k] instanceof L.Map)"
MAP = f"window[{FIND_MAP}]"


def build_store(path: Path, wanted: int, seed: int) -> int:
    """Fill a SQLite store with at least ``wanted`` SYNTHETIC T11 incidents; return how many."""
    from geozone.context import load_context
    from geozone.incidents.pipeline import assign_stale
    from geozone.incidents.synthetic import generate_incidents
    from geozone.store import IncidentQuery, open_store
    from geozone.vntime import VIETNAM_TZ

    settings = get_settings()
    context = load_context(settings, confirmations=[CONFIRMED])
    territory = context.territory(T11)
    url = f"sqlite:///{path}"
    with open_store(url, settings=settings) as store:
        store.confirm_cluster(CONFIRMED)
        have = store.count(IncidentQuery(cluster_id=T11))
        batch = 0
        while have < wanted:  # about half of the drawn incidents fall to the cluster
            drawn = generate_incidents(
                int((wanted - have) * 2.1) + 100,
                seed + batch,
                boundaries=territory.bset,
                clusters=[territory.cluster],
                start=datetime(2025, 7, 1, tzinfo=VIETNAM_TZ),
                end=datetime(2026, 10, 31, tzinfo=VIETNAM_TZ),
            )
            drawn["external_id"] = [f"B{batch}-{x}" for x in drawn["external_id"]]
            store.add_incidents(drawn)
            assign_stale(store, context)
            have = store.count(IncidentQuery(cluster_id=T11))
            batch += 1
        assign_stale(store, context)  # nothing stale: the served tables are cached
        return int(have)


#: Parts of the run left out (``--skip``).
SKIP: set[str] = set()
#: The name of each key the benchmark made (for the sign-in form).
app_key_names: dict[str, str] = {}


@contextmanager
def serve(store_path: Path) -> Iterator[tuple[str, str, Any]]:
    """Serve the app over the store on loopback; yield its base URL, an analyst key, the app."""
    import uvicorn

    from api.app import create_app
    from api.auth_store import create_key
    from api.settings import ApiSettings
    from geozone.context import load_context

    store_url = f"sqlite:///{store_path}"
    settings = ApiSettings(**{**get_settings().model_dump(), "store_url": store_url})
    context = load_context(settings, confirmations=[CONFIRMED])
    name = f"bench-{time.time_ns()}"
    key = create_key(store_url, name, "analyst")
    app_key_names[key] = name
    app = create_app(settings, context=context, store_url=store_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", key, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def forget_tables(app: Any, *, warm_up: bool) -> None:
    """Empty the served maps' incident-table and analytics caches; turn the warm-up on or off.

    With both off, every key typed builds the table and the hotspot layers for the request,
    as before this change.
    """
    from api.services import maps as service

    app.state.map_incident_bodies = service.IncidentBodies()
    app.state.analytics_cache = None
    app.state.map_warm_up = warm_up


def wait_idle(timeout_s: float = 900) -> None:
    """Wait until this process (server threads included) is idle: under 10 % of a core.

    The hotspot layers of a previous run may still be computed in the background (they
    follow the markers, and take long at 200,000 incidents); a run started meanwhile would
    time the markers against them.
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        cpu = time.process_time()
        time.sleep(1.0)
        if time.process_time() - cpu < 0.1:
            break
    waited = time.perf_counter() - start
    if waited > 1.5:
        note(f"waited {waited:.0f} s for the previous run's background work")


def wait_warm(app: Any, timeout_s: float = 600) -> float:
    """Wait until the table the page started building in the background is built.

    The hotspot layers go on being computed after it (their timing is measured apart).
    """
    start = time.perf_counter()
    while time.perf_counter() - start < timeout_s:
        cache = getattr(app.state, "map_incident_bodies", None)
        if cache is not None and cache.builds:
            break
        time.sleep(0.05)
    return time.perf_counter() - start


def open_and_type_key(
    browser: Any, base: str, key: str, app: Any, *, cold: bool
) -> dict[str, float | int]:
    """Open the map, type the key, wait for the markers; return timings and counts."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    server_ms: list[float] = []

    def record(request: Any) -> None:
        if "/incidents" in request.url:
            timing = request.timing
            server_ms.append(timing["responseStart"] - timing["requestStart"])

    page.on("requestfinished", record)
    wait_idle()
    forget_tables(app, warm_up=not cold)
    page.goto(f"{base}/maps/clusters/{T11}")
    page.wait_for_function(f"() => {MAP} && {MAP}.gzIncidents")
    page.evaluate(
        f"""() => {{
        const map = {MAP};
        window.gzBench = {{}};
        map.on("gz:layer", e => {{ window.gzBench[e.kind] = performance.now(); }});
    }}"""
    )
    if not cold:
        note(f"built in the background in {wait_warm(app):.1f} s while the page was open")
    page.fill("#gz-api-key", key)
    note(f"key typed ({'cold' if cold else 'warm'})")
    start = page.evaluate("performance.now()")
    page.click(".gz-key-use")
    page.wait_for_function(
        "() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=600_000, polling=10
    )
    painted = page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
        "() => r(performance.now()))))"
    )
    note(f"painted in {(painted - start) / 1000:.2f} s")
    gi = wait_gi(page)
    drawn = page.evaluate(f"{MAP}.gzIncidents.group.gzCount")
    note(f"{drawn:,} drawn; zooming to 19 over the bridge")
    page.evaluate(f"void {MAP}.setView([{T11_LONLAT[1]}, {T11_LONLAT[0]}], 19, {{animate: false}})")
    page.wait_for_timeout(500)
    bubbles = page.evaluate(  # bubbles in view (markercluster leaves some off-screen)
        "() => Array.from(document.querySelectorAll('.marker-cluster')).filter(e => {"
        " const r = e.getBoundingClientRect();"
        " return r.right > 0 && r.bottom > 0 && r.left < innerWidth && r.top < innerHeight;"
        " }).length"
    )
    note(f"{bubbles} cluster bubbles at zoom 19")
    off = [u for u in requests if urlsplit(u).hostname not in ("127.0.0.1", "localhost")]
    context.close()
    build_wall, build_cpu = app.state.map_incident_bodies.last_build
    return {
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        "key_to_painted_s": (painted - start) / 1000,
        "server_s": (server_ms[-1] / 1000) if server_ms else float("nan"),
        "gi_after_markers_s": (gi - painted) / 1000 if gi == gi else float("nan"),
        "drawn": int(drawn),
        "bubbles_z19": int(bubbles),
        "off_host": len(off),
    }


def signed_in_page(
    browser: Any, base: str, key_name: str, key: str
) -> tuple[Any, Any, list[float]]:
    """Sign in at /login in a new 1440×900 context; return it, its page and the list the
    server's time of each incidents request (ms) is added to."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    server_ms: list[float] = []

    def record(request: Any) -> None:
        if "/incidents" in request.url:
            timing = request.timing
            server_ms.append(timing["responseStart"] - timing["requestStart"])

    page.on("requestfinished", record)
    page.goto(f"{base}/login")
    page.fill("#gz-login-name", key_name)
    page.fill("#gz-login-key", key)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    wait_idle()
    return context, page, server_ms


def open_map_timed(page: Any, base: str) -> tuple[float, float]:
    """Open the T11 map; return when its markers were painted and its Gi* layer drawn (ms)."""
    page.goto(f"{base}/maps/clusters/{T11}", wait_until="commit")
    page.wait_for_function(f"() => window.L && {MAP}", polling=10)
    page.evaluate(
        f"""() => {{
        window.gzBench = {{}};
        {MAP}.on("gz:layer", e => {{ window.gzBench[e.kind] = performance.now(); }});
    }}"""
    )
    page.wait_for_function(
        "() => window.GZ && GZ.incidentsLoadedAt !== undefined", timeout=600_000, polling=10
    )
    painted = float(
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
            "() => r(performance.now()))))"
        )
    )
    return painted, wait_gi(page)


def opened_figures(painted: float, gi: float, server_ms: list[float]) -> dict[str, float]:
    """The figures of one timed open: page → painted, the server's part, Gi* after markers."""
    return {
        "open_to_painted_s": painted / 1000,
        "server_s": (server_ms[-1] / 1000) if server_ms else float("nan"),
        "gi_after_markers_s": (gi - painted) / 1000 if gi == gi else float("nan"),
    }


def open_signed_in(browser: Any, base: str, key_name: str, key: str, app: Any) -> dict[str, float]:
    """Sign in at /login, then open the map with every cache empty (the first user after an
    import): time from the navigation to the markers painted, and the Gi* layer after them.
    """
    context, page, server_ms = signed_in_page(browser, base, key_name, key)
    forget_tables(app, warm_up=True)
    painted, gi = open_map_timed(page, base)
    note(f"signed in, cold: painted at {painted / 1000:.1f} s, Gi* {(gi - painted) / 1000:+.2f} s")
    context.close()
    build_wall, build_cpu = app.state.map_incident_bodies.last_build
    return {
        "build_wall_s": build_wall,
        "build_cpu_s": build_cpu,
        **opened_figures(painted, gi, server_ms),
    }


def add_new_data(store_path: Path, count: int, seed: int) -> float:
    """Store ``count`` new SYNTHETIC T11 incidents and their decisions, as an import by
    another process does while the service runs; return when it committed (perf_counter).
    """
    from geozone.context import load_context
    from geozone.incidents.pipeline import assign_stale
    from geozone.incidents.synthetic import generate_incidents
    from geozone.store import open_store
    from geozone.vntime import VIETNAM_TZ

    settings = get_settings()
    context = load_context(settings, confirmations=[CONFIRMED])
    territory = context.territory(T11)
    with open_store(f"sqlite:///{store_path}", settings=settings) as store:
        drawn = generate_incidents(
            count,
            seed,
            boundaries=territory.bset,
            clusters=[territory.cluster],
            start=datetime(2026, 11, 1, tzinfo=VIETNAM_TZ),
            end=datetime(2026, 11, 30, tzinfo=VIETNAM_TZ),
        )
        drawn["external_id"] = [f"NEW{time.time_ns()}-{x}" for x in drawn["external_id"]]
        store.add_incidents(drawn)
        assign_stale(store, context)
    return time.perf_counter()


def ready_after(app: Any, committed: float, timeout_s: float) -> tuple[float, float]:
    """Seconds from the data committed to the T11 table, and to its Gi* layer, built again
    in the background (NaN when not within ``timeout_s``)."""
    from api.services.analytics import change_marker

    table = gi = float("nan")
    marker = change_marker(app.state.store, app.state.context)
    while time.perf_counter() - committed < timeout_s:
        bodies = app.state.map_incident_bodies
        if table != table and any(c == T11 and m == marker for c, _, m in bodies.in_use()):
            table = time.perf_counter() - committed
        cache = getattr(app.state, "analytics_cache", None)
        if (
            table == table
            and cache is not None
            and any(T11 in str(k) and str(marker) in str(k) for k in list(cache._items))
        ):
            gi = time.perf_counter() - committed
            break
        time.sleep(0.05)
    return table, gi


def open_after_new_data(
    browser: Any,
    base: str,
    key_name: str,
    key: str,
    app: Any,
    store_path: Path,
    *,
    wait_s: float,
    seed: int,
) -> dict[str, float]:
    """Signed in, the service warm: new incidents are stored (as by an import), the user opens
    the map ``wait_s`` seconds later. Page opened → markers painted, and the Gi* layer."""
    context, page, server_ms = signed_in_page(browser, base, key_name, key)
    committed = add_new_data(store_path, 100, seed)
    note(f"100 new incidents stored; opening the map {wait_s:.0f} s later")
    watched = not app.state.map_watch.is_set()
    table_s, gi_s = ready_after(app, committed, wait_s) if watched else (float("nan"),) * 2
    time.sleep(max(0.0, wait_s - (time.perf_counter() - committed)))
    painted, gi = open_map_timed(page, base)
    note(
        f"after new data ({'watched' if watched else 'not watched'}): painted at "
        f"{painted / 1000:.1f} s, Gi* {(gi - painted) / 1000:+.2f} s; built again "
        f"{table_s:.1f} s (table) and {gi_s:.1f} s (Gi*) after the commit"
    )
    context.close()
    return {
        **opened_figures(painted, gi, server_ms),
        "table_ready_s": table_s,
        "gi_ready_s": gi_s,
    }


#: Seconds between new data stored and the map opened (``--new-data-wait``; < 0: not run).
NEW_DATA_WAIT_S = 10.0
#: How long to wait for the Gi* layer after the markers (``--gi-timeout``).
GI_TIMEOUT_S = 600.0


def wait_gi(page: Any) -> float:
    """Wait for the Gi* layer drawn; return when (page clock, ms), NaN past ``--gi-timeout``."""
    try:
        page.wait_for_function("() => window.gzBench.gi !== undefined", timeout=GI_TIMEOUT_S * 1000)
    except Exception:  # playwright's TimeoutError: said in the figures as nan
        note(f"Gi* not drawn within {GI_TIMEOUT_S:.0f} s")
        return float("nan")
    note("Gi* drawn")
    return float(page.evaluate("window.gzBench.gi"))


def profile_build(store_path: Path, limit: int) -> None:
    """Print where the cold build of the incident table spends its time."""
    from api.services.maps import build_incident_body
    from geozone.context import load_context
    from geozone.store import open_store

    settings = get_settings()
    context = load_context(settings, confirmations=[CONFIRMED])
    with open_store(f"sqlite:///{store_path}", settings=settings) as store:
        profiler = cProfile.Profile()
        profiler.enable()
        build_incident_body(store, context.territory(T11), T11, limit)
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    print(out.getvalue())


def note(text: str) -> None:
    """Say on stderr how far the run is."""
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def median(rows: list[dict[str, float | int]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in rows))


def bench_size(browser: Any, store_path: Path, size: int, repeats: int, cold: bool) -> None:
    with serve(store_path) as (base, key, app):
        total = httpx.get(
            f"{base}/maps/clusters/{T11}/incidents",
            params={"limit": 0},
            headers={"X-API-Key": key},
            timeout=600,
        ).json()["total"]
        print(f"\n{total:,} stored SYNTHETIC incidents of {T11} (store {store_path.name})")
        before = [
            open_and_type_key(browser, base, key, app, cold=True)
            for _ in range(repeats if cold and "before" not in SKIP else 0)
        ]
        after = [
            open_and_type_key(browser, base, key, app, cold=False)
            for _ in range(0 if "after" in SKIP else repeats)
        ]
        signed = [
            open_signed_in(browser, base, app_key_names[key], key, app)
            for _ in range(0 if "signed" in SKIP else repeats)
        ]
        fresh: dict[str, list[dict[str, float]]] = {}
        for watched in (True, False):  # the store watched (this change), then not (before it)
            if not watched:
                app.state.map_watch.set()
            fresh["watched" if watched else "not watched"] = [
                open_after_new_data(
                    browser,
                    base,
                    app_key_names[key],
                    key,
                    app,
                    store_path,
                    wait_s=NEW_DATA_WAIT_S,
                    seed=1000 + i + 10 * watched,
                )
                for i in range(repeats if NEW_DATA_WAIT_S >= 0 else 0)
            ]
    target = 1.5 if size <= 50_000 else 3.0
    runs = (("before (table built per request)", before), ("after", after))
    for name, rows in [(n, r) for n, r in runs if r]:
        print(
            f"  {name:34s} key→painted {median(rows, 'key_to_painted_s'):6.2f} s "
            f"(server {median(rows, 'server_s'):5.2f} s), drawn {rows[0]['drawn']:,}, "
            f"Gi* +{median(rows, 'gi_after_markers_s'):4.2f} s after the markers, "
            f"bubbles at z19 {rows[0]['bubbles_z19']}, off-host requests {rows[0]['off_host']}; "
            f"table build {median(rows, 'build_wall_s'):.2f} s wall, "
            f"{median(rows, 'build_cpu_s'):.2f} s CPU of its thread"
        )
    if signed:
        print(
            f"  {'signed in, every cache empty':34s} page opened→painted "
            f"{median(signed, 'open_to_painted_s'):6.2f} s (server "
            f"{median(signed, 'server_s'):5.2f} s from the incidents request to its answer; "
            f"table built for it: {median(signed, 'build_wall_s'):.2f} s wall, "
            f"{median(signed, 'build_cpu_s'):.2f} s CPU), "
            f"Gi* +{median(signed, 'gi_after_markers_s'):4.2f} s after the markers"
        )
    for name, rows in fresh.items():
        if not rows:
            continue
        print(
            f"  {'new data, store ' + name:34s} page opened {NEW_DATA_WAIT_S:.0f} s after 100 "
            f"new incidents→painted {median(rows, 'open_to_painted_s'):6.2f} s (server "
            f"{median(rows, 'server_s'):5.2f} s), Gi* "
            f"+{median(rows, 'gi_after_markers_s'):4.2f} s after the markers; built again "
            f"{median(rows, 'table_ready_s'):.1f} s (table), {median(rows, 'gi_ready_s'):.1f} s "
            f"(Gi*) after the commit"
        )
    if not after:
        return
    ratio = median(after, "key_to_painted_s") / median(before, "key_to_painted_s") if before else 0
    ok = median(after, "key_to_painted_s") < target
    print(
        f"  ratio after / before: {ratio:.2f} (0: before not measured); target < {target} s: "
        f"{'met' if ok else 'NOT met'}; Gi* within 1 s: "
        f"{'met' if median(after, 'gi_after_markers_s') <= 1 else 'NOT met'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--store-dir", type=Path, default=Path(tempfile.gettempdir()) / "geozone-bench-maps"
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--gi-timeout", type=float, default=600.0, help="seconds to wait for the Gi* layer"
    )
    parser.add_argument(
        "--cold-sizes",
        default="50000",
        help="sizes whose 'before' (table built per request) is measured too (slow)",
    )
    parser.add_argument(
        "--new-data-wait",
        type=float,
        default=10.0,
        help="seconds between 100 new incidents stored and the map opened (< 0: not run)",
    )
    parser.add_argument("--skip", default="", help="comma-separated: before,after,signed")
    args = parser.parse_args()
    global GI_TIMEOUT_S, NEW_DATA_WAIT_S, SKIP
    GI_TIMEOUT_S = args.gi_timeout
    NEW_DATA_WAIT_S = args.new_data_wait
    SKIP = set(args.skip.split(","))
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: where each thread is
    args.store_dir.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    sizes = [int(s) for s in args.sizes.split(",") if s]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        for size in sizes:
            path = args.store_dir / f"t11-{size}-{args.seed}.sqlite"
            start = time.perf_counter()
            have = build_store(path, size, args.seed)
            print(
                f"store {path}: {have:,} incidents of {T11} ({time.perf_counter() - start:.0f} s)"
            )
            if args.profile:
                profile_build(path, 1_000_000)
            cold = str(size) in args.cold_sizes.split(",")
            bench_size(browser, path, size, args.repeats, cold)
        browser.close()


if __name__ == "__main__":
    main()
