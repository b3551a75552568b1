"""The boundary source manifest (``data/boundaries/sources.toml``).

It records, for each boundary set, where its archive comes from, its licence and attribution,
its sha256, the counts of units a correct build must produce, the days it is used for
(``valid_from``, ``valid_to``) and, for a set that is one snapshot used for a longer period,
the time its units and boundaries stand as of (``as_of``, see :func:`snapshot_days`).
"""

from __future__ import annotations

import calendar
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from geozone.errors import ConfigurationError, UnknownBoundarySetError

Level = Literal["province", "district", "ward"]
#: Levels from the coarsest to the finest.
LEVEL_ORDER: tuple[Level, ...] = ("province", "district", "ward")


#: A snapshot time: a month (``"2023-02"``) or a day (``"2023-02-15"``).
_AS_OF = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


def snapshot_days(as_of: str) -> tuple[date, date]:
    """Return the first and last day a snapshot time stands for (both inclusive).

    Parameters
    ----------
    as_of
        ``"YYYY-MM"`` (a snapshot known to the month: every day of that month) or
        ``"YYYY-MM-DD"`` (known to the day: that day).

    Returns
    -------
    tuple of date
        ``(first, last)``: ``"2023-02"`` gives 2023-02-01 and 2023-02-28.

    Raises
    ------
    ValueError
        When ``as_of`` is not one of those forms or names no real month or day.
    """
    found = _AS_OF.fullmatch(as_of)
    if found is None:
        raise ValueError(f"as_of {as_of!r} is not YYYY-MM or YYYY-MM-DD")
    year, month, day = (int(part) if part else None for part in found.groups())
    assert year is not None and month is not None
    try:
        if day is not None:
            exact = date(year, month, day)
            return exact, exact
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except (ValueError, calendar.IllegalMonthError):
        raise ValueError(f"as_of {as_of!r} names no real month or day") from None


class Provenance(BaseModel):
    """Where an archive comes from."""

    model_config = ConfigDict(frozen=True)

    repository: str
    commit: str
    path: str
    exported: str
    geometry_origin: str


class SourceEntry(BaseModel):
    """One boundary set in the manifest."""

    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    #: The title in Vietnamese, for the Vietnamese half of texts naming the set (else ``title``).
    title_vi: str | None = None
    layout: Literal["vn2025", "dvhcvn"]
    directory: str
    archive: str
    sha256: str
    valid_from: date
    valid_to: date | None = None
    #: When the set's boundaries stand as of, for a set that is one snapshot
    #: used for a longer period (``"2023-02"``: about February 2023; see
    #: :func:`snapshot_days`). Omitted when the set shows its units as they are on every day
    #: it is used for (vn2025: the units from the reform, as they took effect).
    as_of: str | None = None
    levels: tuple[Level, ...]
    licence: str
    attribution: str
    attribution_en: str
    obtain: str
    provenance: Provenance
    expected: dict[Level, int]
    known_missing: dict[Level, list[str]] = {}

    @field_validator("as_of", mode="before")
    @classmethod
    def _check_as_of(cls, value: object) -> object:
        if isinstance(value, date):  # a TOML date (as_of = 2023-02-15): known to the day
            value = value.isoformat()
        if isinstance(value, str):
            snapshot_days(value)  # raises ValueError, reported with the field's name
        return value

    def archive_path(self, data_dir: Path) -> Path:
        """Return where the archive is expected under ``data_dir``."""
        return data_dir / self.directory / self.archive

    def in_force(self, day: date) -> bool:
        """Tell whether the set is in force on ``day`` (both ends inclusive)."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


class Manifest(BaseModel):
    """All boundary sources, by id."""

    model_config = ConfigDict(frozen=True)

    sets: dict[str, SourceEntry]

    def get(self, set_id: str) -> SourceEntry:
        """Return the entry of ``set_id`` or raise :class:`UnknownBoundarySetError`."""
        try:
            return self.sets[set_id]
        except KeyError:
            known = ", ".join(sorted(self.sets))
            raise UnknownBoundarySetError(
                f"unknown boundary set {set_id!r}; known sets: {known}"
            ) from None

    def in_force(self, day: date) -> list[SourceEntry]:
        """Return the sets in force on ``day``, the most recent first."""
        found = [entry for entry in self.sets.values() if entry.in_force(day)]
        return sorted(found, key=lambda entry: entry.valid_from, reverse=True)


def load_manifest(path: Path) -> Manifest:
    """Read and validate the manifest at ``path``.

    Raises
    ------
    ConfigurationError
        When the file is missing, is not TOML, or lacks a required field.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"boundary manifest not found at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"boundary manifest {path} is not valid TOML: {exc}") from None
    sets = {key: {"id": key, **value} for key, value in raw.get("sets", {}).items()}
    try:
        return Manifest(sets=sets)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(f"boundary manifest {path} is invalid: {exc}") from None
