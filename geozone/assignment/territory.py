"""A cluster's territory on one boundary set.

Members and their geometry, shared boundaries with their vertex levels, border zones and
junctions, prepared once per cluster and set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from geozone.assignment.rules import CLAUSES
from geozone.boundaries._locate import warm_distances, warm_prepared
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import Adjacency
from geozone.clusters.model import Cluster, Confirmation
from geozone.clusters.sides import ZoneSides, carried_zone_sides, member_zone_sides
from geozone.clusters.zones import BorderZones
from geozone.crs import degrees_bound, project_geometries, utm_epsg
from geozone.errors import ClusterDefinitionError, GeozoneError
from geozone.settings import get_settings
from geozone.text import TYPE_ABBREVIATIONS, fold, search_keys, strip_accents

#: Spacing of the vertices distances to shared boundaries are first bounded with.
DENSIFY_M = 2.0


#: Points nearer than this to a shared boundary get their distance from the exact segments.
EXACT_WITHIN_M = 25.0


#: Largest error allowed on a distance read from vertices rather than segments.
FAR_ERROR_M = 0.01


#: KD-tree searches of at least this many points may use several threads.
_KD_THREADS_FROM = 10_000


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
    partial: NDArray[np.bool_]  # a member only part of whose unit came from a signatory
    joined: NDArray[np.datetime64]  # date.min when unknown
    left: NDArray[np.datetime64]  # date.max when open
    holders: dict[str, int]  # unit code → member index, for members with territory
    detectors: dict[str, int]  # member id or code → member index
    index: dict[str, int]  # code → member index
    names: dict[str, str]  # code → full unit name, or the organisation's name
    junction_xy: NDArray[np.float64]  # junctions × 2: where three or more sides meet (m)
    junction_members: NDArray[np.bool_]  # junctions × sides: who meets there
    #: The level (index into :data:`~geozone.boundaries.manifest.LEVEL_ORDER`) an incident
    #: outside every member is handed over at, by detecting member, and last for a detector
    #: that is no member (index -1): see :meth:`ClusterTerritory.hand_over_level`.
    hand_over: NDArray[np.intp]
    #: Folded keys (see geozone.text.fold) of each member's id, code and names → member
    #: index; a key two members share is left out.
    folded: dict[str, int] = field(default_factory=dict)
    #: The same keys spelled with i for y (:func:`spelling_key`: "Qui Nhơn" is "Quy Nhơn"),
    #: looked up after the keys as spelled; a key two members share is left out.
    respelled: dict[str, int] = field(default_factory=dict)
    #: Folded keys two or more members share ("Xã Đại Đồng" of two provinces) → those members.
    shared: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def detector_of(self, given: Any) -> int:
        """Return the member a ``detected_by`` value names, or -1.

        By its member id or code (or an original member's, see ``_successor_aliases``) as
        given; else by the folded text, which also finds a member by its name with or
        without its type word or its usual abbreviation ("Phường Nghĩa Đô", "nghia-do",
        "P. Nghĩa Đô"), or by "CA"/"Công an" and its name (the unit's police, also written
        "CATP Cần Thơ", "CAH Gia Lâm"); last, by those keys with i for y (the two
        spellings of one name: "Qui Nhơn", "Quy Nhơn").
        """
        if given is None or (isinstance(given, float) and np.isnan(given)):
            return -1
        text = given if isinstance(given, str) else str(given)
        exact = self.detectors.get(text)
        if exact is not None:
            return exact
        keys = detector_keys(text)
        for key in keys:
            if key in self.folded:
                return self.folded[key]
        for key in keys:
            found = self.respelled.get(spelling_key(key))
            if found is not None:
                return found
        return -1

    def namesakes(self, given: str) -> tuple[int, ...]:
        """Return the members a ``detected_by`` text names alike (none when it names one).

        "Xã Đại Đồng" names two members of the Gia Lâm cluster's carried form: which of
        them detected the incident cannot be told, so it is decided as by a non-member, and
        said so.
        """
        if self.detector_of(given) >= 0:
            return ()
        for key in detector_keys(given):
            if key in self.shared:
                return self.shared[key]
        return ()


@lru_cache(maxsize=65_536)
def detector_keys(text: str) -> tuple[str, ...]:
    """Return the folded keys a ``detected_by`` text is looked up by, most literal first.

    The whole text folded, then, when its first words are "CA" or "Công an" (the unit's
    police), the rest; "CA" written together with the type's abbreviation ("CATP Cần Thơ",
    "CAH Gia Lâm") is read as "CA TP Cần Thơ". Folded once per distinct text, whatever the
    territories and pieces.
    """
    keys = [fold(text)]
    written = strip_accents(text).replace(".", " ").split()
    words = [word.lower() for word in written]
    if written and _glued_police(written[0]):  # capitals: "Cát Linh" is no "CA T. Linh"
        words = ["ca", words[0][2:], *words[1:]]
    for lead in (["ca"], ["cong", "an"]):
        if words[: len(lead)] == lead and len(words) > len(lead):
            keys.append(fold(" ".join(words[len(lead) :])))
    return tuple(key for key in keys if key)


#: Every folded abbreviation of a unit type ("tp", "tx", "h", …).
_ABBREVIATIONS = frozenset(a for abbrs in TYPE_ABBREVIATIONS.values() for a in abbrs)


def _glued_police(word: str) -> bool:
    """Tell whether a word is "CA" and a type's abbreviation in capitals ("CATP", "CAH")."""
    return word.isupper() and word[:2] == "CA" and word[2:].lower() in _ABBREVIATIONS


def spelling_key(key: str) -> str:
    """Return a folded key with i for y: Vietnamese writes some syllables either way.

    "Qui Nhơn" and "Quy Nhơn", "Mĩ" and "Mỹ", "kĩ" and "kỹ" name the same; folded keys
    already lack the tones, so one letter is all that differs.

    >>> spelling_key("quinhon") == spelling_key("quynhon")
    True
    """
    return key.replace("y", "i")


def _owners(pairs: Iterable[tuple[str, int]]) -> dict[str, tuple[int, ...]]:
    """Return each key of (key, member) pairs with the members it names, in member order."""
    owners: dict[str, set[int]] = {}
    for key, k in pairs:
        owners.setdefault(key, set()).add(k)
    return {key: tuple(sorted(ks)) for key, ks in owners.items()}


def _unshared(owners: Mapping[str, tuple[int, ...]]) -> dict[str, int]:
    """Return the keys that name one member only, with that member."""
    return {key: ks[0] for key, ks in owners.items() if len(ks) == 1}


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
    #: Situations worded so far (see ``geozone.assignment.explain``): the pieces of a long
    #: run meet the same situations again, and each is worded once.
    worded: dict[tuple[Any, ...], Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
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
    def unit_codes(self) -> frozenset[str]:
        """The members' unit codes, and in coarse mode the units standing in for them."""
        return frozenset({*map(str, self.table.codes), *self.area_codes})

    @cached_property
    def epsg(self) -> int:
        """The UTM zone the cluster's metric work is done in (that of its members' centre)."""
        centre = shapely.centroid(self._member_union)
        return int(utm_epsg(float(shapely.get_x(centre))))

    @cached_property
    def _member_union(self) -> Any:
        """The members' territory as one geometry (lon/lat), made once for its two uses."""
        return shapely.union_all(self._member_geometries())

    @cached_property
    def reach(self) -> tuple[float, float, float, float]:
        """Lon/lat bounds of the members' territory, a little wider than the tolerance."""
        minx, miny, maxx, maxy = shapely.total_bounds(self._member_geometries())
        pad = degrees_bound(get_settings().boundary_tolerance_m + 1.0)
        return float(minx - pad), float(miny - pad), float(maxx + pad), float(maxy + pad)

    @cached_property
    def outline(self) -> Any:
        """The members' territory as one prepared polygon (lon/lat), widened by a metre."""
        outline = shapely.buffer(self._member_union, degrees_bound(1.0), quad_segs=2)
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
        return found.clipped(self._member_union)

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
        """The members' polygons in metres: a tree, the polygons, and their member index.

        The polygons are prepared and their lazy indexes built now, on one thread: a
        prepared ``dwithin`` of a point costs a few tree steps instead of a walk along
        every vertex (a member of the Cần Thơ cluster has 36,000). Like the shared lines,
        they are used by one thread at a time (:attr:`line_lock`).
        """
        has = self.members["has_territory"].to_numpy(bool)
        index = np.flatnonzero(has)
        polygons = project_geometries(
            np.array([self.bset.geometry(c) for c in self.members["code"][has]], dtype=object),
            np.full(len(index), self.epsg, dtype=np.int64),
        )
        tree = shapely.STRtree(polygons)
        shapely.prepare(polygons)
        warm_prepared(polygons)
        warm_distances(polygons)
        return tree, polygons, index

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
        detectors = {
            **self._successor_aliases(),
            **{mid: k for k, mid in enumerate(members["member_id"])},
            **index,
        }
        folded = self._folded_detectors(detectors)
        return _MemberTable(
            codes=codes,
            organisation=members["kind"].to_numpy(dtype=object) == "organisation",
            partial=np.array([member.partial for member in self.cluster.members], dtype=bool),
            joined=np.array(joined, dtype="datetime64[D]"),
            left=np.array(left, dtype="datetime64[D]"),
            holders={code: k for k, code in enumerate(codes) if has_territory[k]},
            detectors=detectors,
            index=index,
            names=names,
            junction_xy=junction_xy,
            junction_members=junction_members,
            hand_over=self._hand_over_levels(),
            folded=_unshared(folded),
            respelled=_unshared(
                _owners((spelling_key(key), k) for key, ks in folded.items() for k in ks)
            ),
            shared={key: ks for key, ks in folded.items() if len(ks) > 1},
        )

    def _hand_over_levels(self) -> NDArray[np.intp]:
        """Return :attr:`_MemberTable.hand_over`: per member, then for a non-member.

        A territorial member's own level (its unit's, in the set: members are validated
        against it, so the level is one the set has); for an organisation (no territory) and
        for a detector that is no member, the level of the territorial members, the coarsest
        when they differ (a cluster is validated at one level, so they do not today).
        """
        own: list[int] = []
        for member in self.cluster.members:
            code = member.territory_code
            try:
                own.append(LEVEL_ORDER.index(self.bset.get(code).level) if code else -1)
            except GeozoneError:  # validated at load: only a hand-made cluster lacks it
                own.append(LEVEL_ORDER.index(self.cluster.level))
        taking_part = [
            rank
            for rank, m in zip(own, self.cluster.members, strict=True)
            if rank >= 0 and not m.planned
        ]
        members = min(taking_part, default=LEVEL_ORDER.index(self.cluster.level))
        return np.array([rank if rank >= 0 else members for rank in own] + [members], np.intp)

    def hand_over_level(self, member: int = -1) -> Level:
        """Return the level an incident outside every member is handed over at.

        Parameters
        ----------
        member
            The detecting member's index (-1: none, or a detector that is no member).

        Returns
        -------
        Level
            The detecting member's level when it holds territory; else (an organisation,
            an unknown detector or no member) that of the territorial members (the coarsest
            when they differ). See :func:`geozone.assignment.decide._hand_over`.
        """
        return LEVEL_ORDER[int(self.table.hand_over[member])]

    def _folded_detectors(self, detectors: Mapping[str, int]) -> dict[str, tuple[int, ...]]:
        """Folded keys of the members' ids, codes and names → the members each names."""
        members = self.members
        names: list[list[str]] = [[fold(key)] for key in detectors]
        holders: list[int] = list(detectors.values())
        for k, (code, name, kind) in enumerate(
            zip(members["code"], members["name"], members["kind"], strict=True)
        ):
            unit = self.bset.get(code) if kind == "unit" and code in self.bset.full_names else None
            keys = [fold(str(name))]
            if unit is not None:
                keys += [*search_keys(unit.name, unit.unit_type), fold(unit.full_name)]
            names.append(keys)
            holders.append(k)
        return _owners(
            (key, k) for keys, k in zip(names, holders, strict=True) for key in keys if key
        )

    def _successor_aliases(self) -> dict[str, int]:
        """Original members' ids and codes of a carried cluster → their only successor.

        A detector named by an original member (An Giang's old code 89) is that member's
        successor in the carried cluster (the new An Giang, 91) when it has exactly one.
        """
        return _unshared(
            _owners(
                (key, k)
                for k, member in enumerate(self.cluster.members)
                for key in member.successor_of
            )
        )

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
        """Build the shared-boundary indexes now rather than on the first incidents judged.

        With the members' lookups (:attr:`table`, :attr:`reach`) and, for a carried
        cluster, the members' prepared polygons (:attr:`member_tree`).
        """
        self.table  # noqa: B018
        self.reach  # noqa: B018
        if self.geometric:
            self.outline  # noqa: B018
            self.boundary_index  # noqa: B018
            self.member_lines  # noqa: B018
            self.junctions  # noqa: B018
            if self.carried_sides:
                self.member_tree  # noqa: B018

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
