"""Carry clusters defined in old units into the units of a later boundary set.

Every committed cluster was defined before the 1 July 2025 reform. :func:`migrate_cluster`
says, for each old member, which new units took its territory and in what share, and gives
the resulting member list (:meth:`Migration.to_cluster`). Two bases are used:

Areal overlay
    When the legacy set has the member's polygon (districts and provinces; wards only in a
    user-supplied ward layer): the old polygon is intersected with every new unit at the
    target level in the old unit's UTM zone. ``share_of_old`` = area(old ∩ new) / area(old),
    ``share_of_new`` = area(old ∩ new) / area(new). Pieces below :data:`SLIVER_SHARE` of
    *both* units are boundary noise between two differently digitised sources and are dropped
    (and reported in :attr:`Migration.dropped`). The default successor is the largest piece;
    a successor is ``partial`` when it took less than :data:`PARTIAL_SHARE_OF_OLD` of the old
    unit and that piece is less than :data:`PARTIAL_SHARE_OF_NEW` of the new unit.

Official correspondence
    For wards without legacy polygons (the legacy set lists pre-2025 wards in its register
    only): the old→new ward list shipped by the PyPI package onflow-location-platform
    (``converter_2025.json`` and ``dataset.db``, read directly with json/sqlite3; the package
    is never imported, its import costs ~2 s and some of its calls reach the network). It
    says which new wards each old ward went into, wholly or split, and marks one successor of
    each split ward as the default; it gives no shares. A whole move has ``share_of_old`` 1.
    A split successor has share None (basis ``"correspondence (no legacy ward geometry)"``)
    unless the old ward is the *only* old ward of its district that went into that new ward:
    then the piece is the new ward's overlap with the old district polygon, which gives an
    estimate of ``share_of_new`` (and of ``share_of_old`` when every piece of the old ward is
    estimated this way). Every successor of a split ward other than the default is
    ``partial``: it is reached only through part of one member.

A new unit is a *core* member of the carried cluster when at least one row reaching it is not
partial; otherwise it is kept but flagged partial. So the T11 cluster (Quan Hoa, Nghĩa Đô,
Cống Vị, Vĩnh Phúc) becomes Nghĩa Đô 00160 and Ngọc Hà 00008 (core) with Cầu Giấy 00166,
Giảng Võ 00025 and Tây Hồ 00103 (partial: a part of Quan Hoa, Cống Vị and Nghĩa Đô each).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geozone.boundaries import BoundarySet
from geozone.clusters import (
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
from geozone.manifest import Level
from geozone.text import fold, split_unit_type

#: A piece of an areal overlay smaller than this share of the old unit AND of the new unit is
#: a sliver (two sources digitised the same boundary differently) and is dropped.
SLIVER_SHARE = 0.01
#: An areal successor is partial when it took less than this share of the old unit...
PARTIAL_SHARE_OF_OLD = 0.10
#: ...and that piece is less than this share of the new unit.
PARTIAL_SHARE_OF_NEW = 0.50

BASIS_AREAL = "areal overlay (UTM)"
BASIS_WHOLE = "correspondence (whole unit)"
BASIS_SPLIT = "correspondence (no legacy ward geometry)"
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
    """One old member → one new unit.

    ``old_code`` is the member's own code; ``via_code`` the code used in the legacy set
    (``merged_into`` for historical members). Shares are None where not computable.
    ``split``: the old unit went into several new units. ``default``: the main successor
    (the source's default for a split ward, the largest piece for an overlay, True for a
    whole move). ``partial``: see the module notes.
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
class DroppedPiece:
    """A sliver of an areal overlay left out of the result."""

    member_id: str
    new_code: str
    new_name: str
    area_km2: float
    share_of_old: float
    share_of_new: float


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
    dropped: tuple[DroppedPiece, ...]
    coverage: Mapping[str, float]
    organisations: tuple[Member, ...]
    notes: tuple[str, ...]
    correspondence_source: str | None

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

    def to_dict(self) -> dict[str, Any]:
        """Return the migration as JSON-ready data (without the original cluster)."""
        return {
            "cluster_id": self.cluster.id,
            "legacy_id": self.legacy_id,
            "current_id": self.current_id,
            "as_of": self.as_of.isoformat(),
            "target_level": self.target_level,
            "rows": [row.to_dict() for row in self.rows],
            "new_members": [asdict(member) for member in self.new_members],
            "dropped": [asdict(piece) for piece in self.dropped],
            "coverage": dict(self.coverage),
            "organisations": [member.id for member in self.organisations],
            "notes": list(self.notes),
            "correspondence_source": self.correspondence_source,
        }

    def to_cluster(self, include_partial: bool = True) -> Cluster:
        """Return the cluster as defined in the current set's units.

        Its id is ``<id>-<current set id>``; members are the new units (flagged ``partial``
        where so) joined on the day the current set came into force, and the organisations
        unchanged. The regulation, hotspots, problems, source and effective border-zone width
        are kept; reported figures stay with the original.
        """
        start = self.current_valid_from
        original = self.cluster
        by_id = {member.id: member for member in original.members}
        members = [
            Member(
                id=f"{slugify(member.name)}-{member.code}",
                kind="unit",
                name=member.full_name,
                unit_code=member.code,
                joined=start,
                partial=member.partial,
                notes="From "
                + ", ".join(f"{by_id[i].name} ({by_id[i].unit_code})" for i in member.from_members)
                + (" (in part)." if member.partial else "."),
            )
            for member in self.new_members
            if include_partial or not member.partial
        ]
        year = start.year
        return Cluster(
            id=f"{original.id}-{self.current_id}",
            name=f"{original.name} (đơn vị {year})",
            name_en=f"{original.name_en} ({year} units)",
            boundary_set=self.current_id,
            level=self.target_level,
            members=(*members, *self.organisations),
            period=Period(
                start=ReportedDate.model_validate(start),
                note=f"Carried from {original.id}; the original period: "
                f"{original.period.start or 'start unknown'} – {original.period.end or 'open'}.",
            ),
            events=(
                ClusterEvent(
                    date=ReportedDate.model_validate(start),
                    kind="carried",
                    text=f"Chuyển cụm {original.id} sang đơn vị hành chính của {self.current_id}.",
                    text_en=f"Cluster {original.id} carried into the units of {self.current_id}.",
                ),
            ),
            zone_width_m=original.effective_zone_width_m,
            hotspots=original.hotspots,
            problems=original.problems,
            regulation=original.regulation,
            source=original.source,
            carried_from=original.id,
            notes=f"Carried from {self.legacy_id} as of {self.as_of} by geozone.migrate.",
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
        Old→new ward list for ward members without legacy geometry; default the onflow
        correspondence when the sets are ``vn-legacy-districts`` → ``vn2025``.

    Returns
    -------
    Migration
        Rows per old member and new unit, the new member list and what was dropped.

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
    listed = [m for m in units if not bool(has_geometry[m.territory_code])]
    if listed and cluster.level != "ward":
        names = ", ".join(f"{m.id} ({m.territory_code})" for m in listed)
        raise MigrationError(f"cluster {cluster.id}: no geometry in {legacy.id} for {names}")
    needs_table = bool(listed) or cluster.level == "province"
    if correspondence is None and needs_table and (legacy.id, current.id) == ONFLOW_SETS:
        correspondence = load_onflow_correspondence()
    if listed and correspondence is None:
        raise MigrationError(
            f"no old→new correspondence between {legacy.id} and {current.id} for the members "
            f"without geometry ({', '.join(m.id for m in listed)}); pass one"
        )
    notes: list[str] = []
    areal, dropped, coverage = _areal_rows(with_geometry, legacy, current, target)
    listed_rows = pd.DataFrame()
    if listed:
        assert correspondence is not None
        listed_rows = _correspondence_rows(listed, legacy, current, correspondence, notes)
    if cluster.level == "province" and correspondence is not None:
        notes.extend(_check_provinces(areal, correspondence))
    parts = [f for f in (areal, listed_rows) if not f.empty]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"member_id": []})
    lost = [m.id for m in units if m.id not in set(frame["member_id"])]
    if lost:
        raise MigrationError(
            f"cluster {cluster.id}: no unit of {current.id} takes more than a sliver of "
            f"{', '.join(lost)}"
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
        dropped=dropped,
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


def _areal_rows(
    members: list[Member], legacy: BoundarySet, current: BoundarySet, target: Level
) -> tuple[pd.DataFrame, tuple[DroppedPiece, ...], dict[str, float]]:
    """Overlay the old members' polygons on the new units (vectorised)."""
    if not members:
        return pd.DataFrame(), (), {}
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
            "old_code": np.array([m.unit_code or m.territory_code for m in members])[old_index],
            "via_code": np.array(codes, dtype=object)[old_index],
            "old_name": old["full_name"].to_numpy(dtype=object)[old_index],
            "new_code": targets["code"].to_numpy(dtype=object)[target_index],
            "new_name": targets["full_name"].to_numpy(dtype=object)[target_index],
            "share_of_old": pieces / shapely.area(old_metric)[old_index],
            "share_of_new": pieces / shapely.area(target_metric),
            "area_km2": pieces / 1e6,
        }
    )
    frame = frame[frame["area_km2"] > 0]
    coverage = frame.groupby("member_id", sort=False)["share_of_old"].sum()
    sliver = (frame["share_of_old"] < SLIVER_SHARE) & (frame["share_of_new"] < SLIVER_SHARE)
    slivers = frame[sliver]
    dropped = tuple(
        DroppedPiece(str(member), str(code), str(name), float(area), float(old), float(new))
        for member, code, name, area, old, new in zip(
            slivers["member_id"],
            slivers["new_code"],
            slivers["new_name"],
            slivers["area_km2"],
            slivers["share_of_old"],
            slivers["share_of_new"],
            strict=True,
        )
    )
    kept = frame[~sliver].copy()
    by_member = kept.groupby("member_id", sort=False)["share_of_old"]
    kept["basis"] = BASIS_AREAL
    kept["split"] = by_member.transform("size") > 1
    kept["default"] = kept["share_of_old"] == by_member.transform("max")
    kept["partial"] = (kept["share_of_old"] < PARTIAL_SHARE_OF_OLD) & (
        kept["share_of_new"] < PARTIAL_SHARE_OF_NEW
    )
    kept = kept.sort_values(["member_id", "share_of_old"], ascending=[True, False], kind="stable")
    order = {m.id: i for i, m in enumerate(members)}
    kept = kept.sort_values("member_id", key=lambda s: s.map(order), kind="stable")
    return kept, dropped, {str(k): float(v) for k, v in coverage.items()}


def _correspondence_rows(
    members: list[Member],
    legacy: BoundarySet,
    current: BoundarySet,
    correspondence: Correspondence,
    notes: list[str],
) -> pd.DataFrame:
    """Successors of ward members from the correspondence, with estimates where possible."""
    wanted = pd.DataFrame(
        {
            "member_id": [m.id for m in members],
            "old_code": [m.unit_code or m.territory_code for m in members],
            "via_code": [m.territory_code for m in members],
            "historical": [m.historical for m in members],
            "member_name": [m.name for m in members],
        }
    )
    pairs = correspondence.pairs.rename(columns={"old_code": "via_code"})
    frame = wanted.merge(pairs, on="via_code", how="left")
    missing = frame.loc[frame["new_code"].isna(), ["member_id", "via_code"]]
    if len(missing):
        listed = ", ".join(f"{m} ({c})" for m, c in missing.itertuples(index=False))
        raise MigrationError(
            f"no successor in {correspondence.source} for {listed}; the code may be older than "
            "the correspondence (mark the member historical with merged_into)"
        )
    frame["new_code"] = _resolve_new_codes(frame, current, notes)
    current_names = current.frame.set_index("code")["full_name"]
    frame["new_name"] = current_names.loc[frame["new_code"]].to_numpy()
    frame["old_name"] = (
        legacy.frame.set_index("code")["full_name"].loc[frame["via_code"]].to_numpy()
    )
    frame.loc[frame["historical"], "old_name"] = frame["member_name"]
    frame["split"] = frame.groupby("member_id")["new_code"].transform("size") > 1
    frame["default"] = frame["is_default"].astype(bool) | ~frame["split"]
    frame["partial"] = frame["split"] & ~frame["default"]
    frame["share_of_old"] = np.where(frame["split"], np.nan, 1.0)
    frame["share_of_new"] = np.nan
    frame["area_km2"] = np.nan
    frame["basis"] = np.where(frame["split"], BASIS_SPLIT, BASIS_WHOLE)
    _estimate_sole_pieces(frame, legacy, current, correspondence)
    order = frame["member_id"].map({m.id: i for i, m in enumerate(members)})
    frame = frame.assign(_order=order).sort_values(
        ["_order", "default"], ascending=[True, False], kind="stable"
    )
    for member in members:
        if member.historical:
            notes.append(_alias_note(member, correspondence))
    return frame


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
    """Fill areas where the old ward is the only one of its district in the new ward.

    Then the new ward's overlap with the old district polygon is that ward's piece. Historical
    members are skipped (the piece would be the whole merged unit's).
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
    sole = (counts.to_numpy() == 1) & district_has & new_has & ~frame["historical"].to_numpy(bool)
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
    whole = complete & frame["split"]
    frame.loc[whole, "share_of_old"] = frame.loc[whole, "area_km2"] / totals[whole]


def _alias_note(member: Member, correspondence: Correspondence) -> str:
    aliases = correspondence.aliases.get(str(member.merged_into), ())
    keys = {fold(member.name), fold(split_unit_type(member.name)[1])}
    where = f"{member.merged_into} in {correspondence.source}"
    who = f"{member.name} ({member.unit_code or 'old code not given'})"
    if keys & set(aliases):
        return f"{who}: listed as merged into {where}"
    return f"{who}: NOT listed among the units merged into {where}"


def _check_provinces(areal: pd.DataFrame, correspondence: Correspondence) -> list[str]:
    """Cross-check the largest overlay piece of each old province with the official list."""
    if areal.empty or not correspondence.provinces:
        return []
    notes = []
    for row in areal[areal["default"]].itertuples():
        expected = correspondence.provinces.get(str(row.via_code))
        verdict = "agrees with" if expected == row.new_code else f"differs from ({expected})"
        notes.append(
            f"{row.old_name} ({row.via_code}) → {row.new_name} ({row.new_code}): the overlay "
            f"{verdict} {correspondence.source}"
        )
    return notes


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
