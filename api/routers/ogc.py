"""OGC API – Features (Part 1 core, GeoJSON, OpenAPI 3.0; Part 3 queryables).

Collections: ``units``, ``border-zones``, ``incidents``, ``patrol-zones`` and ``hotspots``
(see :data:`api.services.ogc.COLLECTIONS`). The incidents, patrol-zones and hotspots need an
analyst key. The landing page (``/``) and the OpenAPI 3.0 document are in
:mod:`api.routers.landing`.

As Part 1 asks:

- an invalid parameter is answered 400 (not FastAPI's 422), and so is an unknown one,
  naming it (:class:`OgcRoute`, :func:`refuse_unknown`);
- ``limit`` is clamped to 1..10,000 (default 10), never refused; ``next`` and ``prev``
  links page with ``offset``;
- ``bbox`` takes 4 or 6 numbers (the heights of a 6-number box are ignored);
- every route answers ``HEAD`` as well as ``GET``;
- items and features are ``application/geo+json``.

``hotspots`` holds the significant hot and cold Getis–Ord Gi* cells (250 m squares, 9,999
permutations, fewer on grids over 4,000 cells; FDR at 0.05) of every placed cluster, or of one
named with ``cluster``;
``datetime`` (an interval) sets the period, by default the 365 days ending today (a cluster
that ended earlier, such as one on the legacy districts: its own last year; each cell's
``from`` and ``to`` say which).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any, ClassVar, Literal

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from api import problems
from api.deps import ContextDep, OptionalCaller, PlannerStoreDep, StoreDep
from api.schemas import NOTICES_DESCRIPTION, NOTICES_SCHEMA
from api.services import ogc as service
from api.services.common import invalid
from geozone.store.base import MAX_QUERY_OFFSET

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class OgcRoute(APIRoute):
    """A route whose invalid parameters are answered 400 (OGC API), not 422.

    The documented paths of every such route are kept in :attr:`paths` (for :func:`install`).
    """

    paths: ClassVar[set[str]] = set()

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        if self.include_in_schema:
            OgcRoute.paths.add(self.path_format)

    def get_route_handler(self) -> Handler:
        """Wrap FastAPI's handler to answer a validation error with a 400 problem."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return bad_request(exc)

        return answer


def bad_request(exc: RequestValidationError) -> Response:
    """Return the 400 problem of an invalid request (where and what; never the raw input)."""
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(e["loc"]) for e in errors)
    return problems.problem(400, f"invalid request: {fields}", title="Bad Request", errors=errors)


def _declared(route: Any) -> set[str]:
    """Return the query parameter names a route declares (its dependencies' included)."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        current = pending.pop()
        names.update(param.alias for param in current.query_params)
        pending.extend(current.dependencies)
    return names


async def refuse_unknown(
    request: Request,
    f: Annotated[
        Literal["json"] | None,
        Query(description="The format: json (GeoJSON for features), the only one served."),
    ] = None,
) -> None:
    """Refuse query parameters the route does not know (400 naming them).

    An items request also takes its collection's queryables (Part 3).
    """
    route = request.scope.get("route")
    allowed = _declared(route) if route is not None else set()
    collection = service.COLLECTIONS.get(request.path_params.get("collection_id", ""))
    if collection is not None and str(request.scope.get("path", "")).endswith("/items"):
        allowed |= set(collection.queryables)
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        raise invalid(
            unknown[0],
            f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(allowed))}",
        )


router = APIRouter(
    tags=["OGC API Features"], route_class=OgcRoute, dependencies=[Depends(refuse_unknown)]
)


def get_and_head(path: str, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an endpoint for ``GET`` (documented) and ``HEAD`` (same answer, no body)."""

    def decorate(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.add_api_route(path, endpoint, methods=["GET"], **kwargs)
        hidden = {k: v for k, v in kwargs.items() if k in ("response_class",)}
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, **hidden)
        return endpoint

    return decorate


_LINKS: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"href": {"type": "string"}, "rel": {"type": "string"}},
        "required": ["href", "rel"],
    },
}
#: The store's notices, a foreign member of the collections that count incidents or events.
_NOTICES: dict[str, Any] = {
    **NOTICES_SCHEMA,
    "description": f"incidents and hotspots only. {NOTICES_DESCRIPTION}",
}
#: The response schemas of a feature and of a page of features (GeoJSON with OGC members).
FEATURE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        "geometry": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "properties": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        "links": _LINKS,
        "notices": _NOTICES,
    },
    "required": ["type", "geometry", "properties"],
}
FEATURE_COLLECTION: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": FEATURE},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
        "timeStamp": {"type": "string", "format": "date-time"},
        "links": _LINKS,
        "notices": _NOTICES,
    },
    "required": ["type", "features"],
}

CollectionId = Annotated[str, Path(max_length=80, description="A collection id (see /collections)")]
Resolution = Annotated[
    service.Resolution,
    Query(description="units: simplified display geometries (default) or full resolution."),
]


@get_and_head("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, list[str]]:
    """Return the conformance classes implemented."""
    return {"conformsTo": service.CONFORMANCE}


@get_and_head("/collections", summary="OGC API collections")
def collections(
    request: Request, context: ContextDep, store: StoreDep, caller: OptionalCaller
) -> dict[str, Any]:
    """Return the feature collections with their extents.

    The incidents' temporal extent (first and last stored times) is given to analyst keys.
    """
    return service.collections_doc(request, context, store, caller)


@get_and_head(
    "/collections/{collection_id}", responses=problems.problems(404), summary="One collection"
)
def collection(
    request: Request,
    collection_id: CollectionId,
    context: ContextDep,
    store: StoreDep,
    caller: OptionalCaller,
) -> dict[str, Any]:
    """Return one collection's description (title, links, CRS, extent)."""
    return service.collection_info(request, collection_id, context, store, caller)


@get_and_head(
    "/collections/{collection_id}/queryables",
    response_class=Response,
    responses={
        200: {"description": "JSON Schema", "content": {service.SCHEMA_JSON: {"schema": {}}}},
        **problems.problems(404),
    },
    summary="The queryables of a collection (JSON Schema)",
)
def queryables(request: Request, collection_id: CollectionId) -> Response:
    """Return the properties items can be filtered on, as query parameters (equality)."""
    import orjson

    body = service.queryables(request, collection_id)
    return Response(orjson.dumps(body), media_type=service.SCHEMA_JSON)


@get_and_head(
    "/collections/{collection_id}/items",
    response_class=service.GeoJSONResponse,
    responses={
        200: {
            "description": "A GeoJSON FeatureCollection",
            "content": {service.GEOJSON: {"schema": FEATURE_COLLECTION}},
        },
        304: {"description": "Not modified (units: the ETag still holds)"},
        **problems.problems(401, 403, 404),
    },
    summary="Features of a collection (GeoJSON)",
)
def items(
    request: Request,
    collection_id: CollectionId,
    context: ContextDep,
    store: StoreDep,
    planner_store: PlannerStoreDep,
    caller: OptionalCaller,
    bbox: Annotated[
        str | None,
        Query(max_length=200, description="minx,miny,maxx,maxy (or 6 numbers with heights)"),
    ] = None,
    datetime_: Annotated[
        str | None,
        Query(alias="datetime", max_length=100, description="An instant or start/end (..)"),
    ] = None,
    limit: Annotated[int, Query(description="Clamped to 1..10000")] = 10,
    offset: Annotated[int, Query(ge=0, le=MAX_QUERY_OFFSET)] = 0,
    cluster: Annotated[
        str | None,
        Query(max_length=80, description="hotspots: one cluster's (default: every placed one)."),
    ] = None,
    resolution: Resolution = "simplified",
) -> Response:
    """Return one page of a collection's features with ``next``/``prev`` links.

    The collection's queryables (``/collections/{id}/queryables``) may be given as query
    parameters too (``?level=ward``, ``?category=drugs``). Analyst key for incidents,
    patrol-zones and hotspots. The incidents and hotspots carry the store's ``notices`` (an
    unfinished import: its reports may be counted as separate events until it is finished
    or linked), a member beside ``features``.
    """
    query = service.items_query(
        request,
        collection_id,
        bbox=bbox,
        datetime_=datetime_,
        limit=limit,
        offset=offset,
        cluster=cluster,
        resolution=resolution,
    )
    return service.items_page(request, collection_id, query, context, store, planner_store, caller)


@get_and_head(
    "/collections/{collection_id}/items/{feature_id}",
    response_class=service.GeoJSONResponse,
    responses={
        200: {
            "description": "A GeoJSON Feature",
            "content": {service.GEOJSON: {"schema": FEATURE}},
        },
        304: {"description": "Not modified (units: the ETag still holds)"},
        **problems.problems(401, 403, 404),
    },
    summary="One feature of a collection (GeoJSON)",
)
def feature(
    request: Request,
    collection_id: CollectionId,
    feature_id: Annotated[str, Path(max_length=200)],
    context: ContextDep,
    store: StoreDep,
    planner_store: PlannerStoreDep,
    caller: OptionalCaller,
    resolution: Resolution = "simplified",
) -> Response:
    """Return one feature by its id (a unit code, ``<cluster>:<zone>``, an incident id…).

    An incident or a hotspot cell carries the store's ``notices``, as the items do.
    """
    return service.item(
        request, collection_id, feature_id, resolution, context, store, planner_store, caller
    )


def install(app: FastAPI) -> None:
    """Document the OGC routes' 400 (instead of 422) in the app's OpenAPI document."""
    paths = OgcRoute.paths
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, item in document.get("paths", {}).items():
                if path not in paths:
                    continue
                for operation in item.values():
                    responses = operation.get("responses", {})
                    responses.pop("422", None)
                    responses["400"] = {
                        "description": "Invalid or unknown parameter",
                        **problems.VALIDATION_PROBLEM_SCHEMA,
                    }
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
