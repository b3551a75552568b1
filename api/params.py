"""Typed time and date parameters: the plausible range checked, bare numbers refused.

Pydantic reads a bare number given for a date or a time as Unix seconds (``start=20250801``
would be 1970-08-23); these types refuse it, as the file reader does. Every bound must lie
in the range of :func:`geozone.incidents.schema.check_period_bound` (from 1945-09-02 to two years
ahead); outside it the answer is 422 naming the parameter, never a 500 from a year the
database or the calendar cannot hold.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BeforeValidator

from geozone import vntime
from geozone.incidents.schema import check_period_bound


def _no_bare_number(value: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if (isinstance(value, int | float) and not isinstance(value, bool)) or (
        text is not None and text.lstrip("+-").replace(".", "", 1).isdigit()
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
        raise invalid_query(name, str(exc)) from None
    return aware


def invalid_query(name: str, message: str) -> RequestValidationError:
    """Return a 422 naming the query parameter ``name``."""
    return RequestValidationError([{"loc": ("query", name), "msg": message, "type": "value_error"}])
