"""Where a unit went on 1 July 2025, and where a unit came from.

Successors follow the official old → new correspondence (``geozone.clusters.migrate``), at every
level: a legacy ward's successors are the new wards the list names for it (one for a whole
move, several for a split, one of them the list's default); a legacy district's are the new
wards its old wards went into; a legacy province's is the province the list names.
Predecessors are the same list read the other way.

Shares are figures from geometry, given only where the geometry says them:

- a legacy district or province with a polygon: an areal overlay with each successor, in
  the old unit's UTM zone (``share_of_old`` = piece / old area, ``share_of_new`` = piece /
  new area);
- a legacy ward with a polygon (a user ward layer refines the set): the same overlay;
- a legacy ward without one, when it is the only ward of its district that went into the
  new ward: the new ward's overlap with the old district's polygon is that ward's piece,
  which gives ``share_of_new`` (and ``share_of_old`` when every piece of the ward is so
  estimated), as :mod:`geozone.clusters.migrate` estimates them for cluster members;
- otherwise None, and the wording says the share is unknown.

:func:`find_former_units` answers a name search for units that no longer exist: the old
unit, the dates its set was in force, and today's successors.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import shapely

from geozone.address.gazetteer import Gazetteer
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sets import BoundarySet, SearchHit, Unit
from geozone.clusters.successors import (
    BASIS_AREAL,
    BASIS_DISTRICT,
    BASIS_PROVINCE,
    BASIS_SOLE,
    BASIS_SPLIT,
    BASIS_WHOLE,
)
from geozone.crs import project_geometries, zones_of
from geozone.text import accent_key, fold, format_date, split_unit_type

#: The basis of a successor found through the unit's province: the list does not name it.
BASIS_UNLISTED = "official correspondence (its province only: the unit is not listed)"


@dataclass(frozen=True)
class Successor:
    """A unit of the current set that took (part of) an old unit.

    ``default`` marks the successor the official list names for a split ward (the largest
    piece for a district); ``share_of_old`` and ``share_of_new`` are None when unknown.
    """

    code: str
    full_name: str
    level: Level
    province: str
    share_of_old: float | None
    share_of_new: float | None
    default: bool
    basis: str

    def to_dict(self) -> dict[str, Any]:
        """Return the successor as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def label(self) -> str:
        """Return the full name, with the share of the old unit when known ("… (51%)")."""
        if self.share_of_old is None or self.share_of_old >= 0.995:
            return self.full_name
        return f"{self.full_name} ({self.share_of_old:.0%})"


@dataclass(frozen=True)
class Predecessor:
    """A unit of the legacy set (part of) which went into a current unit."""

    code: str
    full_name: str
    level: Level
    parent: str
    whole: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the predecessor as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def successors(gazetteer: Gazetteer, code: str) -> tuple[Successor, ...]:
    """Return today's successors of legacy unit ``code``, default first, then by share.

    Empty when the correspondence does not list the unit (a ward merged in 2025 before the
    list was drawn, an island district without wards).
    """
    return lineage_of(gazetteer).successors(code)


def predecessors(gazetteer: Gazetteer, code: str) -> tuple[Predecessor, ...]:
    """Return the legacy units that went into current unit ``code`` (by code).

    A ward's are the old wards the list names for it (``whole`` when the old ward went
    into it entirely); a province's, the old provinces.
    """
    return lineage_of(gazetteer).predecessors(code)


class Lineage:
    """The correspondence indexed by code, and the overlays made so far (kept per process).

    Parameters
    ----------
    gazetteer
        The legacy and current sets and their correspondence.
    """

    def __init__(self, gazetteer: Gazetteer) -> None:
        self.gazetteer = gazetteer
        self.legacy = gazetteer.legacy
        self.current = gazetteer.current
        pairs = gazetteer.pairs
        self._by_old: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        self._by_new: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        self._by_district: dict[str, set[str]] = defaultdict(set)
        self._contributors: dict[tuple[str, str], set[str]] = defaultdict(set)
        for old, district, new, kind, default in zip(
            pairs["old_code"],
            pairs["old_district_code"],
            pairs["new_code"],
            pairs["kind"],
            pairs["is_default"],
            strict=True,
        ):
            self._by_old[str(old)].append((str(new), bool(default)))
            self._by_new[str(new)].append((str(old), kind == "whole"))
            self._by_district[str(district)].add(str(new))
            self._contributors[(str(district), str(new))].add(str(old))
        self._successors: dict[str, tuple[Successor, ...]] = {}
        self._overlays: dict[str, tuple[float | None, dict[str, tuple[float, float]]]] = {}

    def successors(self, code: str) -> tuple[Successor, ...]:
        """See :func:`successors` (cached per code)."""
        if code not in self._successors:
            unit = self.legacy.get(code)
            if self.gazetteer.correspondence is None:
                found: list[Successor] = []
            elif unit.level == "province":
                found = self._province_successors(unit)
            elif unit.level == "district":
                found = self._district_successors(unit)
            else:
                found = self._ward_successors(unit)
            if not found and unit.level != "province":
                found = self._province_fallback(unit)
            self._successors[code] = tuple(
                sorted(found, key=lambda s: (not s.default, -(s.share_of_old or 0.0), s.code))
            )
        return self._successors[code]

    def predecessors(self, code: str) -> tuple[Predecessor, ...]:
        """See :func:`predecessors`."""
        unit = self.current.get(code)
        correspondence = self.gazetteer.correspondence
        if correspondence is None:
            return ()
        if unit.level == "province":
            olds = sorted(old for old, new in correspondence.provinces.items() if new == code)
            return tuple(
                Predecessor(old, self.legacy.get(old).full_name, "province", "", whole=True)
                for old in olds
                if old in self.legacy.full_names
            )
        return tuple(
            Predecessor(
                old, self.legacy.get(old).full_name, "ward", _parent_name(self.legacy, old), whole
            )
            for old, whole in sorted(self._by_new.get(code, ()))
            if old in self.legacy.full_names
        )

    # -- by level

    def _province_successors(self, unit: Unit) -> list[Successor]:
        assert self.gazetteer.correspondence is not None
        new = self.gazetteer.correspondence.provinces.get(unit.code)
        return self._into_province(unit.code, new, BASIS_PROVINCE)

    def _province_fallback(self, unit: Unit) -> list[Successor]:
        """Return the province an unlisted unit's province went into.

        For units the list does not name (island districts without wards, wards merged in
        2025 before the list was drawn), with the unit's own share of it where known.
        """
        assert self.gazetteer.correspondence is not None
        new = self.gazetteer.correspondence.provinces.get(unit.province_code)
        return self._into_province(unit.code, new, BASIS_UNLISTED)

    def _into_province(self, code: str, new: str | None, basis: str) -> list[Successor]:
        """Return the new province ``new`` as the whole successor of ``code``, with shares."""
        if new is None or new not in self.current.full_names:
            return []
        old_area, pieces = self._overlay(code, [new])
        piece = pieces.get(new)
        return [
            self._successor(
                new,
                _ratio(piece[0], old_area) if piece else None,
                _ratio(piece[0], piece[1]) if piece else None,
                True,
                basis,
            )
        ]

    def _district_successors(self, unit: Unit) -> list[Successor]:
        codes = sorted(self._by_district.get(unit.code, ()))
        if not codes:
            return []
        old_area, pieces = self._overlay(unit.code, codes)
        shares = {code: _ratio(pieces[code][0], old_area) for code in pieces}
        largest = max((s for s in shares.values() if s is not None), default=None)
        return [
            self._successor(
                code,
                shares.get(code),
                _ratio(pieces[code][0], pieces[code][1]) if code in pieces else None,
                largest is not None and shares.get(code) == largest,
                BASIS_DISTRICT,
            )
            for code in codes
        ]

    def _ward_successors(self, unit: Unit) -> list[Successor]:
        listed = self._by_old.get(unit.code, [])
        if not listed:
            return []
        codes = [code for code, _ in listed]
        if self.legacy.geometry(unit.code) is not None:  # a user ward layer refines the set
            old_area, pieces = self._overlay(unit.code, codes)
            return [
                self._successor(
                    code,
                    _ratio(pieces[code][0], old_area) if code in pieces else None,
                    _ratio(pieces[code][0], pieces[code][1]) if code in pieces else None,
                    default,
                    BASIS_AREAL,
                )
                for code, default in listed
            ]
        sole = self._sole_pieces(unit, codes)
        whole = len(codes) == 1
        total = sum(piece for piece, _ in sole.values()) if len(sole) == len(codes) else None
        return [
            self._successor(
                code,
                1.0 if whole else _ratio(sole[code][0] if code in sole else None, total),
                _ratio(sole[code][0], sole[code][1]) if code in sole else None,
                default,
                BASIS_SOLE if code in sole else BASIS_WHOLE if whole else BASIS_SPLIT,
            )
            for code, default in listed
        ]

    def _successor(
        self,
        code: str,
        share_of_old: float | None,
        share_of_new: float | None,
        default: bool,
        basis: str,
    ) -> Successor:
        unit = self.current.get(code)
        return Successor(
            code,
            unit.full_name,
            unit.level,
            self.current.full_names.get(unit.province_code, unit.province_code),
            share_of_old,
            share_of_new,
            default,
            basis,
        )

    # -- geometry

    def _sole_pieces(self, unit: Unit, codes: list[str]) -> dict[str, tuple[float, float]]:
        """Return pieces (m²) and new areas of the successors only this ward fed.

        A successor the ward alone of its district went into: its overlap with the old
        district's polygon is the ward's piece.
        """
        district = unit.parent_code
        if district is None:
            return {}
        sole = [c for c in codes if len(self._contributors.get((district, c), ())) == 1]
        if not sole:
            return {}
        _, pieces = self._overlay(district, sorted(self._by_district.get(district, ())))
        return {code: pieces[code] for code in sole if code in pieces}

    def _overlay(
        self, old_code: str, new_codes: list[str]
    ) -> tuple[float | None, dict[str, tuple[float, float]]]:
        """Area (m²) of the old unit and, per new unit, (area of old ∩ new, area of new).

        In the old unit's UTM zone; empty where a polygon is missing. A district's overlay
        with every new ward its wards went into is made once and kept.
        """
        known = self._overlays.get(old_code)
        if known is not None and all(code in known[1] for code in new_codes):
            return known
        old = self.legacy.geometry(old_code)
        news = [(code, self.current.geometry(code)) for code in new_codes]
        news = [(code, geom) for code, geom in news if geom is not None]
        if old is None or not news:
            self._overlays[old_code] = (None, {})
            return self._overlays[old_code]
        zone = zones_of(np.array([old], dtype=object))
        old_metric = project_geometries(np.array([old], dtype=object), zone)[0]
        new_metric = project_geometries(
            np.array([geom for _, geom in news], dtype=object), np.repeat(zone, len(news))
        )
        pieces = shapely.area(shapely.intersection(old_metric, new_metric))
        areas = shapely.area(new_metric)
        overlay = {
            code: (float(piece), float(area))
            for (code, _), piece, area in zip(news, pieces, areas, strict=True)
        }
        self._overlays[old_code] = (float(shapely.area(old_metric)), overlay)
        return self._overlays[old_code]


def _ratio(part: float | None, whole: float | None) -> float | None:
    if part is None or whole is None or whole <= 0:
        return None
    return min(1.0, part / whole)


#: One lineage per gazetteer (kept alive with it, so ids stay unique).
_LINEAGES: dict[int, tuple[Gazetteer, Lineage]] = {}


def lineage_of(gazetteer: Gazetteer) -> Lineage:
    """Return the gazetteer's lineage, made on first use and kept."""
    known = _LINEAGES.get(id(gazetteer))
    if known is None or known[0] is not gazetteer:
        if len(_LINEAGES) >= 2:
            _LINEAGES.pop(next(iter(_LINEAGES)))
        known = (gazetteer, Lineage(gazetteer))
        _LINEAGES[id(gazetteer)] = known
    return known[1]


# -- names ------------------------------------------------------------------------------------


def _parent_name(bset: BoundarySet, code: str) -> str:
    parent = bset.get(code).parent_code
    return bset.full_names.get(parent, "") if parent else ""


# -- former units ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormerUnit:
    """A unit of an earlier set found by name, with where it went.

    ``valid_from`` and ``valid_to`` are the dates its set was in force (the register does
    not date single units).
    """

    unit: Unit
    set_id: str
    parents: tuple[str, ...]
    valid_from: date
    valid_to: date
    successors: tuple[Successor, ...]

    def sentence(self) -> str:
        """Say in Vietnamese where the unit went.

        "Phường Quan Hoa (đến 30/06/2025) → nay thuộc Phường Nghĩa Đô, Phường Cầu Giấy".
        """
        head = f"{self.unit.full_name} (đến {format_date(self.valid_to)})"
        if not self.successors:
            return f"{head} → không có trong danh sách chuyển đổi chính thức"
        return f"{head} → nay thuộc " + ", ".join(s.full_name for s in self.successors)

    def to_dict(self) -> dict[str, Any]:
        """Return the former unit as JSON-ready data."""
        return {
            "unit": self.unit.to_dict(),
            "set": self.set_id,
            "parents": list(self.parents),
            "valid_from": self.valid_from.isoformat(),
            "valid_to": self.valid_to.isoformat(),
            "successors": [s.to_dict() for s in self.successors],
            "sentence": self.sentence(),
        }


def former_unit(gazetteer: Gazetteer, code: str) -> FormerUnit:
    """Return legacy unit ``code`` with its set's dates, its parents and its successors."""
    legacy = gazetteer.legacy
    chain = legacy.chain(code)
    valid_to = legacy.info.valid_to or gazetteer.current.info.valid_from
    return FormerUnit(
        chain[0],
        legacy.id,
        tuple(u.full_name for u in chain[1:]),
        legacy.info.valid_from,
        valid_to,
        successors(gazetteer, code),
    )


def find_former_units(
    gazetteer: Gazetteer, text: str, level: Level | None = None, limit: int = 20
) -> tuple[FormerUnit, ...]:
    """Find units of the legacy set named ``text`` that the current set no longer has.

    Exact name matches only (as :meth:`BoundarySet.search` finds them), minus those the
    current set still has under the same code, level and name. Names spelt with the
    diacritics written come first ("Quan Hoa": the ward before Huyện Quan Hóa), then
    coarser units, then by code.
    """
    hits = [hit for hit in gazetteer.legacy.search(text, level=level) if hit.exact]
    current = gazetteer.current
    gone = [
        hit.unit
        for hit in hits
        if not (
            hit.unit.code in current.full_names
            and fold(current.get(hit.unit.code).name) == fold(hit.unit.name)
            and current.get(hit.unit.code).level == hit.unit.level
        )
    ]
    written = accent_key(split_unit_type(text)[1])
    gone.sort(
        key=lambda u: (
            accent_key(gazetteer.bare_name(gazetteer.legacy.id, u.code)) != written,
            LEVEL_ORDER.index(u.level),
            u.code,
        )
    )
    return tuple(former_unit(gazetteer, unit.code) for unit in gone[:limit])


@dataclass(frozen=True)
class UnitSearch:
    """A name search in today's set that knows where the units of earlier sets went.

    ``hits`` are today's units (exact matches first, as :meth:`BoundarySet.search` gives
    them); ``former`` the legacy units of that name that no longer exist, with their
    validity and today's successors, given when today's set has no exact match.
    """

    text: str
    set_id: str
    hits: tuple[SearchHit, ...]
    former: tuple[FormerUnit, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the search as JSON-ready data (``set`` and ``hits`` as before)."""
        return {
            "set": self.set_id,
            "hits": [hit.to_dict() for hit in self.hits],
            "former": [unit.to_dict() for unit in self.former],
        }


def search_units(
    gazetteer: Gazetteer, text: str, day: date, level: Level | None = None
) -> UnitSearch:
    """Search the set in force on ``day`` by name; add the former units of that name.

    Parameters
    ----------
    gazetteer
        The legacy and current sets.
    text
        A name: "Quan Hoa", "Phường Nghĩa Đô", "nghia do".
    day
        Picks the set searched (today, for "where did it go").
    level
        Restrict to one level.
    """
    live = [bset for bset in gazetteer.sets if bset.info.in_force(day)]
    bset = max(live or [gazetteer.current], key=lambda b: b.info.valid_from)
    hits = tuple(bset.search(text, level=level))
    former: tuple[FormerUnit, ...] = ()
    if bset.id == gazetteer.current.id and not any(hit.exact for hit in hits):
        former = find_former_units(gazetteer, text, level)
    return UnitSearch(text, bset.id, hits, former)
