"""Dates as the reports give them: partial dates kept partial, and periods.

"Ngày 16-6" has no year: :class:`ReportedDate` keeps the known parts and the bounds inferred
from the report, never an invented year. :class:`Period` is a cluster's or a member's run.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

#: Frozen, strict models (unknown keys are an error in a cluster file).
_FROZEN = ConfigDict(frozen=True, extra="forbid")


_PARTIAL_DATE = re.compile(
    r"^(?:(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?|--(?P<m>\d{2})-(?P<d>\d{2}))$"
)


class ReportedDate(BaseModel):
    """A date as far as a report gives it: year, month and day each optional.

    Written in TOML as a date (``2018-01-24``), a string (``"2017"``, ``"2017-03"``,
    ``"--06-16"`` for 16 June of an unknown year, the ISO 8601 form without year) or a table
    with ``year``/``month``/``day`` and the optional inferred bounds ``not_before`` /
    ``not_after`` and a ``note`` saying where they come from. ``inferred = true`` marks a
    date the report does not give but implies (an end read from "giai đoạn 2023 - 2024");
    it is shown as inferred wherever the date is.
    """

    model_config = _FROZEN

    year: int | None = Field(default=None, ge=1945, le=2100)
    month: int | None = Field(default=None, ge=1, le=12)
    day: int | None = Field(default=None, ge=1, le=31)
    not_before: date | None = None
    not_after: date | None = None
    inferred: bool = False
    note: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if isinstance(value, date):
            return {"year": value.year, "month": value.month, "day": value.day}
        if isinstance(value, str):
            match = _PARTIAL_DATE.match(value.strip())
            if not match:
                raise ValueError(
                    f"date {value!r} is not YYYY-MM-DD, YYYY-MM, YYYY or --MM-DD (year unknown)"
                )
            parts = match.groupdict()
            return {
                "year": parts["year"],
                "month": parts["month"] or parts["m"],
                "day": parts["day"] or parts["d"],
            }
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReportedDate:
        if self.day is not None and self.month is None:
            raise ValueError("a day needs a month")
        if self.month is not None and self.day is not None:
            year = self.year if self.year is not None else 2000  # a leap year allows 29 Feb
            if self.day > calendar.monthrange(year, self.month)[1]:
                raise ValueError(f"day {self.day} does not exist in month {self.month}")
        if self.not_before and self.not_after and self.not_before > self.not_after:
            raise ValueError(f"not_before {self.not_before} is after not_after {self.not_after}")
        if self.year is not None and (
            (self.not_before and self._own_latest() < self.not_before)
            or (self.not_after and self._own_earliest() > self.not_after)
        ):
            raise ValueError(f"{self} contradicts its own bounds")
        return self

    def _own_earliest(self) -> date:
        assert self.year is not None
        return date(self.year, self.month or 1, self.day or 1)

    def _own_latest(self) -> date:
        assert self.year is not None
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])

    @property
    def exact(self) -> date | None:
        """The date when year, month and day are all known, else None."""
        if self.year is None or self.month is None or self.day is None:
            return None
        return date(self.year, self.month, self.day)

    @property
    def earliest(self) -> date | None:
        """The earliest day the date can be (None when nothing bounds it)."""
        if self.year is not None:
            return self._own_earliest()
        if self.not_before is None:
            return None
        if self.month is not None and self.day is not None:
            return _next_anniversary(self.not_before, self.month, self.day, step=1)
        return self.not_before

    @property
    def latest(self) -> date | None:
        """The latest day the date can be (None when nothing bounds it)."""
        if self.year is not None:
            return self._own_latest()
        if self.not_after is None:
            return None
        if self.month is not None and self.day is not None:
            return _next_anniversary(self.not_after, self.month, self.day, step=-1)
        return self.not_after

    def __str__(self) -> str:
        if self.year is not None:
            text = f"{self.year:04d}" + "".join(
                f"-{part:02d}" for part in (self.month, self.day) if part is not None
            )
        elif self.month is not None:
            text = f"--{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")
            text += " (year unknown)"
        else:
            text = "date unknown"
        bounds = [f"not before {self.not_before}"] if self.not_before else []
        bounds += [f"not after {self.not_after}"] if self.not_after else []
        bounds += ["inferred"] if self.inferred else []
        return text + (f" ({', '.join(bounds)})" if bounds else "")


def _next_anniversary(start: date, month: int, day: int, step: int) -> date:
    """Return the first ``month``-``day`` on/after (step 1) or on/before (step -1) ``start``."""
    year = start.year
    for _ in range(9):  # 29 February recurs within 8 years
        if day <= calendar.monthrange(year, month)[1]:
            candidate = date(year, month, day)
            if (candidate - start).days * step >= 0:
                return candidate
        year += step
    raise ValueError(f"no {month:02d}-{day:02d} near {start}")  # pragma: no cover


class Period(BaseModel):
    """When the cluster runs: ``start`` and ``end`` (None: open).

    ``note`` says, in English, where the dates come from; ``note_vi`` says it in Vietnamese
    for the Vietnamese side of the outputs (without it they show the dates alone there).
    """

    model_config = _FROZEN

    start: ReportedDate | None = None
    end: ReportedDate | None = None
    note: str | None = None
    note_vi: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        first = self.start.earliest if self.start else None
        last = self.end.latest if self.end else None
        if first and last and first > last:
            raise ValueError(f"period starts ({self.start}) after it ends ({self.end})")
        return self

    def uncertain_on(self, day: date) -> bool:
        """Tell whether the reported dates cannot tell that the cluster ran on ``day``.

        True when ``day`` may fall before the start (a start whose year is not reported,
        or known only within bounds: the regulation may have been signed later) or after
        the end. A day :meth:`contains` refuses is not asked about.
        """
        start, end = self.start, self.end
        if start is not None and (start.latest is None or day < start.latest):
            return True
        return end is not None and (end.earliest is None or day > end.earliest)

    def contains(self, day: date) -> bool:
        """Tell whether the cluster may run on ``day``.

        A partly known start counts from its earliest possible day and a partly known end
        up to its latest possible day (a cluster is not dropped for lack of a year).
        """
        first = self.start.earliest if self.start else None
        last = self.end.latest if self.end else None
        return (first is None or first <= day) and (last is None or day <= last)
