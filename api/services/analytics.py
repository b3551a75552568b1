"""Cluster analytics: hotspots (cached), the border effect, coverage and patrol suggestions.

Requests are bounded: at most :data:`ANALYTICS_MAX_CELLS` grid cells and
:data:`ANALYTICS_MAX_WORK` cells × (permutations + 1) × time bins (a 422 naming the parameter
beyond). Results are cached per app (:class:`AnalyticsCache`) by cluster, period, parameters
and the store's change marker (:func:`change_marker`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple

import numpy as np
import shapely
from fastapi import Request

from api.services.common import invalid, jsonable, records
from api.services.patrol_zones import check_area_geometry
from geozone.analysis.study import (
    EMERGING_PERMUTATIONS,
    HOTSPOT_DEFAULTS,
    ClusterStudy,
    HotspotParameters,
    cluster_study,
    study_hotspots,
)
from geozone.context import Context
from geozone.labels import STUDY_COUNT_BASIS_TEXT, SYNTHETIC_LABEL_TEXT
from geozone.report.forms import snapshot_notes
from geozone.store import IncidentStore

#: Most grid cells an analytics request may build (the core allows more, for batch work).
ANALYTICS_MAX_CELLS = 50_000
#: Largest cells × (permutations + 1) × time bins one request may compute.
ANALYTICS_MAX_WORK = 40_000_000
#: Analytics results kept per app.
ANALYTICS_CACHE_SIZE = 32

Method = Literal["gi_grid", "gi_units", "kde", "emerging"]
#: Default cell size per method, in metres.
DEFAULT_CELL_M: dict[str, float] = {"gi_grid": 250.0, "emerging": 250.0, "kde": 100.0}
#: Time bins of emerging hotspots and their length in days (for the workload estimate).
BINS: dict[str, int] = {"W": 7, "MS": 30, "QS": 91}


def parse_categories(text: str | None) -> tuple[str, ...] | None:
    """Parse a comma-separated list of category codes; an unknown code is a 422."""
    from geozone.incidents.schema import CATEGORIES

    if text is None or not text.strip():
        return None
    codes = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [code for code in codes if code not in CATEGORIES]
    if unknown:
        raise invalid(
            "category", f"unknown category code(s); known: {', '.join(sorted(CATEGORIES))}"
        )
    return codes


#: A cluster's family over a period: :class:`geozone.analysis.study.ClusterStudy`.
ClusterPeriod = ClusterStudy


def cluster_period(
    store: Any,
    context: Context,
    cluster_id: str,
    start: date | None,
    end: date | None,
    categories: tuple[str, ...] | None = None,
    judged: bool = False,
) -> ClusterStudy:
    """Read a cluster's study over a period (:func:`geozone.analysis.study.cluster_study`).

    Hotspots, coverage and suggestions test the located incidents (each in the territory of
    the cluster as it stood on its date); only the border effect reads the judged incidents
    and their decisions (``judged``).

    Raises
    ------
    UnknownClusterError
        No cluster has the id (404).
    InvalidParameterError
        The period is reversed, or no member has a territory with geometry in it (400).
    """
    return cluster_study(store, context, cluster_id, start, end, categories, judged=judged)


def change_marker(store: Any, context: Context) -> tuple[str, int, tuple[str, ...], int] | None:
    """Return what cached analytics depend on, or None while assignments are being redone.

    The context's assignment stamp (cluster definitions, builds, rules), the number of
    stored incidents (with coordinates: what the cached answers read), the notices of the
    unfinished imports (:func:`geozone.incidents.notices.unfinished_import_notices`: an
    import finished or closed has linked its reports into events, and the answers say so
    no more) and the store's revision, which every write of the incident store raises (an
    unlink or ``geozone incidents link`` changes events and decisions, not the count:
    :meth:`~geozone.store.sql.SqlIncidentStore.revision`). While incidents wait for
    reassignment their decisions are in flux: nothing is cached.
    """
    from geozone.incidents.notices import unfinished_import_notices
    from geozone.incidents.pipeline import context_stamp
    from geozone.store import IncidentQuery
    from geozone.store.sql import SqlIncidentStore

    stamp = context_stamp(context)
    if store.stale_ids(stamp, limit=1):
        return None
    notices = tuple(unfinished_import_notices(store))
    revision = int(store.revision()) if isinstance(store, SqlIncidentStore) else 0
    return stamp, int(store.count(IncidentQuery())), notices, revision


def marker_notices(store: Any, marker: tuple[str, int, tuple[str, ...], int] | None) -> list[str]:
    """Return the store's notices: those a change marker holds, read again only without one.

    An answer cached under a marker says the notices it was computed under; reading them
    again for the answer would do the work twice, and could say another thing than the
    cached result if an import ended in between.
    """
    from geozone.incidents.notices import unfinished_import_notices

    return list(marker[2]) if marker is not None else unfinished_import_notices(store)


class AnalyticsCache:
    """A small thread-safe LRU of analytics results, keyed by request and change marker."""

    def __init__(self, size: int = ANALYTICS_CACHE_SIZE) -> None:
        from collections import OrderedDict
        from threading import Lock

        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = Lock()
        self._building: dict[Any, Lock] = {}
        self.size = size
        self.hits = 0

    def get(self, key: Any, *, count: bool = True) -> Any:
        """Return the cached value, or None (``count``: a hit counted in :attr:`hits`)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += int(count)
                return self._items[key]
        return None

    def once(self, key: Any, build: Callable[[], Any], *, count: bool = True) -> Any:
        """Return the value of ``key``, built by ``build`` once when missing.

        Two threads asking for the same missing key (the map page's request and the
        background warm-up of :func:`api.services.maps.warm_hotspots`) wait for one build
        instead of computing it twice at the same time.
        """
        found = self.get(key, count=count)
        if found is not None:
            return found
        with self._lock:
            gate = self._building.setdefault(key, threading.Lock())
        try:
            with gate:
                found = self.get(key, count=count)
                if found is None:
                    found = build()
                    self.put(key, found)
        finally:
            with self._lock:
                self._building.pop(key, None)
        return found

    def put(self, key: Any, value: Any) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used beyond the size."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def estimated_cells(area: Any, cell_size_m: float) -> int:
    """Return about how many cells of ``cell_size_m`` a grid over ``area`` has (upper bound)."""
    from geozone.crs import project_geometries, zones_of

    geoms = np.array([area], dtype=object)
    metric = project_geometries(geoms, zones_of(geoms))[0]
    minx, miny, maxx, maxy = shapely.bounds(metric)
    columns = math.floor((maxx - minx) / cell_size_m) + 2
    rows = math.floor((maxy - miny) / cell_size_m) + 2
    return int(columns * rows)


def check_workload(n_cells: int, permutations: int, n_bins: int = 1) -> None:
    """Refuse (422) a grid with too many cells or too much permutation work for a request."""
    if n_cells > ANALYTICS_MAX_CELLS:
        raise invalid(
            "cell_size_m",
            f"the grid would have about {n_cells:,} cells; at most {ANALYTICS_MAX_CELLS:,} "
            "are allowed: use larger cells",
        )
    work = n_cells * (permutations + 1) * n_bins
    if work > ANALYTICS_MAX_WORK:
        raise invalid(
            "permutations",
            f"about {n_cells:,} cells × {permutations + 1:,} permutations × {n_bins} bins is "
            f"more than {ANALYTICS_MAX_WORK:,}: use fewer permutations or larger cells",
        )


def with_labels(collection: dict[str, Any], period: ClusterPeriod) -> dict[str, Any]:
    """Add the cluster, period, attribution and synthetic label to a result's properties.

    And ``count_basis``: what the study's counts count
    (:data:`geozone.labels.STUDY_COUNT_BASIS_TEXT`), which the maps' notes say.
    """
    properties = collection.setdefault("properties", {})
    sets = [
        f.bset for f in period.forms if f.bset is not None and f.overlaps(period.start, period.end)
    ] or [f.bset for f in period.forms if f.bset is not None]
    properties.update(
        {
            "cluster_id": period.cluster_id,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "attribution": "; ".join(dict.fromkeys(b.info.attribution for b in sets)),
            "attribution_en": "; ".join(dict.fromkeys(b.info.attribution_en for b in sets)),
            # Hotspots count events, once each; how many reports were linked into them.
            "events": period.located_events,
            "count_basis": STUDY_COUNT_BASIS_TEXT,
        }
    )
    if properties.get("synthetic"):
        properties["synthetic_label"] = SYNTHETIC_LABEL_TEXT
    result: dict[str, Any] = jsonable(collection)
    return result


def border_effect_rows(
    period: ClusterPeriod, by: Sequence[str], every: str | None
) -> list[dict[str, Any]]:
    """Return the border effect of every form in force, as rows with ``cluster_id``."""
    from geozone.analysis.border_effect import border_effect

    columns = ["external_id", "occurred_at", "category", "member_code", "in_zone", "zone_units"]
    columns += ["lon", "lat"]
    judged = period.incidents
    assert judged is not None, "read with cluster_period(..., judged=True)"
    rows: list[dict[str, Any]] = []
    for form in period.forms:
        if form.territory is None or not form.territory.geometric:
            continue
        if not form.overlaps(period.start, period.end):
            continue
        mine = judged[judged["cluster_id"] == form.id]
        table = border_effect(mine[columns], form.territory, by=by, period=every)
        for row in records(table):
            rows.append({"cluster_id": form.id, **row})
    return rows


@dataclass(frozen=True)
class HotspotParams:
    """The parameters of a hotspot analysis (hashable: part of the cache key)."""

    method: Method = "gi_grid"
    cell_size_m: float | None = None
    shape: Literal["square", "hexagon"] = HOTSPOT_DEFAULTS.shape
    #: None: the method's default (Gi*: as many as the grid allows, as every output;
    #: emerging: :data:`~geozone.analysis.study.EMERGING_PERMUTATIONS`).
    permutations: int | None = HOTSPOT_DEFAULTS.permutations
    seed: int = HOTSPOT_DEFAULTS.seed
    alpha: float = HOTSPOT_DEFAULTS.alpha
    bin: str = "MS"

    @property
    def cell(self) -> float:
        """The cell size (the method's default when not given)."""
        return self.cell_size_m or DEFAULT_CELL_M.get(self.method, 250.0)


def analytics_cache(request: Request) -> AnalyticsCache:
    """Return the app's cache of analytics results (made on first use)."""
    state = request.app.state
    cache: AnalyticsCache | None = getattr(state, "analytics_cache", None)
    if cache is None:
        cache = AnalyticsCache()
        state.analytics_cache = cache
    return cache


class Hotspots(NamedTuple):
    """A hotspot result, the period it was computed over and the notices."""

    result: Any
    period: ClusterPeriod
    #: :func:`geozone.incidents.notices.unfinished_import_notices`, as the change marker
    #: the result is cached under holds them (:func:`marker_notices`), then the snapshot
    #: notice of a set the study uses outside its snapshot (:func:`study_notices`).
    notices: list[str]


def compute_hotspots(
    request: Request,
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    start: date | None,
    end: date | None,
    params: HotspotParams,
    categories: tuple[str, ...] | None = None,
) -> Hotspots:
    """Return a hotspot result of a cluster's incidents over a period (cached) and the period.

    With the store's notices (an unfinished import), as the change marker the result is
    cached under holds them: the answers that count events say them.

    Raises
    ------
    RequestValidationError
        The grid or the permutation work is over the request limits (422).
    """
    from geozone import vntime

    marker = change_marker(store, context)
    notices = marker_notices(store, marker)
    cache = analytics_cache(request)
    if marker is None:
        period = cluster_period(store, context, cluster_id, start, end, categories)
        return Hotspots(_hotspots(period, params), period, notices + study_notices(period))
    # The period's incidents are read once for every method (Gi*, emerging: the map page asks
    # for both at once); "today" is in the key, since a period left open ends today.
    period = cache.once(
        ("period", cluster_id, start, end, categories, vntime.today(), marker),
        lambda: cluster_period(store, context, cluster_id, start, end, categories),
        count=False,  # hits count the results served
    )
    key = (cluster_id, period.start, period.end, categories, params, marker)
    result = cache.once(key, lambda: _hotspots(period, params))
    return Hotspots(result, period, notices + study_notices(period))


def study_notices(period: ClusterStudy) -> list[str]:
    """Say what a study's territories rest on: each set used outside its snapshot, once.

    :func:`geozone.report.forms.snapshot_notes` of the study's forms over its period (a
    year of a cluster on vn-legacy-districts, a snapshot of about February 2023), the
    notes the cluster's review gives for the same period.
    """
    return snapshot_notes(period.forms, period.start, period.end)


def _hotspots(period: ClusterPeriod, params: HotspotParams) -> Any:
    """Compute one hotspot analysis of a period (see :func:`compute_hotspots`)."""
    from geozone.analysis import hotspots

    result: Any
    if params.method == "gi_units":
        points = period.points()
        territory = period.territory
        codes = territory.members.loc[territory.members["has_territory"], "code"]
        units = territory.bset.units(territory.cluster.level)
        units = units[units["code"].isin(codes)]
        result = hotspots.gi_star_units(
            points, units, permutations=params.permutations, seed=params.seed, alpha=params.alpha
        )
    else:
        n_cells = estimated_cells(period.area, params.cell)
        # the points are built where they are used (study_hotspots builds its own from the
        # study): 0.2 s each at 150,000 incidents
        if params.method == "kde":
            check_workload(n_cells, 0)
            result = hotspots.kernel_density(
                period.points(), cell_size_m=params.cell, area=period.area
            )
        elif params.method == "emerging":
            days = (period.end - period.start).days + 1
            permutations = params.permutations
            if permutations is None:
                permutations = EMERGING_PERMUTATIONS
            check_workload(n_cells, permutations, days // BINS[params.bin] + 1)
            result = hotspots.emerging_hotspots(
                period.points(),
                bin=params.bin,
                cell_size_m=params.cell,
                shape=params.shape,
                area=period.area,
                permutations=permutations,
                seed=params.seed,
                alpha=params.alpha,
            )
        else:
            # the default permutations fit the grid by construction (fitted_permutations,
            # on the grid's own cell count, so the same as every other output's)
            check_workload(n_cells, params.permutations or 0)
            result = study_hotspots(
                period,
                HotspotParameters(
                    cell_size_m=params.cell,
                    shape=params.shape,
                    permutations=params.permutations,
                    seed=params.seed,
                    alpha=params.alpha,
                ),
            )
    return result


def coverage_of(
    request: Request,
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    geometry: dict[str, Any],
    start: date | None,
    end: date | None,
    max_vertices: int,
) -> dict[str, Any]:
    """Return what a zone covers in a cluster over a period, JSON-ready.

    The incidents inside are counted as the study counts them (``count_basis``: in the
    cluster's territory as it stood on each incident's date, as events): ``notices`` names
    an unfinished import of the store (its reports may be counted as separate events until
    it is finished or linked), as the hotspots the hot-cell share comes from say it.

    Raises
    ------
    PatrolZoneGeometryError
        The zone is not a usable Polygon or MultiPolygon (400).
    """
    from geozone.analysis.patrol import coverage

    found = cluster_period(store, context, cluster_id, start, end)
    zone = check_area_geometry(geometry, found.territory.bset, max_vertices)
    result, _, notices = compute_hotspots(
        request, store, context, cluster_id, start, end, HotspotParams()
    )
    hot = result.cells if result.status == "tested" else None
    data = coverage(zone, found.territory, found.points(), hot).as_dict()
    answer: dict[str, Any] = jsonable(
        {
            "cluster_id": found.territory.cluster.id,
            "from": found.start.isoformat(),
            "to": found.end.isoformat(),
            **data,
            "hotspot_status": result.status,
            "hotspot_message": result.message,
            "hotspot_message_vi": result.message_vi,
            "hotspot_message_en": result.message_en,
            "synthetic": found.synthetic,
            "count_basis": STUDY_COUNT_BASIS_TEXT,
            "notices": notices,
        }
    )
    return answer


def patrol_suggestions(
    request: Request,
    store: IncidentStore,
    context: Context,
    cluster_id: str,
    start: date | None,
    end: date | None,
    buffer_m: float,
) -> dict[str, Any]:
    """Return patrol zones suggested over a cluster's border hot cells, as GeoJSON.

    The Gi* hot cells of :func:`compute_hotspots` (default parameters) given to
    :func:`geozone.analysis.patrol.suggest_patrol_zones`, with the analysis, its status and a
    note that they are a starting point in ``properties``, and the hotspots' ``notices``
    (an unfinished import of the store) beside them.
    """
    import json

    from geozone.analysis.patrol import suggest_patrol_zones

    result, period, notices = compute_hotspots(
        request, store, context, cluster_id, start, end, HotspotParams()
    )
    territory = period.territory
    features: list[dict[str, Any]] = []
    if result.status == "tested":
        found = suggest_patrol_zones(result.cells, territory, buffer_m=buffer_m)
        if len(found):
            features = json.loads(found.to_json(na="null", drop_id=True))["features"]
    collection: dict[str, Any] = {
        "type": "FeatureCollection",
        "features": features,
        "properties": {
            "analysis": "patrol_suggestions",
            "status": result.status,
            "message": result.message,
            "message_vi": result.message_vi,
            "message_en": result.message_en,
            "buffer_m": buffer_m,
            "n_hot": int((result.cells["kind"] == "hot").sum()),
            "synthetic": period.synthetic,
            "note": (
                "Gợi ý ban đầu, cần cán bộ lập kế hoạch chỉnh sửa / A starting point for "
                "planners to edit, not a plan."
            ),
        },
        "notices": notices,
    }
    collection["properties"]["cluster_placed"] = territory.cluster.id
    return with_labels(collection, period)
