"""The boundary source manifest (``data/boundaries/sources.toml``).

It records, for each boundary set, where its archive comes from, its licence and attribution,
its sha256 and the counts of units a correct build must produce.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from geozone.errors import ConfigurationError, UnknownBoundarySetError

Level = Literal["province", "district", "ward"]
#: Levels from the coarsest to the finest.
LEVEL_ORDER: tuple[Level, ...] = ("province", "district", "ward")


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
    layout: Literal["vn2025", "dvhcvn"]
    directory: str
    archive: str
    sha256: str
    valid_from: date
    valid_to: date | None = None
    levels: tuple[Level, ...]
    licence: str
    attribution: str
    attribution_en: str
    obtain: str
    provenance: Provenance
    expected: dict[Level, int]
    known_missing: dict[Level, list[str]] = {}

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
