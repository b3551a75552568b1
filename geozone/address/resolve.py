"""Address → jurisdiction, across the 2025 reform.

:func:`resolve_address` reads the administrative part of a Vietnamese address, old
(three tiers: ward, district, province) or new (two tiers: ward, province), with or without
diacritics, abbreviated ("P.", "Q.", "TP.", "TX.", "H.", "X.", "TT."), in any order, after a
street part or without commas, and answers with one :class:`AddressResolution`:

- the units it names, read in the set whose names fit it best (``read_set``, ``read_chain``):
  the legacy set for an old-form address, the current one for a new-form address;
- the unit chain in the set in force on the incident's date (``set_id``, ``chain``) and how
  far it reaches (``level``: ward, district or province). An old-form address dated after
  1 July 2025 resolves its old units, then today's successors: one successor gives the new
  ward; a split ward gives its province, with the successors as ``candidates`` (the street
  decides which; the official list's default comes first). A new-form address dated before
  the reform resolves through the new unit's predecessors the same way;
- today's successors of an old unit, with their shares where geometry gives them
  (:mod:`geozone.boundaries.lineage`); None when unknown, and said so;
- what it could not read, by name ("no ward 'Nghia Dox' in Quận Cầu Giấy, Thành phố Hà Nội;
  closest: Nghĩa Đô, Nghĩa Tân"), and the units an ambiguous name fits ("Nghĩa Đô" is a
  ward of Hà Nội and a commune of Lào Cai).

How the reading is chosen: every reading of every segment (``geozone.address._parse``) is
tried in both sets; each named piece must fit the chain of the finest unit read (a ward
inside the district inside the province written). The reading leaving the fewest parts
unread wins; then the one whose parts name distinct units ("Thành phố Cao Bằng, Tỉnh Cao
Bằng" is a city and its province before 2025, one province after); then the one leaving
the least text as street; then the set in force on the date (the other set's reading is
noted); then the reading of the most levels, agreeing with the most written type words,
matching the most names with their diacritics and using the fewest earlier names. A tie
between different units of one set is an ambiguity.

Codes, names and parents come from our boundary sets only. No web framework is imported.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

import pandas as pd

from geozone import vntime
from geozone.address._parse import Piece, Segment, SegmentReader, SegmentReading, split_segments
from geozone.address.gazetteer import TYPE_LEVELS, Entry, Gazetteer
from geozone.boundaries.lineage import (
    BASIS_UNLISTED,
    Predecessor,
    Successor,
    predecessors,
    successors,
)
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sets import BoundarySet, Unit
from geozone.errors import NoBoundarySetForDateError
from geozone.settings import Settings
from geozone.text import fold

#: At most this many combinations of segment readings are scored for one address.
MAX_COMBINATIONS = 4_000
#: A street part just before the units read is taken for a misspelt ward when a ward of
#: the unit read is at least this alike (difflib ratio of the folded names).
MISSPELT_WARD_RATIO = 0.8

UnreadReason = Literal["unknown", "conflict", "other_set", "ambiguous"]
Form = Literal["old", "new"]


def vietnam_today() -> date:
    """Today's date in Vietnam (UTC+7)."""
    return vntime.today()


# -- results -----------------------------------------------------------------------------------


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
            "read_chain": [unit.to_dict() for unit in self.read_chain],
            "chain": [unit.to_dict() for unit in self.chain],
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
        Anything else worth knowing (an earlier name used, the other reading of a name).
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
            "unit": self.unit.to_dict() if self.unit else None,
            "chain": [unit.to_dict() for unit in self.chain],
            "candidates": [unit.to_dict() for unit in self.candidates],
            "form": self.form,
            "read_set": self.read_set,
            "read_chain": [unit.to_dict() for unit in self.read_chain],
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


# -- choosing a reading ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fit:
    """A named piece fitted to one unit of the reading's set."""

    segment: int
    piece: Piece
    entry: Entry


@dataclass(frozen=True)
class _Unfit:
    """A piece or a segment the reading leaves unread."""

    segment: int
    text: str
    role: Level | None
    reason: UnreadReason
    entries: tuple[Entry, ...] = ()


@dataclass(frozen=True)
class _Reading:
    """One interpretation of the whole address in one set."""

    set_id: str
    anchor: Entry | None
    fits: tuple[_Fit, ...]
    unfit: tuple[_Unfit, ...]
    street: str
    key: tuple[int, ...]


class AddressResolver:
    """Resolves addresses against a gazetteer; keeps the readings of segments it has seen.

    Parameters
    ----------
    gazetteer
        The legacy and current sets with their names (default: the built ones).
    """

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self._reader = SegmentReader(gazetteer)

    def resolve(self, text: str, day: date | None = None) -> AddressResolution:
        """Resolve one address on ``day`` (default: today in Vietnam)."""
        day = day or vietnam_today()
        in_force = set_in_force(self.gazetteer, day)
        segments = [self._reader.read(part) for part in split_segments(text)]
        readings = self._readings(segments, in_force.id)
        best = _best(readings)
        return _Builder(self.gazetteer, text, day, in_force, segments, readings, best).build()

    def _readings(self, segments: list[Segment], in_force: str) -> list[_Reading]:
        found = []
        for combination in _combinations(segments):
            for bset in self.gazetteer.sets:
                found.extend(_interpret(self.gazetteer, segments, combination, bset.id, in_force))
        return found


def set_in_force(gazetteer: Gazetteer, day: date) -> BoundarySet:
    """Return the gazetteer's set in force on ``day`` (the latest to begin wins).

    Raises
    ------
    NoBoundarySetForDateError
        When neither set is in force that day.
    """
    live = [bset for bset in gazetteer.sets if bset.info.in_force(day)]
    if not live:
        first = gazetteer.legacy.info.valid_from
        raise NoBoundarySetForDateError(
            f"no boundary set is in force on {day}; addresses resolve from {first} on"
        )
    return max(live, key=lambda bset: bset.info.valid_from)


def _combinations(segments: list[Segment]) -> Iterable[tuple[SegmentReading, ...]]:
    """List the choices of one reading per segment worth scoring.

    A segment is read wholly as street only in the leading run of segments: read so after
    a unit it would be a part left unread, never better than reading its names. Past a cap
    the least likely readings of the longest lists are cut.
    """
    pieced = [[r for r in segment.readings if r.pieces] for segment in segments]
    plain = [[r for r in segment.readings if not r.pieces] for segment in segments]
    rests = [pieced[i] or plain[i] for i in range(len(segments))]
    choices: list[list[list[SegmentReading]]] = []
    for lead in range(len(segments) + 1):
        if any(not plain[i] for i in range(lead)):
            break
        if lead and not pieced[lead - 1] and choices:
            continue  # the same choice as one lead shorter
        choices.append(plain[:lead] + rests[lead:])
    for options in choices:
        while _product(options) > MAX_COMBINATIONS // len(choices):
            longest = max(range(len(options)), key=lambda i: len(options[i]))
            options[longest] = options[longest][: max(1, len(options[longest]) // 2)]
    return itertools.chain.from_iterable(itertools.product(*options) for options in choices)


def _product(options: list[list[SegmentReading]]) -> int:
    total = 1
    for option in options:
        total *= len(option)
    return total


def _interpret(
    gazetteer: Gazetteer,
    segments: list[Segment],
    combination: tuple[SegmentReading, ...],
    set_id: str,
    in_force: str,
) -> list[_Reading]:
    """Read one combination in one set: one reading per choice of the finest unit.

    Only the finest units whose chain takes the most pieces are tried: any other leaves
    more pieces unread.
    """
    pieces = [(i, piece) for i, reading in enumerate(combination) for piece in reading.pieces]
    named = [(i, p, tuple(e for e in p.entries if e.set_id == set_id)) for i, p in pieces]
    anchors = _likely_anchors(gazetteer, set_id, named)
    marked = any(token.marked for segment in segments for token in segment.tokens)
    street = " ".join(
        segments[i].street_text(reading) for i, reading in enumerate(combination)
    ).strip()
    readings = []
    for anchor in anchors:
        chain = gazetteer.chain_codes(set_id, anchor.code) if anchor else ()
        fits, unfit = _fit(named, anchor, chain)
        unfit += _unread_segments(segments, combination, fits, gazetteer, set_id)
        readings.append(_score(set_id, anchor, fits, unfit, street, combination, in_force, marked))
    return readings


def _likely_anchors(
    gazetteer: Gazetteer, set_id: str, named: list[tuple[int, Piece, tuple[Entry, ...]]]
) -> list[Entry | None]:
    """Return the entries (one per unit) whose chain holds a unit of the most pieces."""
    codes = [frozenset(e.code for e in entries) for _, _, entries in named]
    best: dict[str, Entry] = {}
    for _, piece, entries in named:
        for entry in sorted(entries, key=_entry_rank(piece)):
            best.setdefault(entry.code, entry)
    if not best:
        return [None]
    counts = {}
    for code in best:
        chain = set(gazetteer.chain_codes(set_id, code))
        counts[code] = sum(1 for piece_codes in codes if not chain.isdisjoint(piece_codes))
    most = max(counts.values())
    return [entry for code, entry in best.items() if counts[code] == most]


def _fit(
    named: list[tuple[int, Piece, tuple[Entry, ...]]],
    anchor: Entry | None,
    chain: tuple[str, ...],
) -> tuple[tuple[_Fit, ...], tuple[_Unfit, ...]]:
    """Fit each piece to the anchor's chain; what does not fit is unread, with its reason.

    A piece naming the anchor takes it; the others take a unit of the chain, so that as
    many distinct units as possible are read ("Thái Nguyên, Thái Nguyên": the city, then
    the province).
    """
    options: list[tuple[int, Piece, list[Entry]]] = []
    unfit: list[_Unfit] = []
    anchored = False
    for segment, piece, entries in named:
        if not piece.entries:
            unfit.append(_Unfit(segment, piece.name, _typed_role(piece), "unknown"))
        elif not anchored and anchor is not None and anchor in entries:
            options.append((segment, piece, [anchor]))
            anchored = True
        elif fitting := sorted((e for e in entries if e.code in chain), key=_entry_rank(piece)):
            options.append((segment, piece, fitting))
        elif entries:
            unfit.append(_Unfit(segment, piece.name, None, "conflict", entries))
        else:
            unfit.append(_Unfit(segment, piece.name, None, "other_set", piece.entries))
    choice = max(
        itertools.islice(itertools.product(*(fitting for _, _, fitting in options)), 256),
        key=lambda chosen: len({entry.code for entry in chosen}),
        default=(),
    )
    fits = tuple(
        _Fit(segment, piece, entry)
        for (segment, piece, _), entry in zip(options, choice, strict=True)
    )
    return fits, tuple(unfit)


def _entry_rank(piece: Piece) -> Callable[[Entry], tuple[bool, bool]]:
    """Order a piece's entries: its own names first, then those matching its diacritics."""

    def rank(entry: Entry) -> tuple[bool, bool]:
        return (entry.how != "name", piece.accent != entry.accent)

    return rank


def _typed_role(piece: Piece) -> Level | None:
    if piece.written_type is None:
        return None
    levels = TYPE_LEVELS[piece.written_type]
    return max(levels, key=LEVEL_ORDER.index) if len(levels) == 1 else None


def _unread_segments(
    segments: list[Segment],
    combination: tuple[SegmentReading, ...],
    fits: tuple[_Fit, ...],
    gazetteer: Gazetteer,
    set_id: str,
) -> tuple[_Unfit, ...]:
    """Segments read as street that stand after a unit read: admin parts not understood.

    A segment opening with a house number or a street word stays street wherever it is;
    "Việt Nam" is skipped; once every level of the set is read, the rest is ignored.
    """
    if not fits:
        return ()
    first = min(fit.segment for fit in fits)
    levels = {fit.entry.level for fit in fits}
    if levels >= set(gazetteer.levels(set_id)):
        return ()
    return tuple(
        _Unfit(i, segments[i].text, None, "unknown")
        for i, reading in enumerate(combination)
        if i > first
        and not reading.pieces
        and not segments[i].is_street
        and not segments[i].is_country
    )


def _score(
    set_id: str,
    anchor: Entry | None,
    fits: tuple[_Fit, ...],
    unfit: tuple[_Unfit, ...],
    street: str,
    combination: tuple[SegmentReading, ...],
    in_force: str,
    marked: bool,
) -> _Reading:
    """Rank a reading.

    Fewest parts unread; fewest parts naming a unit another part names ("Thành phố Cao
    Bằng, Tỉnh Cao Bằng" names two units before 2025, one after); least text left as
    street; then, between sets, the one in force; then most levels read, type words
    agreeing, names with their diacritics (when the address has any), fewest earlier
    names.
    """
    typed = sum(1 for fit in fits if fit.piece.written_type == fit.entry.unit_type)
    exact = sum(1 for fit in fits if marked and fit.piece.accent == fit.entry.accent)
    earlier = sum(1 for fit in fits if fit.entry.how != "name")
    street_tokens = sum(reading.street for reading in combination)
    distinct = len({fit.entry.code for fit in fits})
    key = (
        -len(unfit),
        distinct - len(fits),
        -street_tokens,
        int(set_id == in_force),
        distinct,
        typed,
        exact,
        -earlier,
    )
    return _Reading(set_id, anchor, fits, unfit, street, key)


def _best(readings: list[_Reading]) -> list[_Reading]:
    """Return the readings of the highest key, one per (set, finest unit)."""
    if not readings:
        return []
    top = max(reading.key for reading in readings)
    chosen: dict[tuple[str, str | None], _Reading] = {}
    for reading in readings:
        if reading.key == top:
            code = reading.anchor.code if reading.anchor else None
            chosen.setdefault((reading.set_id, code), reading)
    return list(chosen.values())


# -- building the answer -----------------------------------------------------------------------


class _Builder:
    """Turns the chosen reading(s) into an :class:`AddressResolution`."""

    def __init__(
        self,
        gazetteer: Gazetteer,
        text: str,
        day: date,
        in_force: BoundarySet,
        segments: list[Segment],
        readings: list[_Reading],
        best: list[_Reading],
    ) -> None:
        self.gazetteer = gazetteer
        self.text = text
        self.day = day
        self.in_force = in_force
        self.segments = segments
        self.readings = readings
        self.best = best

    def build(self) -> AddressResolution:
        if not self.best or self.best[0].anchor is None:
            return self._nothing_read()
        if len(self.best) > 1 and all(
            any(part.reason == "conflict" for part in r.unfit) for r in self.best
        ):
            return self._conflicting()
        if len(self.best) > 1:
            return self._ambiguous()
        return self._resolved(self.best[0])

    def _conflicting(self) -> AddressResolution:
        """Parts that contradict each other ("Quan Hoa, Ba Đình"): what they share, and why.

        The units every reading agrees on are the answer; the message is the one of the
        reading anchored on the coarsest unit ("'Quan Hoa' does not fit Quận Ba Đình").
        """
        coarse = min(self.best, key=lambda r: LEVEL_ORDER.index(r.anchor.level) if r.anchor else 0)
        base = self._resolved(coarse)
        read_common, _ = _common(
            [self.gazetteer.set(r.set_id).chain(r.anchor.code) for r in self.best if r.anchor]
        )
        chains = [self._on_date(r)[0] for r in self.best]
        common, _ = _common([chain for chain in chains if chain])
        codes = {unit.code for unit in read_common}
        found = (
            successors(self.gazetteer, read_common[0].code)
            if read_common and base.read_set == self.gazetteer.legacy.id
            else ()
        )
        return replace(
            base,
            level=common[0].level if common else None,
            chain=common,
            candidates=(),
            read_chain=read_common,
            parts=tuple(part for part in base.parts if part.code in codes),
            successors=found,
            predecessors=(),
        )

    # -- one reading

    def _resolved(self, reading: _Reading) -> AddressResolution:
        assert reading.anchor is not None
        bset = self.gazetteer.set(reading.set_id)
        read_chain = bset.chain(reading.anchor.code)
        unread = [self._unread(part, reading, read_chain) for part in reading.unfit]
        misspelt, street_note = self._leading_part(reading, read_chain)
        if misspelt is not None:
            unread.append(misspelt)
        chain, candidates, found_successors, found_predecessors = self._on_date(reading)
        legacy = reading.set_id == self.gazetteer.legacy.id
        return AddressResolution(
            text=self.text,
            date=self.day,
            set_id=self.in_force.id,
            level=chain[0].level if chain else None,
            chain=chain,
            candidates=candidates,
            form="old" if legacy else "new",
            read_set=reading.set_id,
            read_chain=read_chain,
            valid_to=bset.info.valid_to,
            parts=tuple(self._part(fit) for fit in reading.fits),
            street=self._street(reading, misspelt),
            successors=found_successors,
            predecessors=found_predecessors,
            unread=tuple(unread),
            alternatives=(),
            notes=tuple(self._notes(reading)) + ((street_note,) if street_note else ()),
        )

    def _on_date(
        self, reading: _Reading
    ) -> tuple[tuple[Unit, ...], tuple[Unit, ...], tuple[Successor, ...], tuple[Predecessor, ...]]:
        """Chain and candidates in the set in force; successors; predecessors."""
        assert reading.anchor is not None
        gazetteer, code = self.gazetteer, reading.anchor.code
        read_legacy = reading.set_id == gazetteer.legacy.id
        found = successors(gazetteer, code) if read_legacy else ()
        if reading.set_id == self.in_force.id:
            return self.in_force.chain(code), (), found, ()
        if read_legacy:
            chains = [gazetteer.current.chain(s.code) for s in found]
            return (*_common(chains), found, ())
        before = predecessors(gazetteer, code)
        chains = [gazetteer.legacy.chain(p.code) for p in before]
        return (*_common(chains), (), before)

    def _part(self, fit: _Fit) -> AddressPart:
        piece, entry = fit.piece, fit.entry
        match: str
        if entry.how != "name":
            match = entry.how
        elif piece.accent == entry.accent and (piece.marked or entry.accent == fold(entry.name)):
            match = "exact"
        else:
            match = "folded"
        unit = self.gazetteer.set(entry.set_id).get(entry.code)
        return AddressPart(entry.level, piece.text, entry.code, unit.full_name, entry.set_id, match)

    def _street(self, reading: _Reading, misspelt: UnreadPart | None) -> str:
        if misspelt is not None and reading.street.endswith(misspelt.text):
            return reading.street[: -len(misspelt.text)].rstrip(" ,")
        return reading.street

    def _notes(self, reading: _Reading) -> list[str]:
        notes = []
        for fit in reading.fits:
            unit = self.gazetteer.set(fit.entry.set_id).get(fit.entry.code)
            if fit.entry.how == "alias":
                notes.append(
                    f"{fit.piece.name!r} is an earlier or informal name of {unit.full_name} "
                    f"({fit.entry.code})"
                )
            elif fit.entry.how == "variant":
                notes.append(f"{fit.piece.name!r} read as {unit.full_name} (i/y spelling)")
            written = fit.piece.written_type
            if written is not None and fit.entry.unit_type and written != fit.entry.unit_type:
                notes.append(
                    f"written as {written} {fit.piece.name}, registered as {unit.full_name}"
                )
        notes.extend(self._unlisted(reading))
        notes.extend(self._shadowed(reading))
        return notes

    def _unlisted(self, reading: _Reading) -> list[str]:
        """Say so when the official list does not name the unit read, only its province."""
        assert reading.anchor is not None
        if reading.set_id != self.gazetteer.legacy.id:
            return []
        found = successors(self.gazetteer, reading.anchor.code)
        if not found or found[0].basis != BASIS_UNLISTED:
            return []
        unit = self.gazetteer.legacy.get(reading.anchor.code)
        same = [
            self.gazetteer.current.get(code).full_name
            for code in self.gazetteer.units_at(self.gazetteer.current.id, found[0].code, "ward")
            if fold(self.gazetteer.bare_name(self.gazetteer.current.id, code))
            == fold(self.gazetteer.bare_name(self.gazetteer.legacy.id, unit.code))
        ]
        note = (
            f"the official list does not name {unit.full_name}; its province went into "
            f"{found[0].full_name}"
        )
        return [note + (f", which has {', '.join(same)}" if same else "")]

    def _shadowed(self, reading: _Reading) -> list[str]:
        """Note the readings of the other set as good as this one but for the date."""
        others = {
            (r.set_id, r.anchor.code)
            for r in self.readings
            if r.key[:3] + r.key[4:] == reading.key[:3] + reading.key[4:]
            and r.set_id != reading.set_id
            and r.anchor is not None
        }
        notes = []
        chosen = self._today_codes(reading.set_id, reading.anchor.code if reading.anchor else "")
        for set_id, code in sorted(others):
            if self._today_codes(set_id, code) == chosen:
                continue  # the same unit today: nothing to tell
            bset = self.gazetteer.set(set_id)
            place = _place(bset.chain(code))
            if set_id == self.gazetteer.legacy.id:
                went = successors(self.gazetteer, code)
                now = f", today {', '.join(s.full_name for s in went)}" if went else ""
                notes.append(f"until {bset.info.valid_to} it named {place} ({code}){now}")
            else:
                notes.append(f"from {bset.info.valid_from} it names {place} ({code})")
        return notes

    def _today_codes(self, set_id: str, code: str) -> frozenset[str]:
        """Return the units of the current set a unit is, or went into."""
        if set_id == self.gazetteer.current.id:
            return frozenset({code})
        return frozenset(s.code for s in successors(self.gazetteer, code))

    # -- what was not read

    def _unread(self, part: _Unfit, reading: _Reading, read_chain: tuple[Unit, ...]) -> UnreadPart:
        role = part.role or self._guess_role(part, reading)
        within = _within(read_chain, role)
        if part.reason == "conflict":
            return self._conflict(part, read_chain, role)
        if part.reason == "other_set":
            return self._other_set(part, within, reading)
        closest = self._closest(part.text, reading.set_id, role, within)
        message = f"no {role or 'unit'} {part.text!r}"
        if within:
            message += f" in {_place(within)}"
        if closest:
            message += "; closest: " + ", ".join(closest)
        return UnreadPart(part.text, role, _place(within) or None, closest, "unknown", message)

    def _guess_role(self, part: _Unfit, reading: _Reading) -> Level | None:
        read = {fit.entry.level for fit in reading.fits}
        missing = [lv for lv in self.gazetteer.levels(reading.set_id) if lv not in read]
        if not missing:
            return None
        after_all = all(part.segment > fit.segment for fit in reading.fits)
        return missing[0] if after_all else missing[-1]

    def _closest(
        self, text: str, set_id: str, role: Level | None, within: tuple[Unit, ...]
    ) -> tuple[str, ...]:
        if role is None:
            return ()
        return self.gazetteer.closest(text, set_id, role, within[0].code if within else None)

    def _conflict(
        self, part: _Unfit, read_chain: tuple[Unit, ...], role: Level | None
    ) -> UnreadPart:
        """Word a name of units elsewhere: what the address reads, and where they are."""
        names = []
        own = [e for e in part.entries if e.how == "name"] or list(part.entries)
        for entry in own[:3]:
            chain = self.gazetteer.set(entry.set_id).chain(entry.code)
            names.append(chain[0].full_name + (f" ({_place(chain[1:])})" if chain[1:] else ""))
        message = f"{part.text!r} does not fit {_place(read_chain)}: it names " + "; ".join(names)
        return UnreadPart(part.text, role, _place(read_chain), (), "conflict", message)

    def _other_set(self, part: _Unfit, within: tuple[Unit, ...], reading: _Reading) -> UnreadPart:
        bset = self.gazetteer.set(reading.set_id)
        other = part.entries[0]
        other_set = self.gazetteer.set(other.set_id)
        unit = other_set.get(other.code)
        dates = (
            f"until {other_set.info.valid_to}"
            if other_set.info.valid_to
            else f"from {other_set.info.valid_from}"
        )
        message = (
            f"{part.text!r} is not a unit of {bset.id} where the rest of the address points"
            f" ({_place(within) or 'no unit'}); it names {unit.full_name} of {other_set.id} "
            f"({other.code}, {dates})"
        )
        return UnreadPart(part.text, unit.level, _place(within) or None, (), "other_set", message)

    def _leading_part(
        self, reading: _Reading, read_chain: tuple[Unit, ...]
    ) -> tuple[UnreadPart | None, str | None]:
        """Judge the words just before the units read, when no ward was read.

        Spelt like a ward of the unit read: an unread ward, with the closest names. Naming a
        ward elsewhere exactly: a street, with a note (streets bear wards' names).
        """
        if read_chain[0].level == "ward" or not reading.fits:
            return None, None
        first = min(reading.fits, key=lambda fit: (fit.segment, fit.piece.start))
        text = self._text_before(first)
        if not text:
            return None, None
        elsewhere = [
            entry
            for entry in self.gazetteer.lookup(fold(text))
            if entry.set_id == reading.set_id and entry.level == "ward"
        ]
        if elsewhere:
            where = "; ".join(
                f"{_place(self.gazetteer.set(e.set_id).chain(e.code))} ({e.code})"
                for e in elsewhere[:3]
            )
            return None, f"{text!r} read as a street: the ward of that name is {where}"
        closest = self.gazetteer.closest(text, reading.set_id, "ward", read_chain[0].code)
        if not closest or self.gazetteer.spelling_ratio(text, closest[0]) < MISSPELT_WARD_RATIO:
            return None, None
        message = f"no ward {text!r} in {_place(read_chain)}; closest: " + ", ".join(closest)
        return UnreadPart(text, "ward", _place(read_chain), closest, "unknown", message), None

    def _text_before(self, first: _Fit) -> str | None:
        """Return the words before the first unit read, unless a house number or street."""
        segment = self.segments[first.segment]
        if first.piece.start > 0:
            words = segment.tokens[: first.piece.start]
        elif first.segment > 0:
            words = self.segments[first.segment - 1].tokens
        else:
            return None
        if not words or any(t.has_digit for t in words) or words[0].fold in _STREET:
            return None
        return " ".join(token.text for token in words)

    # -- several readings, or none

    def _ambiguous(self) -> AddressResolution:
        alternatives = []
        for reading in self.best:
            assert reading.anchor is not None
            read_chain = self.gazetteer.set(reading.set_id).chain(reading.anchor.code)
            chain, candidates, _, _ = self._on_date(reading)
            alternatives.append((reading, read_chain, chain, candidates))
        chains = [chain for _, _, chain, _ in alternatives if chain]
        common, _ = _common(chains) if chains else ((), ())
        candidates = tuple(
            dict.fromkeys(
                unit for _, _, chain, more in alternatives for unit in (more or chain[:1])
            )
        )
        read_chains = [read_chain for _, read_chain, _, _ in alternatives]
        text = self._ambiguous_text()
        message = f"{text!r} fits {len(alternatives)} units: {_alternative_labels(read_chains)}"
        unread = UnreadPart(text, None, _place(common) or None, (), "ambiguous", message)
        return AddressResolution(
            text=self.text,
            date=self.day,
            set_id=self.in_force.id,
            level=common[0].level if common else None,
            chain=common,
            candidates=candidates,
            form=None,
            read_set=None,
            read_chain=(),
            valid_to=None,
            parts=(),
            street=self.best[0].street,
            successors=(),
            predecessors=(),
            unread=(unread,),
            alternatives=tuple(Alternative(r.set_id, rc, c) for r, rc, c, _ in alternatives),
        )

    def _ambiguous_text(self) -> str:
        """Return the piece the ambiguous readings read differently (else the whole text)."""
        first = self.best[0]
        for fit in first.fits:
            if all(
                any(
                    other.piece == fit.piece and other.entry.code != fit.entry.code
                    for other in r.fits
                )
                for r in self.best[1:]
            ):
                return fit.piece.name
        return self.text

    def _nothing_message(self) -> UnreadPart:
        """No unit read: the last segment's closest province names, if any are close."""
        last = next(
            (seg for seg in reversed(self.segments) if not seg.is_street and not seg.is_country),
            None,
        )
        closest = (
            self.gazetteer.closest(last.text, self.in_force.id, "province", None)
            if last is not None
            else ()
        )
        message = f"no administrative unit found in {self.text!r}"
        if last is not None and closest:
            message = f"no province {last.text!r}; closest: " + ", ".join(closest)
            return UnreadPart(last.text, "province", None, closest, "unknown", message)
        return UnreadPart(self.text, None, None, (), "unknown", message)

    def _nothing_read(self) -> AddressResolution:
        unread = []
        reading = self.best[0] if self.best else None
        for part in reading.unfit if reading else ():
            role = part.role
            closest = self._closest(part.text, self.in_force.id, role, ())
            message = f"no {role or 'unit'} {part.text!r}"
            if closest:
                message += "; closest: " + ", ".join(closest)
            unread.append(UnreadPart(part.text, role, None, closest, "unknown", message))
        if not unread:
            unread.append(self._nothing_message())
        return AddressResolution(
            text=self.text,
            date=self.day,
            set_id=self.in_force.id,
            level=None,
            chain=(),
            candidates=(),
            form=None,
            read_set=None,
            read_chain=(),
            valid_to=None,
            parts=(),
            street=reading.street if reading else self.text,
            successors=(),
            predecessors=(),
            unread=tuple(unread),
            alternatives=(),
        )


def _alternative_labels(chains: list[tuple[Unit, ...]]) -> str:
    """Name each unit with the parents that tell it apart, then the parents they share.

    "Phường Nghĩa Đô (Thành phố Hà Nội), Xã Nghĩa Đô (Tỉnh Lào Cai)"; "Thị trấn Yên Viên,
    Xã Yên Viên, both in Huyện Gia Lâm, Thành phố Hà Nội".
    """
    shared, _ = _common(chains)
    labels = []
    for chain in chains:
        own = [unit for unit in chain[1:] if unit not in shared]
        labels.append(chain[0].full_name + (f" ({_place(own)})" if own else ""))
    text = ", ".join(labels)
    return text + (f", all in {_place(shared)}" if shared else "")


_STREET = frozenset({"so", "duong", "pho", "ngo", "ngach", "hem", "kiet", "thon", "xom", "ap"})


def _within(read_chain: tuple[Unit, ...], role: Level | None) -> tuple[Unit, ...]:
    """Return the part of the chain coarser than ``role`` (where to look for it)."""
    if role is None:
        return read_chain
    rank = LEVEL_ORDER.index(role)
    return tuple(unit for unit in read_chain if LEVEL_ORDER.index(unit.level) < rank)


def _common(chains: list[tuple[Unit, ...]]) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Return the chain shared by all ``chains`` (finest first), and their finest units.

    One chain: itself and no candidates. None: nothing.
    """
    if not chains:
        return (), ()
    if len({chain[0].code for chain in chains}) == 1:
        return chains[0], ()
    reversed_chains = [tuple(reversed(chain)) for chain in chains]
    shared: list[Unit] = []
    for units in zip(*reversed_chains, strict=False):
        if len({unit.code for unit in units}) != 1:
            break
        shared.append(units[0])
    finest = tuple(dict.fromkeys(chain[0] for chain in chains))
    return tuple(reversed(shared)), finest


# -- public functions --------------------------------------------------------------------------


def resolve_address(
    text: str,
    day: date | None = None,
    *,
    gazetteer: Gazetteer | None = None,
    settings: Settings | None = None,
) -> AddressResolution:
    """Resolve one address on ``day`` (default: today in Vietnam).

    Parameters
    ----------
    text
        An address, old or new form: "số 12 ngõ 35 Hoàng Quốc Việt, phường Nghĩa Đô, quận
        Cầu Giấy, Hà Nội", "P. Nghĩa Đô, Hà Nội", "nghia do cau giay ha noi".
    day
        The incident's date: it picks the set in force.
    gazetteer, settings
        Where the sets are (default: the built ones).

    Raises
    ------
    NoBoundarySetForDateError
        When no set is in force on ``day``.
    """
    return _resolver(gazetteer or Gazetteer.load(settings)).resolve(text, day)


def resolve_addresses(
    texts: Sequence[str],
    days: Sequence[date] | date | None = None,
    *,
    gazetteer: Gazetteer | None = None,
    settings: Settings | None = None,
) -> list[AddressResolution]:
    """Resolve many addresses; each distinct (text, date) once, segments read once.

    ``days`` is one date for all, one per text, or None for today.
    """
    resolver = _resolver(gazetteer or Gazetteer.load(settings))
    if days is None or isinstance(days, date):
        days = [days or vietnam_today()] * len(texts)
    answers: dict[tuple[str, date], AddressResolution] = {}
    for text, day in zip(texts, days, strict=True):
        if (text, day) not in answers:
            answers[(text, day)] = resolver.resolve(text, day)
    return [answers[(text, day)] for text, day in zip(texts, days, strict=True)]


def resolutions_frame(results: Sequence[AddressResolution]) -> pd.DataFrame:
    """One row per resolution: the figures a batch (an import, a sample) needs."""
    return pd.DataFrame(
        {
            "text": [r.text for r in results],
            "date": [r.date for r in results],
            "set_id": [r.set_id for r in results],
            "level": [r.level for r in results],
            "code": [r.unit.code if r.unit else None for r in results],
            "full_name": [r.unit.full_name if r.unit else None for r in results],
            "read_set": [r.read_set for r in results],
            "read_code": [r.read_chain[0].code if r.read_chain else None for r in results],
            "form": [r.form for r in results],
            "complete": [r.complete for r in results],
            "ambiguous": [bool(r.alternatives) for r in results],
            "alternative_codes": [
                tuple(a.read_chain[0].code for a in r.alternatives) for r in results
            ],
            "problem": [r.problem() for r in results],
        }
    )


_RESOLVERS: dict[int, tuple[Gazetteer, AddressResolver]] = {}


def _resolver(gazetteer: Gazetteer) -> AddressResolver:
    """One resolver per gazetteer, so that segment readings are shared between calls."""
    known = _RESOLVERS.get(id(gazetteer))
    if known is None or known[0] is not gazetteer:
        if len(_RESOLVERS) >= 2:
            _RESOLVERS.pop(next(iter(_RESOLVERS)))
        known = (gazetteer, AddressResolver(gazetteer))
        _RESOLVERS[id(gazetteer)] = known
    return known[1]
