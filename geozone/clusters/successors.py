"""Successors: which new units succeed each old member of a cluster, and in what shares.

Membership: the official correspondence (:mod:`geozone.boundaries.correspondence`)
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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geozone.boundaries.correspondence import (
    ONFLOW_SETS,
    Correspondence,
    load_onflow_correspondence,
)
from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster, Member
from geozone.crs import project_geometries
from geozone.errors import MigrationError
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


#: How partial successors are told (quoted in the migration's JSON).
PARTIAL_RULE = (
    f"partial: at least one share known and every known share minor (< {PARTIAL_SHARE_OF_OLD:.0%}"
    f" of the old member, < {PARTIAL_SHARE_OF_NEW:.0%} of the new unit); unknown shares assert "
    "nothing"
)


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


@dataclass(frozen=True)
class Succession:
    """Who succeeds a cluster's old members, in what shares (see :func:`succession`).

    Attributes
    ----------
    rows
        One row per old member and new unit, in member order, default successor first.
    new_members
        The new units grouped from the rows: core units first, then partial ones.
    touched
        New units the overlay reaches that are not successors.
    coverage
        Share of each old member's polygon the new units cover.
    notes
        What was substituted on the way (aliases of renamed wards).
    correspondence_source
        Where the official correspondence came from (None: the overlay decided).
    """

    rows: tuple[SuccessorRow, ...]
    new_members: tuple[NewMember, ...]
    touched: tuple[TouchedUnit, ...]
    coverage: Mapping[str, float]
    notes: tuple[str, ...]
    correspondence_source: str | None


def succession(
    cluster: Cluster,
    units: Sequence[Member],
    legacy: BoundarySet,
    current: BoundarySet,
    target: Level,
    correspondence: Correspondence | None,
) -> Succession:
    """Return the successors of ``units`` (a cluster's territorial members) in ``current``.

    Membership by the official correspondence (the onflow lists for the legacy → 2025 sets,
    loaded when ``correspondence`` is None), shares by the areal overlay where the old
    polygon is known; without a correspondence the overlay decides.

    Raises
    ------
    MigrationError
        A member has neither geometry nor a correspondence entry, no correspondence is known
        for the two sets, or no new unit succeeds a member.
    """
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
    return Succession(
        rows=rows,
        new_members=_new_members(frame, current),
        touched=touched,
        coverage=coverage,
        notes=tuple(notes),
        correspondence_source=correspondence.source if correspondence is not None else None,
    )
