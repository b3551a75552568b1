"""Choosing a reading of an address: every reading of every segment scored in both sets.

How the reading is chosen: every reading of every segment (``geozone.address._parse``) is
tried in both sets; each named piece must fit the chain of the finest unit read (a ward
inside the district inside the province written). The reading leaving the fewest parts
unread wins; then the one whose parts name distinct units ("Thành phố Cao Bằng, Tỉnh Cao
Bằng" is a city and its province before 2025, one province after); then the one leaving
the least text as street; then the set in force on the date (the other set's reading is
noted); then the reading of the most levels, agreeing with the most written type words,
matching the most names with their diacritics and using the fewest earlier names. A tie
between different units of one set is an ambiguity.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from geozone.address._parse import Piece, Segment, SegmentReading
from geozone.address.gazetteer import TYPE_LEVELS, Entry, Gazetteer
from geozone.address.result import UnreadReason
from geozone.boundaries.manifest import LEVEL_ORDER, Level

#: At most this many combinations of segment readings are scored for one address: a
#: bound on the work of one request (27 comma parts of repeated unit names took 3.5 s at
#: 4,000, 1.1–1.3 s at 1,000); the rate on every generated ward address is the same.
MAX_COMBINATIONS = 1_000


#: A street part just before the units read is taken for a misspelt ward when a ward of
#: the unit read is at least this alike (difflib ratio of the folded names).
MISSPELT_WARD_RATIO = 0.8


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
