"""Typed time and date parameters: the plausible range checked, bare numbers refused.

And one rule for every route: a query parameter that takes one value is given once.

Pydantic reads a bare number given for a date or a time as Unix seconds (``start=20250801``
would be 1970-08-23); these types refuse it, as the file reader does. Every bound must lie
in the range of :func:`geozone.incidents.schema.check_period_bound` (from 1945-09-02 to two years
ahead); outside it the answer is 422 naming the parameter, never a 500 from a year the
database or the calendar cannot hold.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request
from pydantic import AfterValidator, BeforeValidator

from api.services.common import invalid
from geozone import vntime
from geozone.incidents.schema import check_period_bound


def _is_number(text: str) -> bool:
    try:
        float(text)  # also "1e5", "-3.2e-35", "inf", "nan"
    except ValueError:
        return False
    return True


def _no_bare_number(value: Any) -> Any:
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
        isinstance(value, str) and _is_number(value.strip())
    ):
        raise ValueError("a bare number is not a date; write YYYY-MM-DD (or an ISO 8601 time)")
    return value


def _in_range(value: date) -> date:
    check_period_bound(value, "the value")
    return value


#: A date query parameter (YYYY-MM-DD) in the plausible range.
QueryDate = Annotated[date, BeforeValidator(_no_bare_number), AfterValidator(_in_range)]
#: A date-time query parameter (ISO 8601; naive is Vietnam time) in the plausible range.
QueryTime = Annotated[datetime, BeforeValidator(_no_bare_number), AfterValidator(_in_range)]


def parse_time(text: str, name: str) -> datetime:
    """Parse an ISO 8601 time given as text (an OGC ``datetime`` part) and range-check it.

    Raises
    ------
    fastapi.exceptions.RequestValidationError
        (422) Naming ``name``: not ISO 8601, a bare number, or outside the range.
    """
    try:
        _no_bare_number(text)
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        aware = vntime.aware(value)
        check_period_bound(aware, name)
    except ValueError as exc:
        raise invalid(name, str(exc)) from None
    return aware


def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given twice where the route takes one value (a 422).

    Starlette would silently keep the last (``?from=2024-01-01&from=2025-01-01``): the
    caller would get an answer to a question it did not ask. Parameters declared as arrays
    in the OpenAPI document (``category``) may repeat.
    """
    counts = Counter(name for name, _ in request.query_params.multi_items())
    repeated = [name for name, n in counts.items() if n > 1]
    if not repeated:
        return
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    multi = _multi_valued(request.app).get((request.method.lower(), path), frozenset())
    for name in repeated:
        if name not in multi:
            raise invalid(name, f"given {counts[name]} times; this parameter takes one value")


def _multi_valued(app: Any) -> dict[tuple[str, str | None], frozenset[str]]:
    """Return the query parameters each route takes as an array, read once from its OpenAPI."""
    cached: dict[tuple[str, str | None], frozenset[str]] | None = getattr(
        app.state, "multi_valued_query", None
    )
    if cached is None:
        cached = {}
        for path, operations in app.openapi().get("paths", {}).items():
            for method, operation in operations.items():
                names = {
                    p["name"]
                    for p in operation.get("parameters", [])
                    if p.get("in") == "query" and _is_array(p.get("schema", {}))
                }
                cached[(method, path)] = frozenset(names)
        app.state.multi_valued_query = cached
    return cached


def _is_array(schema: dict[str, Any]) -> bool:
    options = schema.get("anyOf", []) + schema.get("oneOf", []) + [schema]
    return any(option.get("type") == "array" for option in options)
