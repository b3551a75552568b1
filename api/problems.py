"""RFC 9457 problem details: every error the API returns is ``application/problem+json``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import (
    AuthenticationError,
    DuplicateApiKeyError,
    LastAdminKeyError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnknownApiKeyError,
    UnknownJobError,
)
from geozone.errors import (
    ClusterConflictError,
    ClusterDefinitionError,
    ClusterIdChangeError,
    DataNotFoundError,
    GeozoneError,
    ImportBatchError,
    StoreBusyError,
    UnknownBoundarySetError,
    UnknownIncidentError,
    UnknownPatrolZoneError,
    UnknownUnitError,
)
from geozone.store.sql import is_busy

PROBLEM_JSON = "application/problem+json"
#: Seconds a client is told to wait before sending a request refused as busy (503) again.
RETRY_AFTER_S = 2
_log = logging.getLogger("geozone.api")

#: HTTP status of each geozone error class (the first matching base wins); others are 400.
STATUS_OF: tuple[tuple[type[GeozoneError], int], ...] = (
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (UnknownUnitError, 404),
    (UnknownBoundarySetError, 404),
    (UnknownIncidentError, 404),
    (UnknownPatrolZoneError, 404),
    (UnknownApiKeyError, 404),
    (UnknownJobError, 404),
    (DataNotFoundError, 404),
    (DuplicateApiKeyError, 409),
    # A cluster id taken by a committed (read-only) cluster, a defined one or a carried one.
    (ClusterConflictError, 409),
    (LastAdminKeyError, 409),
    (ImportBatchError, 409),
    (PayloadTooLargeError, 413),
    # Another writer held the store: nothing was stored, the same request may be sent again.
    (StoreBusyError, 503),
    # A cluster definition that its boundary set refutes (unknown member, name mismatch).
    (ClusterDefinitionError, 422),
)


#: Errors answered with their status's phrase as title ("Conflict"), not their class name, as
#: when the web layer raised them as HTTP errors (before planners' clusters moved to the core).
TITLED_BY_STATUS: tuple[type[GeozoneError], ...] = (ClusterConflictError, ClusterIdChangeError)


def status_of(exc: GeozoneError) -> int:
    """Return the HTTP status a geozone error maps to."""
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            return status
    return 400


def problem(status: int, detail: str, *, title: str | None = None, **extra: Any) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extra,
    }
    headers = {"WWW-Authenticate": "ApiKey"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": str(RETRY_AFTER_S)}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def _geozone_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GeozoneError)
    title = None if isinstance(exc, TITLED_BY_STATUS) else type(exc).__name__
    return problem(status_of(exc), str(exc), title=title)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Only where and what: the raw input is never echoed back.
    errors = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in exc.errors()
    ]
    fields = ", ".join(".".join(e["loc"]) for e in errors)
    return problem(422, f"invalid request: {fields}", title="Validation error", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # every method of the path, not only the first route's
        path = request.url.path
        routes = [r for r in getattr(request.app.state, "route_roles", ()) if r.path.match(path)]
        literal = [r for r in routes if r.template == path]  # /incidents/import, not /{id}
        allowed = {m for r in literal or routes for m in r.methods}
        if allowed:
            response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and is_busy(exc):  # a key or zone write met a busy store
        return problem(503, "the store is busy: another writer held it too long; try again")
    _log.exception("unexpected error", exc_info=exc)
    return problem(500, "the server met an unexpected error; it has been logged")


def install(app: FastAPI) -> None:
    """Register the problem+json exception handlers on ``app`` and document them.

    The OpenAPI document then describes the responses these handlers give on every route:
    422 (invalid parameters or body) as problem+json instead of FastAPI's default
    ``application/json`` validation error, and on routes with a body 400 (a body that cannot
    be parsed) and 413 (a body over the size limit).
    """
    app.add_exception_handler(GeozoneError, _geozone_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document_problems(generate())
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


#: OpenAPI description of a problem response, for ``responses=`` of routes.
PROBLEM_SCHEMA: dict[str, Any] = {
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"type": "integer"},
                    "detail": {"type": "string"},
                },
                "required": ["type", "title", "status", "detail"],
            }
        }
    }
}


#: The 422 problem: a problem with the list of invalid fields (never the raw input).
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "content": {
        PROBLEM_JSON: {
            "schema": {
                **PROBLEM_SCHEMA["content"][PROBLEM_JSON]["schema"],
                "properties": {
                    **PROBLEM_SCHEMA["content"][PROBLEM_JSON]["schema"]["properties"],
                    "errors": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "loc": {"type": "array", "items": {"type": "string"}},
                                "msg": {"type": "string"},
                                "type": {"type": "string"},
                            },
                            "required": ["loc", "msg", "type"],
                        },
                    },
                },
            }
        }
    }
}


def document_problems(document: dict[str, Any]) -> None:
    """Describe the problem responses of the exception handlers in an OpenAPI document.

    Every 422 response becomes the validation problem (FastAPI documents it as
    ``application/json``); every operation with a request body gets 400 and 413 problems.
    FastAPI's unused validation-error components are dropped. ``document`` is changed in place.
    """
    for item in document.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {"description": "Validation error", **VALIDATION_PROBLEM_SCHEMA}
            if "requestBody" in operation:
                for code in (400, 413):
                    responses.setdefault(
                        str(code), {"description": HTTPStatus(code).phrase, **PROBLEM_SCHEMA}
                    )
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def document_optional_keys(app: FastAPI, routes: Sequence[Any]) -> None:
    """Mark the key as optional in the OpenAPI document of routes that need no role.

    Such routes read the key when one is given (a map page, the OGC items of the public
    collections) and answer without one; OpenAPI says so with an empty requirement ``{}``.
    ``routes`` are :class:`api.app.RouteRole` records (template, methods, role).
    """
    optional = {
        (route.template, method.lower())
        for route in routes
        if route.role is None
        for method in route.methods
    }
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, item in document.get("paths", {}).items():
                for method, operation in item.items():
                    security = operation.get("security")
                    if security and (path, method) in optional and {} not in security:
                        operation["security"] = [{}, *security]
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """Return ``responses=`` entries describing problem responses with these codes."""
    return {code: {"description": HTTPStatus(code).phrase, **PROBLEM_SCHEMA} for code in codes}
