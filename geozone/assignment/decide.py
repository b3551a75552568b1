"""The lead decision: each incident's situation judged by the rule table.

The rules themselves (conditions, leads, wording) live in :mod:`geozone.assignment.rules`;
this module gathers the facts for every point at once and applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from numpy.typing import NDArray

from geozone.assignment.explain import _text, explain
from geozone.assignment.jurisdiction import Columns, jurisdiction
from geozone.assignment.rules import RULE_NAMES, RULES, Facts, choose
from geozone.assignment.situation import (
    _code_of,
    _Coded,
    _concerns,
    _distinct_sets,
    _lists,
    _on_boundary_members,
    _Points,
    _select,
    _zones,
)
from geozone.assignment.territory import (
    ClusterTerritory,
)
from geozone.boundaries.manifest import LEVEL_ORDER
from geozone.boundaries.sets import BoundarySet
from geozone.incidents.schema import CLUSTER_DECISION_FIELDS
from geozone.parallel import thread_map, threads_for
from geozone.settings import get_settings

#: A large batch is cut into about this many pieces per thread (for an even load) ...
_PIECES_PER_THREAD = 2


#: ... of at least this many incidents each.
_PIECE_MIN = 5_000


CLUSTER_COLUMNS = ["external_id", *CLUSTER_DECISION_FIELDS]


#: The rule names as an array (decisions hold indexes into it while they are made).
_RULES = np.array(RULE_NAMES, dtype=object)


_REVIEWED = np.array([rule.review for rule in RULES], dtype=bool)


_LEADS = np.array([rule.lead for rule in RULES], dtype=object)


_COOPERATING = np.array([rule.cooperating for rule in RULES], dtype=object)


def assign_clusters(
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    placed: Sequence[ClusterTerritory],
    tolerance_m: float | None = None,
) -> pd.DataFrame:
    """Apply each cluster's lead rule to the incidents its territory or members concern.

    Parameters
    ----------
    incidents
        ``external_id``, ``occurred_at``, ``lon``, ``lat``, ``detected_by``.
    units
        The output of :func:`jurisdiction` for the same incidents (same order).
    placed
        Cluster territories (:func:`territories`).
    tolerance_m
        The boundary tolerance ``units`` was located with (default: settings).

    Returns
    -------
    pandas.DataFrame
        :data:`CLUSTER_COLUMNS`, one row per (incident, cluster) concerned.
    """
    columns = cluster_columns(incidents, units, placed, tolerance_m)
    if columns is None:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    return pd.DataFrame(
        {
            column: _text(values) if values.dtype == object else values
            for column, values in columns.items()
        }
    )


def cluster_columns(
    incidents: Columns,
    units: Columns,
    placed: Sequence[ClusterTerritory],
    tolerance_m: float | None = None,
    days: NDArray[np.datetime64] | None = None,
    arrow_text: bool = False,
    threads: int | None = None,
) -> dict[str, Any] | None:
    """Return :func:`assign_clusters`'s columns as arrays (None when no cluster is concerned).

    ``units`` may be :func:`jurisdiction`'s frame or :func:`locate_incidents`'s columns;
    ``days`` the incidents' dates in Vietnam time (:func:`local_dates`) when known already
    (``incidents`` may then be a mapping of arrays without ``occurred_at``). With
    ``arrow_text`` the sentences are Arrow string arrays (see :func:`explain`); ``threads``:
    see :func:`geozone.parallel.threads_for`.
    """
    coded = _Coded(incidents, units, days)
    settings = get_settings()
    tol = settings.boundary_tolerance_m if tolerance_m is None else tolerance_m
    concerned = [t for t in placed if t.applies and _concerns(t, coded)]
    # Incidents are judged independently: a large batch is cut into pieces of about equal
    # size (a busy cluster gets several) and the pieces are judged on several threads.
    threads = threads_for(len(coded.lon), threads)
    if threads > 1:
        coded.fill()  # shared columns made once, before the threads read them
    selected = thread_map(lambda t: _select(t, coded), concerned, threads)
    total = sum(len(pts.rows) for pts in selected)
    size = total if threads == 1 else max(-(-total // (threads * _PIECES_PER_THREAD)), _PIECE_MIN)
    pieces = [
        (territory, piece)
        for territory, pts in zip(concerned, selected, strict=True)
        for piece in pts.pieces(size)
    ]
    jobs = 1 if threads > 1 else settings.workers  # KD searches share the threads otherwise
    parts = thread_map(lambda job: _judge(*job, coded, tol, jobs, arrow_text), pieces, threads)
    if not parts:
        return None
    return {column: _joined([part[column] for part in parts]) for column in CLUSTER_COLUMNS}


def _joined(pieces: list[Any]) -> Any:
    """Join a column's pieces (numpy or Arrow arrays) into one."""
    if len(pieces) == 1:
        return pieces[0]
    if isinstance(pieces[0], pa.DictionaryArray):  # one dictionary: each piece's, in turn
        shift = np.cumsum([0] + [len(piece.dictionary) for piece in pieces[:-1]])
        indices = [
            np.asarray(piece.indices.to_numpy(zero_copy_only=False), np.int64) + offset
            for piece, offset in zip(pieces, shift, strict=True)
        ]
        dictionary = pa.concat_arrays([piece.dictionary for piece in pieces])
        return pa.DictionaryArray.from_arrays(pa.array(np.concatenate(indices)), dictionary)
    if isinstance(pieces[0], pa.Array):
        return pa.concat_arrays(pieces)
    return np.concatenate(pieces)


def _police_ceased(territory: ClusterTerritory, days: NDArray[np.datetime64]) -> NDArray[np.bool_]:
    """Tell which days fall after the members' police units ceased (district police)."""
    ceased_from = territory.cluster.police_ceased_from
    if ceased_from is None or not territory.decides:
        return np.zeros(len(days), dtype=bool)
    return np.asarray(days >= np.datetime64(ceased_from, "D"), dtype=bool)


def _period_uncertain(
    territory: ClusterTerritory, days: NDArray[np.datetime64]
) -> NDArray[np.bool_]:
    """Tell which days the cluster's reported dates cannot place in its period.

    :meth:`geozone.clusters.dates.Period.uncertain_on` of each distinct day (a piece holds
    few): the one rule, not a copy of it.
    """
    period = territory.cluster.period
    if not territory.decides or (period.start is None and period.end is None):
        return np.zeros(len(days), dtype=bool)  # open both ways: nothing to place
    distinct, which = np.unique(days, return_inverse=True)
    uncertain = np.array([period.uncertain_on(d) for d in distinct.astype(date)], dtype=bool)
    return uncertain[which.reshape(-1)]


def _partial_holder(territory: ClusterTerritory, holder: NDArray[np.intp]) -> NDArray[np.bool_]:
    """Tell which points a partial member holds (-1: none)."""
    partial = territory.table.partial
    if not partial.any():  # most clusters: no array work
        return np.zeros(len(holder), dtype=bool)
    return np.append(partial, False)[holder]  # -1 picks the trailing False


def _zone_kind(zoned: NDArray[np.bool_], junction: NDArray[np.bool_]) -> NDArray[np.object_]:
    """Return "junction" where three or more sides meet, "pair" in other zones, else None."""
    out: NDArray[np.object_] = np.full(len(zoned), None, dtype=object)
    out[zoned] = np.where(junction, "junction", "pair")[zoned]
    return out


def _group_ids(columns: Sequence[NDArray[Any]]) -> NDArray[np.intp]:
    """Return a number per row of several columns: equal rows get equal numbers.

    Each column is factorised (missing values form a group of their own) and folded into one
    integer key, re-factorised after each column so that it stays small.
    """
    key = np.zeros(len(columns[0]), dtype=np.int64)
    if len(key) <= 1:  # one row is a group of its own: no hashing for a single point
        return key.astype(np.intp)
    for values in columns:
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        key = key * (len(uniques) + 1) + (codes.astype(np.int64) + 1)
        key = pd.factorize(key)[0].astype(np.int64)
    return key.astype(np.intp)


def _judge(
    territory: ClusterTerritory,
    pts: _Points,
    coded: _Coded,
    tolerance_m: float,
    jobs: int,
    arrow_text: bool = False,
) -> dict[str, Any]:
    """Return a territory's decision columns (:data:`CLUSTER_COLUMNS`) for incidents ``pts``.

    The facts of each incident are gathered (zones and boundaries from the geometry, or, in
    coarse mode, the units standing in for the members), the rule table chooses the rule
    (:func:`geozone.assignment.rules.choose`) and the decision follows from it. ``jobs``: threads
    for
    the KD-tree searches of a large piece; ``arrow_text``: the sentences as Arrow arrays.
    """
    n = len(pts.rows)
    table = territory.table
    none = np.zeros((n, len(table.codes)), dtype=bool)
    is_org = (pts.detector >= 0) & table.organisation[np.maximum(pts.detector, 0)]
    in_unit = coded.status_inside[pts.rows]
    across_side = np.full(n, -1, dtype=np.intp)
    if territory.mode == "coarse" or not territory.decides:  # no zone facts to gather
        near, on_line = none, none
        distance, across = np.full(n, np.inf), np.full(n, -1, dtype=np.intp)
        junction = np.zeros(n, dtype=bool)
        in_zone = np.zeros(n, dtype=bool)
    elif territory.carried_sides:
        near_sides, distance, across_side, junction = _zones(territory, pts, jobs)
        if territory.drawn is not None:  # a planner's zone replaces the derived band
            near_sides, junction = _in_drawn(territory, pts, coded, across_side)
        in_zone = (pts.holder >= 0) & near_sides.any(axis=1)
        # A junction where three or more sides meet: a carried cluster's sides are its
        # original members (several members may stand for one).
        junction = junction | (near_sides.sum(axis=1) >= 3)
        near, across, on_line = _carried_members(
            territory, pts, near_sides, distance, across_side, tolerance_m
        )
    else:
        near, distance, across, junction = _zones(territory, pts, jobs)
        on_line = _on_boundary_members(territory, coded, pts)
        in_zone = (pts.holder >= 0) & near.any(axis=1)
        junction = junction | ((near | on_line).sum(axis=1) >= 3)  # its sides are its members
    held = pts.holder >= 0
    boundary = on_line.any(axis=1)
    facts = Facts(
        lapsed=np.full(n, not territory.decides),
        unresolved=pts.area >= 0,
        held=held,
        in_unit=in_unit,
        boundary=boundary,
        in_zone=in_zone,
        territorial_detector=(pts.detector >= 0) & ~is_org,
        detector_on_line=on_line[np.arange(n), np.maximum(pts.detector, 0)] & (pts.detector >= 0),
        organisation_detector=is_org,
        detector_known=pts.detector_known,
    )
    rule = choose(facts)
    zoned = (facts.in_zone | boundary) & ~facts.unresolved & held  # no zone outside members
    zone = near | on_line
    zone[~zoned] = False
    on_line = on_line & zoned[:, None]
    return _decisions(
        territory,
        pts,
        coded,
        tolerance_m,
        rule,
        zone,
        on_line,
        distance,
        across,
        junction,
        zoned,
        across_side,
        arrow_text,
    )


def _in_drawn(
    territory: ClusterTerritory, pts: _Points, coded: _Coded, across_side: NDArray[np.intp]
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Sides of the drawn zone per point: its own and the one across, inside the drawing."""
    inside = shapely.intersects_xy(territory.drawn, coded.lon[pts.rows], coded.lat[pts.rows])
    near = np.zeros((len(pts.rows), len(territory.sides.codes)), dtype=bool)
    rows = np.flatnonzero(inside & (pts.side >= 0))
    near[rows, pts.side[rows]] = True
    facing = rows[across_side[rows] >= 0]
    near[facing, across_side[facing]] = True
    return near, np.zeros(len(pts.rows), dtype=bool)


def _carried_members(
    territory: ClusterTerritory,
    pts: _Points,
    near_sides: NDArray[np.bool_],
    distance: NDArray[np.float64],
    across_side: NDArray[np.intp],
    tolerance_m: float,
) -> tuple[NDArray[np.bool_], NDArray[np.intp], NDArray[np.bool_]]:
    """Turn a carried cluster's side-level zone facts into its members'.

    A member is in a point's zone when it lies within W of the point and stands for a side
    the point's zone reaches (the holder always); the member across is the nearest one
    standing for the side across. A point within the tolerance of an old line is on the
    boundary between its holder and that member.

    Returns ``near`` and ``on_line`` (points × members) and ``across`` (member index).
    """
    n, width = len(pts.rows), territory.width_m
    members = len(territory.table.codes)
    near = np.zeros((n, members), dtype=bool)
    on_line = np.zeros((n, members), dtype=bool)
    across = np.full(n, -1, dtype=np.intp)
    held = pts.holder >= 0
    zoned = held & near_sides.any(axis=1)
    close = held & (distance <= tolerance_m)
    near[np.flatnonzero(zoned), pts.holder[zoned]] = True
    ask = np.flatnonzero(zoned | close)
    if not len(ask):
        return near, across, on_line
    tree, polygons, index = territory.member_tree
    x, y = pts.x[ask], pts.y[ask]
    points = shapely.points(x, y)
    # Boxes find the candidates; the prepared polygons test the distance (GEOS would
    # otherwise index a large polygon's edges afresh for every point).
    which, hit = tree.query(shapely.box(x - width, y - width, x + width, y + width))
    with territory.line_lock:  # prepared polygons, used by one thread at a time
        within = shapely.dwithin(polygons[hit], points[which], width)
    which, hit = which[within], hit[within]
    row, member = ask[which], index[hit]
    stands = territory.sides.member_sides[member]  # pairs × sides
    reaches = (stands & near_sides[row]).any(axis=1)
    near[row[reaches], member[reaches]] = True
    facing = (across_side[row] >= 0) & stands[np.arange(len(row)), np.maximum(across_side[row], 0)]
    if facing.any():
        which, hit, row, member = which[facing], hit[facing], row[facing], member[facing]
        # Only a point with several members across needs their distances to choose.
        several = np.bincount(row, minlength=n)[row] > 1
        gap = np.zeros(len(row))
        gap[several] = shapely.distance(polygons[hit[several]], points[which[several]])
        order = np.lexsort((member, gap, row))  # ties: member order
        first = np.unique(row[order], return_index=True)[1]
        across[row[order][first]] = member[order][first]
    line = np.flatnonzero(close & (across >= 0))
    on_line[line, pts.holder[line]] = True
    on_line[line, across[line]] = True
    on_line[on_line.sum(axis=1) < 2] = False
    return near, across, on_line


def _decisions(
    territory: ClusterTerritory,
    pts: _Points,
    coded: _Coded,
    tolerance_m: float,
    rule: NDArray[np.intp],
    zone: NDArray[np.bool_],
    on_line: NDArray[np.bool_],
    distance: NDArray[np.float64],
    across: NDArray[np.intp],
    junction: NDArray[np.bool_],
    zoned: NDArray[np.bool_],
    across_side: NDArray[np.intp],
    arrow_text: bool = False,
) -> dict[str, Any]:
    """Assemble the decision columns from each incident's rule (leads as the table says).

    ``across_side`` (a carried cluster's, else -1) names the original member across the old
    line the distance is measured to.
    """
    codes = territory.table.codes
    n = len(pts.rows)
    ceased = _police_ceased(territory, coded.days[pts.rows])
    uncertain = _period_uncertain(territory, coded.days[pts.rows])
    lead_kind = _LEADS[rule]
    lead = np.where(lead_kind == "detector", pts.detector, pts.holder)
    lead_code = _code_of(codes, np.where(np.isin(lead_kind, ["holder", "detector"]), lead, -1))
    by_unit = lead_kind == "unit"
    # Handed over: the unit at the hand-over level holding the point, and that level and the
    # one wanted (the sentence says when the set has no unit at the level wanted there).
    receiver = np.full(n, -1, dtype=np.intp)
    wanted = np.full(n, -1, dtype=np.intp)
    reached = np.full(n, -1, dtype=np.intp)
    handed = np.flatnonzero(by_unit)
    if len(handed):
        handed_code, receiver[handed], wanted[handed], reached[handed] = _hand_over(
            territory, pts, coded, handed
        )
        lead_code[handed] = handed_code
    coop_kind = _COOPERATING[rule]
    coop = zone.copy()
    leads = np.isin(lead_kind, ["holder", "detector"]) & (lead >= 0)
    coop[np.flatnonzero(leads), lead[leads]] = False
    coop[coop_kind != "zone_others"] = False
    hands_over = (coop_kind == "detector") & (pts.detector >= 0)
    coop[np.flatnonzero(hands_over), pts.detector[hands_over]] = True
    zone_id, zone_lists = _distinct_sets(zone, codes)
    line_id, line_lists = _distinct_sets(on_line, codes)
    coop_id, coop_lists = _distinct_sets(coop, codes)
    detector = np.where(
        pts.detector >= 0, codes[np.maximum(pts.detector, 0)], coded.detected_by[pts.rows]
    ).astype(object)
    columns: dict[str, NDArray[Any]] = {
        "external_id": coded.external_id[pts.rows],
        "cluster_id": np.full(n, territory.cluster.id, dtype=object),
        "member_code": _code_of(codes, pts.holder),
        "in_zone": zoned,
        "zone_kind": _zone_kind(zoned, junction),
        "zone_units": _lists(zone_lists, zone_id),
        "distance_m": np.where(np.isfinite(distance), np.round(distance, 1), np.nan),
        "boundary_with": _code_of(codes, across),
        "lead_unit": lead_code,
        "cooperating": _lists(coop_lists, coop_id),
        "rule": _RULES[rule],
        # A partial member (only part of its unit came from a signatory) may hold the point
        # outside that part: its decisions are reviewed (see CLAUSES["partial_holder"]).
        "review": _REVIEWED[rule]
        | (territory.cluster.carry_status == "proposed")
        | (_partial_holder(territory, pts.holder) & territory.decides)
        | ceased
        | uncertain,
        "detector": detector,
    }
    # Integers standing for the worded values: the unit holding the point (a leaf unit, or
    # the unit standing in for the members), the member or given text of the detector.
    # Every sentence opens with the unit holding the point (by name and code when it is
    # no member): rows of different units are never worded alike.
    leaf_unit = coded.level(territory.bset.leaf_level)[0][pts.rows]
    given = coded.detectors[0][pts.rows]
    situation = _group_ids(
        [
            rule,
            pts.holder,
            across,
            coded.unit_ids[pts.rows],
            # (rules apart: by_unit is outside_members, area >= 0 no_member_geometry)
            np.where(by_unit, receiver, np.where(pts.area >= 0, -2 - leaf_unit, lead)),
            pts.area,
            np.where(pts.detector >= 0, pts.detector, -2 - given),
            zone_id,
            line_id,
            coop_id,
            ~np.isfinite(distance),
            pts.side,
            across_side,
            coded.events[0][pts.rows],
            ceased,
            uncertain,
        ]
    )
    area_code: NDArray[np.object_] = np.full(n, None, dtype=object)
    if len(territory.area_codes):
        known = pts.area >= 0
        area_code[known] = np.asarray(territory.area_codes, dtype=object)[pts.area[known]]
    columns["explanation_vi"], columns["explanation_en"] = explain(
        {
            **columns,
            "unit_code": coded.unit_code[pts.rows],
            "area_code": area_code,
            "side": pts.side,
            "across_side": across_side,
            "event": _event_of(coded, pts.rows),
            "boundary_units": _lists(line_lists, line_id),
            "ceased": ceased,
            "uncertain": uncertain,
            "hand_over_wanted": wanted,
            "hand_over_level": reached,
        },
        situation,
        territory,
        tolerance_m,
        arrow_text,
    )
    return columns


def _hand_over(
    territory: ClusterTerritory, pts: _Points, coded: _Coded, which: NDArray[np.intp]
) -> tuple[NDArray[np.object_], NDArray[np.intp], NDArray[np.intp], NDArray[np.intp]]:
    """Return the unit each incident ``which`` (rule ``outside_members``) is handed over to.

    A member's police hands an incident outside every member's territory over to its
    counterpart: the police of the unit holding the point **at the hand-over level**, not the
    finest unit of the set.

    - The hand-over level is the detecting member's level when it holds territory; else (a
      member without territory such as a company, an unknown detector, a non-member) the
      level of the cluster's territorial members, the coarsest when they differ
      (:meth:`ClusterTerritory.hand_over_level`). A province cluster (Cần Thơ – An Giang)
      hands over to a province, a district cluster (Gia Lâm) to a district, a ward cluster
      (Hoa–Đô–Phúc–Vị) to a ward.
    - The members are units of the set the cluster is judged in, the set in force on the
      incident's date, so the level is one that set has: a cluster carried into vn2025
      (provinces and wards only) has the level its members were carried into (a province
      stays a province; a district cluster's members are the new wards).
    - When no unit of that level holds the point (the legacy set's wards have no geometry)
      the finest unit above it that does (the district holding the point) receives it; the
      sentence says so. Never a finer unit than the level.

    Vectorised over the located unit columns (``province_code``, ``district_code``,
    ``ward_code``): no Python work per incident.

    Returns
    -------
    tuple
        The receiving unit's code; an integer standing for it (equal codes, equal numbers:
        the situation key); the level wanted and the level reached (indexes into
        :data:`~geozone.boundaries.manifest.LEVEL_ORDER`; -1 reached: no unit at or above
        the level holds the point, and the finest unit holding it receives it).
    """
    rows = pts.rows[which]
    wanted = territory.table.hand_over[pts.detector[which]]  # detector -1: the trailing level
    found = np.full(len(which), -1, dtype=np.intp)
    reached = np.full(len(which), -1, dtype=np.intp)
    uniques: dict[int, NDArray[np.object_]] = {}
    for rank, level in enumerate(LEVEL_ORDER):  # coarsest first: a finer unit overwrites
        if f"{level}_code" not in coded.units:
            continue
        ids, uniques[rank] = coded.level(level)
        here = ids[rows]
        take = (rank <= wanted) & (here >= 0)
        found[take] = here[take]
        reached[take] = rank
    code: NDArray[np.object_] = np.full(len(which), None, dtype=object)
    for rank, values in uniques.items():
        at = reached == rank
        code[at] = values[found[at]]
    none = reached < 0
    code[none] = coded.unit_code[rows[none]]
    key = np.where(none, -2 - coded.unit_ids[rows], found * len(LEVEL_ORDER) + reached)
    return code, key.astype(np.intp), wanted, reached


def _event_of(coded: _Coded, rows: NDArray[np.intp]) -> NDArray[np.object_]:
    """Each row's (lead report, own detector) when it is a cooperating report, else None."""
    codes, uniques = coded.events
    out: NDArray[np.object_] = np.full(len(rows), None, dtype=object)
    known = codes[rows] >= 0
    out[known] = uniques[codes[rows][known]]
    return out


@dataclass
class Assignment:
    """Jurisdiction of every incident and its cluster rows (lead unit and reason)."""

    units: pd.DataFrame
    clusters: pd.DataFrame


def assign(
    incidents: pd.DataFrame,
    sets: Sequence[BoundarySet],
    placed: Sequence[ClusterTerritory],
    tolerance_m: float | None = None,
) -> Assignment:
    """Judge every incident: unit chain by date, then each concerned cluster's lead unit.

    Parameters
    ----------
    incidents
        ``external_id``, ``occurred_at``, ``lon``, ``lat``, ``detected_by``.
    sets
        Loaded boundary sets (chosen per incident by date).
    placed
        Cluster territories (:func:`territories`).
    tolerance_m
        Boundary tolerance in metres (default: settings).
    """
    units = jurisdiction(incidents, sets, tolerance_m)
    return Assignment(units, assign_clusters(incidents, units, placed, tolerance_m))
