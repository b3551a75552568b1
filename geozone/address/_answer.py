"""Building the answer of a chosen reading: the chain in force, successors, candidates.

An old-form address dated after 1 July 2025 resolves its old units, then today's
successors; a new-form address dated before the reform resolves through the new unit's
predecessors the same way (see :mod:`geozone.address.resolve`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from geozone.address._parse import Segment
from geozone.address._reading import MISSPELT_WARD_RATIO, _Fit, _Reading, _Unfit
from geozone.address.gazetteer import Gazetteer
from geozone.address.result import AddressPart, AddressResolution, Alternative, UnreadPart, _place
from geozone.boundaries.lineage import (
    BASIS_UNLISTED,
    Predecessor,
    Successor,
    predecessors,
    successors,
)
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sets import BoundarySet, Unit
from geozone.text import fold


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
            notes=tuple(self._notes(reading))
            + ((street_note,) if street_note else ())
            + self._snapshot_notes(),
        )

    def _snapshot_notes(self) -> tuple[str, ...]:
        """Say that the units on the date are a snapshot's, when the set in force is one.

        :func:`geozone.assignment.explain.snapshot_notice` of the set in force on the date
        (the chain and the candidates are named in it), as ``GET /locate`` says it.
        """
        from geozone.assignment.explain import snapshot_notice

        said = snapshot_notice(self.in_force.info, self.day)
        return () if said is None else (said,)

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
            notes=self._snapshot_notes(),
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
