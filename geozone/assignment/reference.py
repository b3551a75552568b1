"""A plain reference implementation of the lead rule: one incident at a time, exact geometry.

:func:`geozone.assignment.decide.assign_clusters` judges millions of incidents with array
operations,
vertex KD-trees and distance levels. This module judges one incident the obvious way, with
shapely's exact distances and containment, reading the same rule table
(:mod:`geozone.assignment.rules`), so that tests can compare the two on many generated cases. It is
not
meant to be fast; it is meant to be easy to check by reading.

The unit chain and the boundary candidates of the point come from the boundary set's own
:meth:`~geozone.boundaries.sets.BoundarySet.locate` (tested on its own); everything the cluster
adds (members, sides, distances, zones, junctions, the rule, the lead) is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import shapely

from geozone.assignment import ClusterTerritory
from geozone.assignment.rules import RULES, Facts, choose
from geozone.boundaries.manifest import LEVEL_ORDER
from geozone.boundaries.sets import Location
from geozone.crs import project_geometries


@dataclass(frozen=True)
class Decision:
    """One incident's decision under one cluster (the columns that carry meaning)."""

    member_code: str | None
    in_zone: bool
    zone_units: frozenset[str]
    distance_m: float | None
    boundary_with: str | None
    lead_unit: str | None
    cooperating: frozenset[str]
    rule: str
    review: bool


def judge(
    territory: ClusterTerritory,
    location: Location,
    day: date,
    detected_by: str | None,
    tolerance_m: float,
) -> Decision | None:
    """Judge one incident under one cluster, or return None when the cluster is not concerned.

    Parameters
    ----------
    territory
        The placed cluster.
    location
        Where the point lies in the set in force on ``day`` (``BoundarySet.locate``).
    day
        The incident's date in Vietnam time.
    detected_by
        The detecting unit's code, member id or name, or None.
    tolerance_m
        The boundary tolerance the location was made with.
    """
    cluster = territory.cluster
    if location.set_id != territory.bset.id:
        return None
    if not cluster.in_force(day):
        return None
    codes = [str(territory.members.loc[i, "code"]) for i in range(len(cluster.members))]
    active = {codes[i] for i, m in enumerate(cluster.members) if m.active_on(day)}
    detector = _detector(territory, detected_by, active)
    chain = {unit.level: unit.code for unit in location.chain}
    if territory.mode == "coarse":
        area = next((c for c in location_codes(location) if c in territory.area_codes), None)
        if area is None and detector is None:
            return None
        holder = None
    else:
        area = None
        holder = chain.get(cluster.level)
        shaped = set(territory.members.loc[territory.members["has_territory"], "code"])
        if holder not in shaped or holder not in active:
            holder = None
        if holder is None and detector is None:
            return None
    judged = area is None and territory.decides  # a lapsed cluster has no zone to judge
    geometry = _geometry(territory, location, holder, tolerance_m, active) if judged else None
    is_org = detector is not None and _is_organisation(territory, detector)
    facts = Facts(
        lapsed=np.bool_(not territory.decides),
        unresolved=np.bool_(area is not None),
        held=np.bool_(holder is not None),
        in_unit=np.bool_(location.status == "inside"),
        boundary=np.bool_(bool(geometry and geometry.on_line)),
        in_zone=np.bool_(bool(geometry and holder is not None and geometry.near)),
        territorial_detector=np.bool_(detector is not None and not is_org),
        detector_on_line=np.bool_(bool(geometry and detector in geometry.on_line)),
        organisation_detector=np.bool_(is_org),
        detector_known=np.bool_(bool(detected_by and str(detected_by).strip())),
    )
    rule = RULES[choose(facts)]
    zoned = bool(facts.in_zone or facts.boundary) and area is None
    zone = (geometry.near | geometry.on_line) if geometry is not None and zoned else set()
    lead = {
        "holder": holder,
        "detector": detector,
        "unit": _hand_over(territory, location, detector),
        "none": None,
    }[rule.lead]
    cooperating: set[str] = set()
    if rule.cooperating == "zone_others":
        cooperating = set(zone) - {lead} if lead is not None else set(zone)
    elif rule.cooperating == "detector" and detector is not None:
        cooperating = {detector}
    return Decision(
        member_code=holder,
        in_zone=zoned,
        zone_units=frozenset(zone),
        distance_m=None if geometry is None else geometry.distance_m,
        boundary_with=None if geometry is None else geometry.across,
        lead_unit=lead,
        cooperating=frozenset(cooperating),
        rule=rule.name,
        review=rule.review
        or cluster.carry_status == "proposed"
        or (cluster.police_ceased_from is not None and day >= cluster.police_ceased_from)
        or (territory.decides and cluster.period.uncertain_on(day))
        or (
            territory.decides
            and holder is not None
            and cluster.members[territory.table.holders[holder]].partial
        ),
    )


def _hand_over(territory: ClusterTerritory, location: Location, detector: str | None) -> str | None:
    """Return the unit an incident outside every member is handed over to, from its chain.

    At the detecting member's level when it holds territory, else at the territorial
    members' (the coarsest); the unit of the point's chain at that level, else the finest
    one above it, else the finest unit holding the point.
    """
    levels = {
        str(member.territory_code): territory.bset.get(str(member.territory_code)).level
        for member in territory.cluster.members
        if member.territory_code
    }
    taking_part = [
        levels[str(m.territory_code)]
        for m in territory.cluster.members
        if m.territory_code and not m.planned
    ]
    wanted = levels.get(detector or "") or min(taking_part, key=LEVEL_ORDER.index)
    above = [u for u in location.chain if LEVEL_ORDER.index(u.level) <= LEVEL_ORDER.index(wanted)]
    chain = above or list(location.chain)
    return chain[0].code if chain else None


def location_codes(location: Location) -> list[str]:
    """Return the codes of the point's unit chain, finest first."""
    return [unit.code for unit in location.chain]


def _detector(territory: ClusterTerritory, given: str | None, active: set[str]) -> str | None:
    """Return the member (its code, or an organisation's id) that detected it, if any."""
    if given is None or not str(given).strip():
        return None
    member = territory.table.detector_of(given)
    if member < 0:
        return None
    code = str(territory.table.codes[member])
    return code if code in active else None


def _is_organisation(territory: ClusterTerritory, code: str) -> bool:
    return bool(territory.table.organisation[territory.table.index[code]])


@dataclass(frozen=True)
class _Geometry:
    """What the lines say of one point: near members, on-line members, the nearest line."""

    near: set[str]
    on_line: set[str]
    distance_m: float | None
    across: str | None


def _geometry(
    territory: ClusterTerritory,
    location: Location,
    holder: str | None,
    tolerance_m: float,
    active: set[str],
) -> _Geometry:
    """Measure the point against the zone's sides' lines, exactly (metres, UTM)."""
    epsg = np.array([territory.epsg])
    point = project_geometries(
        np.array([shapely.Point(location.lon, location.lat)], dtype=object), epsg
    )[0]
    if holder is None:  # before the sides: a coarse cluster's members have no lines
        return _Geometry(set(), set(), None, None)
    sides = territory.sides
    carried = sides.carried
    if carried:
        found = sides.side_of(np.array([location.lon]), np.array([location.lat]))[0]
        side = sides.codes[found] if found >= 0 else None
    else:
        side = holder
    lines = territory.lines
    mine = lines[(lines["code_a"] == side) | (lines["code_b"] == side)] if side else lines[:0]
    distance, across_side = None, None
    near_sides: set[str] = set()
    width = territory.width_m
    for code_a, code_b, line in zip(mine["code_a"], mine["code_b"], mine.geometry, strict=True):
        other = code_b if code_a == side else code_a
        gap = float(shapely.distance(line, point))
        if distance is None or gap < distance:
            distance, across_side = gap, other
        if gap <= width:
            near_sides |= {str(side), str(other)}
    for codes, junction in zip(
        territory.junctions["codes"], territory.junctions.geometry, strict=True
    ):
        if side in codes and float(shapely.distance(junction, point)) <= width:
            near_sides |= set(codes)
    rounded = None if distance is None else round(distance, 1)
    if not carried:
        on_line = {c.code for c in location.candidates if c.code in active}
        on_line &= set(territory.table.holders)
        on_line = on_line if location.on_boundary and len(on_line) >= 2 else set()
        return _Geometry(near_sides, on_line, rounded, across_side)
    return _carried_geometry(
        territory, point, holder, near_sides, distance, across_side, tolerance_m, rounded
    )


def _carried_geometry(
    territory: ClusterTerritory,
    point: Any,
    holder: str,
    near_sides: set[str],
    distance: float | None,
    across_side: str | None,
    tolerance_m: float,
    rounded: float | None,
) -> _Geometry:
    """Members near the point that stand for a side its zone reaches; the nearest across."""
    sides = territory.sides
    width = territory.width_m
    shaped = territory.members.loc[territory.members["has_territory"], "code"]
    near = {holder} if near_sides else set()
    best: tuple[float, str] | None = None
    for code in shaped:
        k = territory.table.index[code]
        polygon = project_geometries(
            np.array([territory.bset.geometry(code)], dtype=object), np.array([territory.epsg])
        )[0]
        gap = float(shapely.distance(polygon, point))
        if gap > width:
            continue
        stands = {sides.codes[j] for j in np.flatnonzero(sides.member_sides[k])}
        if stands & near_sides:
            near.add(code)
        if across_side in stands and (best is None or gap < best[0]):
            best = (gap, code)
    close = distance is not None and distance <= tolerance_m
    # The member across is named for points in the zone or on the old line only.
    across = best[1] if best is not None and (near_sides or close) else None
    on_line: set[str] = set()
    if distance is not None and distance <= tolerance_m and across is not None:
        on_line = {holder, across}
    if len(on_line) < 2:
        on_line = set()
    return _Geometry(near, on_line, rounded, across)


__all__ = ["Decision", "judge", "location_codes"]
