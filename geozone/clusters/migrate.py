"""Carry clusters defined in old units into the units of a later boundary set.

Every committed cluster was defined before the 1 July 2025 reform. :func:`migrate_cluster`
says, for each old member, which new units succeed it and in what share
(:mod:`geozone.clusters.successors`: the official correspondence decides membership, the
areal overlay gives shares), and gives the resulting member list
(:meth:`Migration.to_cluster`).

How a carried cluster applies (:meth:`Migration.to_cluster`): a planner's confirmation makes
it ``confirmed`` from a date; otherwise it is a ``proposed`` form from the reform date when
the original was in force that day (its decisions say they are unconfirmed), or ``lapsed``
when the original had ended (no decisions until confirmed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd

from geozone.boundaries.correspondence import Correspondence
from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.dates import Period, ReportedDate
from geozone.clusters.files import slugify, validate_cluster
from geozone.clusters.model import CarryStatus, Cluster, ClusterEvent, Member
from geozone.clusters.successors import (
    PARTIAL_RULE,
    NewMember,
    SuccessorRow,
    TouchedUnit,
    succession,
)
from geozone.errors import MigrationError

#: How a carried member's note (its ``notes``, in English) opens, and how it ends for a member
#: carrying a minor part of an original member's territory, as (Vietnamese, English): the
#: review writes the Vietnamese from them (:mod:`geozone.report.tables`).
CARRIED_FROM: tuple[str, str] = ("Kế thừa từ ", "From ")
CARRIED_PARTIAL: tuple[str, str] = (" (một phần nhỏ).", " (a minor part).")


@dataclass(frozen=True)
class Migration:
    """A cluster carried from a legacy set into a current one (see :func:`migrate_cluster`)."""

    cluster: Cluster
    legacy_id: str
    current_id: str
    current_valid_from: date
    as_of: date
    target_level: Level
    rows: tuple[SuccessorRow, ...]
    new_members: tuple[NewMember, ...]
    touched: tuple[TouchedUnit, ...]
    coverage: Mapping[str, float]
    organisations: tuple[Member, ...]
    notes: tuple[str, ...]
    correspondence_source: str | None

    @property
    def dropped(self) -> tuple[TouchedUnit, ...]:
        """The touched units (the overlay pieces that are not successors)."""
        return self.touched

    @property
    def source_in_force_at_reform(self) -> bool:
        """Whether the original cluster was in force on the day the current set began."""
        return self.cluster.period.contains(self.current_valid_from)

    def to_frame(self) -> pd.DataFrame:
        """Return the rows as a DataFrame (one row per old member and new unit)."""
        columns = list(SuccessorRow.__dataclass_fields__)
        return pd.DataFrame([row.to_dict() for row in self.rows], columns=columns)

    def successors(self, member_id: str) -> tuple[SuccessorRow, ...]:
        """Return the rows of one old member."""
        return tuple(row for row in self.rows if row.member_id == member_id)

    def new_member(self, code: str) -> NewMember:
        """Return the new member with ``code`` (KeyError naming it otherwise)."""
        for member in self.new_members:
            if member.code == code:
                return member
        raise KeyError(f"{code} is not a member of cluster {self.cluster.id} in {self.current_id}")

    def new_codes(self, include_partial: bool = True) -> tuple[str, ...]:
        """Return the codes of the new members (core first)."""
        return tuple(m.code for m in self.new_members if include_partial or not m.partial)

    def carry_status(self, confirmed_from: date | None = None) -> CarryStatus:
        """How the carried cluster stands: confirmed, proposed (unconfirmed) or lapsed."""
        if confirmed_from is not None:
            return "confirmed"
        return "proposed" if self.source_in_force_at_reform else "lapsed"

    def to_dict(self) -> dict[str, Any]:
        """Return the migration as JSON-ready data (without the original cluster)."""
        return {
            "cluster_id": self.cluster.id,
            "legacy_id": self.legacy_id,
            "current_id": self.current_id,
            "as_of": self.as_of.isoformat(),
            "target_level": self.target_level,
            "source_in_force_at_reform": self.source_in_force_at_reform,
            "carry_status": self.carry_status(),
            "partial_rule": PARTIAL_RULE,
            "rows": [row.to_dict() for row in self.rows],
            "new_members": [asdict(member) for member in self.new_members],
            "touched": [asdict(piece) for piece in self.touched],
            "coverage": dict(self.coverage),
            "organisations": [member.id for member in self.organisations],
            "planned_members": [member.id for member in self.cluster.planned_members],
            "notes": list(self.notes),
            "correspondence_source": self.correspondence_source,
        }

    def to_cluster(
        self,
        include_partial: bool = True,
        *,
        confirmed_from: date | None = None,
        confirmed_by: str | None = None,
        drawn_zone: str | None = None,
    ) -> Cluster:
        """Return the cluster as defined in the current set's units.

        Its id is ``<id>-<current set id>``; members are the new units (flagged ``partial``
        where so, each naming the original members it succeeds) and the organisations
        unchanged. The regulation, hotspots, problems, source and effective border-zone width
        are kept; reported figures stay with the original. It names its original by id, level,
        names and period (``carried_from``, ``carried_from_level``, ``carried_from_name``,
        ``carried_from_name_en``, ``original_period``): sentences name the original with them.

        How it applies (:attr:`Cluster.carry_status`): ``confirmed`` from ``confirmed_from``
        (a planner confirmed it; never before the current set began); otherwise ``proposed``
        from the day the current set began when the original was in force that day (its
        decisions say it is unconfirmed), else ``lapsed`` (the original had ended: no
        decisions until confirmed). ``drawn_zone`` (WKT) is a border zone a planner drew at
        confirmation, used instead of the one derived from the original lines.

        Raises
        ------
        MigrationError
            When ``confirmed_from`` is before the current set began.
        """
        start = self.current_valid_from
        if confirmed_from is not None and confirmed_from < start:
            raise MigrationError(
                f"cluster {self.cluster.id} can be confirmed in the units of {self.current_id} "
                f"from {start} at the earliest, not {confirmed_from}"
            )
        status = self.carry_status(confirmed_from)
        applies_from = confirmed_from or start
        original = self.cluster
        members = self._carried_members(applies_from, include_partial)
        organisations = tuple(
            member.model_copy(update={"joined": applies_from}) for member in self.organisations
        )
        year = start.year
        events = self._carry_events(confirmed_from, confirmed_by)
        return Cluster(
            id=f"{original.id}-{self.current_id}",
            name=f"{original.name} (đơn vị {year})",
            name_en=f"{original.name_en} ({year} units)",
            boundary_set=self.current_id,
            level=self.target_level,
            members=(*members, *organisations),
            period=Period(
                start=ReportedDate.model_validate(applies_from),
                note=f"Carried from {original.id}; the original period: "
                f"{original.period.start or 'start unknown'} – {original.period.end or 'open'}. "
                + _STATUS_NOTES[status],
            ),
            events=tuple(events),
            zone_width_m=original.effective_zone_width_m,
            hotspots=original.hotspots,
            problems=original.problems,
            regulation=original.regulation,
            source=original.source,
            carried_from=original.id,
            carried_from_level=original.level,
            carried_from_name=original.name,
            carried_from_name_en=original.name_en,
            original_period=original.period,
            carry_status=status,
            confirmed_from=confirmed_from,
            confirmed_by=confirmed_by,
            drawn_zone=drawn_zone if confirmed_from is not None else None,
            notes=f"Carried from {self.legacy_id} as of {self.as_of} by geozone.clusters.migrate "
            f"(membership: {self.correspondence_source or 'areal overlay'}).",
        )

    def _carried_members(self, joined: date, include_partial: bool) -> list[Member]:
        """Return the new units as members, each naming the original members it succeeds."""
        by_id = {member.id: member for member in self.cluster.members}
        return [
            Member(
                id=f"{slugify(member.name)}-{member.code}",
                kind="unit",
                name=member.full_name,
                unit_code=member.code,
                joined=joined,
                partial=member.partial,
                successor_of=tuple(
                    dict.fromkeys(
                        key
                        for i in member.from_members
                        for key in (i, by_id[i].unit_code, by_id[i].territory_code)
                        if key
                    )
                ),
                notes=CARRIED_FROM[1]
                + ", ".join(f"{by_id[i].name} ({by_id[i].unit_code})" for i in member.from_members)
                + (CARRIED_PARTIAL[1] if member.partial else "."),
            )
            for member in self.new_members
            if include_partial or not member.partial
        ]

    def _carry_events(
        self, confirmed_from: date | None, confirmed_by: str | None
    ) -> list[ClusterEvent]:
        """Return the carried cluster's events: carried, and confirmed when it was."""
        original_id = self.cluster.id
        events = [
            ClusterEvent(
                date=ReportedDate.model_validate(self.current_valid_from),
                kind="carried",
                text=f"Chuyển cụm {original_id} sang đơn vị hành chính của {self.current_id}.",
                text_en=f"Cluster {original_id} carried into the units of {self.current_id}.",
            )
        ]
        if confirmed_from is not None:
            who = f" ({confirmed_by})" if confirmed_by else ""
            events.append(
                ClusterEvent(
                    date=ReportedDate.model_validate(confirmed_from),
                    kind="confirmed",
                    text=f"Xác nhận áp dụng cụm chuyển đổi từ {confirmed_from:%d/%m/%Y}{who}.",
                    text_en=f"The carried cluster confirmed to apply from {confirmed_from}{who}.",
                )
            )
        return events


_STATUS_NOTES: dict[str, str] = {
    "proposed": "The original was in force on the reform date; the carried form is a "
    "proposal until a planner confirms it.",
    "confirmed": "Confirmed by a planner.",
    "lapsed": "The original had ended before the reform date: no decisions are made under "
    "the carried form until a planner confirms it.",
}


def migrate_cluster(
    cluster: Cluster,
    legacy: BoundarySet,
    current: BoundarySet,
    *,
    as_of: date | None = None,
    correspondence: Correspondence | None = None,
) -> Migration:
    """Carry ``cluster`` from the units of ``legacy`` into those of ``current``.

    Membership follows the official correspondence at every level: a ward member's
    successors are the new wards it went into; a district member's are the new wards its old
    wards went into; a province member's is the new province it went into. Where the legacy
    set has the member's polygon, an areal overlay gives each successor's shares as figures,
    and the new units it reaches but the correspondence does not list are *touched*, never
    members. Without a correspondence (sets other than the onflow pair), the overlay decides:
    pieces under :data:`SLIVER_SHARE` of both units are touched, the rest successors.

    Parameters
    ----------
    cluster
        A cluster defined in ``legacy`` (validated against it first).
    legacy, current
        The set the cluster is named in and the set to carry it into.
    as_of
        Whose membership to carry; default the last day both the cluster and ``legacy`` ran
        (for example 2024-12-31 for the T11 cluster, 2025-06-30 for an open one).
    correspondence
        Old→new list; default the onflow correspondence when the sets are
        ``vn-legacy-districts`` → ``vn2025``.

    Returns
    -------
    Migration
        Rows per old member and new unit, the new member list and the touched units.

    Raises
    ------
    UnknownMemberError, MemberNameMismatchError
        When the cluster does not validate against ``legacy``.
    MigrationError
        When no territorial member is left on ``as_of``, a member has neither geometry nor a
        correspondence entry, or no correspondence is known for the two sets.
    """
    validate_cluster(cluster, legacy)
    day = as_of or _default_as_of(cluster, legacy, current)
    units = cluster.territorial_members(day)
    if not units:
        raise MigrationError(f"cluster {cluster.id} has no territorial members on {day}")
    target: Level = "province" if cluster.level == "province" else current.leaf_level
    if target not in current.levels:
        raise MigrationError(f"{current.id} has no {target} geometry to carry {cluster.id} into")
    found = succession(cluster, units, legacy, current, target, correspondence)
    return Migration(
        cluster=cluster,
        legacy_id=legacy.id,
        current_id=current.id,
        current_valid_from=current.info.valid_from,
        as_of=day,
        target_level=target,
        rows=found.rows,
        new_members=found.new_members,
        touched=found.touched,
        coverage=found.coverage,
        organisations=tuple(m for m in cluster.members_on(day) if m.kind == "organisation"),
        notes=found.notes,
        correspondence_source=found.correspondence_source,
    )


def _default_as_of(cluster: Cluster, legacy: BoundarySet, current: BoundarySet) -> date:
    ends = [legacy.info.valid_to, cluster.period.end.latest if cluster.period.end else None]
    known = [end for end in ends if end is not None]
    return min(known) if known else current.info.valid_from - timedelta(days=1)
