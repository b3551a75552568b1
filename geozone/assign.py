"""Assignment: an incident's jurisdiction and, in a cluster, its lead unit with the reason.

One vectorised code path serves one point or millions:

1. **Jurisdiction** (:func:`jurisdiction`): each incident is judged by the boundary set in
   force on its date; ``locate_many`` gives the unit chain, the on-boundary flag and the
   candidates. Dates no loaded set covers get ``locate_status = "no_set"``.
2. **Clusters** (:class:`ClusterTerritory`): a cluster applies on the days it and its members
   are in force, in a set whose units of the cluster's level have geometry. For each pair of
   members the shared boundary is measured (``geozone.adjacency``); the border zone is the
   band within the cluster's width W of those lines, clipped to the members on either side,
   plus a disc of radius W around each junction where three or more members meet.
3. **The lead rule** (Hoa–Đô–Phúc–Vị regulation, applied to every cluster; a cluster whose
   regulation states no rule is flagged as using it by default):

   - inside one member's territory and outside the border zone → that member leads
     (``territory``), the others assist if asked;
   - inside the border zone → the member that detected it first leads (``border_detector``),
     the other members touching that zone cooperate;
   - fallbacks, each flagged for review: detector unknown (``border_unknown_detector``),
     detector not a member (``border_non_member_detector``), detector an organisation without
     territory (``border_organisation_detector``) → the member holding the point leads; a
     point on the boundary between members not detected by one of them (``on_boundary``) →
     the holding member (nearest, then lowest code) leads and every candidate is listed; a
     point outside every member but detected by one (``outside_members``) → the unit that
     holds it has jurisdiction, the detecting member hands over.

4. **Explanations**: :func:`explain` writes one sentence in Vietnamese and one in English
   (which unit, how far from which boundary, which zone, which rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.adjacency import adjacency
from geozone.boundaries import BoundarySet
from geozone.clusters import Cluster
from geozone.crs import project_geometries, project_xy, utm_epsg
from geozone.errors import ClusterDefinitionError
from geozone.incidents import VIETNAM_TZ
from geozone.settings import get_settings

UNIT_COLUMNS = [
    "external_id",
    "set_id",
    "locate_status",
    "unit_code",
    "ward_code",
    "district_code",
    "province_code",
    "on_boundary",
    "candidates",
]
CLUSTER_COLUMNS = [
    "external_id",
    "cluster_id",
    "member_code",
    "in_zone",
    "zone_kind",
    "zone_units",
    "distance_m",
    "boundary_with",
    "lead_unit",
    "cooperating",
    "rule",
    "review",
    "explanation_vi",
    "explanation_en",
]
#: Rules that need a person to confirm the lead unit.
REVIEW_RULES = frozenset(
    {
        "border_unknown_detector",
        "border_non_member_detector",
        "border_organisation_detector",
        "on_boundary",
        "outside_members",
    }
)


# -- jurisdiction ----------------------------------------------------------------------------


def _local_dates(occurred_at: pd.Series) -> NDArray[np.datetime64]:
    """Calendar dates in Vietnam time of tz-aware (or naive = Vietnam) timestamps."""
    times = pd.to_datetime(occurred_at)
    times = (
        times.dt.tz_localize(VIETNAM_TZ) if times.dt.tz is None else times.dt.tz_convert(VIETNAM_TZ)
    )
    return times.dt.tz_localize(None).to_numpy().astype("datetime64[D]")


def jurisdiction(
    incidents: pd.DataFrame, sets: Sequence[BoundarySet], tolerance_m: float | None = None
) -> pd.DataFrame:
    """Locate each incident in the boundary set in force on its date.

    Parameters
    ----------
    incidents
        Needs ``external_id``, ``occurred_at``, ``lon``, ``lat``.
    sets
        The loaded boundary sets; where several are in force, the latest ``valid_from`` wins.
    tolerance_m
        Boundary tolerance for the on-boundary flag (default: settings).

    Returns
    -------
    pandas.DataFrame
        :data:`UNIT_COLUMNS`, one row per incident in input order.
    """
    days = _local_dates(incidents["occurred_at"])
    chosen = np.full(len(incidents), -1)
    for i in sorted(range(len(sets)), key=lambda k: sets[k].info.valid_from):
        info = sets[i].info
        end = np.datetime64(info.valid_to or date.max)
        chosen[(days >= np.datetime64(info.valid_from)) & (days <= end)] = i
    out = pd.DataFrame({"external_id": incidents["external_id"].to_numpy()})
    out["set_id"] = None
    out["locate_status"] = "no_set"
    for column in ("unit_code", "ward_code", "district_code", "province_code", "candidates"):
        out[column] = None
    out["on_boundary"] = False
    lon, lat = incidents["lon"].to_numpy(float), incidents["lat"].to_numpy(float)
    for i, bset in enumerate(sets):
        rows = np.flatnonzero(chosen == i)
        if not len(rows):
            continue
        found = bset.locate_many(lon[rows], lat[rows], tolerance_m)
        out.loc[rows, "set_id"] = bset.id
        out.loc[rows, "locate_status"] = found["status"].to_numpy()
        for column in (
            "unit_code",
            "ward_code",
            "district_code",
            "province_code",
            "on_boundary",
            "candidates",
        ):
            if column in found:
                out.loc[rows, column] = found[column].to_numpy()
    return out[UNIT_COLUMNS]


# -- cluster territories ---------------------------------------------------------------------


@dataclass
class ClusterTerritory:
    """A cluster placed on a boundary set whose units of its level have geometry.

    Parameters
    ----------
    cluster
        The cluster; its members' codes are units of ``bset``.
    bset
        The set the members are named in (``cluster.boundary_set``).
    """

    cluster: Cluster
    bset: BoundarySet

    def __post_init__(self) -> None:
        if self.cluster.boundary_set != self.bset.id:
            raise ClusterDefinitionError(
                f"cluster {self.cluster.id} is named in {self.cluster.boundary_set}, "
                f"not {self.bset.id}"
            )

    @property
    def width_m(self) -> float:
        """The border-zone width W in metres."""
        return float(self.cluster.effective_zone_width_m)

    @cached_property
    def members(self) -> pd.DataFrame:
        """Members with ``member_id``, ``kind``, ``code``, ``name``, ``joined``, ``left``.

        ``code`` is the unit code, or the id of an organisation; ``has_territory`` tells
        whether the unit has geometry in the set.
        """
        shaped = set(self.bset.units(self.cluster.level).query("has_geometry")["code"])
        rows = []
        for member in self.cluster.members:
            code = member.territory_code if member.kind == "unit" else None
            rows.append(
                {
                    "member_id": member.id,
                    "kind": member.kind,
                    "code": code or member.id,
                    "name": member.name,
                    "joined": member.joined,
                    "left": member.left,
                    "has_territory": bool(code and code in shaped),
                }
            )
        return pd.DataFrame(rows)

    @cached_property
    def applies(self) -> bool:
        """True when at least two members have territory with geometry in the set."""
        return int(self.members["has_territory"].sum()) >= 2

    @cached_property
    def epsg(self) -> int:
        """The UTM zone the cluster's metric work is done in (that of its members' centre)."""
        geoms = self._member_geometries()
        centre = shapely.centroid(shapely.union_all(geoms))
        return int(utm_epsg(float(shapely.get_x(centre))))

    def _member_geometries(self) -> NDArray[np.object_]:
        codes = self.members.loc[self.members["has_territory"], "code"]
        return np.array([self.bset.geometry(code) for code in codes], dtype=object)

    @cached_property
    def lines(self) -> gpd.GeoDataFrame:
        """Shared boundaries between members (``code_a``, ``code_b``), in metres (UTM)."""
        codes = self.members.loc[self.members["has_territory"], "code"].tolist()
        found = adjacency(self.bset, self.cluster.level, codes)
        lines = found.lines[["code_a", "code_b", "geometry"]].copy()
        metric = project_geometries(lines.geometry.to_numpy(), np.full(len(lines), self.epsg))
        shapely.prepare(metric)
        self._junctions = found.junctions
        return gpd.GeoDataFrame(lines[["code_a", "code_b"]], geometry=list(metric), crs=self.epsg)

    @cached_property
    def junctions(self) -> gpd.GeoDataFrame:
        """Points where three or more members meet (``codes``), in metres (UTM)."""
        self.lines  # noqa: B018  (computes the adjacency once)
        junctions = self._junctions
        metric = project_geometries(
            junctions.geometry.to_numpy(), np.full(len(junctions), self.epsg)
        )
        return gpd.GeoDataFrame(junctions[["codes"]], geometry=list(metric), crs=self.epsg)

    def in_force(self, days: NDArray[np.datetime64]) -> NDArray[np.bool_]:
        """Which days the cluster itself runs (period bounds, when known)."""
        start = self.cluster.period.start.earliest if self.cluster.period.start else None
        end = self.cluster.period.end.latest if self.cluster.period.end else None
        ok = np.ones(len(days), dtype=bool)
        if start:
            ok &= days >= np.datetime64(start)
        if end:
            ok &= days <= np.datetime64(end)
        return ok


def territories(
    clusters: Iterable[Cluster], sets: Sequence[BoundarySet], carry_into: BoundarySet | None = None
) -> list[ClusterTerritory]:
    """Place clusters on the sets their members are named in, and carry them forward.

    A cluster named in a set without geometry at its level (the pre-2025 wards are a register
    only) cannot be placed there; with ``carry_into`` every cluster named in an older set is
    also carried into that set's units (``geozone.migrate``) from the day it came into force.
    """
    from geozone.migrate import migrate_cluster

    by_id = {bset.id: bset for bset in sets}
    placed = []
    for cluster in clusters:
        home = by_id.get(cluster.boundary_set)
        if home is not None:
            territory = ClusterTerritory(cluster, home)
            if territory.applies:
                placed.append(territory)
        if carry_into is not None and home is not None and home.id != carry_into.id:
            carried = migrate_cluster(cluster, home, carry_into).to_cluster()
            placed.append(ClusterTerritory(carried, carry_into))
    return placed


# -- the lead rule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """The incidents one territory judges: their rows, days, holder and detector members."""

    rows: NDArray[np.intp]
    holder: NDArray[np.intp]  # index into territory members, -1 when outside every member
    detector: NDArray[np.intp]  # index into members, -1 when not a member
    detector_known: NDArray[np.bool_]
    x: NDArray[np.float64]
    y: NDArray[np.float64]


def _select(
    territory: ClusterTerritory,
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    days: NDArray[np.datetime64],
) -> _Points:
    members = territory.members
    level_codes = units[f"{territory.cluster.level}_code"].to_numpy(dtype=object)
    in_set = (units["set_id"].to_numpy(dtype=object) == territory.bset.id) & territory.in_force(
        days
    )
    active = np.column_stack(
        [
            (days >= np.datetime64(joined or date.min)) & (days <= np.datetime64(left or date.max))
            for joined, left in zip(members["joined"], members["left"], strict=True)
        ]
    )
    lookup = {code: k for k, code in enumerate(members["code"]) if members["has_territory"].iat[k]}
    holder = pd.Series(level_codes).map(lookup).fillna(-1).to_numpy(int)
    ids = {
        **{mid: k for k, mid in enumerate(members["member_id"])},
        **{code: k for k, code in enumerate(members["code"])},
    }
    detected_by = incidents["detected_by"].to_numpy(dtype=object)
    detector = pd.Series(detected_by).map(ids).fillna(-1).to_numpy(int)
    every = np.arange(len(units))
    holder = np.where((holder >= 0) & active[every, np.maximum(holder, 0)], holder, -1)
    detector = np.where((detector >= 0) & active[every, np.maximum(detector, 0)], detector, -1)
    rows = np.flatnonzero(in_set & ((holder >= 0) | (detector >= 0)))
    x, y = project_xy(
        incidents["lon"].to_numpy(float)[rows],
        incidents["lat"].to_numpy(float)[rows],
        np.full(len(rows), territory.epsg),
    )
    known = (
        pd.notna(detected_by[rows])
        & (pd.Series(detected_by[rows]).astype(str).str.len() > 0).to_numpy()
    )
    return _Points(rows, holder[rows], detector[rows], known, x, y)


def _zones(
    territory: ClusterTerritory, pts: _Points
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """Members whose shared boundary with the holder lies within W of each point.

    Returns ``near`` (points × members), the distance to the nearest member boundary of the
    holder, the member across that boundary, and whether a junction disc holds the point.
    """
    members = territory.members
    index = {code: k for k, code in enumerate(members["code"])}
    width = territory.width_m
    near = np.zeros((len(pts.rows), len(members)), dtype=bool)
    distance = np.full(len(pts.rows), np.inf)
    across = np.full(len(pts.rows), -1)
    points = shapely.points(pts.x, pts.y)
    for code_a, code_b, line in zip(
        territory.lines["code_a"], territory.lines["code_b"], territory.lines.geometry, strict=True
    ):
        a, b = index[code_a], index[code_b]
        sides = np.flatnonzero((pts.holder == a) | (pts.holder == b))
        if not len(sides):
            continue
        d = shapely.distance(line, points[sides])
        closer = d < distance[sides]
        distance[sides[closer]] = d[closer]
        across[sides[closer]] = np.where(pts.holder[sides[closer]] == a, b, a)
        within = sides[d <= width]
        near[within, a] = near[within, b] = True
    junction = np.zeros(len(pts.rows), dtype=bool)
    for codes, point in zip(
        territory.junctions["codes"], territory.junctions.geometry, strict=True
    ):
        ks = [index[c] for c in codes if c in index]
        around = np.flatnonzero(np.isin(pts.holder, ks))
        inside = around[shapely.distance(point, points[around]) <= width]
        junction[inside] = True
        near[np.ix_(inside, ks)] = True
    return near, distance, across, junction


def _on_boundary_members(
    territory: ClusterTerritory, units: pd.DataFrame, pts: _Points
) -> list[list[str]]:
    """For each point, the member codes among its boundary candidates (empty when < 2)."""
    codes = set(territory.members.loc[territory.members["has_territory"], "code"])
    flagged = units["on_boundary"].to_numpy(dtype=bool)[pts.rows]
    candidates = units["candidates"].to_numpy(dtype=object)[pts.rows]
    out: list[list[str]] = [[] for _ in range(len(pts.rows))]
    for i in np.flatnonzero(flagged):
        found = [c for c in (candidates[i] or []) if c in codes]
        if len(found) >= 2:
            out[i] = found
    return out


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
    days = _local_dates(incidents["occurred_at"])
    tol = get_settings().boundary_tolerance_m if tolerance_m is None else tolerance_m
    frames = [_assign_one(t, incidents, units, days, tol) for t in placed if t.applies]
    frames = [frame for frame in frames if len(frame)]
    if not frames:
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    return pd.concat(frames, ignore_index=True)[CLUSTER_COLUMNS]


def _code_of(codes: NDArray[np.object_], index: NDArray[np.intp]) -> NDArray[np.object_]:
    """Member codes at ``index``, None where the index is -1."""
    out: NDArray[np.object_] = np.full(len(index), None, dtype=object)
    out[index >= 0] = codes[index[index >= 0]]
    return out


def _zone_kind(
    zoned: NDArray[np.bool_], junction: NDArray[np.bool_], zone_units: list[list[str]]
) -> NDArray[np.object_]:
    """Return "junction" where three or more members meet, "pair" in other zones, else None."""
    many = np.array([len(units) >= 3 for units in zone_units], dtype=bool)
    out: NDArray[np.object_] = np.full(len(zoned), None, dtype=object)
    out[zoned] = np.where(junction | many, "junction", "pair")[zoned]
    return out


def _assign_one(
    territory: ClusterTerritory,
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    days: NDArray[np.datetime64],
    tolerance_m: float,
) -> pd.DataFrame:
    pts = _select(territory, incidents, units, days)
    if not len(pts.rows):
        return pd.DataFrame(columns=CLUSTER_COLUMNS)
    members = territory.members
    codes = members["code"].to_numpy(dtype=object)
    near, distance, across, junction = _zones(territory, pts)
    held = pts.holder >= 0
    in_zone = held & near.any(axis=1)
    on_line = _on_boundary_members(territory, units, pts)
    boundary = np.array([len(found) >= 2 for found in on_line])
    is_org = (pts.detector >= 0) & (
        members["kind"].to_numpy()[np.maximum(pts.detector, 0)] == "organisation"
    )
    territorial_detector = (pts.detector >= 0) & ~is_org
    detector_on_line = np.array(
        [
            bool(found) and codes[d] in found
            for found, d in zip(on_line, np.maximum(pts.detector, 0), strict=True)
        ]
    )
    rule = np.select(
        [
            ~held,
            boundary & ~(territorial_detector & detector_on_line),
            ~in_zone & ~boundary,
            territorial_detector,
            is_org,
            ~pts.detector_known,
        ],
        [
            "outside_members",
            "on_boundary",
            "territory",
            "border_detector",
            "border_organisation_detector",
            "border_unknown_detector",
        ],
        default="border_non_member_detector",
    )
    lead = np.where(rule == "border_detector", pts.detector, pts.holder)
    zone_units = [list(codes[row]) for row in near]
    for i in np.flatnonzero(boundary):
        zone_units[i] = sorted(set(zone_units[i]) | set(on_line[i]))
    holder_units = units["unit_code"].to_numpy(dtype=object)[pts.rows]
    lead_code = _code_of(codes, lead)
    outside = rule == "outside_members"
    lead_code[outside] = holder_units[outside]
    cooperating = [
        [c for c in zone if c != lead_code[i]] if rule[i] != "territory" else []
        for i, zone in enumerate(zone_units)
    ]
    for i in np.flatnonzero(rule == "outside_members"):
        cooperating[i] = [codes[pts.detector[i]]]
    frame = pd.DataFrame(
        {
            "external_id": incidents["external_id"].to_numpy()[pts.rows],
            "cluster_id": territory.cluster.id,
            "member_code": _code_of(codes, pts.holder),
            "in_zone": in_zone | boundary,
            "zone_kind": _zone_kind(in_zone | boundary, junction, zone_units),
            "zone_units": [
                z if (in_zone[i] or boundary[i]) else [] for i, z in enumerate(zone_units)
            ],
            "distance_m": np.where(np.isfinite(distance), np.round(distance, 1), np.nan),
            "boundary_with": _code_of(codes, across),
            "lead_unit": lead_code,
            "cooperating": cooperating,
            "rule": rule,
            "review": np.isin(rule, list(REVIEW_RULES)),
            "detector": np.where(
                pts.detector >= 0,
                codes[np.maximum(pts.detector, 0)],
                incidents["detected_by"].to_numpy(dtype=object)[pts.rows],
            ),
        }
    )
    vi, en = explain(frame, territory, tolerance_m)
    frame["explanation_vi"], frame["explanation_en"] = vi, en
    return frame


# -- explanations ----------------------------------------------------------------------------

_EN = {
    "territory": (
        "{holder} holds the point{where}: {holder} leads by territory (rule 1); the other"
        " members assist if asked."
    ),
    "border_detector": (
        "In {holder}, in the border zone"
        " ({zone}){where}; {detector} detected it first and leads (rule"
        " 2){coop_en}."
    ),
    "border_unknown_detector": (
        "In {holder}, in the border zone"
        " ({zone}){where}; the unit that detected it is unknown, so "
        "{holder}, which holds the point, leads until confirmed{coop_en}. Review."
    ),
    "border_non_member_detector": (
        "In {holder}, in the border zone"
        " ({zone}){where}; it was detected by {detector}, not a member,"
        " so {holder}, which holds the point, leads{coop_en}. Review."
    ),
    "border_organisation_detector": (
        "In {holder}, in the border zone"
        " ({zone}){where}; it was detected by {detector}, a member "
        "without territory, so {holder}, which holds the point, leads{coop_en}. Review."
    ),
    "on_boundary": (
        "On the boundary between {zone} (within the {tol:g} m tolerance); no unit on it "
        "detected it, so {holder}, the nearest, leads pending review{coop_en}. Review."
    ),
    "outside_members": (
        "Outside every member's territory, in {holder_unit}; detected by member "
        "{detector}, which hands over to {holder_unit}. Review."
    ),
}
_VI = {
    "territory": (
        "Vụ việc trên địa bàn {holder}{where_vi}: {holder} chủ trì theo địa bàn (nguyên "
        "tắc 1); các đơn vị khác phối hợp khi được yêu cầu."
    ),
    "border_detector": (
        "Vụ việc trên địa bàn {holder}, thuộc vùng giáp ranh"
        " ({zone}){where_vi}; {detector} phát hiện trước nên "
        "chủ trì (nguyên tắc 2){coop_vi}."
    ),
    "border_unknown_detector": (
        "Vụ việc trên địa bàn {holder}, thuộc vùng giáp ranh"
        " ({zone}){where_vi}; chưa rõ đơn vị phát hiện trước "
        "nên {holder} (nơi xảy ra) tạm chủ trì{coop_vi}. Cần xem xét lại."
    ),
    "border_non_member_detector": (
        "Vụ việc trên địa bàn {holder}, thuộc vùng giáp ranh"
        " ({zone}){where_vi}; {detector} phát hiện nhưng không"
        " thuộc cụm nên {holder} (nơi xảy ra) chủ trì{coop_vi}. Cần xem xét lại."
    ),
    "border_organisation_detector": (
        "Vụ việc trên địa bàn {holder}, thuộc vùng giáp ranh"
        " ({zone}){where_vi}; {detector} (không quản lý địa "
        "bàn) phát hiện nên {holder} (nơi xảy ra) chủ trì{coop_vi}. Cần xem xét lại."
    ),
    "on_boundary": (
        "Vụ việc nằm trên ranh giới giữa {zone} (trong dung sai {tol:g} m); không đơn vị "
        "nào trong số này phát hiện nên {holder} (gần nhất) tạm chủ trì{coop_vi}. Cần xem"
        " xét lại."
    ),
    "outside_members": (
        "Vụ việc ngoài địa bàn các thành viên, thuộc {holder_unit}; thành viên {detector}"
        " phát hiện và bàn giao cho {holder_unit}. Cần xem xét lại."
    ),
}
_NO_RULE_EN = " The regulation states no lead rule; the cluster default is applied."
_NO_RULE_VI = " Quy chế không quy định đơn vị chủ trì; áp dụng nguyên tắc mặc định."
_KEY_COLUMNS = [
    "rule",
    "member_code",
    "boundary_with",
    "lead_unit",
    "detector",
    "zone_units",
    "cooperating",
    "distance",
]


def explain(
    frame: pd.DataFrame, territory: ClusterTerritory, tolerance_m: float
) -> tuple[list[str], list[str]]:
    """Write the Vietnamese and English sentence of every row of :func:`assign_clusters`.

    Each distinct situation (rule, units, distance to the metre) is worded once and shared
    by the rows it applies to.
    """
    keys = frame.assign(
        zone_units=frame["zone_units"].map(tuple),
        cooperating=frame["cooperating"].map(tuple),
        distance=frame["distance_m"].round(0),
    )[_KEY_COLUMNS].astype(str)
    codes = pd.MultiIndex.from_frame(keys).factorize()[0]
    first = pd.Series(np.arange(len(frame))).groupby(codes).first().to_numpy()
    names = _names(territory)
    worded = [_sentences(frame.iloc[i], names, territory, tolerance_m) for i in first]
    vi = [worded[c][0] for c in codes]
    en = [worded[c][1] for c in codes]
    return vi, en


def _names(territory: ClusterTerritory) -> dict[str, str]:
    """Full unit names for territorial members, the given name for organisations."""
    members = territory.members
    return {
        code: territory.bset.get(code).full_name if has_territory else name
        for code, name, has_territory in zip(
            members["code"], members["name"], members["has_territory"], strict=True
        )
    }


def _sentences(
    row: pd.Series, names: dict[str, str], territory: ClusterTerritory, tolerance_m: float
) -> tuple[str, str]:
    def name(code: Any) -> str:
        if code is None or (isinstance(code, float) and np.isnan(code)):
            return f"no unit of {territory.bset.id}"
        if code in names:
            return names[code]
        try:
            return territory.bset.get(str(code)).full_name
        except Exception:  # a free-text detector that names no unit
            return str(code)

    holder, across = name(row["member_code"]), name(row["boundary_with"])
    distance = row["distance_m"]
    has_distance = row["boundary_with"] is not None and np.isfinite(distance)
    width = territory.width_m
    coop = ", ".join(name(c) for c in row["cooperating"])
    values = {
        "holder": holder,
        "holder_unit": name(row["lead_unit"]),
        "detector": name(row["detector"]),
        "zone": " – ".join(name(c) for c in row["zone_units"]),
        "tol": tolerance_m,
        "where": (
            f", {distance:.0f} m from its boundary with {across} (border zone {width:g} m)"
            if has_distance
            else ", away from any boundary with another member"
        ),
        "where_vi": (
            f", cách ranh giới với {across} {distance:.0f} m (vùng giáp ranh {width:g} m)"
            if has_distance
            else ", không giáp ranh thành viên khác"
        ),
        "coop_en": f"; cooperating: {coop}" if coop else "",
        "coop_vi": f"; {coop} phối hợp" if coop else "",
    }
    vi, en = _VI[row["rule"]].format(**values), _EN[row["rule"]].format(**values)
    if not territory.cluster.lead_rule:
        vi, en = vi + _NO_RULE_VI, en + _NO_RULE_EN
    return vi, en


# -- all together ----------------------------------------------------------------------------


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
