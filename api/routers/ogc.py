"""OGC API – Features (Part 1 core + GeoJSON): units, zones, incidents, patrols, hotspots.

``limit`` is clamped to 1..10,000 (default 10), never refused; ``next`` links page on with
``offset``. The incidents, patrol-zones and hotspots collections need an analyst key.

``hotspots`` holds the significant hot and cold Getis–Ord Gi* cells (250 m squares, 999
permutations, FDR at 0.05) of one cluster's incidents, named with the ``cluster`` parameter
(required for this collection); ``datetime`` (an interval) sets the period, by default the
365 days ending today (see :mod:`api.routers.analytics`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import shapely
from fastapi import APIRouter, Query, Request

from api import services
from api.deps import ContextDep, OptionalCaller, PlannerStoreDep, StoreDep, check_role
from api.params import invalid_query, parse_time
from api.problems import problems
from api.routers.clusters import zones_of
from geozone.context import Context
from geozone.errors import DataNotFoundError
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.base import MAX_QUERY_OFFSET

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
    "hotspots": "Significant Gi* hot and cold cells of a cluster (analyst key; cluster=ID)",
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
            raise invalid_query("datetime", "the interval's start is after its end")
        return start, end
    raise invalid_query(
        "datetime", "expected an RFC 3339 instant or interval start/end (.. for open)"
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
    planner_store: PlannerStoreDep,
    caller: OptionalCaller,
    bbox: Annotated[str | None, Query(max_length=200)] = None,
    datetime_: Annotated[str | None, Query(alias="datetime", max_length=100)] = None,
    limit: Annotated[int, Query(description="Clamped to 1..10000")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
    cluster: Annotated[
        str | None,
        Query(max_length=80, description="hotspots: the cluster whose hot spots to list."),
    ] = None,
) -> dict[str, Any]:
    """Return one page of a collection's features with ``next`` links.

    ``hotspots`` needs ``cluster`` and an analyst key; ``datetime`` then sets the period
    (default: the 365 days ending today).
    """
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
    elif collection_id == "hotspots":
        check_role(caller, "analyst")
        every = _hotspot_features(request, context, store, cluster, datetime_)
        if box is not None:
            area = shapely.box(*box)
            every = [f for f in every if shapely.intersects(f["_shape"], area)]
        total = len(every)
        features = [
            {k: v for k, v in f.items() if k != "_shape"} for f in every[offset : offset + limit]
        ]
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
                every = [services.zone_feature(z) for z in planner_store.list_zones()]
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


def _hotspot_features(
    request: Request,
    context: Context,
    store: IncidentStore,
    cluster: str | None,
    interval: str | None,
) -> list[dict[str, Any]]:
    """Return the significant Gi* cells of a cluster as features (with a ``_shape``)."""
    from api.routers.analytics import HotspotParams, compute_hotspots

    known = sorted(t.cluster.id for t in context.territories)
    if cluster is None:
        raise services.invalid(
            "cluster", f"the hotspots collection needs cluster=ID; placed: {', '.join(known)}"
        )
    start, end = _interval(interval)
    result, period = compute_hotspots(
        request,
        store,
        context,
        cluster,
        start.date() if start is not None else None,
        end.date() if end is not None else None,
        HotspotParams(),
    )
    cells = result.cells[result.cells["significant"].astype(bool)]
    rows = services.records(cells.drop(columns=cells.geometry.name))
    geoms = cells.geometry.to_numpy()
    return [
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
            },
            "_shape": geom,
        }
        for row, geom in zip(rows, geoms, strict=True)
    ]
