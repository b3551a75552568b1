"""OGC API – Features (Part 1 core + GeoJSON): units, border zones, incidents, patrol zones.

``limit`` is clamped to 1..10,000 (default 10), never refused; ``next`` links page on with
``offset``. The incidents and patrol-zones collections need an analyst key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError

from api import services
from api.deps import ApiStoreDep, ContextDep, OptionalCaller, StoreDep, check_role
from api.problems import problems
from api.routers.clusters import zones_of
from geozone.errors import DataNotFoundError
from geozone.store import IncidentQuery

router = APIRouter(tags=["OGC API Features"])

CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
COLLECTIONS = {
    "units": "Administrative units of the current boundary set",
    "border-zones": "Border zones of every placed cluster",
    "incidents": "Stored incidents with their assignment (analyst key)",
    "patrol-zones": "Patrol zones drawn by planners (analyst key)",
}
MAX_LIMIT = 10_000


def _collection(request: Request, collection_id: str) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    return {
        "id": collection_id,
        "title": COLLECTIONS[collection_id],
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "links": [
            {
                "href": f"{base}/collections/{collection_id}/items",
                "rel": "items",
                "type": "application/geo+json",
            },
            {"href": f"{base}/collections/{collection_id}", "rel": "self"},
        ],
    }


def _check(collection_id: str) -> None:
    if collection_id not in COLLECTIONS:
        raise DataNotFoundError(f"no collection {collection_id!r}; known: {', '.join(COLLECTIONS)}")


def _interval(text: str | None) -> tuple[datetime | None, datetime | None]:
    if text is None:
        return None, None
    parts = text.split("/")
    try:
        if len(parts) == 1:
            instant = datetime.fromisoformat(parts[0])
            return instant, instant
        if len(parts) == 2:
            start, end = (None if p in ("", "..") else datetime.fromisoformat(p) for p in parts)
            return start, end
    except ValueError:
        pass
    raise RequestValidationError(
        [
            {
                "loc": ("query", "datetime"),
                "msg": "expected an RFC 3339 instant or interval start/end (.. for open)",
                "type": "value_error",
            }
        ]
    )


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, list[str]]:
    """Return the conformance classes implemented."""
    return {"conformsTo": CONFORMANCE}


@router.get("/collections", summary="OGC API collections")
def collections(request: Request) -> dict[str, Any]:
    """Return the feature collections."""
    return {
        "collections": [_collection(request, cid) for cid in COLLECTIONS],
        "links": [{"href": str(request.url), "rel": "self"}],
    }


@router.get(
    "/collections/{collection_id}", responses=problems(404), summary="One OGC API collection"
)
def collection(request: Request, collection_id: str) -> dict[str, Any]:
    """Return one collection's description."""
    _check(collection_id)
    return _collection(request, collection_id)


@router.get(
    "/collections/{collection_id}/items",
    responses=problems(401, 403, 404, 422),
    summary="Features of a collection (GeoJSON)",
)
def items(
    request: Request,
    collection_id: str,
    context: ContextDep,
    store: StoreDep,
    api_store: ApiStoreDep,
    caller: OptionalCaller,
    bbox: Annotated[str | None, Query(max_length=200)] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100)] = None,
    limit: Annotated[int, Query(description="Clamped to 1..10000")] = 10,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Return one page of a collection's features with ``next`` links."""
    _check(collection_id)
    limit = min(max(limit, 1), MAX_LIMIT)
    box = services.parse_bbox(bbox)
    features: list[dict[str, Any]]
    if collection_id == "incidents":
        check_role(caller, "analyst")
        start, end = _interval(datetime_)
        frame, total = store.query(
            IncidentQuery(bbox=box, start=start, end=end, limit=limit, offset=offset)
        )
        features = services.incident_features(frame)
    else:
        if collection_id == "units":
            bset = context.current
            frame = bset.frame[bset.frame["has_geometry"]]
            if box is not None:
                frame = frame.iloc[frame.sindex.query(shapely.box(*box), "intersects")]
                frame = frame.sort_index()
            total = len(frame)
            page = frame.iloc[offset : offset + limit]
            features = services.unit_features(bset, page)
        else:
            if collection_id == "patrol-zones":
                check_role(caller, "analyst")
                every = [services.zone_feature(z) for z in api_store.list_zones()]
            else:
                every = [
                    f
                    for t in context.territories
                    for f in services.zone_features(zones_of(request, t.cluster.id), t.cluster.id)
                ]
            if box is not None:
                area = shapely.box(*box)
                every = [
                    f
                    for f in every
                    if shapely.intersects(shapely.geometry.shape(f["geometry"]), area)
                ]
            total = len(every)
            features = every[offset : offset + limit]
    links = [{"href": str(request.url), "rel": "self", "type": "application/geo+json"}]
    if offset + len(features) < total:
        following = request.url.include_query_params(offset=offset + len(features), limit=limit)
        links.append({"href": str(following), "rel": "next", "type": "application/geo+json"})
    return {
        "type": "FeatureCollection",
        "features": features,
        "numberMatched": total,
        "numberReturned": len(features),
        "timeStamp": datetime.now().astimezone().isoformat(),
        "links": links,
    }
