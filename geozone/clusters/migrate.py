"""Carry clusters defined in old units into the units of a later boundary set.

Every committed cluster was defined before the 1 July 2025 reform. :func:`migrate_cluster`
says, for each old member, which new units succeed it and in what share, and gives the
resulting member list (:meth:`Migration.to_cluster`).

Membership: the official correspondence
    Who succeeds whom follows the official old → new lists, at every level. The ward list
    is the one shipped by the PyPI package onflow-location-platform (``converter_2025.json``
    and ``dataset.db``, read directly with json/sqlite3; the package is never imported, its
    import costs ~2 s and some of its calls reach the network): which new wards each old
    ward went into, wholly or split, with one successor of each split ward marked default.
    A ward member's successors are its own entries; a district member's are the new wards
    its old wards went into; a province member's is the new province its list names
    (``DICT_PROVINCE``). So the T11 cluster (Quan Hoa, Nghĩa Đô, Cống Vị, Vĩnh Phúc) becomes
    Nghĩa Đô 00160, Ngọc Hà 00008, Cầu Giấy 00166, Giảng Võ 00025 and Tây Hồ 00103, as in
    the Hà Nội resolution on the 2025 wards.

Shares: the areal overlay
    Where the legacy set has the member's polygon (districts and provinces; wards once a
    user ward layer refines the set), the old polygon is intersected with every new unit at
    the target level in the old unit's UTM zone: ``share_of_old`` = area(old ∩ new) /
    area(old), ``share_of_new`` = area(old ∩ new) / area(new). The overlay gives figures,
    never membership: a new unit it reaches that the correspondence does not list (a sliver
    where two sources digitised one boundary differently) is *touched*
    (:attr:`Migration.touched`), never a member. Without a ward layer, a split ward's shares
    are unknown (None) unless the old ward is the only one of its district that went into
    the new ward: then the new ward's overlap with the old district polygon is the piece,
    which estimates ``share_of_new`` (and ``share_of_old`` when every piece is so estimated).

Partial successors (:func:`is_partial`)
    A successor is *partial* when at least one of its shares is known and every known share
    is minor: under :data:`PARTIAL_SHARE_OF_OLD` of the old member and under
    :data:`PARTIAL_SHARE_OF_NEW` of the new unit. An unknown share asserts nothing, so
    Giảng Võ (about half of Cống Vị, shares unknown without old ward polygons) is a full
    successor. A new unit is partial when every row reaching it is.

Without a correspondence (sets other than the onflow pair) the overlay decides: pieces under
:data:`SLIVER_SHARE` of both units are touched, the others are successors.

How a carried cluster applies (:meth:`Migration.to_cluster`): a planner's confirmation makes
it ``confirmed`` from a date; otherwise it is a ``proposed`` form from the reform date when
the original was in force that day (its decisions say they are unconfirmed), or ``lapsed``
when the original had ended (no decisions until confirmed).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sqlite3
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import (
    CarryStatus,
    Cluster,
    ClusterEvent,
    Member,
    Period,
    ReportedDate,
    slugify,
    validate_cluster,
)
from geozone.crs import project_geometries
from geozone.errors import DataNotFoundError, MigrationError, SourceFormatError
from geozone.text import fold, split_unit_type

#: A piece of an areal overlay smaller than this share of the old unit AND of the new unit is
#: a sliver (two sources digitised the same boundary differently) and is dropped.
SLIVER_SHARE = 0.01
#: An areal successor is partial when it took less than this share of the old unit...
PARTIAL_SHARE_OF_OLD = 0.10
#: ...and that piece is less than this share of the new unit.
PARTIAL_SHARE_OF_NEW = 0.50

BASIS_AREAL = "areal overlay (UTM)"
BASIS_PROVINCE = "official correspondence (provinces)"
BASIS_DISTRICT = "official correspondence (the district's old wards)"
BASIS_WHOLE = "official correspondence (whole unit)"
BASIS_SPLIT = "official correspondence (split ward)"
BASIS_SOLE = "correspondence + overlap of the new ward with the old district (sole contributor)"

#: The boundary sets whose transition the onflow correspondence describes (legacy, current).
ONFLOW_SETS = ("vn-legacy-districts", "vn2025")
ONFLOW_PACKAGE = "onflow_location_platform"
ONFLOW_DISTRIBUTION = "onflow-location-platform"


# -- the official correspondence -------------------------------------------------------------


@dataclass(frozen=True)
class Correspondence:
    """An old→new ward correspondence (no shares).

    Attributes
    ----------
    pairs
        One row per (old ward, new ward): ``old_code``, ``old_district_code``, ``old_name``,
        ``new_code``, ``new_province_code``, ``new_name``, ``kind`` ("whole" or "split") and
        ``is_default`` (the successor the source names for a split ward; True for whole).
    aliases
        Old ward code → folded names of earlier wards merged into it (``"xabosao"``).
    provinces
        Old province code → new province code.
    source
        Where it comes from (package and version).
    """

    pairs: pd.DataFrame
    aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provinces: Mapping[str, str] = field(default_factory=dict)
    source: str = "user-supplied"

    @classmethod
    def from_pairs(
        cls,
        pairs: pd.DataFrame,
        aliases: Mapping[str, tuple[str, ...]] | None = None,
        provinces: Mapping[str, str] | None = None,
        source: str = "user-supplied",
    ) -> Correspondence:
        """Build from pairs with at least ``old_code``, ``new_code`` and ``is_default``.

        ``kind`` is derived (split when an old code has several successors); missing
        ``old_district_code``, ``old_name``, ``new_name`` and ``new_province_code`` are left
        empty.
        """
        frame = pairs.copy()
        for column in ("old_district_code", "old_name", "new_name", "new_province_code"):
            if column not in frame:
                frame[column] = None
        counts = frame.groupby("old_code")["new_code"].transform("size")
        frame["kind"] = np.where(counts > 1, "split", "whole")
        frame["is_default"] = frame["is_default"].astype(bool) | (counts == 1)
        return cls(frame, dict(aliases or {}), dict(provinces or {}), source)


def onflow_data_dir() -> Path:
    """Return the data folder of onflow-location-platform, located without importing it.

    Raises
    ------
    DataNotFoundError
        When the package or its ``converter_2025.json`` is not installed.
    """
    spec = importlib.util.find_spec(ONFLOW_PACKAGE)
    if spec is None or spec.origin is None:
        raise DataNotFoundError(
            f"the {ONFLOW_DISTRIBUTION} package (old→new ward correspondence) is not installed"
        )
    folder = Path(spec.origin).parent / "data"
    if not (folder / "converter_2025.json").is_file() or not (folder / "dataset.db").is_file():
        raise DataNotFoundError(f"{folder} lacks converter_2025.json or dataset.db")
    return folder


@lru_cache(maxsize=1)
def load_onflow_correspondence() -> Correspondence:
    """Read the 2025 old→new ward correspondence shipped by onflow-location-platform.

    ``converter_2025.json`` names units by folded name keys; ``dataset.db`` gives their GSO
    codes. Cached per process (about 0.1 s).

    Raises
    ------
    DataNotFoundError
        When the package data is missing.
    SourceFormatError
        When a key of the correspondence has no unit in ``dataset.db``.
    """
    folder = onflow_data_dir()
    converter = json.loads((folder / "converter_2025.json").read_text(encoding="utf-8"))
    with closing(sqlite3.connect(f"file:{folder / 'dataset.db'}?mode=ro", uri=True)) as db:
        old = pd.DataFrame(
            db.execute(
                "select provinceKey, districtKey, wardKey, provinceCode, districtCode, wardCode,"
                " ward, wardAlias from admin_units_legacy"
            ).fetchall(),
            columns=[
                "pk",
                "dk",
                "wk",
                "old_province_code",
                "old_district_code",
                "old_code",
                "old_name",
                "alias",
            ],
        )
        new = pd.DataFrame(
            db.execute(
                "select provinceKey, wardKey, provinceCode, wardCode, ward from admin_units"
            ).fetchall(),
            columns=["npk", "nwk", "new_province_code", "new_code", "new_name"],
        )
    old["old_key"] = old["pk"] + "_" + old["dk"] + "_" + old["wk"].fillna("")
    whole = [
        (old_key, npk, nwk, "whole", True)
        for npk, wards in converter["DICT_PROVINCE_WARD_NO_DIVIDED"].items()
        for nwk, old_keys in wards.items()
        for old_key in old_keys
    ]
    split = [
        (old_key, npk, entry["newWardKey"], "split", bool(entry["isDefaultNewWard"]))
        for npk, splits in converter["DICT_PROVINCE_WARD_DIVIDED"].items()
        for old_key, entries in splits.items()
        for entry in entries
    ]
    keys = pd.DataFrame(whole + split, columns=["old_key", "npk", "nwk", "kind", "is_default"])
    pairs = keys.merge(old, on="old_key", how="left", validate="many_to_one").merge(
        new, on=["npk", "nwk"], how="left", validate="many_to_one"
    )
    unresolved = pairs["old_province_code"].isna() | pairs["new_code"].isna()
    if unresolved.any():
        sample = pairs.loc[unresolved, ["old_key", "nwk"]].head(5).to_numpy().tolist()
        raise SourceFormatError(f"{folder}: correspondence keys without a unit: {sample}")
    # The five island districts without wards have no ward code: nothing refers to them.
    pairs = pairs[pairs["old_code"].notna()]
    columns = [
        "old_code",
        "old_district_code",
        "old_name",
        "new_code",
        "new_province_code",
        "new_name",
        "kind",
        "is_default",
    ]
    with_alias = old[old["alias"].notna() & old["old_code"].notna()]
    aliases = {
        code: tuple(json.loads(text))
        for code, text in zip(with_alias["old_code"], with_alias["alias"], strict=True)
    }
    new_province = new.drop_duplicates("npk").set_index("npk")["new_province_code"]
    old_province = old.drop_duplicates("pk").set_index("pk")["old_province_code"]
    provinces = {
        str(old_province[old_key]): str(new_province[new_key])
        for new_key, old_keys in converter["DICT_PROVINCE"].items()
        for old_key in old_keys
    }
    version = importlib.metadata.version(ONFLOW_DISTRIBUTION)
    source = f"{ONFLOW_DISTRIBUTION} {version} (converter_2025.json + dataset.db)"
    return Correspondence(pairs[columns].reset_index(drop=True), aliases, provinces, source)


# -- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuccessorRow:
    """One old member → one new unit the official correspondence names as its successor.

    ``old_code`` is the member's own code; ``via_code`` the code used in the legacy set
    (``merged_into`` for historical members). Shares are None where not computable.
    ``split``: the old unit went into several new units. ``default``: the main successor
    (the source's default for a split ward, the largest piece otherwise, True for a whole
    move). ``partial``: see :func:`is_partial`.
    """

    member_id: str
    old_code: str
    via_code: str
    old_name: str
    new_code: str
    new_name: str
    share_of_old: float | None
    share_of_new: float | None
    area_km2: float | None
    basis: str
    split: bool
    default: bool
    partial: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data."""
        return asdict(self)


@dataclass(frozen=True)
class TouchedUnit:
    """A new unit the areal overlay reaches but the official correspondence does not list.

    Two sources digitise a boundary differently, so an old polygon overlaps its neighbours'
    successors by a sliver: such a unit is *touched*, never a member.
    """

    member_id: str
    new_code: str
    new_name: str
    area_km2: float
    share_of_old: float
    share_of_new: float


#: Kept under its old name: the slivers an overlay drops are the touched units.
DroppedPiece = TouchedUnit


@dataclass(frozen=True)
class NewMember:
    """A unit of the new set in the carried cluster.

    ``partial`` when every row reaching it is partial; ``share_of_new`` is the share of the
    unit that came from the cluster's old members, when every contributing piece is known.
    """

    code: str
    name: str
    full_name: str
    from_members: tuple[str, ...]
    partial: bool
    share_of_new: float | None


def is_partial(share_of_old: float | None, share_of_new: float | None) -> bool:
    """Tell whether a successor is partial: a minor piece on every share that is known.

    A successor is partial when at least one share is known and each known share is small:
    less than :data:`PARTIAL_SHARE_OF_OLD` of the old member and less than
    :data:`PARTIAL_SHARE_OF_NEW` of the new unit. With no share known (a split ward without
    old ward geometry) nothing is asserted: the successor is a member, not partial.
    """
    if share_of_old is None and share_of_new is None:
        return False
    minor_old = share_of_old is None or share_of_old < PARTIAL_SHARE_OF_OLD
    minor_new = share_of_new is None or share_of_new < PARTIAL_SHARE_OF_NEW
    return minor_old and minor_new


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
        are kept; reported figures stay with the original.

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
        by_id = {member.id: member for member in original.members}
        members = [
            Member(
                id=f"{slugify(member.name)}-{member.code}",
                kind="unit",
                name=member.full_name,
                unit_code=member.code,
                joined=applies_from,
                partial=member.partial,
                successor_of=tuple(
                    dict.fromkeys(
                        key
                        for i in member.from_members
                        for key in (i, by_id[i].unit_code, by_id[i].territory_code)
                        if key
                    )
                ),
                notes="From "
                + ", ".join(f"{by_id[i].name} ({by_id[i].unit_code})" for i in member.from_members)
                + (" (a minor part)." if member.partial else "."),
            )
            for member in self.new_members
            if include_partial or not member.partial
        ]
        organisations = tuple(
            member.model_copy(update={"joined": applies_from}) for member in self.organisations
        )
        year = start.year
        events = [
            ClusterEvent(
                date=ReportedDate.model_validate(start),
                kind="carried",
                text=f"Chuyển cụm {original.id} sang đơn vị hành chính của {self.current_id}.",
                text_en=f"Cluster {original.id} carried into the units of {self.current_id}.",
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
            original_period=original.period,
            carry_status=status,
            confirmed_from=confirmed_from,
            confirmed_by=confirmed_by,
            drawn_zone=drawn_zone if confirmed_from is not None else None,
            notes=f"Carried from {self.legacy_id} as of {self.as_of} by geozone.clusters.migrate "
            f"(membership: {self.correspondence_source or 'areal overlay'}).",
        )


_STATUS_NOTES: dict[str, str] = {
    "proposed": "The original was in force on the reform date; the carried form is a "
    "proposal until a planner confirms it.",
    "confirmed": "Confirmed by a planner.",
    "lapsed": "The original had ended before the reform date: no decisions are made under "
    "the carried form until a planner confirms it.",
}

#: How partial successors are told (quoted in the migration's JSON).
PARTIAL_RULE = (
    f"partial: at least one share known and every known share minor (< {PARTIAL_SHARE_OF_OLD:.0%}"
    f" of the old member, < {PARTIAL_SHARE_OF_NEW:.0%} of the new unit); unknown shares assert "
    "nothing"
)


# -- the migration ---------------------------------------------------------------------------


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
    has_geometry = legacy.frame.set_index("code")["has_geometry"]
    with_geometry = [m for m in units if bool(has_geometry[m.territory_code])]
    without = [m for m in units if not bool(has_geometry[m.territory_code])]
    if without and cluster.level != "ward":
        names = ", ".join(f"{m.id} ({m.territory_code})" for m in without)
        raise MigrationError(f"cluster {cluster.id}: no geometry in {legacy.id} for {names}")
    if correspondence is None and (legacy.id, current.id) == ONFLOW_SETS:
        correspondence = load_onflow_correspondence()
    notes: list[str] = []
    overlay, coverage = _overlay(with_geometry, legacy, current, target)
    if correspondence is None:
        if without:
            raise MigrationError(
                f"no old→new correspondence between {legacy.id} and {current.id} for the "
                f"members without geometry ({', '.join(m.id for m in without)}); pass one"
            )
        listed = _areal_successors(overlay)
    else:
        listed = _official_successors(units, cluster.level, legacy, current, correspondence, notes)
    frame, touched = _with_shares(listed, overlay, units)
    if cluster.level == "ward" and correspondence is not None:
        _estimate_sole_pieces(frame, legacy, current, correspondence)
    _mark_defaults(frame)
    _name_rows(frame, legacy, current)
    lost = [m.id for m in units if m.id not in set(frame["member_id"])]
    if lost:
        raise MigrationError(
            f"cluster {cluster.id}: no unit of {current.id} succeeds {', '.join(lost)}"
        )
    order = {m.id: i for i, m in enumerate(units)}
    frame = frame.assign(_order=frame["member_id"].map(order)).sort_values(
        ["_order", "default", "share_of_old"], ascending=[True, False, False], kind="stable"
    )
    fields = list(SuccessorRow.__dataclass_fields__)
    rows = tuple(
        SuccessorRow(**{str(k): _none_if_nan(v) for k, v in record.items()})
        for record in frame[fields].to_dict("records")
    )
    return Migration(
        cluster=cluster,
        legacy_id=legacy.id,
        current_id=current.id,
        current_valid_from=current.info.valid_from,
        as_of=day,
        target_level=target,
        rows=rows,
        new_members=_new_members(frame, current),
        touched=touched,
        coverage=coverage,
        organisations=tuple(m for m in cluster.members_on(day) if m.kind == "organisation"),
        notes=tuple(notes),
        correspondence_source=correspondence.source if correspondence is not None else None,
    )


def _default_as_of(cluster: Cluster, legacy: BoundarySet, current: BoundarySet) -> date:
    ends = [legacy.info.valid_to, cluster.period.end.latest if cluster.period.end else None]
    known = [end for end in ends if end is not None]
    return min(known) if known else current.info.valid_from - timedelta(days=1)


def _none_if_nan(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


_OVERLAY_COLUMNS = [
    "member_id",
    "new_code",
    "new_name",
    "share_of_old",
    "share_of_new",
    "area_km2",
]


def _overlay(
    members: list[Member], legacy: BoundarySet, current: BoundarySet, target: Level
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Overlay the old members' polygons on the new units (vectorised): shares as figures."""
    if not members:
        return pd.DataFrame(columns=_OVERLAY_COLUMNS), {}
    codes = [str(m.territory_code) for m in members]
    old = legacy.frame.set_index("code").loc[codes]
    old_geoms = old.geometry.to_numpy()
    epsg = old["utm_epsg"].to_numpy(np.int64)
    targets = current.units(target)
    targets = targets[targets["has_geometry"].to_numpy(bool)]
    target_geoms = targets.geometry.to_numpy()
    old_index, target_index = shapely.STRtree(target_geoms).query(old_geoms, predicate="intersects")
    old_metric = project_geometries(old_geoms, epsg)
    target_metric = project_geometries(target_geoms[target_index], epsg[old_index])
    pieces = shapely.area(shapely.intersection(old_metric[old_index], target_metric))
    frame = pd.DataFrame(
        {
            "member_id": np.array([m.id for m in members], dtype=object)[old_index],
            "new_code": targets["code"].to_numpy(dtype=object)[target_index],
            "new_name": targets["full_name"].to_numpy(dtype=object)[target_index],
            "share_of_old": pieces / shapely.area(old_metric)[old_index],
            "share_of_new": pieces / shapely.area(target_metric),
            "area_km2": pieces / 1e6,
        }
    )
    frame = frame[frame["area_km2"] > 0].reset_index(drop=True)
    coverage = frame.groupby("member_id", sort=False)["share_of_old"].sum()
    return frame, {str(k): float(v) for k, v in coverage.items()}


def _member_table(members: Sequence[Member]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "member_id": [m.id for m in members],
            "old_code": [m.unit_code or m.territory_code for m in members],
            "via_code": [m.territory_code for m in members],
            "historical": [m.historical for m in members],
            "member_name": [m.name for m in members],
        }
    )


def _areal_successors(overlay: pd.DataFrame) -> pd.DataFrame:
    """Successors by overlay alone (no correspondence): every piece but the slivers."""
    sliver = (overlay["share_of_old"] < SLIVER_SHARE) & (overlay["share_of_new"] < SLIVER_SHARE)
    kept = overlay.loc[~sliver, ["member_id", "new_code"]].copy()
    kept["basis"] = BASIS_AREAL
    kept["is_default"] = False
    return kept


def _official_successors(
    members: Sequence[Member],
    level: Level,
    legacy: BoundarySet,
    current: BoundarySet,
    correspondence: Correspondence,
    notes: list[str],
) -> pd.DataFrame:
    """Successors named by the correspondence: ``member_id``, ``new_code``, basis, default."""
    table = _member_table(members)
    if level == "province":
        new = table["via_code"].map(correspondence.provinces)
        missing = table.loc[new.isna(), "member_id"].tolist()
        if missing:
            raise MigrationError(f"no province successor in {correspondence.source} for {missing}")
        return pd.DataFrame(
            {
                "member_id": table["member_id"],
                "new_code": new.astype(str),
                "basis": BASIS_PROVINCE,
                "is_default": True,
            }
        )
    pairs = correspondence.pairs
    if level == "district":
        key = pairs.rename(columns={"old_district_code": "via_code"})
        frame = table.merge(
            key[["via_code", "new_code", "new_name", "new_province_code"]],
            on="via_code",
            how="left",
        )
        frame = frame.drop_duplicates(["member_id", "new_code"])
        frame["basis"] = BASIS_DISTRICT
        frame["is_default"] = False
    else:
        key = pairs.rename(columns={"old_code": "via_code"})
        frame = table.merge(key, on="via_code", how="left")
        frame["basis"] = np.where(
            frame.groupby("member_id")["new_code"].transform("size") > 1, BASIS_SPLIT, BASIS_WHOLE
        )
        for member in members:
            if member.historical:
                notes.append(_alias_note(member, correspondence))
    unmatched = frame.loc[frame["new_code"].isna(), ["member_id", "via_code"]]
    if len(unmatched):
        names = ", ".join(f"{m} ({c})" for m, c in unmatched.itertuples(index=False))
        raise MigrationError(
            f"no successor in {correspondence.source} for {names}; the code may be older than "
            "the correspondence (mark the member historical with merged_into)"
        )
    frame["new_code"] = _resolve_new_codes(frame, current, notes)
    return frame[["member_id", "new_code", "basis", "is_default"]]


def _with_shares(
    listed: pd.DataFrame, overlay: pd.DataFrame, members: Sequence[Member]
) -> tuple[pd.DataFrame, tuple[TouchedUnit, ...]]:
    """Join the overlay's shares onto the successors; the other overlay pieces are touched."""
    frame = _member_table(members).merge(listed, on="member_id", how="inner")
    frame = frame.merge(
        overlay.drop(columns=["new_name"]), on=["member_id", "new_code"], how="left"
    )
    reached = overlay.merge(
        listed[["member_id", "new_code"]], on=["member_id", "new_code"], how="left", indicator=True
    )
    others = reached[reached["_merge"] == "left_only"]
    touched = tuple(
        TouchedUnit(str(m), str(c), str(n), float(a), float(o), float(w))
        for m, c, n, a, o, w in zip(
            others["member_id"],
            others["new_code"],
            others["new_name"],
            others["area_km2"],
            others["share_of_old"],
            others["share_of_new"],
            strict=True,
        )
    )
    # A whole move gives the whole old unit to its one successor, geometry or not.
    whole = (frame["basis"] == BASIS_WHOLE) & frame["share_of_old"].isna()
    frame.loc[whole, "share_of_old"] = 1.0
    has_overlay = frame["member_id"].isin(set(overlay["member_id"]))
    # A listed successor the member's polygon does not reach at all: a share of 0, noted.
    for column in ("share_of_old", "share_of_new", "area_km2"):
        frame.loc[has_overlay & frame[column].isna(), column] = 0.0
    frame["split"] = frame.groupby("member_id")["new_code"].transform("size") > 1
    return frame, touched


def _mark_defaults(frame: pd.DataFrame) -> None:
    """Set ``default`` (the main successor of each member) and ``partial`` (is_partial)."""
    share = pd.to_numeric(frame["share_of_old"], errors="coerce")
    largest = share.groupby(frame["member_id"]).transform("max")
    frame["default"] = (
        ~frame["split"]
        | frame["is_default"].astype(bool)
        | (
            share.notna()
            & (share == largest)
            & ~frame.groupby("member_id")["is_default"].transform("any")
        )
    )
    frame["share_of_old"] = share
    frame["share_of_new"] = pd.to_numeric(frame["share_of_new"], errors="coerce")
    frame["partial"] = [
        is_partial(None if pd.isna(o) else float(o), None if pd.isna(n) else float(n))
        for o, n in zip(frame["share_of_old"], frame["share_of_new"], strict=True)
    ]


def _name_rows(frame: pd.DataFrame, legacy: BoundarySet, current: BoundarySet) -> None:
    """Set the full names of both ends (a historical member keeps its given name)."""
    frame["new_name"] = (
        current.frame.set_index("code")["full_name"].loc[frame["new_code"]].to_numpy()
    )
    old = legacy.frame.set_index("code")["full_name"].loc[frame["via_code"]].to_numpy()
    frame["old_name"] = np.where(frame["historical"].to_numpy(bool), frame["member_name"], old)


def _resolve_new_codes(frame: pd.DataFrame, current: BoundarySet, notes: list[str]) -> pd.Series:
    """Map the correspondence's new codes onto ``current`` (by name where a code differs)."""
    known = frame["new_code"].isin(current.frame["code"]).to_numpy(bool)
    codes = frame["new_code"].astype(str).tolist()
    for index in np.flatnonzero(~known):  # rare: one code differs nationally
        row = frame.iloc[index]
        bare = fold(split_unit_type(str(row["new_name"]))[1])
        units = current.units(current.leaf_level)
        match = units[
            (units["province_code"] == row["new_province_code"]) & (units["name"].map(fold) == bare)
        ]
        if len(match) != 1:
            raise MigrationError(
                f"successor {row['new_code']} {row['new_name']} of member {row['member_id']} is "
                f"not in {current.id}"
            )
        codes[index] = str(match["code"].iloc[0])
        notes.append(
            f"{row['new_name']}: code {row['new_code']} in the correspondence is "
            f"{codes[index]} in {current.id} (matched by name)"
        )
    return pd.Series(codes, index=frame.index, dtype=object)


def _estimate_sole_pieces(
    frame: pd.DataFrame,
    legacy: BoundarySet,
    current: BoundarySet,
    correspondence: Correspondence,
) -> None:
    """Fill shares of ward successors without geometry where one old ward is the only source.

    When the old ward is the only one of its district that went into the new ward, the new
    ward's overlap with the old district polygon is that ward's piece. Historical members are
    skipped (the piece would be the whole merged unit's); rows with overlay shares are kept.
    """
    pairs = correspondence.pairs
    contributors = pairs.groupby(["old_district_code", "new_code"]).size()
    parent = legacy.frame.set_index("code")["parent_code"]
    legacy_by_code = legacy.frame.set_index("code")
    current_by_code = current.frame.set_index("code")
    district = parent.reindex(frame["via_code"]).to_numpy(dtype=object)
    counts = contributors.reindex(pd.MultiIndex.from_arrays([district, frame["new_code"]]))
    district_has = legacy_by_code["has_geometry"].reindex(district).fillna(False).to_numpy(bool)
    new_has = current_by_code["has_geometry"].reindex(frame["new_code"]).to_numpy(bool)
    unknown = frame["area_km2"].isna().to_numpy(bool)
    sole = (
        (counts.to_numpy() == 1)
        & district_has
        & new_has
        & ~frame["historical"].to_numpy(bool)
        & unknown
    )
    if not sole.any():
        return
    rows = np.flatnonzero(sole)
    district_geoms = legacy_by_code.geometry.reindex(district[rows]).to_numpy()
    epsg = legacy_by_code["utm_epsg"].reindex(district[rows]).to_numpy(np.int64)
    new_metric = project_geometries(
        current_by_code.geometry.reindex(frame["new_code"].to_numpy()[rows]).to_numpy(), epsg
    )
    pieces = shapely.area(
        shapely.intersection(project_geometries(district_geoms, epsg), new_metric)
    )
    labels = frame.index[rows]
    frame.loc[labels, "area_km2"] = pieces / 1e6
    frame.loc[labels, "share_of_new"] = pieces / shapely.area(new_metric)
    frame.loc[labels, "basis"] = BASIS_SOLE
    estimated = frame["area_km2"].notna()
    complete = estimated.groupby(frame["member_id"]).transform("all")
    totals = frame["area_km2"].groupby(frame["member_id"]).transform("sum")
    whole = complete & frame["split"] & frame["share_of_old"].isna()
    frame.loc[whole, "share_of_old"] = frame.loc[whole, "area_km2"] / totals[whole]


def _alias_note(member: Member, correspondence: Correspondence) -> str:
    aliases = correspondence.aliases.get(str(member.merged_into), ())
    keys = {fold(member.name), fold(split_unit_type(member.name)[1])}
    where = f"{member.merged_into} in {correspondence.source}"
    who = f"{member.name} ({member.unit_code or 'old code not given'})"
    if keys & set(aliases):
        return f"{who}: listed as merged into {where}"
    return f"{who}: NOT listed among the units merged into {where}"


def _new_members(frame: pd.DataFrame, current: BoundarySet) -> tuple[NewMember, ...]:
    """Group the rows by new unit: core units first, then partial ones, each by code."""
    if frame.empty:
        return ()
    shares = pd.to_numeric(frame["share_of_new"], errors="coerce")
    grouped = frame.assign(share_of_new=shares, known=shares.notna()).groupby("new_code")
    summary = pd.DataFrame(
        {
            "partial": grouped["partial"].all(),
            "known": grouped["known"].all(),
            "share_of_new": grouped["share_of_new"].sum(),
        }
    ).sort_values("partial", kind="stable")
    sources = {str(code): tuple(ids.unique()) for code, ids in grouped["member_id"]}
    names = current.frame.set_index("code").loc[summary.index, ["name", "full_name"]]
    return tuple(
        NewMember(
            code=str(code),
            name=str(name),
            full_name=str(full_name),
            from_members=sources[str(code)],
            partial=bool(partial),
            share_of_new=float(share) if known else None,
        )
        for code, name, full_name, partial, known, share in zip(
            summary.index,
            names["name"],
            names["full_name"],
            summary["partial"],
            summary["known"],
            summary["share_of_new"],
            strict=True,
        )
    )
