"""Map pages: their security headers, the incident tables they fetch, the hotspot layers."""

from __future__ import annotations

import contextlib
import gzip
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson
from fastapi.exceptions import RequestValidationError

from geozone.assignment import ClusterTerritory
from geozone.context import Context
from geozone.errors import GeozoneError
from geozone.store import IncidentStore
from maps.settings import MapSettings

if TYPE_CHECKING:
    from maps.basemap import BasemapArchive

#: Headers of every map page and incident table.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self' data:; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def page_headers(settings: MapSettings) -> dict[str, str]:
    """Return the map page headers; basemap tiles, when configured, are the one other origin."""
    if not settings.tiles_url:
        return PAGE_HEADERS
    parts = urlsplit(settings.tiles_url)
    origin = f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"  # {s}: tile subdomains
    policy = PAGE_HEADERS["Content-Security-Policy"].replace(
        "img-src 'self' data:", f"img-src 'self' data: {origin}"
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}


def served_layers(state: Any, territory: ClusterTerritory) -> Any:
    """Return the :class:`maps.layers.ClusterLayers` of a placed cluster's served pages.

    Built once per territory (a new context gives new territories) and kept on the app
    (``state``: app.state): building them reads the boundary set's whole display layer
    (0.4 s, three quarters of a map page's answer), the same on every request. Each caller
    gets shallow copies of the frames (copy on write: a column added to one is not added to
    the cached ones).
    """
    from dataclasses import replace

    from maps import cluster_layers, side_names

    cache: dict[str, tuple[ClusterTerritory, Any]] | None = getattr(state, "map_layers", None)
    if cache is None:
        cache = state.map_layers = {}
    cluster_id = territory.cluster.id
    with _LAYERS_LOCK:
        found = cache.get(cluster_id)
    if found is None or found[0] is not territory:
        layers = cluster_layers(
            territory.cluster,
            territory.bset,
            zones=territory.zones,
            attribution=territory.attribution,
            names=side_names(territory),
        )
        with _LAYERS_LOCK:
            cache[cluster_id] = found = (territory, layers)
    layers = found[1]
    frames = ("units", "boundaries_lines", "zones", "junctions", "hotspots")
    return replace(
        layers,
        **{
            name: None if getattr(layers, name) is None else getattr(layers, name).copy(deep=False)
            for name in frames
        },
    )


_LAYERS_LOCK = threading.Lock()


def map_analytics(store: IncidentStore, context: Context, cluster_id: str) -> Any:
    """Return the hotspot layers of a keyed page, or None when they cannot be computed."""
    from maps.analytics_layers import cluster_analytics

    try:
        return cluster_analytics(store, context, cluster_id)
    except GeozoneError:
        return None


# -- the incident table of a served map: built once per assignment, gzip-compressed --------------


@dataclass(frozen=True)
class IncidentBody:
    """A map's incident table ready to send: JSON bytes and their gzip compression."""

    json: bytes
    gzip: bytes
    returned: int
    total: int


class IncidentBodies:
    """The incident tables of the served maps, cached per cluster, limit and change marker.

    Building a 50,000-incident table reads the store and packs the explanations (seconds);
    the answer only changes when the store is written (incidents added, judged, linked or
    unlinked: :func:`api.services.analytics.change_marker`), so it is built once per marker and sent
    from memory after that. Two requests for the same table wait for one build. While
    incidents wait for reassignment nothing is cached.
    """

    def __init__(self, size: int = 8) -> None:
        self._items: OrderedDict[Hashable, IncidentBody] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.size = size
        self.builds = 0
        #: The last build's wall and CPU seconds (its thread's), for benchmarks/bench_maps.py.
        self.last_build = (0.0, 0.0)

    def get(self, key: Hashable | None, build: Callable[[], IncidentBody]) -> IncidentBody:
        """Return the cached table for ``key``, building it once (None: build, never cache)."""
        if key is None:
            return build()
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
            gate = self._building.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                found = self._items.get(key)
            if found is None:
                wall, cpu = time.perf_counter(), time.thread_time()
                found = build()
                self.builds += 1
                self.last_build = (time.perf_counter() - wall, time.thread_time() - cpu)
                with self._lock:
                    self._items[key] = found
                    while len(self._items) > self.size:
                        self._items.popitem(last=False)
            with self._lock:
                self._building.pop(key, None)
            return found

    def in_use(self) -> list[tuple[str, int, Hashable]]:
        """Return the (cluster, limit, marker) of the cached tables, the most recent first."""
        with self._lock:
            keys = list(reversed(self._items))
        found: dict[tuple[str, int], Hashable] = {}
        for key in keys:
            if isinstance(key, tuple) and len(key) == 3:
                found.setdefault((key[0], key[1]), key[2])
        return [(c, n, m) for (c, n), m in found.items()]

    def has(self, key: Hashable) -> bool:
        """Tell whether the table of ``key`` is built."""
        with self._lock:
            return key in self._items


def incident_bodies(state: Any) -> IncidentBodies:
    """Return the app's cache of incident tables (made on first use); ``state``: app.state."""
    cache: IncidentBodies | None = getattr(state, "map_incident_bodies", None)
    if cache is None:
        cache = IncidentBodies()
        state.map_incident_bodies = cache
    return cache


#: Most incidents one served map draws: every incident of a cluster up to this safety cap
#: (a million points is about 25 MB of table before compression and still draws).
MAX_MAP_INCIDENTS = 1_000_000


def capped_note(total: int) -> str:
    """Return the line a map shows when a cluster holds more incidents than it draws."""
    from geozone.text import format_number

    total_vi, cap_vi = format_number(total, "vi"), format_number(MAX_MAP_INCIDENTS, "vi")
    total_en, cap_en = format_number(total, "en"), format_number(MAX_MAP_INCIDENTS, "en")
    return (
        f"Cụm có {total_vi} vụ việc, vượt giới hạn an toàn {cap_vi} điểm của bản đồ: chỉ vẽ "
        f"{cap_vi} vụ việc mới nhất; lọc theo thời gian qua API để xem phần còn lại / The "
        f"cluster holds {total_en} incidents, more than the map's safety cap of {cap_en} "
        f"points: the newest {cap_en} are drawn; filter by time through the API for the rest"
    )


#: Said on a map drawn while stored decisions wait to be recomputed after a context change.
RECOMPUTING = (
    "Đang tính lại quyết định sau một thay đổi (xác nhận cụm, ranh giới, quy tắc): một số vụ "
    "việc có thể còn hiện quyết định cũ, tải lại sau ít phút / Decisions are being recomputed "
    "after a change (a cluster confirmed, boundaries, rules): some incidents may still show "
    "their previous decision; reload in a few minutes"
)


#: The served table's ``sentences``: the decisions' sentences are not in ``data``; a page
#: reads an incident's from ``GET /incidents/{external_id}`` (its ``clusters`` row of the
#: table's ``cluster_id``) when its popup opens.
SENTENCES_BY_INCIDENT = "by_incident"


def build_incident_body(
    store: IncidentStore,
    territory: ClusterTerritory,
    cluster_id: str,
    limit: int,
    *,
    recomputing: bool = False,
    notices: Sequence[str] = (),
) -> IncidentBody:
    """Build the incident table of a cluster map from the stored decisions (no reassignment).

    ``recomputing``: some stored decisions are out of date and being recomputed; the map's
    summary line says so (:data:`RECOMPUTING`). ``notices``: the store's (an unfinished
    import), shown in the legend. The decisions' sentences are left out (``sentences``:
    :data:`SENTENCES_BY_INCIDENT`).
    """
    from maps.incident_table import incident_columns, incident_payload
    from maps.layers import stored_incident_table

    # The decisions' sentences stay out of the table (half of the read and of the table's
    # build at 200,000 incidents): a popup fetches its incident's from GET /incidents/{id}.
    found = stored_incident_table(store, cluster_id, limit=limit, sentences=False)
    data = None
    if found.frame is not None and len(found.frame):
        frame = found.frame
        codes = frame["lead_unit"].dropna().unique()
        units = territory.bset.frame[territory.bset.frame["code"].isin(codes)]
        columns = frame.drop(columns=["lon", "lat"])
        data = incident_columns(columns, frame["lon"].to_numpy(), frame["lat"].to_numpy(), units)
    payload: dict[str, Any] = incident_payload(None, found.total, data=data, notices=notices)
    payload["cluster_id"] = cluster_id
    payload["sentences"] = SENTENCES_BY_INCIDENT
    payload["recomputing"] = recomputing
    if recomputing:
        payload["summary"] = f"{payload['summary']}. {RECOMPUTING}"
    if found.total > limit >= MAX_MAP_INCIDENTS:
        payload["summary"] = f"{payload['summary']}. {capped_note(found.total)}"
    body = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
    return IncidentBody(body, gzip.compress(body, compresslevel=3), found.returned, found.total)


def incident_body(
    state: Any,
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    limit: int,
) -> IncidentBody:
    """Return the incident table of a cluster map (cached per change marker).

    The marker holds the store's notices (an unfinished import), which the table shows: an
    import finished or closed changes it, and the table is built again.
    """
    from api.services.analytics import change_marker, marker_notices

    territory = context.territory(cluster_id)
    marker = change_marker(store, context)
    notices = marker_notices(store, marker)
    key = None if marker is None else (cluster_id, limit, marker)
    return incident_bodies(state).get(
        key,
        lambda: build_incident_body(
            store, territory, cluster_id, limit, recomputing=key is None, notices=notices
        ),
    )


def warm_up(
    state: Any, store: IncidentStore, context: Context, cluster_id: str, limit: int
) -> None:
    """Build a map's incident table, then its hotspot layers, in the background, once per marker.

    Called when a public map or planner page is served: while the user types the key, the
    table the page will fetch is built, so the key is answered from memory. Nothing is sent
    to anyone without a key; a build already cached or running is not started again.
    """
    from api.services.analytics import change_marker

    if not getattr(state, "map_warm_up", True):  # turned off (benchmarks/bench_maps.py)
        return
    marker = change_marker(store, context)
    if marker is None:
        return
    key = (cluster_id, limit, marker)
    bodies = incident_bodies(state)
    with _WARMING_LOCK:
        if bodies.has(key) or key in _WARMING:
            return
        _WARMING.add(key)

    def build() -> None:
        try:
            incident_body(state, store, context, cluster_id, limit)
        except GeozoneError:
            pass  # the request itself will answer with the problem
        finally:
            with _WARMING_LOCK:
                _WARMING.discard(key)
        # The hotspot layers after the table, not beside it: the markers come first (two
        # builds at once share the interpreter and the cores, and both finish late). The
        # page asks for the layers once its markers are drawn.
        warm_hotspots(state, store, context, cluster_id)

    threading.Thread(target=build, name=f"warm-map-{cluster_id}", daemon=True).start()


def warm_every_map(
    state: Any,
    store: IncidentStore,
    context: Context,
    limit: int,
    *,
    every: float | None = None,
) -> threading.Event:
    """Build every cluster map's table and hotspot layers in the background, then keep them.

    One cluster after another on one thread (the service answers requests meanwhile): its
    boundary layers (:func:`served_layers`), then, unless it has no stored decision, its
    table and hotspot layers. Called when the service starts.

    Then, every ``every`` seconds (default :data:`WATCH_EVERY_S`), the thread looks at the
    store's change marker (:func:`api.services.analytics.change_marker`: new incidents, from
    ``POST /incidents`` or an import by another process, decisions redone, events linked or
    unlinked): when it
    moved, the tables the maps use (those cached, the most recently used first) are built
    again for the new marker, then their hotspot layers, so that the first open after new
    data is answered from memory. A request arriving meanwhile waits for the same build
    (:meth:`IncidentBodies.get`), never gets the previous table as current; while decisions
    wait for reassignment (no marker) nothing is built or cached, as before.

    Returns
    -------
    threading.Event
        Set it to stop the thread (the service stopping).
    """
    from geozone.store import IncidentQuery

    stop = threading.Event()
    if not getattr(state, "map_warm_up", True):
        return stop
    clusters = [t.cluster.id for t in context.territories if t.applies]
    period = WATCH_EVERY_S if every is None else every

    def build() -> None:
        todo = list(clusters)
        while todo and not stop.is_set():
            cluster_id = todo[0]
            try:
                with contextlib.suppress(GeozoneError):  # said by the page's own request
                    served_layers(state, context.territory(cluster_id))  # boundaries only
                if store.count(IncidentQuery(cluster_id=cluster_id)):
                    incident_body(state, store, context, cluster_id, limit)
                    warm_hotspots(state, store, context, cluster_id)
            except GeozoneError as error:  # a problem of this cluster's map, which its own
                # request meets and answers: said here, and the next cluster's map built
                _log.warning("map warm-up of %s: %s", cluster_id, error)
            except Exception as error:  # the store failing for a moment, or closing
                if stop.is_set():
                    return
                _log.warning("map warm-up of %s: %s; trying again", cluster_id, error)
                if stop.wait(max(period, 1.0)):
                    return
                continue
            todo.pop(0)
        if period > 0 and not stop.is_set():
            watch_store(state, store, context, stop, period)

    threading.Thread(target=build, name="warm-every-map", daemon=True).start()
    return stop


#: How often (seconds) the service looks for new data to build the maps' tables again.
WATCH_EVERY_S = 2.0


def watch_store(
    state: Any, store: IncidentStore, context: Context, stop: threading.Event, every: float
) -> None:
    """Build the cached maps' tables and hotspot layers again each time the store changes.

    Runs until ``stop`` is set (see :func:`warm_every_map`); the context is the service's
    current one (``state.context``: a cluster confirmed meanwhile gives a new one).
    """
    from api.services.analytics import change_marker

    last: Hashable | None = None
    while not stop.wait(every):
        current: Context = getattr(state, "context", None) or context
        try:
            marker = change_marker(store, current)
            if marker is None or marker == last:
                continue
            in_use = incident_bodies(state).in_use()
            stale = [(c, n) for c, n, m in in_use if m != marker]
            widest: dict[str, int] = {}
            for cluster_id, limit in stale:
                widest[cluster_id] = max(limit, widest.get(cluster_id, limit))
            # The maps' tables first (the markers come first), then their hotspot layers, then
            # the tables of other limits (a client's ?limit=), most recently used first.
            first = [(c, n) for c, n in stale if n == widest[c]]
            steps: list[tuple[str, int | None]] = [*first, *((c, None) for c in widest)]
            steps += [(c, n) for c, n in stale if n != widest[c]]
            for cluster_id, rows in steps:
                if stop.is_set():
                    return
                if rows is None:
                    warm_hotspots(state, store, current, cluster_id)
                else:
                    incident_body(state, store, current, cluster_id, rows)
            last = marker
        except GeozoneError as error:  # a cluster gone with a new context: the rest go on
            _log.warning("map tables after new data: %s", error)
            last = None
        except Exception as error:
            if stop.is_set():  # the store closing as the service stops
                return
            # a passing failure (the store busy or unreachable for a moment): the next look
            # tries again; the maps' own requests meet and answer the same problem meanwhile
            _log.warning("map tables after new data: %s; trying again", error)
            last = None


def warm_hotspots(state: Any, store: IncidentStore, context: Context, cluster_id: str) -> None:
    """Compute (and cache) the Gi* and emerging layers a served map fetches.

    Each is computed once per change marker (a layer already cached is not computed again).
    """
    from api.services.analytics import HotspotParams, compute_hotspots

    holder = SimpleNamespace(app=SimpleNamespace(state=state))
    for params in (HotspotParams(), HotspotParams(method="emerging")):
        try:
            compute_hotspots(holder, store, context, cluster_id, None, None, params)  # type: ignore[arg-type]
        except (GeozoneError, RequestValidationError):
            continue


_log = logging.getLogger(__name__)

_WARMING: set[Hashable] = set()
_WARMING_LOCK = threading.Lock()


def wants_gzip(accept_encoding: str | None) -> bool:
    """Tell whether an ``Accept-Encoding`` header accepts gzip."""
    return any(
        part.split(";")[0].strip() == "gzip" and "q=0" not in part.replace(" ", "")
        for part in (accept_encoding or "").split(",")
    )


# -- the offline basemap --------------------------------------------------------------------------


def basemap_archive(settings: MapSettings) -> BasemapArchive | None:
    """Return the archive named by ``GEOZONE_BASEMAP`` (opened once), or None when unset.

    Raises
    ------
    BasemapArchiveError
        The file is missing or unreadable (named).
    """
    from maps.basemap import open_basemap

    return None if settings.basemap is None else open_basemap(settings.basemap)


def basemap_options(settings: MapSettings, root: str = "") -> dict[str, Any]:
    """Return the basemap keyword arguments of the map builders for these settings.

    ``root`` is the path the service is reached at (a proxy's sub-path), put before the
    local archive's tile URL.
    """
    from maps.basemap import BASEMAP_URL

    archive = basemap_archive(settings)
    spec = (
        archive.spec(url=root + BASEMAP_URL, attribution=settings.tiles_attribution)
        if archive
        else None
    )
    return {
        "basemap": spec,
        "tiles": settings.tiles_url,
        "tiles_attribution": settings.tiles_attribution,
    }


# -- patrol zones on the cluster map --------------------------------------------------------------


def patrol_zone_features(planner_store: Any, context: Context, cluster_id: str) -> dict[str, Any]:
    """Return a cluster's saved patrol zones as GeoJSON, their units named."""
    from api.services.patrol_zones import unit_names, zone_feature

    names = unit_names(context)
    return {
        "type": "FeatureCollection",
        "features": [zone_feature(z, names=names) for z in planner_store.list_zones(cluster_id)],
    }


# -- the page asking a browser for its key -----------------------------------------------------

_KEY_PAGE = """<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{root}/maps/static/geozone.css">
</head>
<body class="gz-key-page">
<main>
<h1>{title}</h1>
<div id="gz-ask">
<p>Trang này cần đăng nhập. <a id="gz-sign-in" class="gz-sign-in" href="{root}/login">Đăng nhập /
Sign in</a></p>
<p>Hoặc nhập khoá API một lần: khoá chỉ được giữ trong thẻ trình duyệt này và không bao giờ
nằm trong địa chỉ trang. / This page needs you to sign in, or an API key. Enter it once: it
is kept for this browser tab only and never put in the address.</p>
<form id="gz-key-form" class="gz-key-box" autocomplete="off">
<label for="gz-api-key">Khoá API / API key</label>
<input id="gz-api-key" name="gz-api-key" type="password" placeholder="X-API-Key"
 autocomplete="off">
<button type="submit">Mở / Open</button>
</form>
</div>
<p id="gz-key-status" role="status" aria-live="polite"></p>
<p><a href="{root}/">Trang chủ / Index</a></p>
</main>
<script id="gz-key-target" type="application/json">{target}</script>
<script src="{root}/maps/static/geozone.js"></script>
<script src="{root}/maps/static/key_page.js"></script>
</body>
</html>
"""


def key_page(target: str, title: str, root: str = "") -> str:
    """Return the page that asks for the key, then shows ``target`` fetched with it.

    ``target`` is a path of this service (with its query, and the root path ``root`` a
    proxy serves it at); the page's own files and links are below ``root``; the page's script
    (``maps/static/key_page.js``) fetches it with ``X-API-Key`` and replaces itself with an
    HTML answer, shows JSON as text, or offers any other answer (CSV, zip) as a download.
    """
    import html

    from maps.elements import js_json

    return _KEY_PAGE.format(
        title=html.escape(title), target=js_json({"url": target}), root=html.escape(root)
    )
