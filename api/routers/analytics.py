"""Cluster analytics: hotspots, the border effect, patrol-zone coverage and suggestions.

A key with scopes reads the analytics of its own clusters only, those whose every row its
scopes hold (:func:`api.scopes.cluster_covered`): the figures are computed on all of the
cluster's rows, so they are the rows in its scope; any other cluster is refused (403).

Thin routes over :mod:`geozone.analysis.hotspots`, :mod:`geozone.analysis.border_effect` and
:mod:`geozone.analysis.patrol`. Every answer is derived from incidents, so every route needs a key:

- ``GET /clusters/{id}/hotspots`` and ``GET /clusters/{id}/border-effect``: analyst;
- ``POST /clusters/{id}/coverage`` and ``GET /patrol-zones/{id}/coverage``: analyst (planners
  and admins too): a coverage answer holds incident counts and hot-cell shares, which an
  analyst may see; saving a zone stays a planner's write (``POST /patrol-zones``);
- ``GET /clusters/{id}/patrol-suggestions``: planner (suggested zones are a starting point
  planners edit and save).

Which incidents
---------------
One study of the cluster (:func:`geozone.analysis.study.cluster_study`) over the days
``from``..``to`` (Vietnam time, both included; default the 365 days ending today, or ending on
the cluster's last day when it ended earlier: :func:`~geozone.analysis.study.study_period`) and
the cluster's whole family (an original and the forms carried into the 2025 units). Hotspots,
coverage and suggestions count every stored incident in the territory of the cluster as it
stood on the incident's date: the members' territory of the form in force that day (of the
newest form on days none is), which is what the review judges under the cluster, but for
incidents a member detected outside every member's territory; the answers say so in
``count_basis``. The border effect reads the incidents judged under each form, as the review
(:func:`geozone.report.incidents.cluster_incidents`). The study area (the grid's) is the
union of those territories over the period.

Limits
------
Hotspot grids are bounded for a request: at most
:data:`~api.services.analytics.ANALYTICS_MAX_CELLS` cells and
:data:`~api.services.analytics.ANALYTICS_MAX_WORK` cells × (permutations + 1) × time bins;
beyond, the answer is a 422 problem naming the parameter to change. Fewer incidents than the
minimum (30, or fewer than 10 grid cells holding an incident) is no error: the answer is 200
with ``status`` "too_few" and a message saying which.

Results are cached in the process (a small LRU) by cluster, period, parameters and a change
marker of the store (:func:`api.services.analytics.change_marker`: the assignment stamp, the
number of stored incidents, the store's notices and its revision, which every write raises;
nothing is cached while incidents wait for reassignment).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query, Request

from api.deps import (
    ClusterAnalystDep,
    ClusterPlannerDep,
    ContextDep,
    PlannerStoreDep,
    ScopedAnalystDep,
    SettingsDep,
    StoreDep,
)
from api.params import QueryDate
from api.problems import problems
from api.schemas import NOTICES_SCHEMA
from api.services import analytics as service
from api.services.analytics import HotspotParams, Method
from api.services.common import invalid
from geozone.analysis.study import HOTSPOT_DEFAULTS
from geozone.errors import InvalidParameterError
from geozone.incidents.notices import unfinished_import_notices
from geozone.labels import SYNTHETIC_LABEL_TEXT

router = APIRouter(tags=["analytics"])

_POLYGON_EXAMPLE: dict[str, Any] = {
    "type": "Polygon",
    "coordinates": [
        [
            [105.805, 21.037],
            [105.808, 21.037],
            [105.808, 21.040],
            [105.805, 21.040],
            [105.805, 21.037],
        ]
    ],
}
_HOTSPOT_EXAMPLE: dict[str, Any] = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [
                        [105.8051, 21.0372],
                        [105.8075, 21.0372],
                        [105.8075, 21.0395],
                        [105.8051, 21.0395],
                        [105.8051, 21.0372],
                    ]
                ],
            },
            "properties": {
                "cell_id": "S250-32648-2338-9296",
                "count": 41,
                "gi_z": 6.3,
                "p_sim": 0.0001,
                "q_value": 0.0076,
                "significant": True,
                "kind": "hot",
                "confidence": 99,
            },
        }
    ],
    "properties": {
        "analysis": "getis_ord_gi_star",
        "status": "tested",
        "message": "SYNTHETIC data (dữ liệu mô phỏng): Getis–Ord Gi* on 381 square cells …",
        "message_vi": "DỮ LIỆU MÔ PHỎNG: Getis–Ord Gi* trên 381 ô vuông cỡ 250 m …",
        "message_en": "SYNTHETIC data: Getis–Ord Gi* on 381 square cells of 250 m …",
        "n_incidents": 1250,
        "n_hot": 8,
        "n_cold": 0,
        "permutations": 9999,
        "cluster_id": "hoa-do-phuc-vi-vn2025",
        "from": "2025-07-01",
        "to": "2025-12-31",
        "synthetic": True,
        "synthetic_label": SYNTHETIC_LABEL_TEXT,
        "attribution": "…",
    },
}
_GEOJSON_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A GeoJSON FeatureCollection; parameters and status in `properties`.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "enum": ["FeatureCollection"]},
                        "features": {"type": "array", "items": {"type": "object"}},
                        "properties": {"type": "object"},
                        "notices": NOTICES_SCHEMA,
                    },
                    "required": ["type", "features"],
                },
                "example": _HOTSPOT_EXAMPLE,
            }
        },
    }
}

ClusterId = Annotated[str, Path(max_length=80, description="A placed or committed cluster id.")]
Start = Annotated[
    QueryDate | None,
    Query(alias="from", description="First day YYYY-MM-DD, Vietnam time (default: a year ago)."),
]
End = Annotated[
    QueryDate | None,
    Query(
        alias="to",
        description=(
            "Last day YYYY-MM-DD, included (default: today, or the last day of a cluster "
            "that ended earlier, such as a legacy-district cluster)."
        ),
    ),
]
Category = Annotated[
    str | None,
    Query(max_length=400, description="Only these category codes (comma-separated)."),
]


def _emerging_too_few(exc: InvalidParameterError) -> bool:
    return "bin" in str(exc)


@router.get(
    "/clusters/{cluster_id}/hotspots",
    summary="Hotspots of a cluster's incidents (GeoJSON)",
    responses={**_GEOJSON_200, **problems(400, 401, 403, 404, 422)},
)
def cluster_hotspots(
    request: Request,
    cluster_id: ClusterId,
    caller: ClusterAnalystDep,
    context: ContextDep,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    method: Annotated[
        Method,
        Query(
            description="gi_grid: Getis–Ord Gi* on a grid; gi_units: Gi* per member unit; "
            "kde: kernel density (incidents per km²); emerging: emerging hot spots over "
            "time bins (Mann–Kendall trend per cell)."
        ),
    ] = "gi_grid",
    cell_size_m: Annotated[
        float | None,
        Query(ge=50, le=5_000, description="Cell side in metres (250; kde 100)."),
    ] = None,
    shape: Annotated[Literal["square", "hexagon"], Query(description="Grid cell shape.")] = (
        "square"
    ),
    permutations: Annotated[
        int | None,
        Query(
            ge=0,
            le=9_999,
            description="Conditional permutations for pseudo p-values (seeded). Default, as "
            "every other output: 9,999, fewer on grids of more than 4,000 cells (the number "
            "used is in the answer's properties); emerging: 0. 0 uses the z-score's normal "
            "approximation, which is unreliable on sparse counts.",
        ),
    ] = HOTSPOT_DEFAULTS.permutations,
    seed: Annotated[int, Query(ge=0, le=2**32 - 1, description="Seed of the permutations.")] = 0,
    alpha: Annotated[
        float,
        Query(
            ge=1e-4,
            le=0.5,
            description="Significance level (FDR-adjusted q-values); 1e-4 is the smallest "
            "pseudo p-value 9,999 permutations can give.",
        ),
    ] = 0.05,
    bin: Annotated[
        Literal["W", "MS", "QS"],
        Query(description="emerging: time bins (weeks, months, quarters)."),
    ] = "MS",
    category: Category = None,
    significant_only: Annotated[
        bool, Query(description="Only significant cells (emerging: not 'none').")
    ] = False,
) -> dict[str, Any]:
    """Return hot and cold spots (or a density surface) of a cluster's incidents.

    The cells of the study area (the members' territory) as a GeoJSON FeatureCollection:
    ``count``, ``gi_z``, ``p_sim``, ``q_value``, ``significant``, ``kind`` (hot, cold, none)
    and ``confidence`` (99/95/90) for Gi*; ``density`` and ``share`` for kde; ``category``
    (new, intensifying, persistent, diminishing, sporadic, none) and the trend for emerging.
    ``properties`` holds the parameters (``permutations``: the number used), ``status``
    ("tested" or "too_few": fewer than 30 incidents, or fewer than 10 cells holding one
    (``n_nonempty``, ``min_nonempty_cells``), are not tested, which is not an error), a
    ``message`` (English, as it always
    was) with ``message_vi`` and ``message_en`` (each wholly in its language), ``count_basis``
    (what the counts count: the incidents in the cluster's territory as it stood on each
    incident's date, as events), the attribution and, for synthetic incidents, the label
    "dữ liệu mô phỏng / synthetic data". ``notices``
    names an unfinished import of the store (its reports may be counted as separate events
    until it is finished or linked), then a boundary set the study uses outside its snapshot
    (as the review's notes say it). Needs an analyst key.
    """
    params = HotspotParams(method, cell_size_m, shape, permutations, seed, alpha, bin)
    categories = service.parse_categories(category)
    try:
        result, period, notices = service.compute_hotspots(
            request, store, context, cluster_id, start, end, params, categories
        )
    except InvalidParameterError as exc:
        if method == "emerging" and _emerging_too_few(exc):
            raise invalid("bin", str(exc)) from exc
        raise
    collection = result.to_geojson()
    if significant_only:
        collection["features"] = [
            f for f in collection["features"] if _significant(f.get("properties") or {})
        ]
    collection["notices"] = notices  # those of the marker the result is cached under
    return service.with_labels(collection, period)


def _significant(properties: dict[str, Any]) -> bool:
    if "category" in properties:
        return properties["category"] not in (None, "none")
    return bool(properties.get("significant"))


@router.get(
    "/clusters/{cluster_id}/border-effect",
    summary="Border effect: incidents in the border zone against its share of the area",
    responses={
        200: {
            "description": "One row per form, scope and split; the store's notices.",
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"notices": NOTICES_SCHEMA}}
                }
            },
        },
        **problems(400, 401, 403, 404, 422),
    },
)
def cluster_border_effect(
    cluster_id: ClusterId,
    caller: ClusterAnalystDep,
    context: ContextDep,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    by: Annotated[
        str | None,
        Query(max_length=60, description="Split by category and/or kind (comma-separated)."),
    ] = None,
    period: Annotated[
        Literal["M", "Q", "Y"] | None,
        Query(description="Split by month, quarter or year."),
    ] = None,
) -> dict[str, Any]:
    """Return the share of incidents in the border zone against the zone's share of the area.

    One row per cluster form in force, scope (the whole cluster, then each pair of members
    sharing a boundary) and split: ``n_incidents``, ``n_in_zone``, ``incident_share``,
    ``area_share``, ``ratio`` with its exact 95% interval, ``p_value`` (one-sided binomial
    test), and ``reason`` when the ratio is missing (``no_incidents``, ``no_zone_area``;
    missing numbers are null). Incidents are counted as events: the reports of one event by
    two members count once (``events`` gives the reports, the events and how many reports
    were linked); ``notices`` names an unfinished import of the store (its reports may be
    counted as separate events until it is finished or linked), then a boundary set the
    study uses outside its snapshot. Needs an analyst key.
    """
    keys = [part.strip() for part in (by or "").split(",") if part.strip()]
    bad = [k for k in keys if k not in ("category", "kind")]
    if bad:
        raise invalid("by", "split by category and/or kind (comma-separated)")
    found = service.cluster_period(store, context, cluster_id, start, end, judged=True)
    rows = service.border_effect_rows(found, keys, period)
    return {
        "cluster_id": cluster_id,
        "from": found.start.isoformat(),
        "to": found.end.isoformat(),
        "by": keys,
        "period": period,
        "synthetic": found.synthetic,
        **({"synthetic_label": SYNTHETIC_LABEL_TEXT} if found.synthetic else {}),
        # Counts are of events: the reports linked as one event count once.
        "events": found.events,
        "rows": rows,
        "notices": unfinished_import_notices(store) + service.study_notices(found),
    }


_COVERAGE_200: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "What the zone covers.",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"notices": NOTICES_SCHEMA}},
                "example": {
                    "cluster_id": "hoa-do-phuc-vi-vn2025",
                    "from": "2025-07-01",
                    "to": "2025-12-31",
                    "zone_area_km2": 0.11,
                    "border_zone_share": 0.04,
                    "border_zone_km2": 0.05,
                    "cluster_share": 1.0,
                    "hot_cells_share": 0.6,
                    "n_hot_cells": 6,
                    "incidents_share": 0.12,
                    "n_incidents_inside": 150,
                    "n_incidents": 1250,
                    "units": [
                        {
                            "code": "00160",
                            "name": "Phường Nghĩa Đô",
                            "area_share": 0.55,
                            "member": True,
                        }
                    ],
                    "hotspot_status": "tested",
                    "hotspot_message": "…",
                    "hotspot_message_vi": "…",
                    "hotspot_message_en": "…",
                    "synthetic": True,
                    "notices": [],
                },
            }
        },
    }
}


@router.post(
    "/clusters/{cluster_id}/coverage",
    summary="What a drawn patrol zone covers",
    responses={**_COVERAGE_200, **problems(400, 401, 403, 404, 422)},
)
def cluster_coverage(
    request: Request,
    cluster_id: ClusterId,
    caller: ClusterAnalystDep,
    context: ContextDep,
    store: StoreDep,
    settings: SettingsDep,
    geometry: Annotated[
        dict[str, Any],
        Body(
            description="A GeoJSON Polygon or MultiPolygon in EPSG:4326.",
            openapi_examples={"T11 bridge": {"value": _POLYGON_EXAMPLE}},
        ),
    ],
    start: Start = None,
    end: End = None,
) -> dict[str, Any]:
    """Return what a zone covers: area, border zone, hot cells, incidents, units touched.

    The polygon is checked as patrol zones are (vertex limit, inside Vietnam, one valid
    polygon per part, self-intersections repaired when that gives one polygon). The hot-cell
    share uses Gi* on a 250 m grid over the same period (permutation p-values, FDR); it is null when
    there are too few incidents to test. Incidents are counted as events: ``notices`` names
    an unfinished import of the store (its reports may be counted as separate events until
    it is finished or linked). Needs an analyst key (planners and admins too).
    """
    return service.coverage_of(
        request, store, context, cluster_id, geometry, start, end, settings.api_max_vertices
    )


@router.get(
    "/patrol-zones/{zone_id}/coverage",
    summary="What a saved patrol zone covers",
    responses={**_COVERAGE_200, **problems(400, 401, 403, 404, 422)},
)
def patrol_zone_coverage(
    request: Request,
    zone_id: Annotated[int, Path(ge=1, le=2**53, description="The zone's id.")],
    caller: ScopedAnalystDep,
    context: ContextDep,
    store: StoreDep,
    planner_store: PlannerStoreDep,
    settings: SettingsDep,
    start: Start = None,
    end: End = None,
) -> dict[str, Any]:
    """Return what a saved patrol zone covers in its cluster (as ``POST .../coverage``).

    A key with scopes: a zone outside them is unknown (404), and the coverage, counted on
    every incident of the zone's cluster, is answered for its own clusters only (403).
    ``notices`` as ``POST .../coverage`` says them.
    """
    import json

    from api.deps import check_cluster
    from api.services.patrol_zones import scoped_zone

    record = scoped_zone(planner_store, context, caller.scopes, zone_id)
    check_cluster(context, caller, str(record["cluster_id"]), store)
    geometry = json.loads(record["geometry"])
    data = service.coverage_of(
        request,
        store,
        context,
        str(record["cluster_id"]),
        geometry,
        start,
        end,
        # A saved zone passed the vertex limit in force when it was saved.
        max(settings.api_max_vertices, len(record["geometry"])),
    )
    return {"zone_id": zone_id, "name": record["name"], **data}


@router.get(
    "/clusters/{cluster_id}/patrol-suggestions",
    summary="Suggested patrol zones over border hotspots (GeoJSON)",
    responses={**_GEOJSON_200, **problems(400, 401, 403, 404, 422)},
)
def patrol_suggestions(
    request: Request,
    cluster_id: ClusterId,
    caller: ClusterPlannerDep,
    context: ContextDep,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    buffer_m: Annotated[
        float, Query(ge=0, le=2_000, description="Patrol buffer around the hot cells (metres).")
    ] = 100.0,
) -> dict[str, Any]:
    """Suggest patrol zones over significant Gi* hot cells that straddle a member boundary.

    Hot cells of Gi* on a 250 m grid (permutation p-values, FDR) are grouped, kept when they
    straddle a boundary between members or lie within the border-zone width of one,
    buffered, clipped to the members and assigned to the members they touch. **A starting
    point**: planners edit the polygons and save them with ``POST /patrol-zones``.
    ``notices`` names an unfinished import of the store (its reports may be counted as
    separate events, and the hot cells found from them, until it is finished or linked).
    Needs a planner key.
    """
    return service.patrol_suggestions(request, store, context, cluster_id, start, end, buffer_m)
