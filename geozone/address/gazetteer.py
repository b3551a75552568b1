"""Names of the units of the legacy and the current boundary sets, for reading addresses.

A :class:`Gazetteer` indexes every unit of the two sets the 2025 correspondence connects
(``vn-legacy-districts`` and ``vn2025``) by its folded bare name ("nghiado"), and also by:

- the earlier names of legacy wards merged into them, from the official list
  (``Correspondence.aliases``: Xã Cao Đại and Xã Việt Xuân → Xã Sao Đại Việt);
- the earlier names of legacy districts merged into others, from the keyword tables of the
  same package (``parser_legacy.json``: Huyện Hoành Bồ → Thành phố Hạ Long);
- a few names people write for provinces ("HCM", "Sài Gòn", "Thừa Thiên Huế", "BR-VT");
- the i/y spelling variant of each name ("Quí" for "Quý"), looked up only when a name
  itself is not found.

The codes, names and parents always come from our own boundary sets; the package's data
only adds names to find them by.
"""

from __future__ import annotations

import difflib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

import pandas as pd

from geozone.boundaries.correspondence import (
    ONFLOW_SETS,
    Correspondence,
    load_onflow_correspondence,
    onflow_data_dir,
)
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sets import BoundarySet
from geozone.errors import DataNotFoundError
from geozone.settings import Settings, get_settings
from geozone.text import TYPE_ABBREVIATIONS, UNIT_TYPES, accent_key, fold, nfc, split_unit_type

MatchKind = Literal["name", "alias", "variant"]

#: Type words as units carry them (without the "Trung ương" qualifier), longest first.
TYPE_WORDS: tuple[str, ...] = tuple(t for t in UNIT_TYPES if t != "Thành phố Trung ương")

#: The levels a written type word allows ("Thành phố" names provinces and district cities).
TYPE_LEVELS: Mapping[str, frozenset[Level]] = {
    "Phường": frozenset({"ward"}),
    "Xã": frozenset({"ward"}),
    "Thị trấn": frozenset({"ward"}),
    "Đặc khu": frozenset({"ward"}),
    "Quận": frozenset({"district"}),
    "Huyện": frozenset({"district"}),
    "Thị xã": frozenset({"district"}),
    "Thành phố": frozenset({"district", "province"}),
    "Tỉnh": frozenset({"province"}),
}

#: Names people write for provinces that are not their registered names (folded → code).
#: Codes are the same in both sets for these four.
PROVINCE_ALIASES: Mapping[str, str] = {
    "hn": "01",
    "hcm": "79",
    "tphcm": "79",
    "saigon": "79",
    "sg": "79",
    "thuathienhue": "46",
    "tthue": "46",
    "brvt": "77",
}


@dataclass(frozen=True)
class Entry:
    """One way of finding a unit by name.

    Attributes
    ----------
    set_id, code, level
        The unit.
    unit_type
        Its type word ("Phường", "Quận", ...), read robustly from the register.
    name
        Its bare name, as registered (NFC, with diacritics).
    accent
        :func:`geozone.text.accent_key` of the name the entry is found by.
    how
        ``"name"`` (its own name), ``"alias"`` (an earlier or informal name: ``alias`` says
        which) or ``"variant"`` (the i/y spelling of its name).
    alias
        The folded earlier name for an alias.
    """

    set_id: str
    code: str
    level: Level
    unit_type: str | None
    name: str
    accent: str
    how: MatchKind
    alias: str | None = None


def split_type(name: str, full_name: str, registered_type: object) -> tuple[str | None, str]:
    """Return a unit's type word and its bare name, whatever the register's capitals.

    Some registered names carry their type ("Thành Phố Bắc Kạn", "xã Bắc Sơn"); the type
    is matched with its diacritics, so "Phương Liên" keeps its first word.
    """
    bare = nfc(name)
    written = _leading_type(bare)
    if written is not None:
        bare = bare.split(maxsplit=len(written.split()))[-1]
    if isinstance(registered_type, str) and registered_type:
        return registered_type, bare
    return written or _leading_type(nfc(full_name)), bare


@lru_cache(maxsize=1)
def _type_accents() -> tuple[tuple[str, str], ...]:
    return tuple((accent_key(word), word) for word in TYPE_WORDS)


def _leading_type(text: str) -> str | None:
    words = text.split()
    for key, word in _type_accents():
        size = len(word.split())
        if len(words) > size and accent_key(" ".join(words[:size])) == key:
            return word
    return None


def variant_key(key: str) -> str:
    """Return the i/y spelling variant of a folded name ("quy" and "qui" meet)."""
    return key.replace("y", "i")


class Gazetteer:
    """The unit names of a legacy and a current boundary set, and the correspondence.

    Parameters
    ----------
    legacy, current
        The sets before and after the 2025 reform.
    correspondence
        The official old → new list (None: no successors and no ward aliases).
    district_aliases
        Folded earlier district names → legacy district code.
    """

    def __init__(
        self,
        legacy: BoundarySet,
        current: BoundarySet,
        correspondence: Correspondence | None,
        district_aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.legacy = legacy
        self.current = current
        self.correspondence = correspondence
        self._district_aliases = dict(district_aliases or {})
        self._entries: dict[str, list[Entry]] = defaultdict(list)
        self._variants: dict[str, list[Entry]] = defaultdict(list)
        self._parents: dict[tuple[str, str], str | None] = {}
        self._names: dict[tuple[str, str], tuple[str | None, str]] = {}
        for bset in (legacy, current):
            self._index_set(bset)
        self._index_aliases()

    @classmethod
    def load(cls, settings: Settings | None = None) -> Gazetteer:
        """Load the gazetteer of the built legacy and current sets (cached per build).

        Raises
        ------
        DataNotFoundError
            When either set is not built, or the correspondence package is missing.
        """
        settings = settings or get_settings()
        legacy = BoundarySet.load(ONFLOW_SETS[0], settings)
        current = BoundarySet.load(ONFLOW_SETS[1], settings)
        return _cached_gazetteer(legacy, current)

    @classmethod
    def of_sets(cls, sets: Iterable[BoundarySet]) -> Gazetteer:
        """Return the gazetteer of the legacy and current sets among ``sets`` (cached).

        For callers that hold loaded sets already (the web service's context).

        Raises
        ------
        DataNotFoundError
            When either set is not among them, or the correspondence package is missing.
        """
        by_id = {bset.id: bset for bset in sets}
        missing = [set_id for set_id in ONFLOW_SETS if set_id not in by_id]
        if missing:
            loaded = ", ".join(sorted(by_id)) or "none"
            raise DataNotFoundError(
                f"addresses are read in the sets {' and '.join(ONFLOW_SETS)}; "
                f"{', '.join(missing)} not loaded (loaded: {loaded})"
            )
        return _cached_gazetteer(by_id[ONFLOW_SETS[0]], by_id[ONFLOW_SETS[1]])

    # -- building --------------------------------------------------------------------------

    def _index_set(self, bset: BoundarySet) -> None:
        frame = bset.frame
        columns = zip(
            frame["code"],
            frame["name"],
            frame["full_name"],
            frame["unit_type"],
            frame["level"],
            frame["parent_code"],
            strict=True,
        )
        for code, name, full_name, registered, level, parent in columns:
            unit_type, bare = split_type(str(name), str(full_name), registered)
            key = (bset.id, str(code))
            self._names[key] = (unit_type, bare)
            self._parents[key] = str(parent) if isinstance(parent, str) and parent else None
            entry = Entry(bset.id, str(code), level, unit_type, bare, accent_key(bare), "name")
            self._add(_name_key(bare), entry)

    def _add(self, key: str, entry: Entry) -> None:
        if not key:
            return
        self._entries[key].append(entry)
        if entry.how != "alias":
            variant = variant_key(key)
            if variant != key:
                self._variants[variant].append(replace(entry, how="variant"))

    def _index_aliases(self) -> None:
        aliases: list[tuple[str, str, str]] = []  # (set id, code, folded alias)
        if self.correspondence is not None:
            for code, names in self.correspondence.aliases.items():
                aliases.extend((self.legacy.id, code, name) for name in _bare_aliases(names))
        aliases.extend(
            (self.legacy.id, code, name) for name, code in self._district_aliases.items()
        )
        for bset in (self.legacy, self.current):
            aliases.extend((bset.id, code, name) for name, code in PROVINCE_ALIASES.items())
        for set_id, code, name in aliases:
            if (set_id, code) not in self._names:
                continue
            unit_type, bare = self._names[(set_id, code)]
            if name == _name_key(bare):
                continue
            unit = self.set(set_id).get(code)
            entry = Entry(set_id, code, unit.level, unit_type, bare, "", "alias", name)
            self._add(name, entry)

    # -- lookups ---------------------------------------------------------------------------

    @property
    def sets(self) -> tuple[BoundarySet, BoundarySet]:
        """The legacy and the current set."""
        return self.legacy, self.current

    def set(self, set_id: str) -> BoundarySet:
        """Return the set with ``set_id`` (one of the two).

        Raises
        ------
        DataNotFoundError
            For any other id.
        """
        for bset in self.sets:
            if bset.id == set_id:
                return bset
        raise DataNotFoundError(
            f"address resolution knows {self.legacy.id} and {self.current.id}, not {set_id!r}"
        )

    @cached_property
    def _levels(self) -> dict[str, tuple[Level, ...]]:
        return {
            bset.id: tuple(lv for lv in LEVEL_ORDER if lv in set(bset.frame["level"]))
            for bset in self.sets
        }

    def levels(self, set_id: str) -> tuple[Level, ...]:
        """Return the levels of the set's units (with or without geometry), coarsest first."""
        return self._levels[set_id]

    def lookup(self, key: str) -> tuple[Entry, ...]:
        """Return every entry whose name (or earlier name) folds to ``key``.

        The i/y spelling variants are returned only when no name itself matches.
        """
        found = self._entries.get(key)
        if found:
            return tuple(found)
        return tuple(self._variants.get(variant_key(key), ()))

    @cached_property
    def pairs(self) -> pd.DataFrame:
        """The correspondence's pairs with each new code as the current set has it.

        One ward's code differs nationally (Xã Ba Chẽ): it is matched by its folded name in
        its province. Pairs whose new unit the current set lacks are dropped; empty without
        a correspondence.
        """
        if self.correspondence is None:
            return pd.DataFrame(columns=["old_code", "old_district_code", "new_code", "kind"])
        pairs = self.correspondence.pairs.copy()
        known = pairs["new_code"].isin(self.current.full_names)
        wards = self.current.units("ward")
        by_name = dict(
            zip(
                wards["province_code"] + "|" + wards["name"].map(fold),
                wards["code"],
                strict=True,
            )
        )
        renamed = (
            pairs.loc[~known, "new_province_code"].astype(str)
            + "|"
            + pairs.loc[~known, "new_name"].map(lambda name: fold(split_unit_type(name)[1]))
        ).map(by_name)
        pairs.loc[~known, "new_code"] = renamed
        return pairs[pairs["new_code"].notna()].reset_index(drop=True)

    def unit_type(self, set_id: str, code: str) -> str | None:
        """Return the unit's type word, read robustly from the register."""
        return self._names[(set_id, code)][0]

    def bare_name(self, set_id: str, code: str) -> str:
        """Return the unit's name without its type word."""
        return self._names[(set_id, code)][1]

    def chain_codes(self, set_id: str, code: str) -> tuple[str, ...]:
        """Return the unit's code and its parents' codes, finest first."""
        codes = [code]
        while (parent := self._parents.get((set_id, codes[-1]))) is not None:
            codes.append(parent)
        return tuple(codes)

    @cached_property
    def _children(self) -> dict[tuple[str, str | None, Level], list[str]]:
        """Codes by (set, ancestor code or None for the whole set, level)."""
        children: dict[tuple[str, str | None, Level], list[str]] = defaultdict(list)
        for bset in self.sets:
            for code, level in zip(bset.frame["code"], bset.frame["level"], strict=True):
                for ancestor in (None, *self.chain_codes(bset.id, str(code))[1:]):
                    children[(bset.id, ancestor, level)].append(str(code))
        return children

    def closest(
        self, text: str, set_id: str, level: Level, within: str | None, limit: int = 3
    ) -> tuple[str, ...]:
        """Return the bare names of the units nearest in spelling to ``text``.

        Parameters
        ----------
        text
            The name as written.
        set_id, level
            Where to look and for what.
        within
            The code of a unit to look in (a district, a province), None for the whole set.
        limit
            At most this many names, best first.
        """
        names = {
            fold(self.bare_name(set_id, code)): self.bare_name(set_id, code)
            for code in self._children.get((set_id, within, level), ())
        }
        close = difflib.get_close_matches(fold(text), list(names), n=limit, cutoff=0.6)
        return tuple(names[key] for key in close)

    def spelling_ratio(self, text: str, name: str) -> float:
        """How alike two names are once folded (0 to 1, difflib's ratio)."""
        return difflib.SequenceMatcher(None, fold(text), fold(name)).ratio()

    def units_at(self, set_id: str, within: str | None, level: Level) -> tuple[str, ...]:
        """Return the codes of the units of ``level`` in the set, or inside ``within``."""
        return tuple(self._children.get((set_id, within, level), ()))


def _name_key(name: str) -> str:
    """Fold a name, reading a number the same with or without leading zeros ("01" = "1")."""
    words = [str(int(word)) if word.isdigit() else word for word in nfc(name).split()]
    return fold(" ".join(words))


def _bare_aliases(names: Iterable[str]) -> list[str]:
    """Keep the bare forms of folded aliases (those listed both bare and with a type)."""
    listed = set(names)
    types = {fold(word) for word in TYPE_WORDS} | {
        abbr for abbrs in TYPE_ABBREVIATIONS.values() for abbr in abbrs
    }
    return [name for name in listed if any(t + name in listed for t in types)]


def onflow_district_aliases(legacy: BoundarySet) -> dict[str, str]:
    """Return earlier names of legacy districts (folded) → the district code they now use.

    Read from ``parser_legacy.json`` of onflow-location-platform: a district's keywords
    name the districts merged into it ("huyenhoanhbo" under Thành phố Hạ Long). Only the
    bare keywords also listed with a type word are kept; codes absent from ``legacy`` are
    skipped.
    """
    try:
        path = onflow_data_dir() / "parser_legacy.json"
    except DataNotFoundError:
        return {}
    if not path.is_file():
        return {}
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    known = set(legacy.frame.loc[legacy.frame["level"] == "district", "code"])
    aliases: dict[str, str] = {}
    for districts in data.get("DICT_PROVINCE_DISTRICT", {}).values():
        for district in districts.values():
            code = str(district.get("districtCode"))
            if code in known:
                for name in _bare_aliases(district.get("districtKeywords", ())):
                    aliases.setdefault(name, code)
    return aliases


#: Gazetteers made, by the identity of their two sets (kept alive here, so ids stay unique);
#: ``BoundarySet.load`` returns the same objects until a set is rebuilt.
_MADE: dict[tuple[int, int], tuple[BoundarySet, BoundarySet, Gazetteer]] = {}


def _cached_gazetteer(legacy: BoundarySet, current: BoundarySet) -> Gazetteer:
    key = (id(legacy), id(current))
    if key not in _MADE:
        if len(_MADE) >= 2:
            _MADE.pop(next(iter(_MADE)))
        gazetteer = Gazetteer(
            legacy, current, load_onflow_correspondence(), onflow_district_aliases(legacy)
        )
        _MADE[key] = (legacy, current, gazetteer)
    return _MADE[key][2]
