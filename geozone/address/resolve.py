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

How the reading is chosen among all readings of all segments, in both sets, is said in
:mod:`geozone.address._reading`; the answer is built by :mod:`geozone.address._answer` and
its types are in :mod:`geozone.address.result`.

Codes, names and parents come from our boundary sets only. No web framework is imported.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pandas as pd

from geozone import vntime
from geozone.address._answer import _Builder
from geozone.address._parse import Segment, SegmentReader, split_segments
from geozone.address._reading import _best, _combinations, _interpret, _Reading
from geozone.address.gazetteer import Gazetteer
from geozone.address.result import AddressResolution
from geozone.boundaries.sets import BoundarySet
from geozone.errors import InvalidParameterError, NoBoundarySetForDateError
from geozone.settings import Settings

#: The longest address text read, in characters. Real addresses run to about 150 ("số 12
#: ngõ 35 đường Hoàng Quốc Việt, tổ dân phố số 7, phường Nghĩa Đô, quận Cầu Giấy, thành
#: phố Hà Nội, Việt Nam" is 113); the work of reading grows quickly with the number of
#: names written, so longer text is refused rather than read (see ``bench_address.py``).
MAX_ADDRESS_CHARS = 300


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
        """Resolve one address on ``day`` (default: today in Vietnam).

        Raises
        ------
        InvalidParameterError
            When the text is longer than :data:`MAX_ADDRESS_CHARS`.
        NoBoundarySetForDateError
            When no set is in force on ``day``.
        """
        check_address_text(text)
        day = day or vntime.today()
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


def check_address_text(text: str) -> None:
    """Refuse an address text no resolution should be tried on.

    Raises
    ------
    InvalidParameterError
        When it is longer than :data:`MAX_ADDRESS_CHARS` or holds a control character
        other than a line break or a tab.
    """
    if len(text) > MAX_ADDRESS_CHARS:
        raise InvalidParameterError(
            f"the address is {len(text):,} characters long; at most {MAX_ADDRESS_CHARS} are read"
        )
    bad = next((c for c in text if (ord(c) < 32 and c not in "\t\n\r") or c == "\x7f"), None)
    if bad is not None:
        raise InvalidParameterError(
            f"the address holds the control character U+{ord(bad):04X}; write it as plain text"
        )


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
    InvalidParameterError
        When the text is too long or holds control characters (:func:`check_address_text`).
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
        days = [days or vntime.today()] * len(texts)
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
