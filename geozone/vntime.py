"""Vietnam time, one place: UTC+7 all year, and a time without a zone is Vietnam time.

Vietnam has one time zone and no daylight saving. Incidents, periods and "today" are all read
in Vietnam time, whatever the host's clock zone is.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Vietnam's time zone: UTC+7, no daylight saving.
VIETNAM_TZ = timezone(timedelta(hours=7), "ICT")


def aware(value: datetime) -> datetime:
    """Return ``value`` with a zone: a naive time is taken as Vietnam time."""
    return value if value.tzinfo is not None else value.replace(tzinfo=VIETNAM_TZ)


def now() -> datetime:
    """Return the current time in Vietnam."""
    return datetime.now(VIETNAM_TZ)


def today() -> date:
    """Return today's date in Vietnam (not the host's)."""
    return now().date()


def local_index(times: Any) -> pd.DatetimeIndex:
    """Return times as a Vietnam-time index: naive values are taken as Vietnam time."""
    index = pd.DatetimeIndex(pd.to_datetime(times))
    return index.tz_localize(VIETNAM_TZ) if index.tz is None else index.tz_convert(VIETNAM_TZ)


def local_dates(times: Any) -> NDArray[np.datetime64]:
    """Return the calendar dates in Vietnam time of tz-aware (or naive = Vietnam) times."""
    return local_index(times).tz_localize(None).to_numpy().astype("datetime64[D]")


def start_of_day(day: date) -> datetime:
    """Return the first instant of ``day`` in Vietnam time."""
    return datetime(day.year, day.month, day.day, tzinfo=VIETNAM_TZ)


__all__ = ["VIETNAM_TZ", "aware", "local_dates", "local_index", "now", "start_of_day", "today"]
