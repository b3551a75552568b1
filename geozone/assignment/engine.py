"""Assignment: an incident's jurisdiction and, in a cluster, its lead unit with the reason.

One vectorised code path serves one point or millions:

1. **Jurisdiction** (:func:`jurisdiction`): each incident is judged by the boundary set in
   force on its date; ``locate_many`` gives the unit chain, the on-boundary flag and the
   candidates. Dates no loaded set covers get ``locate_status = "no_set"``.
2. **Clusters** (:class:`ClusterTerritory`): a cluster applies on the days it and its members
   are in force, in a set whose units of the cluster's level have geometry. For each pair of
   members the shared boundary is measured (``geozone.clusters.adjacency``); the border zone is the
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

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from geozone.assignment.rules import BY_NAME, CLAUSES, RULE_NAMES, RULES, Facts, choose
from geozone.boundaries._locate import warm_prepared
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import Adjacency
from geozone.clusters.model import Cluster, Confirmation
from geozone.clusters.sides import ZoneSides, carried_zone_sides, member_zone_sides
from geozone.clusters.zones import BorderZones
from geozone.crs import degrees_bound, project_geometries, project_xy, utm_epsg
from geozone.errors import ClusterDefinitionError, GeozoneError
from geozone.incidents.schema import CLUSTER_DECISION_FIELDS, JURISDICTION_FIELDS
from geozone.parallel import MIN_POINTS_PER_THREAD, thread_map
from geozone.settings import get_settings
from geozone.text import format_date, format_number
from geozone.vntime import local_dates

UNIT_COLUMNS = ["external_id", *JURISDICTION_FIELDS]
CLUSTER_COLUMNS = ["external_id", *CLUSTER_DECISION_FIELDS]

#: The rule names as an array (decisions hold indexes into it while they are made).
_RULES = np.array(RULE_NAMES, dtype=object)
_RULE = {name: i for i, name in enumerate(RULE_NAMES)}
_REVIEWED = np.array([rule.review for rule in RULES], dtype=bool)
_LEADS = np.array([rule.lead for rule in RULES], dtype=object)
_COOPERATING = np.array([rule.cooperating for rule in RULES], dtype=object)


# -- jurisdiction ----------------------------------------------------------------------------

#: Object columns of :func:`jurisdiction` taken from ``BoundarySet.locate_arrays``.
_LOCATED = ("unit_code", "ward_code", "district_code", "province_code", "candidates")


#: Incident columns: a DataFrame, or a mapping of equal-length arrays (no frame for one point).
Columns = pd.DataFrame | Mapping[str, Any]


def as_array(table: Columns, name: str, dtype: Any = None) -> NDArray[Any]:
    """Return one column of a frame or of a mapping of arrays as a numpy array."""
    values = table[name]
    if isinstance(values, pd.Series):
        return values.to_numpy(dtype=dtype)
    return np.asarray(values, dtype=dtype)


@dataclass(frozen=True)
class SetLocated:
    """One boundary set's share of a batch: the rows it judged and their located columns."""

    bset: BoundarySet
    rows: NDArray[np.intp]
    columns: dict[str, NDArray[Any]]  # as BoundarySet.locate_arrays returns them


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
    columns = locate_incidents(incidents, sets, tolerance_m)[0]
    return pd.DataFrame(
        {
            column: values
            if column in ("external_id", "locate_status", "on_boundary")
            else pd.Series(values, dtype=object, copy=False)
            for column, values in columns.items()
        }
    )


def locate_incidents(
    incidents: Columns,
    sets: Sequence[BoundarySet],
    tolerance_m: float | None = None,
    days: NDArray[np.datetime64] | None = None,
) -> tuple[dict[str, NDArray[Any]], list[SetLocated]]:
    """Return :func:`jurisdiction`'s columns as arrays and, per set used, its location columns.

    The second part keeps what the unit columns leave out (candidate distances, the whole
    chain) so that a caller can describe a point without locating it again
    (:meth:`BoundarySet.location_at`). ``days`` are the incidents' dates in Vietnam time
    (:func:`local_dates`), when the caller has them already; ``incidents`` may then be a
    mapping of arrays without ``occurred_at``.
    """
    days = local_dates(incidents["occurred_at"]) if days is None else days
    lon, lat = as_array(incidents, "lon", float), as_array(incidents, "lat", float)
    n = len(lon)
    chosen = np.full(n, -1)
    for i in sorted(range(len(sets)), key=lambda k: sets[k].info.valid_from):
        info = sets[i].info
        end = np.datetime64(info.valid_to or date.max)
        chosen[(days >= np.datetime64(info.valid_from)) & (days <= end)] = i
    set_id: NDArray[np.object_] = np.full(n, None, dtype=object)
    status: NDArray[np.object_] = np.full(n, "no_set", dtype=object)
    located = {column: np.full(n, None, dtype=object) for column in _LOCATED}
    on_boundary = np.zeros(n, dtype=bool)
    parts: list[SetLocated] = []
    for i, bset in enumerate(sets):
        rows = np.flatnonzero(chosen == i)
        if not len(rows):
            continue
        found = bset.locate_arrays(lon[rows], lat[rows], tolerance_m)
        parts.append(SetLocated(bset, rows, found))
        set_id[rows] = bset.id
        status[rows] = found["status"]
        on_boundary[rows] = found["on_boundary"]
        for column, values in located.items():
            if column in found:
                values[rows] = found[column]
    units = {
        "external_id": as_array(incidents, "external_id"),
        "set_id": set_id,
        "locate_status": status,
        **{column: located[column] for column in _LOCATED if column != "candidates"},
        "on_boundary": on_boundary,
        "candidates": located["candidates"],
    }
    return units, parts


# -- cluster territories ---------------------------------------------------------------------


#: Spacing of the vertices distances to shared boundaries are first bounded with.
DENSIFY_M = 2.0
#: Points nearer than this to a shared boundary get their distance from the exact segments.
EXACT_WITHIN_M = 25.0
#: Largest error allowed on a distance read from vertices rather than segments.
FAR_ERROR_M = 0.01
#: KD-tree searches of at least this many points may use several threads.
_KD_THREADS_FROM = 10_000
#: A large batch is cut into about this many pieces per thread (for an even load) ...
_PIECES_PER_THREAD = 2
#: ... of at least this many incidents each.
_PIECE_MIN = 5_000
#: The coarsest vertex spacing kept for the distance of far points.
COARSEST_M = 256.0


def accepts_from_m(spacing_m: float) -> float:
    """Distance from which vertices ``spacing_m`` apart measure within :data:`FAR_ERROR_M`.

    The nearest of vertices ``s`` apart along a segment at distance ``d`` is at most
    ``sqrt(d² + h²) < d + h² / 2d`` away (``h = s / 2``), and ``d`` is at least that
    vertex distance minus ``h``.
    """
    half = spacing_m / 2
    return half * half / (2 * FAR_ERROR_M) + half


@dataclass(frozen=True)
class _VertexLevel:
    """Shared-boundary vertices at most ``spacing_m`` apart, with the member across each."""

    spacing_m: float
    tree: cKDTree
    other: NDArray[np.intp]


@dataclass(frozen=True)
class _SharedBoundary:
    """One member's shared boundaries: segments, and vertex KD-trees to bound distances.

    ``levels`` hold the lines' vertices from the coarsest spacing to :data:`DENSIFY_M`; a
    point's distance is read from the coarsest level that measures it within
    :data:`FAR_ERROR_M` (:func:`accepts_from_m`), so a far point never searches dense
    vertices. ``lines`` has, per member across, the vertices of the zone level (the coarsest
    within :data:`FAR_ERROR_M` at W) to tell which zones hold a point.
    """

    segments: shapely.STRtree
    other: NDArray[np.intp]  # per segment: the member on the other side
    levels: list[_VertexLevel]  # coarsest first
    zone_level: _VertexLevel
    lines: list[tuple[int, cKDTree, Any]]  # (member across, its vertices, the line in metres)


@dataclass(frozen=True)
class _MemberTable:
    """A territory's members as arrays and dicts (see :attr:`ClusterTerritory.table`)."""

    codes: NDArray[np.object_]  # unit code, or the organisation's id
    organisation: NDArray[np.bool_]
    joined: NDArray[np.datetime64]  # date.min when unknown
    left: NDArray[np.datetime64]  # date.max when open
    holders: dict[str, int]  # unit code → member index, for members with territory
    detectors: dict[str, int]  # member id or code → member index
    index: dict[str, int]  # code → member index
    names: dict[str, str]  # code → full unit name, or the organisation's name
    junction_xy: NDArray[np.float64]  # junctions × 2: where three or more sides meet (m)
    junction_members: NDArray[np.bool_]  # junctions × sides: who meets there


def _spacings() -> list[float]:
    """Vertex spacings of the distance levels, coarsest first, halving to :data:`DENSIFY_M`."""
    count = int(np.log2(COARSEST_M / DENSIFY_M)) + 1
    return [DENSIFY_M * 2.0**i for i in reversed(range(count))]


def _vertex_level(
    segments: NDArray[np.object_], other: NDArray[np.intp], spacing_m: float
) -> _VertexLevel:
    vertices, owner = shapely.get_coordinates(
        shapely.segmentize(segments, spacing_m), return_index=True
    )
    return _VertexLevel(spacing_m, cKDTree(vertices), other[owner])


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
    #: Full names of units of other sets by code (detectors named by an older code).
    other_names: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    #: For a carried cluster: the cluster as signed, and the set its members are named in.
    origin: Cluster | None = field(default=None, repr=False, compare=False)
    origin_set: BoundarySet | None = field(default=None, repr=False, compare=False)
    #: Pieces of one large batch are judged on several threads (see cluster_columns).
    line_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

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
        whether the unit has geometry in the set; ``area_code`` is the code of the unit whose
        geometry stands for the member's territory: its own, or (without it) its nearest
        parent with geometry (a ward's district); ``planned`` members never take part.
        """
        shaped = set(self.bset.frame.loc[self.bset.frame["has_geometry"], "code"])
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
                    "planned": member.planned,
                    "has_territory": code is not None
                    and code in shaped
                    and self.bset.get(code).level == self.cluster.level,
                    "area_code": self._area_code(code, shaped) if code else None,
                }
            )
        return pd.DataFrame(rows)

    def _area_code(self, code: str, shaped: set[str]) -> str | None:
        """Return the member's own code when it has geometry, else its nearest parent's."""
        try:
            chain = self.bset.chain(code)
        except GeozoneError:
            return None
        return next((unit.code for unit in chain if unit.code in shaped), None)

    @cached_property
    def mode(self) -> str:
        """How the territory can be judged.

        ``"exact"``: every territorial member has geometry at the cluster's level;
        ``"coarse"``: some have none (old wards of the legacy set without a ward layer), so
        incidents in the units standing in for them get a decision for review that says so
        (rule ``no_member_geometry``); ``"none"``: no member has any geometry.
        """
        units = self.members[(self.members["kind"] == "unit") & ~self.members["planned"]]
        if len(units) and units["has_territory"].all():
            return "exact"
        return "coarse" if units["area_code"].notna().any() else "none"

    @property
    def geometric(self) -> bool:
        """Whether the members' territories are drawn from their own geometry (exact mode)."""
        return self.mode == "exact" and self.applies

    @cached_property
    def applies(self) -> bool:
        """True when incidents can be judged: two members with geometry, or a coarse mode."""
        if self.mode == "coarse":
            return True
        return int(self.members["has_territory"].sum()) >= 2

    @property
    def decides(self) -> bool:
        """Whether decisions are made (a lapsed carried cluster makes none until confirmed)."""
        return self.cluster.decides

    @cached_property
    def missing_geometry(self) -> tuple[str, ...]:
        """Codes of the territorial members without geometry (coarse mode)."""
        units = self.members[(self.members["kind"] == "unit") & ~self.members["planned"]]
        return tuple(units.loc[~units["has_territory"], "code"].drop_duplicates())

    @cached_property
    def area_codes(self) -> tuple[str, ...]:
        """The units standing in for the members' territories in coarse mode."""
        units = self.members[(self.members["kind"] == "unit") & ~self.members["planned"]]
        return tuple(units["area_code"].dropna().drop_duplicates())

    @cached_property
    def epsg(self) -> int:
        """The UTM zone the cluster's metric work is done in (that of its members' centre)."""
        geoms = self._member_geometries()
        centre = shapely.centroid(shapely.union_all(geoms))
        return int(utm_epsg(float(shapely.get_x(centre))))

    @cached_property
    def reach(self) -> tuple[float, float, float, float]:
        """Lon/lat bounds of the members' territory, a little wider than the tolerance."""
        minx, miny, maxx, maxy = shapely.total_bounds(self._member_geometries())
        pad = degrees_bound(get_settings().boundary_tolerance_m + 1.0)
        return float(minx - pad), float(miny - pad), float(maxx + pad), float(maxy + pad)

    @cached_property
    def outline(self) -> Any:
        """The members' territory as one prepared polygon (lon/lat), widened by a metre."""
        union = shapely.union_all(self._member_geometries())
        outline = shapely.buffer(union, degrees_bound(1.0), quad_segs=2)
        shapely.prepare(outline)
        warm_prepared(np.array([outline], dtype=object))
        return outline

    def _member_geometries(self) -> NDArray[np.object_]:
        if self.mode == "coarse":
            codes = pd.Series(self.area_codes, dtype=object)
        else:
            codes = self.members.loc[self.members["has_territory"], "code"]
        return np.array([self.bset.geometry(code) for code in codes], dtype=object)

    @cached_property
    def sides(self) -> ZoneSides:
        """The sides of the border zone: the members, or a carried cluster's originals.

        See :mod:`geozone.clusters.sides`: a carried cluster's zone runs along the lines between
        different original members, never between two successors of one.
        """
        if self.origin is not None and self.origin_set is not None:
            return carried_zone_sides(self.cluster, self.origin, self.origin_set, self.width_m)
        return member_zone_sides(self.cluster, self.bset, tuple(self.members["code"]))

    @property
    def carried_sides(self) -> bool:
        """Whether the zone's sides are not the members themselves."""
        return self.sides.carried

    @cached_property
    def _adjacency(self) -> Adjacency:
        return self.sides.adjacency

    def _metric(self, frame: gpd.GeoDataFrame) -> NDArray[np.object_]:
        return project_geometries(frame.geometry.to_numpy(), np.full(len(frame), self.epsg))

    @cached_property
    def lines(self) -> gpd.GeoDataFrame:
        """Shared boundaries between the zone's sides (``code_a``, ``code_b``), in metres.

        For an ordinary cluster the sides are the members (see :attr:`sides`).
        """
        lines = self._adjacency.lines
        metric = self._metric(lines)
        shapely.prepare(metric)
        # GEOS indexes a prepared line for distances on first use: once now, on one thread.
        shapely.dwithin(metric, shapely.get_point(metric, 0), 1.0)
        return gpd.GeoDataFrame(lines[["code_a", "code_b"]], geometry=list(metric), crs=self.epsg)

    @cached_property
    def boundary_index(self) -> dict[int, _SharedBoundary]:
        """Return, per side index, an index of its shared boundaries (metres).

        Each side (a member, see :attr:`sides`) gets an STRtree of its shared-boundary
        segments, so a point costs a tree query, not a walk along every vertex of a long
        line, and KD-trees of the same lines' vertices (see :class:`_SharedBoundary`).
        """
        index = {code: k for k, code in enumerate(self.sides.codes)}
        lines = self.lines
        parts, part_line = shapely.get_parts(lines.geometry.to_numpy(), return_index=True)
        coords, part_of = shapely.get_coordinates(parts, return_index=True)
        line_of = part_line[part_of]
        starts = np.flatnonzero(part_of[1:] == part_of[:-1])  # never join two parts
        segments = shapely.linestrings(np.stack([coords[starts], coords[starts + 1]], axis=1))
        side_a = lines["code_a"].map(index).to_numpy(int)[line_of[starts]]
        side_b = lines["code_b"].map(index).to_numpy(int)[line_of[starts]]
        found = {}
        for k in np.unique(np.concatenate([side_a, side_b])):
            mine = (side_a == k) | (side_b == k)
            other = np.where(side_a[mine] == k, side_b[mine], side_a[mine])
            levels = [_vertex_level(segments[mine], other, s) for s in _spacings()]
            zone = next(
                (v for v in levels if accepts_from_m(v.spacing_m) <= self.width_m), levels[-1]
            )
            found[int(k)] = _SharedBoundary(
                shapely.STRtree(segments[mine]),
                other,
                levels,
                zone,
                [
                    (j, cKDTree(zone.tree.data[zone.other == j]), line)
                    for j, line in self.member_lines.get(int(k), [])
                ],
            )
        return found

    @cached_property
    def member_lines(self) -> dict[int, list[tuple[int, Any]]]:
        """Return, per side index, its shared lines (prepared, metres) and who is across."""
        index = {code: k for k, code in enumerate(self.sides.codes)}
        found: dict[int, list[tuple[int, Any]]] = {}
        for code_a, code_b, line in zip(
            self.lines["code_a"], self.lines["code_b"], self.lines.geometry, strict=True
        ):
            a, b = index[code_a], index[code_b]
            found.setdefault(a, []).append((b, line))
            found.setdefault(b, []).append((a, line))
        return found

    @cached_property
    def junctions(self) -> gpd.GeoDataFrame:
        """Points where three or more sides meet (``codes``), in metres (UTM)."""
        junctions = self._adjacency.junctions
        return gpd.GeoDataFrame(
            junctions[["codes"]], geometry=list(self._metric(junctions)), crs=self.epsg
        )

    @cached_property
    def zones(self) -> BorderZones:
        """The cluster's border zones (EPSG:4326), as maps, exports and analytics show them.

        Along the lines between its sides: the members' own lines, or a carried cluster's
        original lines (see :attr:`sides`) cut to the carried members' territory.
        """
        return self.zones_of_width(self.width_m)

    def zones_of_width(self, width_m: float) -> BorderZones:
        """Return the border zones for another band width (see :attr:`zones`).

        A zone a planner drew when confirming a carried cluster is the zone, whatever W.
        """
        from geozone.clusters.zones import border_zones, drawn_border_zones

        sides = self.sides
        if self.drawn is not None:
            lines = sides.adjacency.lines
            return drawn_border_zones(
                self.drawn, sides.codes, sides.polygons, lines, sides.bset.id, sides.level, width_m
            )
        if not sides.carried:
            codes = [str(c) for c in self.members.loc[self.members["has_territory"], "code"]]
            return border_zones(self.bset, codes, width_m, self.cluster.level)
        found = border_zones(
            sides.bset, list(sides.codes), width_m, sides.level, adjacency=sides.adjacency
        )
        return found.clipped(shapely.union_all(self._member_geometries()))

    def side_facts(
        self, lon: NDArray[np.float64], lat: NDArray[np.float64]
    ) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
        """Return each point's side code and the side codes of its zone (None / [] if none).

        The same zone engine as the decisions, at the level of the sides (a carried cluster's
        original members): what its border effect is counted on.
        """
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        side = self.sides.side_of(lon, lat) if self.sides.carried else np.full(len(lon), -1)
        x, y = project_xy(lon, lat, np.full(len(lon), self.epsg))
        n = len(lon)
        empty = np.zeros(n, dtype=np.intp)
        pts = _Points(np.arange(n), side, empty - 1, np.ones(n, dtype=bool), x, y, empty - 1, side)
        near, _, _, _ = _zones(self, pts)
        near[side < 0] = False
        codes = np.asarray(self.sides.codes, dtype=object)
        ids, lists = _distinct_sets(near, codes)
        return _code_of(codes, side), _lists(lists, ids)

    @property
    def attribution(self) -> str:
        """The attribution of the boundary data its maps and exports draw on.

        Both sets' for a carried cluster, whose zone follows the original set's lines.
        """
        texts = [self.bset.info.attribution]
        if self.geometric and self.sides.carried and self.sides.bset.id != self.bset.id:
            texts.append(self.sides.bset.info.attribution)
        return "; ".join(dict.fromkeys(texts))

    def original_zone_km2(self) -> float | None:
        """Return the area of a carried cluster's zone along its original lines, uncut (km²).

        Compare it with :attr:`zones`' union (cut to the carried members' territory): the
        carried zone keeps the original's meaning when the two are close.
        """
        from geozone.clusters.zones import border_zones

        sides = self.sides
        if not sides.carried:
            return None
        found = border_zones(
            sides.bset, list(sides.codes), self.width_m, sides.level, adjacency=sides.adjacency
        )
        return float(found.area_summary()["union_km2"])

    @cached_property
    def drawn(self) -> Any:
        """The border zone a planner drew at confirmation (prepared, lon/lat), or None."""
        if self.cluster.drawn_zone is None:
            return None
        shape = shapely.from_wkt(self.cluster.drawn_zone)
        shapely.prepare(shape)
        return shape

    @cached_property
    def member_tree(self) -> tuple[shapely.STRtree, NDArray[np.object_], NDArray[np.intp]]:
        """The members' polygons in metres: a tree, the polygons, and their member index."""
        has = self.members["has_territory"].to_numpy(bool)
        index = np.flatnonzero(has)
        polygons = project_geometries(
            np.array([self.bset.geometry(c) for c in self.members["code"][has]], dtype=object),
            np.full(len(index), self.epsg, dtype=np.int64),
        )
        return shapely.STRtree(polygons), polygons, index

    @cached_property
    def table(self) -> _MemberTable:
        """The members as arrays and lookups, made once for every batch judged."""
        members = self.members
        codes = members["code"].to_numpy(dtype=object)
        has_territory = members["has_territory"].to_numpy(dtype=bool)
        names = {
            code: self.bset.get(code).full_name
            if kind == "unit" and code in self.bset.full_names
            else name
            for code, name, kind in zip(codes, members["name"], members["kind"], strict=True)
        }
        # A planned member (admission agreed, no date) never joins.
        joined = [
            date.max if member.planned else member.joined or date.min
            for member in self.cluster.members
        ]
        left = [member.left or date.max for member in self.cluster.members]
        index = {code: k for k, code in enumerate(codes)}
        if self.geometric:
            junctions = self.junctions
            junction_xy = shapely.get_coordinates(junctions.geometry.to_numpy()).reshape(-1, 2)
            listed_codes = list(junctions["codes"])
            side_codes = self.sides.codes
        else:
            junction_xy, listed_codes, side_codes = np.zeros((0, 2)), [], tuple(codes)
        side_index = {code: k for k, code in enumerate(side_codes)}
        junction_members = np.zeros((len(listed_codes), len(side_codes)), dtype=bool)
        for j, listed in enumerate(listed_codes):
            junction_members[j, [side_index[c] for c in listed if c in side_index]] = True
        return _MemberTable(
            codes=codes,
            organisation=members["kind"].to_numpy(dtype=object) == "organisation",
            joined=np.array(joined, dtype="datetime64[D]"),
            left=np.array(left, dtype="datetime64[D]"),
            holders={code: k for k, code in enumerate(codes) if has_territory[k]},
            detectors={
                **self._successor_aliases(),
                **{mid: k for k, mid in enumerate(members["member_id"])},
                **index,
            },
            index=index,
            names=names,
            junction_xy=junction_xy,
            junction_members=junction_members,
        )

    def _successor_aliases(self) -> dict[str, int]:
        """Original members' ids and codes of a carried cluster → their only successor.

        A detector named by an original member (An Giang's old code 89) is that member's
        successor in the carried cluster (the new An Giang, 91) when it has exactly one.
        """
        owners: dict[str, set[int]] = {}
        for k, member in enumerate(self.cluster.members):
            for key in member.successor_of:
                owners.setdefault(key, set()).add(k)
        return {key: next(iter(ks)) for key, ks in owners.items() if len(ks) == 1}

    def unit_name(self, code: Any, language: str = "vi") -> str:
        """Name a unit for a sentence: a member's name, else a unit's name with its code.

        Codes of this set or (failing that) of another loaded set get their full name and the
        code in brackets; other text (a detector written as free text) is quoted as given.
        """
        if code is None or (isinstance(code, float) and np.isnan(code)):
            return CLAUSES["unknown"][language]
        names = self.table.names
        if code in names:
            return names[code]
        key = str(code)
        full = self.bset.full_names.get(key) or self.other_names.get(key)
        if full is not None:
            return f"{full} ({key})"
        return f"«{key}»"

    def prepare(self) -> None:
        """Build the shared-boundary indexes now rather than on the first incidents judged."""
        if self.geometric:
            self.outline  # noqa: B018
            self.boundary_index  # noqa: B018
            self.member_lines  # noqa: B018
            self.junctions  # noqa: B018
            self.table  # noqa: B018

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
    clusters: Iterable[Cluster],
    sets: Sequence[BoundarySet],
    carry_into: BoundarySet | None = None,
    confirmations: Mapping[str, Confirmation] | None = None,
) -> list[ClusterTerritory]:
    """Place clusters on the sets their members are named in, and carry them forward.

    A cluster named in a set without geometry at its level (the pre-2025 wards are a register
    only) is placed in coarse mode: its incidents get a decision for review saying what is
    missing (see :attr:`ClusterTerritory.mode`). With ``carry_into`` every cluster named in
    an older set is also carried into that set's units (``geozone.clusters.migrate``): confirmed
    from
    the date in ``confirmations`` (keyed by the carried id, ``<id>-<set>``), else proposed
    or lapsed as its original stood on the reform date.
    """
    from geozone.clusters.migrate import migrate_cluster

    by_id = {bset.id: bset for bset in sets}
    confirmed = confirmations or {}
    elsewhere = {bset.id: _names_elsewhere(sets, bset) for bset in sets}
    placed = []
    for cluster in clusters:
        home = by_id.get(cluster.boundary_set)
        if home is None:
            continue
        territory = ClusterTerritory(cluster, home, elsewhere[home.id])
        if territory.applies:
            placed.append(territory)
        if carry_into is not None and home.id != carry_into.id:
            migration = migrate_cluster(cluster, home, carry_into)
            confirmation = confirmed.get(f"{cluster.id}-{carry_into.id}")
            carried = migration.to_cluster(
                confirmed_from=confirmation.from_date if confirmation else None,
                confirmed_by=confirmation.by if confirmation else None,
                drawn_zone=confirmation.zone if confirmation else None,
            )
            placed.append(
                ClusterTerritory(
                    carried, carry_into, elsewhere[carry_into.id], origin=cluster, origin_set=home
                )
            )
    return placed


def _names_elsewhere(sets: Sequence[BoundarySet], home: BoundarySet) -> dict[str, str]:
    """Full names of the units of the other sets, by code (the newest set's name first)."""
    names: dict[str, str] = {}
    for bset in sorted(sets, key=lambda b: b.info.valid_from):
        if bset.id != home.id:
            names.update(bset.full_names)
    return names


# -- the lead rule ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    """The incidents one territory judges: their rows, holder, area and detector members."""

    rows: NDArray[np.intp]
    holder: NDArray[np.intp]  # index into territory members, -1 when outside every member
    detector: NDArray[np.intp]  # index into members, -1 when not a member
    detector_known: NDArray[np.bool_]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    area: NDArray[np.intp]  # coarse mode: index into territory.area_codes, -1 outside them
    side: NDArray[np.intp]  # index into territory.sides (the holder unless carried), or -1

    @classmethod
    def none(cls) -> _Points:
        """Return the selection of no incident."""
        empty = np.zeros(0, dtype=np.intp)
        return cls(
            empty, empty, empty, np.zeros(0, dtype=bool), np.zeros(0), np.zeros(0), empty, empty
        )

    def pieces(self, size: int) -> list[_Points]:
        """Split into consecutive pieces of at most ``size`` incidents (in order)."""
        step = max(size, 1)
        return [
            _Points(
                self.rows[start : start + step],
                self.holder[start : start + step],
                self.detector[start : start + step],
                self.detector_known[start : start + step],
                self.x[start : start + step],
                self.y[start : start + step],
                self.area[start : start + step],
                self.side[start : start + step],
            )
            for start in range(0, len(self.rows), step)
        ]


#: Up to this many values are factorised with a dict: pandas' hashing costs more for a few.
_FEW = 16


def _factorized(values: Any) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
    """Return ``pd.factorize``'s codes and uniques (missing values coded -1)."""
    values = np.asarray(values, dtype=object)
    if len(values) > _FEW:
        codes, uniques = pd.factorize(values)
        return codes.astype(np.intp), np.asarray(uniques, dtype=object)
    seen: dict[Any, int] = {}
    few = [-1 if _missing(v) else seen.setdefault(v, len(seen)) for v in values]
    listed: NDArray[np.object_] = np.empty(len(seen), dtype=object)
    listed[:] = list(seen)
    return np.array(few, dtype=np.intp), listed


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


class _Coded:
    """Incident columns as arrays and integer codes, shared by every territory of a batch.

    Each is made when a territory first needs it, once: a batch the territories' gate
    (:func:`_concerns`) turns away costs next to nothing.
    """

    def __init__(
        self, incidents: Columns, units: Columns, days: NDArray[np.datetime64] | None = None
    ) -> None:
        self.incidents, self.units = incidents, units
        self.days = local_dates(incidents["occurred_at"]) if days is None else days
        self.lon = as_array(incidents, "lon", float)
        self.lat = as_array(incidents, "lat", float)
        self._levels: dict[str, tuple[NDArray[np.intp], NDArray[np.object_]]] = {}

    @cached_property
    def set_ids(self) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return the boundary set of each incident, factorised."""
        return _factorized(self.units["set_id"])

    @cached_property
    def detectors(self) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return ``detected_by``, factorised."""
        return _factorized(self.detected_by)

    @cached_property
    def detector_known(self) -> NDArray[np.bool_]:
        """Return whether each incident names a detecting unit (not missing, not blank)."""
        codes, uniques = self.detectors
        blank = np.array([not str(u).strip() for u in uniques] + [True], dtype=bool)
        return ~blank[codes]  # code -1 (missing) picks the trailing True

    @cached_property
    def external_id(self) -> NDArray[np.object_]:
        """Return the incidents' external ids."""
        return as_array(self.incidents, "external_id", object)

    @cached_property
    def detected_by(self) -> NDArray[np.object_]:
        """Return the incidents' ``detected_by`` as given."""
        return as_array(self.incidents, "detected_by", object)

    @cached_property
    def unit_code(self) -> NDArray[np.object_]:
        """Return the leaf unit holding each incident."""
        return np.asarray(self.units["unit_code"], dtype=object)

    @cached_property
    def status_inside(self) -> NDArray[np.bool_]:
        """Return whether a unit of the set holds each incident (status ``inside``)."""
        status: NDArray[np.object_] = np.asarray(self.units["locate_status"], dtype=object)
        return np.asarray(status == "inside", dtype=bool)

    @cached_property
    def on_boundary(self) -> NDArray[np.bool_]:
        """Return the on-boundary flag of each incident."""
        return np.asarray(self.units["on_boundary"], dtype=bool)

    @cached_property
    def candidates(self) -> NDArray[np.object_]:
        """Return the boundary candidates (code lists) of each incident."""
        return np.asarray(self.units["candidates"], dtype=object)

    def fill(self) -> None:
        """Make every column now (before threads share this object)."""
        for name in ("set_ids", "detectors", "detector_known", "external_id", "unit_code"):
            getattr(self, name)
        for name in ("on_boundary", "candidates", "set_names", "detector_names", "box"):
            getattr(self, name)
        for name in ("status_inside",):
            getattr(self, name)
        for level in ("province", "district", "ward"):
            if f"{level}_code" in self.units:
                self.level(level)

    def level(self, name: str) -> tuple[NDArray[np.intp], NDArray[np.object_]]:
        """Return the unit codes of one level (``province``, ``district``, ``ward``), factorised."""
        if name not in self._levels:
            self._levels[name] = _factorized(self.units[f"{name}_code"])
        return self._levels[name]

    @cached_property
    def set_names(self) -> set[Any]:
        """Return the ids of the boundary sets the batch was judged in."""
        return set(self.set_ids[1].tolist())

    @cached_property
    def detector_names(self) -> set[Any]:
        """Return the distinct ``detected_by`` values of the batch."""
        return set(self.detectors[1].tolist())

    @cached_property
    def box(self) -> tuple[float, float, float, float] | None:
        """Return the batch's lon/lat bounds (finite coordinates only), None when none is."""
        finite = np.isfinite(self.lon) & np.isfinite(self.lat)
        if not finite.any():
            return None
        lon, lat = self.lon[finite], self.lat[finite]
        return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _concerns(territory: ClusterTerritory, coded: _Coded) -> bool:
    """Whether any incident of the batch may concern a territory: a cheap gate before the work.

    An incident concerns it only when judged in its set and held by a member (so inside the
    members' outline) or detected by a member; a batch missing both costs no array work. A
    lapsed carried cluster concerns none.
    """
    if not territory.decides or territory.bset.id not in coded.set_names:
        return False
    if not territory.table.detectors.keys().isdisjoint(coded.detector_names):
        return True
    box, reach = coded.box, territory.reach
    if (
        box is None
        or box[0] > reach[2]
        or box[2] < reach[0]
        or box[1] > reach[3]
        or box[3] < reach[1]
    ):
        return False
    # A few points are worth testing against the members' outline; many go on to _select.
    return len(coded.lon) > _FEW or bool(
        shapely.intersects_xy(territory.outline, coded.lon, coded.lat).any()
    )


def _member_index(
    coded: tuple[NDArray[np.intp], NDArray[np.object_]], lookup: dict[str, int]
) -> NDArray[np.intp]:
    """Member index of each row (-1 when none), looking up each distinct value once."""
    codes, uniques = coded
    per_value = np.array([lookup.get(value, -1) for value in uniques] + [-1], dtype=np.intp)
    return per_value[codes]  # code -1 (missing) picks the trailing -1


def _active(
    member: NDArray[np.intp], days: NDArray[np.datetime64], table: _MemberTable
) -> NDArray[np.intp]:
    """Keep the member index on the days the member belongs to the cluster, else -1.

    A member is in from ``joined`` and out from ``left`` (exclusive), as
    :meth:`geozone.clusters.model.Member.active_on` says.
    """
    k = np.maximum(member, 0)
    ok = (member >= 0) & (days >= table.joined[k]) & (days < table.left[k])
    return np.where(ok, member, -1)


def _area_index(territory: ClusterTerritory, coded: _Coded) -> NDArray[np.intp]:
    """Coarse mode: the index of the unit of ``area_codes`` holding each incident, else -1."""
    lookup = {code: k for k, code in enumerate(territory.area_codes)}
    found = np.full(len(coded.lon), -1, dtype=np.intp)
    for level in reversed(territory.bset.levels):  # finest first
        if f"{level}_code" in coded.units:
            here = _member_index(coded.level(level), lookup)
            found = np.where(found >= 0, found, here)
    return found


def _select(territory: ClusterTerritory, coded: _Coded) -> _Points:
    """Return the incidents a territory judges: in its set and period, held or detected by one.

    Rows are narrowed at each step (set, period, a member's code), so a territory no incident
    of the batch concerns costs a few array operations. In coarse mode no member holds a
    point: the units standing in for the members (``area``) take their place.
    """
    set_codes, set_values = coded.set_ids
    home = np.flatnonzero(set_values == territory.bset.id)
    rows = np.flatnonzero(set_codes == home[0]) if len(home) else np.zeros(0, dtype=np.intp)
    rows = rows[territory.in_force(coded.days[rows])]
    table = territory.table
    coarse = territory.mode == "coarse"
    if coarse:
        holder = np.full(len(rows), -1, dtype=np.intp)
        area = _area_index(territory, coded)[rows]
    else:
        holder = _member_index(coded.level(territory.cluster.level), table.holders)[rows]
        area = np.full(len(rows), -1, dtype=np.intp)
    detector = _member_index(coded.detectors, table.detectors)[rows]
    if not ((holder >= 0) | (detector >= 0) | (area >= 0)).any():
        return _Points.none()
    days = coded.days[rows]
    holder = _active(holder, days, table)
    detector = _active(detector, days, table)
    keep = (holder >= 0) | (detector >= 0) | (area >= 0)
    rows = rows[keep]
    holder = holder[keep]
    x, y = project_xy(coded.lon[rows], coded.lat[rows], np.full(len(rows), territory.epsg))
    side = holder
    if not coarse and territory.carried_sides:
        # A carried member may succeed several originals: the point's side is the original
        # member whose old polygon holds it.
        side = np.where(holder >= 0, territory.sides.side_of(coded.lon[rows], coded.lat[rows]), -1)
    return _Points(rows, holder, detector[keep], coded.detector_known[rows], x, y, area[keep], side)


def _zones(
    territory: ClusterTerritory, pts: _Points, jobs: int = 1
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.intp], NDArray[np.bool_]]:
    """Sides whose shared boundary with the point's side lies within W of each point.

    Returns ``near`` (points × sides), the distance to the nearest boundary of the point's
    side, the side across it, and whether a junction disc holds the point. The sides are the
    members for an ordinary cluster (see :attr:`ClusterTerritory.sides`).
    Distances come from the shared boundary's vertex levels (:class:`_SharedBoundary`,
    within :data:`FAR_ERROR_M`), and from the segments themselves nearer than
    :data:`EXACT_WITHIN_M`. A point is in a pair's zone when the zone level's vertices of
    that line lie within W; in the thin band where they do not tell, the line decides.
    """
    width = territory.width_m
    near = np.zeros((len(pts.rows), len(territory.sides.codes)), dtype=bool)
    distance = np.full(len(pts.rows), np.inf)
    across = np.full(len(pts.rows), -1)
    xy = np.column_stack([pts.x, pts.y])
    jobs = jobs if len(xy) >= _KD_THREADS_FROM else 1  # a few points stay on this thread
    for k, shared in territory.boundary_index.items():
        held = np.flatnonzero(pts.side == k)
        if not len(held):
            continue
        _nearest_boundary(shared, xy, held, distance, across, jobs)
        half = shared.zone_level.spacing_m / 2
        reach = float(np.hypot(width, half)) + 1e-6
        maybe = held[distance[held] <= reach + FAR_ERROR_M]  # the distance may be that long
        for j, vertices, line in shared.lines:
            # The nearest boundary, when within W, needs no search (its distance is an upper
            # bound, or exact); the other lines are searched up to W.
            known = (across[maybe] == j) & (distance[maybe] <= width)
            near[maybe[known], k] = near[maybe[known], j] = True
            ask = maybe[~known]
            bound, _ = vertices.query(xy[ask], distance_upper_bound=reach, workers=jobs)
            band = np.flatnonzero((bound > width) & np.isfinite(bound))
            inside = bound <= width
            with territory.line_lock:  # a prepared line, used by one thread at a time
                inside[band] = shapely.dwithin(line, shapely.points(xy[ask[band]]), width)
            near[ask[inside], k] = near[ask[inside], j] = True
    junction = _junctions(territory, pts, near)
    return near, distance, across, junction


def _nearest_boundary(
    shared: _SharedBoundary,
    xy: NDArray[np.float64],
    held: NDArray[np.intp],
    distance: NDArray[np.float64],
    across: NDArray[np.intp],
    jobs: int,
) -> None:
    """Fill the distance to the nearest shared boundary (and who is across) of ``held``.

    The coarsest level bounds every distance from above and below (within its half
    spacing); each point then searches the coarsest level that measures that lower bound
    well enough, and a point found nearer than that level measures goes one level finer.
    """
    coarsest = shared.levels[0]
    gap, vertex = coarsest.tree.query(xy[held], workers=jobs)
    lower = np.maximum(gap - coarsest.spacing_m / 2, 0.0)
    accepts = np.array([accepts_from_m(level.spacing_m) for level in shared.levels])
    accepts[-1] = 0.0  # the finest level measures every point (the nearest exactly, below)
    start = np.argmax(accepts[None, :] <= lower[:, None], axis=1)
    for i, level in enumerate(shared.levels):
        mine = np.flatnonzero(start == i)
        if not len(mine):
            continue
        if i:
            bound = float(gap[mine].max()) + level.spacing_m / 2 + 1e-6
            gap[mine], vertex[mine] = level.tree.query(
                xy[held[mine]], distance_upper_bound=bound, workers=jobs
            )
        done = gap[mine] >= accepts[i]
        start[mine[~done]] = i + 1  # nearer than the level measures well: go finer
        distance[held[mine[done]]] = gap[mine[done]]
        across[held[mine[done]]] = level.other[vertex[mine[done]]]
    close = held[distance[held] <= EXACT_WITHIN_M]
    if len(close):
        nearest, exact = shared.segments.query_nearest(
            shapely.points(xy[close]),
            max_distance=EXACT_WITHIN_M + DENSIFY_M / 2,
            return_distance=True,
            all_matches=False,
        )
        distance[close[nearest[0]]] = exact
        across[close[nearest[0]]] = shared.other[nearest[1]]


def _junctions(
    territory: ClusterTerritory, pts: _Points, near: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Mark the points within W of a junction of their holder (and those members in ``near``).

    The points get a KD-tree of their own, queried once per junction (there are few).
    """
    table, width = territory.table, territory.width_m
    junction = np.zeros(len(pts.rows), dtype=bool)
    if not len(table.junction_xy) or not len(pts.rows):
        return junction
    found = cKDTree(np.column_stack([pts.x, pts.y])).query_ball_point(table.junction_xy, width)
    point = np.concatenate([np.asarray(f, dtype=np.intp) for f in found])
    meets = table.junction_members[np.repeat(np.arange(len(found)), [len(f) for f in found])]
    holder = pts.side[point]
    own = (holder >= 0) & meets[np.arange(len(point)), np.maximum(holder, 0)]
    junction[point[own]] = True
    np.logical_or.at(near, point[own], meets[own])
    return junction


def _on_boundary_members(
    territory: ClusterTerritory, coded: _Coded, pts: _Points
) -> NDArray[np.bool_]:
    """Points × members: the members among each point's boundary candidates (when ≥ 2)."""
    index = territory.table.holders
    found = np.zeros((len(pts.rows), len(territory.table.codes)), dtype=bool)
    flagged = np.flatnonzero(coded.on_boundary[pts.rows])
    listed = [c or [] for c in coded.candidates[pts.rows[flagged]]]
    sizes = np.fromiter((len(c) for c in listed), dtype=np.intp, count=len(listed))
    member = np.fromiter(
        (index.get(code, -1) for codes in listed for code in codes),
        dtype=np.intp,
        count=int(sizes.sum()),
    )
    row = np.repeat(flagged, sizes)
    keep = member >= 0
    # Only members of the day: a unit that joins later is no member yet.
    days = coded.days[pts.rows[row[keep]]]
    table = territory.table
    keep[keep] = (days >= table.joined[member[keep]]) & (days < table.left[member[keep]])
    found[row[keep], member[keep]] = True
    found[found.sum(axis=1) < 2] = False
    return found


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
) -> dict[str, NDArray[Any]] | None:
    """Return :func:`assign_clusters`'s columns as arrays (None when no cluster is concerned).

    ``units`` may be :func:`jurisdiction`'s frame or :func:`locate_incidents`'s columns;
    ``days`` the incidents' dates in Vietnam time (:func:`local_dates`) when known already
    (``incidents`` may then be a mapping of arrays without ``occurred_at``).
    """
    coded = _Coded(incidents, units, days)
    settings = get_settings()
    tol = settings.boundary_tolerance_m if tolerance_m is None else tolerance_m
    concerned = [t for t in placed if t.applies and _concerns(t, coded)]
    # Incidents are judged independently: a large batch is cut into pieces of about equal
    # size (a busy cluster gets several) and the pieces are judged on several threads.
    threads = settings.workers if len(coded.lon) >= MIN_POINTS_PER_THREAD else 1
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
    parts = thread_map(lambda job: _judge(*job, coded, tol, jobs), pieces, threads)
    if not parts:
        return None
    return {
        column: parts[0][column]
        if len(parts) == 1
        else np.concatenate([part[column] for part in parts])
        for column in CLUSTER_COLUMNS
    }


def _code_of(codes: NDArray[np.object_], index: NDArray[np.intp]) -> NDArray[np.object_]:
    """Member codes at ``index``, None where the index is -1."""
    out: NDArray[np.object_] = np.full(len(index), None, dtype=object)
    out[index >= 0] = codes[index[index >= 0]]
    return out


def _zone_kind(
    zoned: NDArray[np.bool_], junction: NDArray[np.bool_], n_units: NDArray[np.intp]
) -> NDArray[np.object_]:
    """Return "junction" where three or more members meet, "pair" in other zones, else None."""
    out: NDArray[np.object_] = np.full(len(zoned), None, dtype=object)
    out[zoned] = np.where(junction | (n_units >= 3), "junction", "pair")[zoned]
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
    territory: ClusterTerritory, pts: _Points, coded: _Coded, tolerance_m: float, jobs: int
) -> dict[str, NDArray[Any]]:
    """Return a territory's decision columns (:data:`CLUSTER_COLUMNS`) for incidents ``pts``.

    The facts of each incident are gathered (zones and boundaries from the geometry, or, in
    coarse mode, the units standing in for the members), the rule table chooses the rule
    (:func:`geozone.assignment.rules.choose`) and the decision follows from it. ``jobs``: threads
    for
    the KD-tree searches of a large piece.
    """
    n = len(pts.rows)
    table = territory.table
    none = np.zeros((n, len(table.codes)), dtype=bool)
    is_org = (pts.detector >= 0) & table.organisation[np.maximum(pts.detector, 0)]
    in_unit = coded.status_inside[pts.rows]
    across_side = np.full(n, -1, dtype=np.intp)
    if territory.mode == "coarse":
        near, on_line = none, none
        distance, across = np.full(n, np.inf), np.full(n, -1, dtype=np.intp)
        junction = np.zeros(n, dtype=bool)
        in_zone = np.zeros(n, dtype=bool)
    elif territory.carried_sides:
        near_sides, distance, across_side, junction = _zones(territory, pts, jobs)
        if territory.drawn is not None:  # a planner's zone replaces the derived band
            near_sides, junction = _in_drawn(territory, pts, coded, across_side)
        in_zone = (pts.holder >= 0) & near_sides.any(axis=1)
        near, across, on_line = _carried_members(
            territory, pts, near_sides, distance, across_side, tolerance_m
        )
    else:
        near, distance, across, junction = _zones(territory, pts, jobs)
        on_line = _on_boundary_members(territory, coded, pts)
        in_zone = (pts.holder >= 0) & near.any(axis=1)
    held = pts.holder >= 0
    boundary = on_line.any(axis=1)
    facts = Facts(
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
    return _decisions(
        territory,
        pts,
        coded,
        tolerance_m,
        rule,
        zone,
        distance,
        across,
        junction,
        zoned,
        across_side,
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
    points = shapely.points(pts.x[ask], pts.y[ask])
    which, hit = tree.query(points, predicate="dwithin", distance=width)
    row, member = ask[which], index[hit]
    gap = shapely.distance(polygons[hit], points[which])
    stands = territory.sides.member_sides[member]  # pairs × sides
    reaches = (stands & near_sides[row]).any(axis=1)
    near[row[reaches], member[reaches]] = True
    facing = (across_side[row] >= 0) & stands[np.arange(len(row)), np.maximum(across_side[row], 0)]
    if facing.any():
        order = np.lexsort((member[facing], gap[facing], row[facing]))  # ties: member order
        first = np.unique(row[facing][order], return_index=True)[1]
        across[row[facing][order][first]] = member[facing][order][first]
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
    distance: NDArray[np.float64],
    across: NDArray[np.intp],
    junction: NDArray[np.bool_],
    zoned: NDArray[np.bool_],
    across_side: NDArray[np.intp],
) -> dict[str, NDArray[Any]]:
    """Assemble the decision columns from each incident's rule (leads as the table says).

    ``across_side`` (a carried cluster's, else -1) names the original member across the old
    line the distance is measured to.
    """
    codes = territory.table.codes
    n = len(pts.rows)
    lead_kind = _LEADS[rule]
    lead = np.where(lead_kind == "detector", pts.detector, pts.holder)
    lead_code = _code_of(codes, np.where(np.isin(lead_kind, ["holder", "detector"]), lead, -1))
    by_unit = lead_kind == "unit"
    lead_code[by_unit] = coded.unit_code[pts.rows][by_unit]
    coop_kind = _COOPERATING[rule]
    coop = zone.copy()
    leads = np.isin(lead_kind, ["holder", "detector"]) & (lead >= 0)
    coop[np.flatnonzero(leads), lead[leads]] = False
    coop[coop_kind != "zone_others"] = False
    hands_over = (coop_kind == "detector") & (pts.detector >= 0)
    coop[np.flatnonzero(hands_over), pts.detector[hands_over]] = True
    zone_id, zone_lists = _distinct_sets(zone, codes)
    coop_id, coop_lists = _distinct_sets(coop, codes)
    detector = np.where(
        pts.detector >= 0, codes[np.maximum(pts.detector, 0)], coded.detected_by[pts.rows]
    ).astype(object)
    columns: dict[str, NDArray[Any]] = {
        "external_id": coded.external_id[pts.rows],
        "cluster_id": np.full(n, territory.cluster.id, dtype=object),
        "member_code": _code_of(codes, pts.holder),
        "in_zone": zoned,
        "zone_kind": _zone_kind(zoned, junction, zone.sum(axis=1)),
        "zone_units": _lists(zone_lists, zone_id),
        "distance_m": np.where(np.isfinite(distance), np.round(distance, 1), np.nan),
        "boundary_with": _code_of(codes, across),
        "lead_unit": lead_code,
        "cooperating": _lists(coop_lists, coop_id),
        "rule": _RULES[rule],
        "review": _REVIEWED[rule] | (territory.cluster.carry_status == "proposed"),
        "detector": detector,
    }
    # Integers standing for the worded values: the unit holding the point (a leaf unit, or
    # the unit standing in for the members), the member or given text of the detector.
    leaf_unit = coded.level(territory.bset.leaf_level)[0][pts.rows]
    given = coded.detectors[0][pts.rows]
    situation = _group_ids(
        [
            rule,
            pts.holder,
            across,
            np.where(by_unit | (pts.area >= 0), -2 - leaf_unit, lead),
            pts.area,
            np.where(pts.detector >= 0, pts.detector, -2 - given),
            zone_id,
            coop_id,
            ~np.isfinite(distance),
            pts.side,
            across_side,
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
        },
        situation,
        territory,
        tolerance_m,
    )
    return columns


def _text(values: NDArray[np.object_]) -> pd.Series:
    """Keep a column of strings as Python objects: no copy into Arrow for a frame in passing."""
    return pd.Series(values, dtype=object, copy=False)


def _distinct_sets(
    chosen: NDArray[np.bool_], codes: NDArray[np.object_]
) -> tuple[NDArray[np.intp], list[list[str]]]:
    """Return an id per distinct row of a points × members matrix, and its codes."""
    width = chosen.shape[1]
    if width <= 63:  # one integer per row: a 1-D unique is much faster than rows of bytes
        keys = chosen.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        distinct_keys, ids = np.unique(keys, return_inverse=True)
        bits = ((distinct_keys[:, None] >> np.arange(width)) & 1).astype(bool)
        return ids.ravel(), [list(codes[row]) for row in bits]
    packed = np.packbits(chosen, axis=1)
    distinct, ids = np.unique(packed, axis=0, return_inverse=True)
    lists = [list(codes[np.unpackbits(row)[:width].astype(bool)]) for row in distinct]
    return ids.ravel(), lists


def _lists(lists: list[list[str]], ids: NDArray[np.intp]) -> NDArray[np.object_]:
    out: NDArray[np.object_] = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out[ids]


# -- explanations ----------------------------------------------------------------------------

#: Stands for the distance in a worded sentence until each row's number is put in.
_METRES = "\x00"
_LANGUAGES = ("vi", "en")


def explain(
    frame: pd.DataFrame | Mapping[str, NDArray[Any]],
    situation: NDArray[Any],
    territory: ClusterTerritory,
    tolerance_m: float,
) -> tuple[NDArray[np.object_], NDArray[np.object_]]:
    """Write the Vietnamese and English sentence of every row of :func:`assign_clusters`.

    Each rule's template (:data:`geozone.assignment.rules.RULES`) is filled once per situation (rows
    with the same ``situation`` number share the rule, the units and the wording) with a
    placeholder for the distance; each row's whole metres then go into the placeholder,
    which only the templates that quote a distance have.

    Parameters
    ----------
    frame
        The decision columns (a DataFrame or a mapping of equal-length arrays), with
        ``unit_code`` (the unit of the set holding each point) and ``area_code`` (the unit
        standing in for the members in coarse mode, else None).
    situation
        One integer per row; rows with the same number are worded alike.
    territory
        The territory the rows were judged in.
    tolerance_m
        The boundary tolerance, quoted in on-boundary sentences.
    """
    labels, first = np.unique(np.asarray(situation), return_index=True)
    needed = (
        "member_code",
        "boundary_with",
        "distance_m",
        "cooperating",
        "zone_units",
        "lead_unit",
        "detector",
        "rule",
        "unit_code",
        "area_code",
        "side",
        "across_side",
    )
    # Only each situation's first row is read: no column is copied whole into Python objects.
    firsts = {column: np.asarray(frame[column])[first].astype(object) for column in needed}
    worded = [
        situation_sentences(
            {column: firsts[column][k] for column in needed}, territory, tolerance_m
        )
        for k in range(len(first))
    ]
    which = np.searchsorted(labels, situation)
    distance_m = np.asarray(frame["distance_m"], dtype=float)
    slot = np.array([w[0][2] for w in worded], dtype=bool)[which]
    metres = np.where(slot & np.isfinite(distance_m), np.round(np.nan_to_num(distance_m)), -1)
    metres = metres.astype(np.int64)
    # Many rows share a situation and a whole number of metres: word each pair once.
    span = int(metres.max(initial=-1)) + 2
    pairs, row_pair = np.unique(which * span + metres + 1, return_inverse=True)
    pair_which, pair_metres = pairs // span, pairs % span - 1
    out = []
    for language in range(len(_LANGUAGES)):
        quoted = np.array(
            [format_number(m, _LANGUAGES[language]) if m >= 0 else "" for m in pair_metres],
            dtype=object,
        )
        pre = np.array([w[language][0] for w in worded], dtype=object)[pair_which]
        post = np.array([w[language][1] for w in worded], dtype=object)[pair_which]
        out.append((pre + quoted + post)[row_pair.ravel()])
    return out[0], out[1]


def situation_sentences(
    row: Mapping[str, Any], territory: ClusterTerritory, tolerance_m: float
) -> tuple[tuple[str, str, bool], tuple[str, str, bool]]:
    """Word one situation in Vietnamese and English from its rule's templates.

    Returns, per language, the sentence cut at the distance placeholder (before, after) and
    whether it has one; a sentence without a distance has an empty second part.
    """
    rule = BY_NAME[str(row["rule"])]
    out = []
    for language in _LANGUAGES:
        values = _parameters(row, territory, tolerance_m, language)
        sentence = getattr(rule, language).format(**values)
        before, found, after = sentence.partition(_METRES)
        out.append((before, after, bool(found)))
    return out[0], out[1]


def _parameters(
    row: Mapping[str, Any], territory: ClusterTerritory, tolerance_m: float, language: str
) -> dict[str, str]:
    """Return the named parameters of the templates for one situation and language."""

    def name(code: Any) -> str:
        return territory.unit_name(code, language)

    def clause(key: str, **values: str) -> str:
        return CLAUSES[key][language].format(**values)

    across = row["boundary_with"] is not None or row["across_side"] >= 0
    has_distance = across and np.isfinite(row["distance_m"])
    cooperating = ", ".join(name(c) for c in row["cooperating"])
    detector = row["detector"]
    detected = _missing(detector) or not str(detector).strip()
    unit = row["area_code"] if row["area_code"] is not None else row["unit_code"]
    level = territory.cluster.level
    return {
        "holder": name(row["member_code"]),
        "unit": name(unit),
        "detector": name(detector),
        "detected": "" if detected else clause("detected", detector=name(detector)),
        "zone": " – ".join(name(c) for c in row["zone_units"]),
        "distance": _distance_clause(row, territory, language, name) if has_distance else "",
        "width": f"{format_number(territory.width_m, language)} m",
        "tolerance": f"{format_number(tolerance_m, language)} m",
        "cooperating": clause("cooperating", members=cooperating) if cooperating else "",
        "set": territory.bset.id,
        "missing": ", ".join(name(c) for c in territory.missing_geometry),
        "level": CLAUSES[f"level_{level}"][language],
        "default_rule": "" if territory.cluster.lead_rule else clause("default_rule"),
        "zone_basis": _zone_basis(territory, language),
        "standing": _standing(territory.cluster, language),
    }


def _distance_clause(
    row: Mapping[str, Any], territory: ClusterTerritory, language: str, name: Any
) -> str:
    """Return the distance clause: to the member across, or to a carried cluster's old line."""
    sides = territory.sides if territory.geometric else None
    if sides is not None and sides.carried and row["side"] >= 0 and row["across_side"] >= 0:
        return CLAUSES["distance_original"][language].format(
            own=sides.names[int(row["side"])],
            across=sides.names[int(row["across_side"])],
            metres=_METRES,
        )
    return CLAUSES["distance"][language].format(across=name(row["boundary_with"]), metres=_METRES)


def _zone_basis(territory: ClusterTerritory, language: str) -> str:
    """Return how a carried cluster's zone was derived (empty for an ordinary cluster)."""
    if not territory.geometric or not territory.sides.carried:
        return ""
    return territory.sides.basis_vi if language == "vi" else territory.sides.basis_en


def lapsed_sentences(cluster: Cluster) -> tuple[str, str]:
    """Say, in Vietnamese and English, why a lapsed carried cluster decides nothing."""
    texts = []
    for language in _LANGUAGES:
        ended = cluster.original_period.end if cluster.original_period else None
        when = CLAUSES["unknown"][language]
        if ended is not None and ended.latest is not None:
            when = format_date(ended.latest, language)
            if ended.inferred:
                when += {"vi": " (suy đoán)", "en": " (inferred)"}[language]
        original = cluster.carried_from or cluster.id
        texts.append(CLAUSES["lapsed"][language].format(cluster=original, end=when))
    return texts[0], texts[1]


def _standing(cluster: Cluster, language: str) -> str:
    """Return the clause on a carried cluster's standing (empty for an original one)."""
    status = cluster.carry_status
    if status is None or cluster.period.start is None or cluster.period.start.exact is None:
        return ""
    since = format_date(cluster.period.start.exact, language)
    if status == "confirmed":
        return CLAUSES["confirmed"][language].format(date=since)
    key = "proposed_district" if cluster.carried_from_level == "district" else "proposed"
    return CLAUSES[key][language].format(date=since)


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
