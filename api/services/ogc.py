"""OGC API – Features: the landing page, collections with extents, items, one item, queryables.

Every collection's items are GeoJSON (``application/geo+json``), written with orjson and
the geometries spliced in as GeoJSON text (:class:`orjson.Fragment`) rather than built as
dicts and encoded again. The ``units`` collection is served from the set's simplified
display layer (shared edges kept) unless ``resolution=full`` is asked for.

Invalid parameters are 400 on the OGC routes (Part 1, ``/req/core/query-param-invalid``)
and unknown ones are refused with 400 naming them (``/req/core/query-param-unknown``): see
:mod:`api.routers.ogc`. The functions here raise
:class:`fastapi.exceptions.RequestValidationError`; the routes turn it into 400.

The collections that count incidents or events (``incidents``, ``hotspots``) carry the
store's ``notices`` (:func:`geozone.incidents.notices.unfinished_import_notices`: an
unfinished import, reports not linked yet) as a top-level member of their items and of each
feature, as ``GET /incidents`` does: GeoJSON allows foreign members, and OGC clients (GDAL,
OWSLib, QGIS) read past them. One incident (``/collections/incidents/items/{id}``) also
carries what ``GET /incidents/{id}`` says of it (the boundary set's snapshot when its date
lies outside it, the clusters that do not apply that day).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import shapely
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError

from api.auth_store import role_allows
from api.deps import Caller, check_cluster, check_role
from api.errors import PermissionDeniedError
from api.params import parse_time
from api.scopes import (
    cluster_covered,
    incident_in_scope,
    query_detectors,
    query_units,
    zone_in_scope,
)
from api.services.analytics import HotspotParams, compute_hotspots
from api.services.boundaries import UNIT_FIELDS
from api.services.clusters import zone_features, zones_of
from api.services.common import invalid, jsonable, page_links, records
from api.services.common import parse_bbox as common_bbox
from api.services.incidents import incident_features, incident_notices, page_notices
from api.services.patrol_zones import zone_feature
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.errors import DataNotFoundError, GeozoneError, UnknownPatrolZoneError
from geozone.incidents.fields import STATUSES
from geozone.incidents.notices import unfinished_import_notices
from geozone.incidents.schema import CATEGORIES
from geozone.labels import STUDY_COUNT_BASIS_TEXT
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.base import EVENT_COLUMNS, INCIDENT_COLUMNS, UNIT_COLUMNS
from geozone.store.decisions import UnitNamer, flat_decisions, records_frame, unit_namer
from geozone.store.planner import PlannerStore

GEOJSON = "application/geo+json"
OPENAPI30 = "application/vnd.oai.openapi+json;version=3.0"
OPENAPI31 = "application/vnd.oai.openapi+json;version=3.1"
SCHEMA_JSON = "application/schema+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
GREGORIAN = "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"

_PART1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"
_PART3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf"
CONFORMANCE = [
    f"{_PART1}/core",
    f"{_PART1}/geojson",
    f"{_PART1}/oas30",
    f"{_PART3}/queryables",
    f"{_PART3}/queryables-query-parameters",
]

#: Most features one items page holds (a larger ``limit`` is clamped, as Part 1 asks).
MAX_LIMIT = 10_000
Resolution = Literal["simplified", "full"]
_GEOMETRY_SCHEMA = {
    "units": "https://geojson.org/schema/MultiPolygon.json",
    "border-zones": "https://geojson.org/schema/MultiPolygon.json",
    "incidents": "https://geojson.org/schema/Point.json",
    "patrol-zones": "https://geojson.org/schema/MultiPolygon.json",
    "hotspots": "https://geojson.org/schema/Polygon.json",
}


def _text(title: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "title": title, **extra}


@dataclass(frozen=True)
class Collection:
    """One OGC collection: its title, the role its items need, its queryables.

    ``queryables`` maps a feature property to its JSON Schema; each may be given as a query
    parameter of the items (equality; ``queryables-query-parameters``).
    """

    title: str
    description: str
    role: Literal["analyst"] | None = None
    queryables: Mapping[str, dict[str, Any]] = field(default_factory=dict)


COLLECTIONS: dict[str, Collection] = {
    "units": Collection(
        "Đơn vị hành chính / Administrative units",
        "Units of the current boundary set. Geometries from the simplified display layer "
        "(shared edges kept) unless resolution=full.",
        queryables={
            "code": _text("Mã đơn vị / GSO code"),
            "level": _text("Cấp / level"),
            "unit_type": _text("Loại đơn vị / unit type"),
            "parent_code": _text("Mã đơn vị cấp trên / parent code"),
            "province_code": _text("Mã tỉnh / province code"),
        },
    ),
    "border-zones": Collection(
        "Vùng giáp ranh / Border zones",
        "Border zones of every placed cluster (id: <cluster>:<zone>); a cluster placed in "
        "coarse mode (members without geometry in its set) has none and is named in the "
        "answer's omitted member.",
        queryables={
            "cluster_id": _text("Cụm / cluster id"),
            "zone_id": _text("Vùng / zone id"),
        },
    ),
    "incidents": Collection(
        "Vụ việc / Incidents",
        "Stored incidents with their unit assignment (analyst key).",
        role="analyst",
        queryables={
            "category": _text("Loại vụ việc / category", enum=sorted(CATEGORIES)),
            "status": _text("Trạng thái / status", enum=list(STATUSES)),
            "synthetic": {"type": "boolean", "title": "Dữ liệu mô phỏng / synthetic"},
            "cluster_id": _text("Cụm phụ trách / cluster the incident falls under"),
            "unit_code": _text("Đơn vị (xã, huyện hoặc tỉnh) / assigned unit at any level"),
        },
    ),
    "patrol-zones": Collection(
        "Vùng tuần tra / Patrol zones",
        "Patrol zones drawn by planners (analyst key).",
        role="analyst",
        queryables={"cluster_id": _text("Cụm / cluster id")},
    ),
    "hotspots": Collection(
        "Điểm nóng / Hotspots",
        "Significant Gi* hot and cold cells (250 m squares, seeded conditional permutations: "
        "9,999, fewer on grids over 4,000 cells; FDR at 0.05) of "
        "every placed cluster, or of one with cluster=ID; datetime sets the period (default: "
        "the 365 days ending today, or each cluster's own last year when it ended earlier; "
        "each cell says its from and to). A cluster too large to analyse at 250 m is left out and "
        "named in the answer's omitted member. Analyst key.",
        role="analyst",
        queryables={"cluster_id": _text("Cụm / cluster id")},
    ),
}


class GeoJSONResponse(Response):
    """A GeoJSON document (``application/geo+json``), already encoded."""

    media_type = GEOJSON


def check_collection(collection_id: str) -> Collection:
    """Return a collection, or refuse (404) an unknown id."""
    found = COLLECTIONS.get(collection_id)
    if found is None:
        raise DataNotFoundError(f"no collection {collection_id!r}; known: {', '.join(COLLECTIONS)}")
    return found


# ----------------------------------------------------------------------------------------------
# Landing page, collections, extents
# ----------------------------------------------------------------------------------------------


def base_url(request: Request) -> str:
    """Return the service root as clients reach it (proxy prefix included), no trailing /."""
    return str(request.base_url).rstrip("/")


def landing(request: Request) -> dict[str, Any]:
    """Return the landing page document (Part 1, ``/req/core/root-success``)."""
    base = base_url(request)
    return {
        "title": "geozone",
        "description": (
            "Ranh giới hành chính, vùng giáp ranh và thẩm quyền vụ việc của các cụm liên kết "
            "công an xã, phường / Administrative boundaries, border zones and incident "
            "jurisdiction of Vietnam's inter-ward police clusters."
        ),
        "links": [
            {"href": f"{base}/?f=json", "rel": "self", "type": "application/json"},
            {"href": f"{base}/?f=html", "rel": "alternate", "type": "text/html"},
            {
                "href": f"{base}/openapi-3.0.json",
                "rel": "service-desc",
                "type": OPENAPI30,
                "title": "OpenAPI 3.0 document",
            },
            {
                "href": f"{base}/openapi.json",
                "rel": "service-desc",
                "type": OPENAPI31,
                "title": "OpenAPI 3.1 document",
            },
            {"href": f"{base}/docs", "rel": "service-doc", "type": "text/html"},
            {
                "href": f"{base}/conformance",
                "rel": "conformance",
                "type": "application/json",
            },
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


def collections_doc(
    request: Request, context: Context, store: IncidentStore, caller: Caller | None
) -> dict[str, Any]:
    """Return the collections document with every collection's description."""
    base = base_url(request)
    return {
        "collections": [
            collection_info(request, cid, context, store, caller) for cid in COLLECTIONS
        ],
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
    }


def collection_info(
    request: Request,
    collection_id: str,
    context: Context,
    store: IncidentStore,
    caller: Caller | None,
) -> dict[str, Any]:
    """Return one collection's description: title, links, CRS and extent."""
    spec = check_collection(collection_id)
    base = f"{base_url(request)}/collections/{collection_id}"
    return {
        "id": collection_id,
        "title": spec.title,
        "description": spec.description,
        "itemType": "feature",
        "crs": [CRS84],
        "extent": extent(request, collection_id, context, store, caller),
        "links": [
            {"href": base, "rel": "self", "type": "application/json"},
            {"href": f"{base}/items", "rel": "items", "type": GEOJSON},
            {
                "href": f"{base}/queryables",
                "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables",
                "type": SCHEMA_JSON,
            },
        ],
    }


def _bbox(bounds: Any) -> list[float] | None:
    """Return bounds rounded outwards to 1e-6 degree (about 0.1 m), None when empty."""
    values = [float(v) for v in bounds]
    if not all(np.isfinite(values)):
        return None
    low = [math.floor(v * 1e6) / 1e6 for v in values[:2]]
    high = [math.ceil(v * 1e6) / 1e6 for v in values[2:]]
    return [*low, *high]


def _set_bounds(bset: BoundarySet) -> list[float] | None:
    frame = bset.frame
    return _bbox(frame.geometry[frame["has_geometry"]].total_bounds)


def _territory_bounds(context: Context) -> list[float] | None:
    boxes = []
    for territory in context.territories:
        frame = territory.bset.frame
        codes = territory.members["area_code"].dropna()
        rows = frame[frame["code"].isin(codes) & frame["has_geometry"]]
        if len(rows):
            boxes.append(rows.geometry.total_bounds)
    if not boxes:
        return None
    stacked = np.array(boxes)
    return _bbox(
        [stacked[:, 0].min(), stacked[:, 1].min(), stacked[:, 2].max(), stacked[:, 3].max()]
    )


def _incident_times(
    store: IncidentStore,
    units: tuple[tuple[str, str], ...] | None = None,
    detectors: tuple[tuple[str, str], ...] | None = None,
) -> tuple[str | None, str | None]:
    """Return the first and last stored incident times (ISO 8601), None when none.

    ``units``, ``detectors``: a scoped key's (:func:`api.scopes.query_units`,
    :func:`api.scopes.query_detectors`), the times of its rows only.
    """
    bounds = []
    for descending in (False, True):
        frame, _ = store.query(
            IncidentQuery(limit=1, descending=descending, units=units, detectors=detectors)
        )
        bounds.append(None if frame.empty else jsonable(frame["occurred_at"].iloc[0]))
    return bounds[0], bounds[1]


def extent(
    request: Request,
    collection_id: str,
    context: Context,
    store: IncidentStore,
    caller: Caller | None,
) -> dict[str, Any]:
    """Return a collection's spatial and temporal extent (Part 1, ``/rec/core/extent``).

    - ``units``: the current set's bounds; its validity (``valid_from`` … ``valid_to``);
    - ``border-zones``, ``patrol-zones``: the placed clusters' member units; open in time;
    - ``incidents``: the current set's bounds (where incidents are judged); with an analyst
      key the first and last stored times, else open (the store is not disclosed);
    - ``hotspots``: the clusters' units; from the first to the last day of the clusters'
      default periods (each the 365 days ending today, or its own last year when it ended
      earlier).
    """
    cache: dict[str, Any] = _app_cache(request, "ogc_extents")
    bset = context.current
    interval: list[str | None] = [None, None]
    if collection_id in ("units", "incidents"):
        key = f"set:{bset.id}"
        if key not in cache:
            cache[key] = _set_bounds(bset)
        bbox = cache[key]
        if collection_id == "units":
            info = bset.info
            interval = [
                info.valid_from.isoformat(),
                info.valid_to.isoformat() if info.valid_to else None,
            ]
        elif caller is not None and _allowed(caller, "analyst"):
            scopes = caller.scopes
            interval = list(
                _incident_times(
                    store, query_units(context, scopes), query_detectors(context, scopes)
                )
            )
    else:
        key = "territories:" + ",".join(sorted(t.cluster.id for t in context.territories))
        if key not in cache:
            cache[key] = _territory_bounds(context)
        bbox = cache[key]
        if collection_id == "hotspots":
            interval = _hotspot_interval(context)
    spatial: dict[str, Any] = {"crs": CRS84}
    spatial["bbox"] = [bbox if bbox is not None else [-180.0, -90.0, 180.0, 90.0]]
    return {"spatial": spatial, "temporal": {"interval": [interval], "trs": GREGORIAN}}


def _hotspot_interval(context: Context) -> list[str | None]:
    """Return the days the placed clusters' default hotspot periods cover, first to last."""
    from geozone.analysis.study import cluster_study_period

    periods = [cluster_study_period(context, t.cluster.id) for t in context.territories]
    if not periods:
        return [None, None]
    return [min(p[0] for p in periods).isoformat(), max(p[1] for p in periods).isoformat()]


def _allowed(caller: Caller, role: Literal["analyst"]) -> bool:
    return role_allows(caller.role, role)


def _app_cache(request: Request, name: str) -> dict[Any, Any]:
    state = request.app.state
    cache: dict[Any, Any] | None = getattr(state, name, None)
    if cache is None:
        cache = {}
        setattr(state, name, cache)
    return cache


def queryables(request: Request, collection_id: str) -> dict[str, Any]:
    """Return a collection's queryables as a JSON Schema (Part 3, ``/req/queryables``)."""
    spec = check_collection(collection_id)
    base = f"{base_url(request)}/collections/{collection_id}"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/queryables",
        "type": "object",
        "title": spec.title,
        "properties": {
            "geometry": {"title": "geometry", "$ref": _GEOMETRY_SCHEMA[collection_id]},
            **spec.queryables,
        },
        "additionalProperties": False,
    }


# ----------------------------------------------------------------------------------------------
# Parameters
# ----------------------------------------------------------------------------------------------


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """Parse a 4- or 6-number ``bbox`` (CRS84; the heights of a 6-number box are ignored).

    The 4 numbers are checked as every other route's box (:func:`api.services.common.parse_bbox`);
    a box crossing the antimeridian (``minx > maxx``) is refused: Vietnam lies far from it.
    """
    if text is None:
        return None
    values = text.split(",")
    if len(values) == 6:
        try:
            low, high = float(values[2]), float(values[5])
        except ValueError:
            raise invalid("bbox", "expected 4 or 6 comma-separated numbers") from None
        if low > high:
            raise invalid("bbox", "the lower height is above the upper height")
        text = ",".join(values[:2] + values[3:5])
    return common_bbox(text)


def interval(text: str | None) -> tuple[datetime | None, datetime | None]:
    """Parse an RFC 3339 instant or ``start/end`` interval (``..`` or empty: open)."""
    if text is None:
        return None, None
    parts = text.split("/")
    if len(parts) == 1:
        instant = parse_time(parts[0], "datetime")
        return instant, instant
    if len(parts) == 2:
        start, end = (None if p in ("", "..") else parse_time(p, "datetime") for p in parts)
        if start is not None and end is not None and start > end:
            raise invalid("datetime", "the interval's start is after its end")
        return start, end
    raise invalid("datetime", "expected an RFC 3339 instant or interval start/end (.. for open)")


def property_filters(request: Request, spec: Collection) -> dict[str, Any]:
    """Return the queryables given as query parameters, typed (booleans parsed)."""
    filters: dict[str, Any] = {}
    for name, schema in spec.queryables.items():
        value = request.query_params.get(name)
        if value is None:
            continue
        if schema.get("type") == "boolean":
            if value not in ("true", "false"):
                raise invalid(name, "expected true or false")
            filters[name] = value == "true"
            continue
        if len(value) > 200:
            raise invalid(name, "longer than 200 characters")
        if "enum" in schema and value not in schema["enum"]:
            raise invalid(name, f"expected one of {', '.join(schema['enum'])}")
        filters[name] = value
    return filters


# ----------------------------------------------------------------------------------------------
# Items
# ----------------------------------------------------------------------------------------------


@dataclass
class Page:
    """One page of features: the features (dicts, geometry maybe a Fragment), the total."""

    features: list[dict[str, Any]]
    total: int
    #: Members added to the FeatureCollection (incidents and hotspots: the store's
    #: ``notices``; hotspots: the clusters left out, and why).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemsQuery:
    """The parameters of an items request, parsed."""

    bbox: tuple[float, float, float, float] | None
    start: datetime | None
    end: datetime | None
    limit: int
    offset: int
    cluster: str | None
    resolution: Resolution
    filters: Mapping[str, Any]


def items_query(
    request: Request,
    collection_id: str,
    *,
    bbox: str | None,
    datetime_: str | None,
    limit: int,
    offset: int,
    cluster: str | None,
    resolution: Resolution,
) -> ItemsQuery:
    """Parse and check an items request's parameters (400 naming the first bad one)."""
    spec = check_collection(collection_id)
    if cluster is not None and collection_id != "hotspots":
        raise invalid("cluster", "only the hotspots collection takes cluster")
    if resolution != "simplified" and collection_id != "units":
        raise invalid("resolution", "only the units collection takes resolution")
    start, end = interval(datetime_)
    if datetime_ is not None and collection_id not in ("incidents", "hotspots"):
        raise invalid(
            "datetime", "only the incidents and hotspots collections have times to filter on"
        )
    return ItemsQuery(
        bbox=parse_bbox(bbox),
        start=start,
        end=end,
        limit=min(max(limit, 1), MAX_LIMIT),
        offset=offset,
        cluster=cluster,
        resolution=resolution,
        filters=property_filters(request, spec),
    )


def items_page(
    request: Request,
    collection_id: str,
    query: ItemsQuery,
    context: Context,
    store: IncidentStore,
    planner_store: PlannerStore,
    caller: Caller | None,
) -> GeoJSONResponse:
    """Return one page of a collection's features, with ``next``/``prev`` links."""
    spec = check_collection(collection_id)
    scopes: tuple[str, ...] = ()
    if spec.role is not None:
        scopes = check_role(caller, spec.role, scoped=True).scopes
    fetch: Callable[[], Page] = {
        "units": lambda: _unit_page(request, context, query),
        "incidents": lambda: _incident_page(
            request,
            context,
            store,
            query,
            query_units(context, scopes),
            query_detectors(context, scopes),
        ),
        "border-zones": lambda: _zone_page(request, context, query),
        "patrol-zones": lambda: _listed_page(
            [zone_feature(z) for z in _scoped_zones(context, planner_store, scopes)], query
        ),
        "hotspots": lambda: _hotspot_page(request, context, store, query, scopes),
    }[collection_id]
    page = fetch()
    links = page_links(
        request.url, query.offset, query.limit, len(page.features), page.total, GEOJSON
    )
    body = {
        "type": "FeatureCollection",
        "features": page.features,
        "numberMatched": page.total,
        "numberReturned": len(page.features),
        "timeStamp": datetime.now().astimezone().isoformat(),
        "links": links,
        **page.extra,
    }
    return _geojson(request, body, cacheable=collection_id == "units", context=context)


def item(
    request: Request,
    collection_id: str,
    feature_id: str,
    resolution: Resolution,
    context: Context,
    store: IncidentStore,
    planner_store: PlannerStore,
    caller: Caller | None,
) -> GeoJSONResponse:
    """Return one feature of a collection (404 naming it when it is not there)."""
    spec = check_collection(collection_id)
    scopes: tuple[str, ...] = ()
    if spec.role is not None:
        scopes = check_role(caller, spec.role, scoped=True).scopes
    if resolution != "simplified" and collection_id != "units":
        raise invalid("resolution", "only the units collection takes resolution")
    missing = DataNotFoundError(f"no feature {feature_id!r} in collection {collection_id}")
    feature: dict[str, Any] | None = None
    notices: list[str] | None = None  # said by the collections that count incidents
    if collection_id == "units":
        bset = context.current
        frame = bset.frame[bset.frame["code"].eq(feature_id) & bset.frame["has_geometry"]]
        if frame.empty:
            raise missing
        feature = _unit_features(request, bset, frame, resolution)[0]
    elif collection_id == "incidents":
        if scopes and not _incident_in_scope(context, store, scopes, feature_id):
            raise missing  # outside the scopes: unknown, its existence not told
        found = store.get(feature_id) if len(feature_id) <= 200 else None
        feature = None if found is None else _incident_feature(request, context, found)
        # The store's, then what GET /incidents/{id} says of the incident itself (the
        # boundary set's snapshot, the clusters that do not apply on its date).
        notices = unfinished_import_notices(store)
        if found is not None:
            notices += incident_notices(context, found)
    elif collection_id == "patrol-zones":
        if not feature_id.isdigit() or len(feature_id) > 18:
            raise missing
        try:
            zone = planner_store.get_zone(int(feature_id))
        except UnknownPatrolZoneError:
            raise missing from None
        if scopes and not zone_in_scope(context, scopes, zone["cluster_id"], zone["units"]):
            raise missing
        feature = zone_feature(zone)
    else:
        cluster, _, _ = feature_id.partition(":")
        if cluster not in {t.cluster.id for t in context.territories}:
            raise missing
        if collection_id == "border-zones":
            every, omitted = _zone_features(request, context, cluster)
        else:
            if caller is not None:
                check_cluster(context, caller, cluster, store)
            every, omitted, notices = _hotspot_features(
                request, context, store, [cluster], None, None
            )
        if omitted:
            raise DataNotFoundError(
                f"no feature {feature_id!r} in collection {collection_id}: {omitted[0]['reason']}"
            )
        feature = next((f for f in every if str(f["id"]) == feature_id), None)
    if feature is None:
        raise missing
    feature.pop("_shape", None)
    base = f"{base_url(request)}/collections/{collection_id}"
    feature["links"] = [
        {"href": str(request.url), "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": "application/json"},
    ]
    if notices is not None:
        feature["notices"] = notices
    return _geojson(request, feature, cacheable=collection_id == "units", context=context)


def _geojson(
    request: Request, body: dict[str, Any], *, cacheable: bool, context: Context
) -> GeoJSONResponse:
    """Encode a GeoJSON answer; the units (fixed until the next build) get an ETag."""
    content = orjson.dumps(body, default=jsonable)
    headers: dict[str, str] = {}
    if cacheable:
        stamp = context.build_stamps.get(context.current.id, "")
        digest = hashlib.sha256(f"{stamp}\n{request.url}".encode()).hexdigest()[:32]
        headers = {"ETag": f'W/"{digest}"', "Cache-Control": "no-cache"}
        if headers["ETag"] in request.headers.get("if-none-match", ""):
            return GeoJSONResponse(status_code=304, headers=headers)
    return GeoJSONResponse(content, headers=headers)


def _paged(features: list[dict[str, Any]], query: ItemsQuery) -> Page:
    return Page(features[query.offset : query.offset + query.limit], len(features))


def _listed_page(features: list[dict[str, Any]], query: ItemsQuery) -> Page:
    """Filter a whole list of features by bbox and properties, then cut the page."""
    kept = [
        f for f in features if all(f["properties"].get(k) == v for k, v in query.filters.items())
    ]
    if query.bbox is not None:
        area = shapely.box(*query.bbox)
        shapes = [f.get("_shape") or shapely.geometry.shape(f["geometry"]) for f in kept]
        hits = shapely.intersects(np.array(shapes, dtype=object), area) if shapes else []
        kept = [f for f, hit in zip(kept, hits, strict=True) if hit]
    page = _paged(kept, query)
    for feature in page.features:
        feature.pop("_shape", None)
    return page


def _zone_features(
    request: Request, context: Context, cluster: str | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Return the border zones of every placed cluster (or one), and the clusters left out.

    A cluster placed in coarse mode (its members have no geometry in its set, such as a
    ward cluster named in the district-level legacy set) has no border zones to draw: it is
    left out with the reason.
    """
    features: list[dict[str, Any]] = []
    omitted: list[dict[str, str]] = []
    for territory in context.territories:
        cid = territory.cluster.id
        if cluster is not None and cid != cluster:
            continue
        try:
            features.extend(zone_features(zones_of(request, cid), cid))
        except GeozoneError as exc:
            omitted.append({"cluster_id": cid, "reason": str(exc)})
    return features, omitted


def _zone_page(request: Request, context: Context, query: ItemsQuery) -> Page:
    features, omitted = _zone_features(request, context)
    page = _listed_page(features, query)
    if omitted:
        page.extra["omitted"] = omitted
    return page


def _unit_page(request: Request, context: Context, query: ItemsQuery) -> Page:
    bset = context.current
    frame = bset.frame
    if query.bbox is not None:
        frame = frame.iloc[np.sort(frame.sindex.query(shapely.box(*query.bbox), "intersects"))]
    frame = frame[frame["has_geometry"]]
    for name, value in query.filters.items():
        frame = frame[frame[name].astype("string").eq(value).fillna(False)]
    page = frame.iloc[query.offset : query.offset + query.limit]
    return Page(_unit_features(request, bset, page, query.resolution), len(frame))


def display_texts(request: Request, bset: BoundarySet) -> pd.Series:
    """Return the display layer's geometries as GeoJSON text by unit code.

    Written once per app and set (about 65 MB for the 3,355 units of vn2025): the text is
    the bulk of a units page's work, and the layer changes only with a build.
    """
    cache: dict[str, pd.Series] = _app_cache(request, "ogc_display")
    if bset.id not in cache:
        layer = bset.display_layer()
        texts = shapely.to_geojson(layer.geometry.to_numpy())
        cache[bset.id] = pd.Series(texts, index=layer["code"].astype(str), dtype=object)
    return cache[bset.id]


def _unit_features(
    request: Request, bset: BoundarySet, frame: pd.DataFrame, resolution: Resolution
) -> list[dict[str, Any]]:
    """Units as features; the simplified geometry (full where the layer lacks a unit)."""
    rows = records(frame[[c for c in UNIT_FIELDS if c in frame.columns]])
    if resolution == "simplified":
        texts = display_texts(request, bset).reindex(frame["code"].astype(str)).to_numpy()
        missing = pd.isna(texts)
        if missing.any():
            texts[missing] = shapely.to_geojson(frame.geometry.to_numpy()[missing])
    else:
        texts = shapely.to_geojson(frame.geometry.to_numpy())
    return [
        {
            "type": "Feature",
            "id": row["code"],
            "geometry": orjson.Fragment(text) if isinstance(text, str) else None,
            "properties": {**row, "set_id": bset.id},
        }
        for row, text in zip(rows, texts, strict=True)
    ]


def _incident_page(
    request: Request,
    context: Context,
    store: IncidentStore,
    query: ItemsQuery,
    units: tuple[tuple[str, str], ...] | None = None,
    detectors: tuple[tuple[str, str], ...] | None = None,
) -> Page:
    """One page of stored incidents, each with its cluster decisions as flat properties.

    The decision columns are the exports' (:func:`geozone.store.decisions.flat_decisions`;
    with ``cluster_id`` the columns hold that cluster's decision only). ``units`` and
    ``detectors``: a scoped key's (its rows only, counted so too). With the store's
    ``notices``: its reports may show as separate events while an import is unfinished.
    """
    filters = query.filters
    category = filters.get("category")
    selected = IncidentQuery(
        bbox=query.bbox,
        start=query.start,
        end=_instant_end(query),
        categories=(category,) if category is not None else None,
        status=filters.get("status"),
        synthetic=filters.get("synthetic"),
        cluster_id=filters.get("cluster_id"),
        unit_code=filters.get("unit_code"),
        limit=query.limit,
        offset=query.offset,
        units=units,
        detectors=detectors,
    )
    frame, total = store.query(selected)
    flat = flat_decisions(
        frame["external_id"], store.cluster_rows(selected), _namer(request, context)
    )
    rows = pd.concat(
        [pd.DataFrame(frame).reset_index(drop=True), flat.set_axis(range(len(frame)))], axis=1
    )
    notices = unfinished_import_notices(store) + page_notices(context, frame)
    return Page(incident_features(rows), total, {"notices": notices})


def _namer(request: Request, context: Context) -> UnitNamer:
    """Return the namer of decisions' units of the loaded context (made once per context)."""
    cache = _app_cache(request, "ogc_unit_namers")
    key = id(context)
    if key not in cache:
        cache.clear()  # a reloaded context replaces the old one
        cache[key] = (context, unit_namer(context))
    namer: UnitNamer = cache[key][1]
    return namer


def _incident_in_scope(
    context: Context, store: IncidentStore, scopes: tuple[str, ...], external_id: str
) -> bool:
    """Tell whether a stored incident is in a scoped key's scopes."""
    found = store.get(external_id) if len(external_id) <= 200 else None
    return incident_in_scope(context, scopes, found)


def _scoped_zones(
    context: Context, planner_store: PlannerStore, scopes: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Return the saved patrol zones, those in a scoped key's scopes only."""
    zones = planner_store.list_zones()
    if not scopes:
        return zones
    return [z for z in zones if zone_in_scope(context, scopes, z["cluster_id"], z["units"])]


def _instant_end(query: ItemsQuery) -> datetime | None:
    """Return the store's (exclusive) end of OGC's closed interval: an instant matches itself."""
    return None if query.end is None else query.end + timedelta(microseconds=1)


def _incident_feature(request: Request, context: Context, found: dict[str, Any]) -> dict[str, Any]:
    """One stored incident as the items give it (fields, unit assignment, decisions)."""
    assignment = found.get("assignment") or {}
    row = {name: found.get(name) for name in INCIDENT_COLUMNS}
    row["batch_id"] = found.get("batch_id")
    for name in (*UNIT_COLUMNS, "assigned_with", "assigned_at"):
        row[name] = assignment.get(name)
    row.update((name, found.get(name)) for name in EVENT_COLUMNS)  # as the items list them
    decisions = records_frame(str(row["external_id"]), found.get("clusters") or [])
    flat = flat_decisions([str(row["external_id"])], decisions, _namer(request, context))
    row.update(records(flat)[0])
    properties = jsonable(row)
    return {
        "type": "Feature",
        "id": properties["external_id"],
        "geometry": {"type": "Point", "coordinates": [properties["lon"], properties["lat"]]},
        "properties": properties,
    }


def _hotspot_page(
    request: Request,
    context: Context,
    store: IncidentStore,
    query: ItemsQuery,
    scopes: tuple[str, ...] = (),
) -> Page:
    """Return the hotspots of ``cluster`` (400 when they cannot be computed) or of every one.

    Without ``cluster``, a cluster whose analysis is over the request limits (an area too
    large for 250 m cells) is left out and named in the collection's ``omitted`` member with
    the reason, rather than failing the whole collection. A key with scopes gets the
    hotspots of its own clusters (computed on their rows, all in its scopes); the others are
    named in ``omitted`` as beyond its scopes, and asking for one with ``cluster`` is 403.
    """
    known = [t.cluster.id for t in context.territories]
    if query.cluster is not None and query.cluster not in known:  # clusters are public
        raise invalid("cluster", f"no placed cluster {query.cluster!r}; placed: {', '.join(known)}")
    wanted = [query.cluster] if query.cluster is not None else known
    beyond: list[dict[str, str]] = []
    if scopes:
        mine = [cid for cid in wanted if cluster_covered(context, scopes, cid, store)]
        if query.cluster is not None and not mine:
            raise PermissionDeniedError(
                f"the key is limited to {', '.join(scopes)}; this collection answers a scoped "
                f"key for its own clusters only, and {query.cluster!r} is not one"
            )
        reason = f"beyond the key's scopes ({', '.join(scopes)})"
        beyond = [{"cluster_id": cid, "reason": reason} for cid in wanted if cid not in mine]
        wanted = mine
    features, omitted, notices = _hotspot_features(
        request, context, store, wanted, query.start, query.end
    )
    omitted += beyond
    if omitted and query.cluster is not None:
        raise invalid("cluster", f"cluster {query.cluster}: {omitted[0]['reason']}")
    page = _listed_page(features, query)
    page.extra["notices"] = notices
    if omitted:
        page.extra["omitted"] = omitted
    return page


def _hotspot_features(
    request: Request,
    context: Context,
    store: IncidentStore,
    clusters: list[str],
    start: datetime | None,
    end: datetime | None,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], list[str]]:
    """Return the significant Gi* cells of the clusters (``_shape`` kept), those left out, notices.

    A cluster whose analysis is over the request limits is left out with the reason (the
    direct route, ``GET /clusters/{id}/hotspots``, takes a larger ``cell_size_m``). Each
    cluster's analysis is cached (:func:`api.services.analytics.compute_hotspots`), with the
    store's notices it was computed under: those of every cluster computed, each once.
    """
    first = start.date() if start is not None else None
    last = end.date() if end is not None else None
    features: list[dict[str, Any]] = []
    omitted: list[dict[str, str]] = []
    notices: dict[str, None] = {}
    for cid in clusters:
        try:
            found, said = _cluster_hotspots(request, context, store, cid, first, last)
            features.extend(found)
            notices.update(dict.fromkeys(said))
        except RequestValidationError as exc:
            reason = "; ".join(str(e.get("msg", "")) for e in exc.errors())
            omitted.append(
                {
                    "cluster_id": cid,
                    "reason": f"{reason} (GET /clusters/{cid}/hotspots takes a larger cell_size_m)",
                }
            )
    return features, omitted, list(notices)


def _cluster_hotspots(
    request: Request,
    context: Context,
    store: IncidentStore,
    cluster: str,
    start: date | None,
    end: date | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return a cluster's significant Gi* cells as features, and the store's notices."""
    result, period, notices = compute_hotspots(
        request, store, context, cluster, start, end, HotspotParams()
    )
    cells: gpd.GeoDataFrame = result.cells[result.cells["significant"].astype(bool)]
    rows = records(cells.drop(columns=cells.geometry.name))
    geoms = cells.geometry.to_numpy()
    features = [
        {
            "type": "Feature",
            "id": f"{cluster}:{row['cell_id']}",
            "geometry": shapely.geometry.mapping(geom),
            "properties": {
                **row,
                "cluster_id": cluster,
                "from": period.start.isoformat(),
                "to": period.end.isoformat(),
                "synthetic": period.synthetic,
                "count_basis": STUDY_COUNT_BASIS_TEXT,
            },
            "_shape": geom,
        }
        for row, geom in zip(rows, geoms, strict=True)
    ]
    return features, notices
