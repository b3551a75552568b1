"""JSON helpers shared by the services: JSON-ready values, responses, bounding boxes, 422s."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pandas as pd
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import URL

from geozone.assignment.points import jsonable as jsonable  # re-exported for the services


def page_links(
    url: URL, offset: int, limit: int, returned: int, total: int, media_type: str
) -> list[dict[str, str]]:
    """Return a page's ``self``, ``next`` and ``prev`` links, as OGC API collections give them.

    ``next`` when rows follow this page, ``prev`` when it does not start at the first row;
    both keep the request's other parameters.
    """
    links = [{"href": str(url), "rel": "self", "type": media_type}]
    if offset + returned < total:
        following = url.include_query_params(offset=offset + returned, limit=limit)
        links.append({"href": str(following), "rel": "next", "type": media_type})
    if offset > 0:
        before = url.include_query_params(offset=max(offset - limit, 0), limit=limit)
        links.append({"href": str(before), "rel": "prev", "type": media_type})
    return links


def json_response(data: Any, status_code: int = 200) -> Response:
    """Return JSON-ready data (see :func:`jsonable`) as a response, skipping FastAPI's encoder.

    For routes whose answer is built to their response model already: the route keeps the
    model for the documentation, and the answer is not validated a second time.
    """
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a frame's rows as JSON-ready dicts."""
    out: list[dict[str, Any]] = jsonable(frame.to_dict("records"))
    return out


def parse_bbox(text: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (degrees); a malformed box is a 422 naming ``field``."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    ok = (
        len(values) == 4
        and all(math.isfinite(v) for v in values)
        and -180 <= values[0] <= values[2] <= 180
        and -90 <= values[1] <= values[3] <= 90
    )
    if not ok:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", field),
                    "msg": "expected minx,miny,maxx,maxy in degrees with min <= max",
                    "type": "value_error",
                }
            ]
        )
    return values  # type: ignore[return-value]


def invalid(field: str, message: str, where: str = "query") -> RequestValidationError:
    """Return a 422 validation error naming ``field`` (never the raw input)."""
    return RequestValidationError([{"loc": (where, field), "msg": message, "type": "value_error"}])
