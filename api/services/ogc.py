"""OGC API – Features: the collections, their descriptions and one page of their items."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import shapely
from fastapi import Request

from api.deps import Caller, check_role
from api.params import invalid_query, parse_time
from api.services.analytics import HotspotParams, compute_hotspots
from api.services.boundaries import unit_features
from api.services.clusters import zone_features, zones_of
from api.services.common import invalid, parse_bbox, records
from api.services.incidents import incident_features
from api.services.patrol_zones import zone_feature
from geozone.context import Context
from geozone.errors import DataNotFoundError
from geozone.store import IncidentQuery, IncidentStore
from geozone.store.planner import PlannerStore

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


def collection_info(request: Request, collection_id: str) -> dict[str, Any]:
    """Return one collection's description with its links."""
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


def check_collection(collection_id: str) -> None:
    """Refuse (404) an unknown collection id."""
    if collection_id not in COLLECTIONS:
        raise DataNotFoundError(f"no collection {collection_id!r}; known: {', '.join(COLLECTIONS)}")


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
            raise invalid_query("datetime", "the interval's start is after its end")
        return start, end
    raise invalid_query(
        "datetime", "expected an RFC 3339 instant or interval start/end (.. for open)"
    )


def items_page(
    request: Request,
    collection_id: str,
    context: Context,
    store: IncidentStore,
    planner_store: PlannerStore,
    caller: Caller | None,
    bbox: str | None,
    datetime_: str | None,
    limit: int,
    offset: int,
    cluster: str | None,
) -> dict[str, Any]:
    """Return one page of a collection's features with ``next`` links (see the route)."""
    check_collection(collection_id)
    limit = min(max(limit, 1), MAX_LIMIT)
    box = parse_bbox(bbox)
    features: list[dict[str, Any]]
    if collection_id == "incidents":
        check_role(caller, "analyst")
        start, end = interval(datetime_)
        frame, total = store.query(
            IncidentQuery(bbox=box, start=start, end=end, limit=limit, offset=offset)
        )
        features = incident_features(frame)
    elif collection_id == "hotspots":
        check_role(caller, "analyst")
        every = hotspot_features(request, context, store, cluster, datetime_)
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
            features = unit_features(bset, page)
        else:
            if collection_id == "patrol-zones":
                check_role(caller, "analyst")
                every = [zone_feature(z) for z in planner_store.list_zones()]
            else:
                every = [
                    f
                    for t in context.territories
                    for f in zone_features(zones_of(request, t.cluster.id), t.cluster.id)
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


def hotspot_features(
    request: Request,
    context: Context,
    store: IncidentStore,
    cluster: str | None,
    datetime_: str | None,
) -> list[dict[str, Any]]:
    """Return the significant Gi* cells of a cluster as features (with a ``_shape``).

    ``datetime_`` is the ``datetime`` parameter (an instant or an interval, see
    :func:`interval`).
    """
    known = sorted(t.cluster.id for t in context.territories)
    if cluster is None:
        raise invalid(
            "cluster", f"the hotspots collection needs cluster=ID; placed: {', '.join(known)}"
        )
    start, end = interval(datetime_)
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
    rows = records(cells.drop(columns=cells.geometry.name))
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
