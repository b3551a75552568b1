"""What an address resolves to: the units read, the chain in force, what was not read.

:class:`AddressResolution` is the answer of :func:`geozone.address.resolve.resolve_address`,
the same in the CLI, the API and exports.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from geozone.boundaries.lineage import (
    Predecessor,
    Successor,
)
from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import Unit

UnreadReason = Literal["unknown", "conflict", "other_set", "ambiguous"]


Form = Literal["old", "new"]


@dataclass(frozen=True)
class AddressPart:
    """A part of the address read as a unit.

    ``match`` says how: ``"exact"`` (the name with its diacritics), ``"folded"`` (without
    diacritics, or with others), ``"alias"`` (an earlier name of the unit, from the official
    list) or ``"variant"`` (its i/y spelling).
    """

    role: Level
    text: str
    code: str
    full_name: str
    set_id: str
    match: str

    def to_dict(self) -> dict[str, Any]:
        """Return the part as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class UnreadPart:
    """A part of the address that could not be read, and why.

    ``reason``: ``"unknown"`` (no unit of that name where the rest of the address points),
    ``"conflict"`` (a unit of that name exists, elsewhere), ``"other_set"`` (the name is a
    unit of the other set only) or ``"ambiguous"`` (the name fits several units).
    """

    text: str
    role: Level | None
    within: str | None
    closest: tuple[str, ...]
    reason: UnreadReason
    message: str

    def to_dict(self) -> dict[str, Any]:
        """Return the part as JSON-ready data."""
        return {
            "text": self.text,
            "role": self.role,
            "within": self.within,
            "closest": list(self.closest),
            "reason": self.reason,
            "message": self.message,
        }


@dataclass(frozen=True)
class Alternative:
    """One of the units an ambiguous address fits, with its chain on the date."""

    read_set: str
    read_chain: tuple[Unit, ...]
    chain: tuple[Unit, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the alternative as JSON-ready data."""
        return {
            "read_set": self.read_set,
            "read_chain": [_unit_dict(unit) for unit in self.read_chain],
            "chain": [_unit_dict(unit) for unit in self.chain],
            "label": _place(self.read_chain),
        }


@dataclass(frozen=True)
class AddressResolution:
    """What an address names, on a date, and today.

    Attributes
    ----------
    text, date
        The address and the incident's date.
    set_id
        The boundary set in force on ``date``.
    level
        How far the address resolved in that set: ``"ward"``, ``"district"``,
        ``"province"``, or None when not even a province.
    chain
        The resolved unit and its parents in that set, finest first.
    candidates
        Finer units of that set the address may lie in, when it does not say which (the
        successors of a split ward, the units an ambiguous name fits).
    form
        ``"old"`` when read in the legacy set (three tiers), ``"new"`` in the current one.
    read_set, read_chain
        The set the address was read in and the units it names there.
    valid_to
        The last day the read set was in force (None for the current set).
    parts, street
        What each part of the text was read as; the text before the units (street, house).
    successors
        Today's successors of the finest unit read in the legacy set (empty for a unit of
        the current set), with shares where known.
    predecessors
        The legacy units the unit read in the current set came from, when the date falls
        before the reform.
    unread, alternatives
        What could not be read; the units an ambiguous address fits.
    notes
        Anything else worth knowing (an earlier name used, the other reading of a name; the
        set in force's snapshot notice when the date lies outside its snapshot, as
        ``GET /locate`` says it).
    """

    text: str
    date: dt.date
    set_id: str
    level: Level | None
    chain: tuple[Unit, ...]
    candidates: tuple[Unit, ...]
    form: Form | None
    read_set: str | None
    read_chain: tuple[Unit, ...]
    valid_to: dt.date | None
    parts: tuple[AddressPart, ...]
    street: str
    successors: tuple[Successor, ...]
    predecessors: tuple[Predecessor, ...]
    unread: tuple[UnreadPart, ...]
    alternatives: tuple[Alternative, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def unit(self) -> Unit | None:
        """The finest unit resolved in the set in force, or None."""
        return self.chain[0] if self.chain else None

    @property
    def complete(self) -> bool:
        """True when every administrative part was read and one reading fits."""
        return bool(self.read_chain) and not self.unread and not self.alternatives

    def problem(self) -> str | None:
        """One line saying what stops a complete resolution (None when complete)."""
        if self.complete:
            return None
        if self.unread:
            return "; ".join(part.message for part in self.unread)
        return f"no administrative unit found in {self.text!r}"

    def describe(self) -> str:
        """Say in English (unit names in Vietnamese) what the address resolves to."""
        if not self.read_chain and not self.alternatives:
            return self.problem() or ""
        if self.alternatives:
            where = f"; on {self.date} within {_place(self.chain)}" if self.chain else ""
            return f"{self.problem()}{where}."
        read = f"{_place(self.read_chain)} ({self.read_set} {self.read_chain[0].code}"
        read += f", until {self.valid_to})" if self.valid_to else ")"
        sentences = [read + self._on_date()]
        if self.successors:
            sentences.append("Today: " + _successor_list(self.successors))
        if self.unread:
            sentences.append("Not read: " + "; ".join(p.message for p in self.unread))
        return ". ".join(sentences) + "."

    def _on_date(self) -> str:
        if self.read_set == self.set_id:
            return f" on {self.date}"
        if not self.chain:
            return f"; on {self.date} no unit of {self.set_id} is known for it"
        if not self.candidates:
            return f"; on {self.date} {_place(self.chain)} ({self.set_id} {self.chain[0].code})"
        names = ", ".join(unit.full_name for unit in self.candidates)
        return (
            f"; on {self.date} in {_place(self.chain)} ({self.set_id}), in one of {names}: "
            "the address does not say which"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the resolution as JSON-ready data (``GET /address`` will return this)."""
        return {
            "text": self.text,
            "date": self.date.isoformat(),
            "set": self.set_id,
            "level": self.level,
            "complete": self.complete,
            "unit": _unit_dict(self.unit) if self.unit else None,
            "chain": [_unit_dict(unit) for unit in self.chain],
            "candidates": [_unit_dict(unit) for unit in self.candidates],
            "form": self.form,
            "read_set": self.read_set,
            "read_chain": [_unit_dict(unit) for unit in self.read_chain],
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
            "street": self.street or None,
            "parts": [part.to_dict() for part in self.parts],
            "successors": [s.to_dict() for s in self.successors],
            "predecessors": [p.to_dict() for p in self.predecessors],
            "unread": [part.to_dict() for part in self.unread],
            "alternatives": [a.to_dict() for a in self.alternatives],
            "notes": list(self.notes),
            "problem": self.problem(),
            "description": self.describe(),
        }


def _unit_dict(unit: Unit) -> dict[str, Any]:
    """Return a unit as JSON data: an unknown area (a unit without geometry) is null, not NaN."""
    data = unit.to_dict()
    if not math.isfinite(data["area_km2"]):
        data["area_km2"] = None
    return data


def _place(chain: Sequence[Unit]) -> str:
    return ", ".join(unit.full_name for unit in chain)


def _successor_list(found: Sequence[Successor]) -> str:
    if len(found) == 1:
        return found[0].label()
    labels = ", ".join(s.label() + (" (default)" if s.default else "") for s in found)
    unknown = all(s.share_of_old is None for s in found)
    return f"split into {labels}" + (
        "; shares unknown without old ward boundaries" if unknown else ""
    )
