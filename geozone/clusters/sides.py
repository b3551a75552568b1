"""The sides of a cluster's border zone: whose shared lines the zone runs along.

A cluster's border area is the band along the boundaries *between its members*. For a cluster
named in the units it is placed on, the sides are its members. A cluster carried into newer
units (``geozone.clusters.migrate``) keeps the meaning its members signed for: its sides are the
*original* members, and its zone runs along the lines between different original members,
wherever those lines now fall inside the carried members. A line between two successors of
one original member is internal: no zone, no junction.

How the original lines are known (:attr:`ZoneSides.basis`):

``members``
    An ordinary cluster: the members' own shared lines.
``original``
    The original members have polygons in the set they are named in (districts and
    provinces of the legacy set; wards once a ward layer refines it): their own lines, exactly.
``derived``
    Some original members have no polygon (the pre-2025 wards without a ward layer): each
    stands in by its nearest unit with a polygon (its district), members of one district
    making one side, and the zone runs along the lines between those districts, within
    :data:`DERIVED_REACH_M` of the cluster's named hotspots when it has any. For the T11
    cluster: the old Cầu Giấy – Ba Đình line within 1 km of the T11 bridge, the place the
    four wards meet (each of them reaches about a kilometre from it).

A point's side is the side polygon that holds it (:meth:`ZoneSides.side_of`): a successor of
two original members keeps both, each for its part.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import shapely
from numpy.typing import NDArray

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import Adjacency, adjacency
from geozone.clusters.model import Cluster, Member
from geozone.crs import project_geometries, unproject_geometries, utm_epsg
from geozone.errors import GeozoneError
from geozone.text import format_number

#: A derived zone keeps the lines between stand-in units within this distance of the
#: cluster's named hotspots (the original wards reach about this far from where they meet).
DERIVED_REACH_M = 1_000.0


@dataclass(frozen=True)
class ZoneSides:
    """The sides of a cluster's border zone (see the module notes).

    Attributes
    ----------
    codes
        One code per side: a member's, an original member's, or a stand-in unit's.
    names
        Full names to word them ("Huyện Gia Lâm"; "Quận Cầu Giấy (Quan Hoa, Nghĩa Đô)").
    bset
        The set their polygons and lines come from.
    level
        Their level in that set.
    polygons
        Their polygons (EPSG:4326), in ``codes`` order.
    adjacency
        Their shared lines and junctions (clipped to the reach of the named hotspots for a
        derived zone).
    member_sides
        Members × sides: which sides each member of the cluster (in member order) stands for.
    basis
        ``"members"``, ``"original"`` or ``"derived"``.
    basis_vi, basis_en
        How the zone was derived, in a sentence (empty for ``members``).
    """

    codes: tuple[str, ...]
    names: tuple[str, ...]
    bset: BoundarySet
    level: Level
    polygons: NDArray[np.object_]
    adjacency: Adjacency
    member_sides: NDArray[np.bool_]
    basis: str
    basis_vi: str = ""
    basis_en: str = ""

    @property
    def carried(self) -> bool:
        """Whether the sides are not the members themselves (a carried cluster)."""
        return self.basis != "members"

    def side_of(self, lon: NDArray[np.float64], lat: NDArray[np.float64]) -> NDArray[np.intp]:
        """Return the index of the side polygon holding each point (-1 for none)."""
        found = np.full(len(lon), -1, dtype=np.intp)
        for k, polygon in enumerate(self.polygons):  # a handful of sides
            if polygon is None:
                continue
            free = found < 0
            inside = shapely.intersects_xy(polygon, lon[free], lat[free])
            found[np.flatnonzero(free)[inside]] = k
        return found


def member_zone_sides(cluster: Cluster, bset: BoundarySet, codes: Sequence[str]) -> ZoneSides:
    """Return the sides of an ordinary cluster: its members, in member order (``codes``)."""
    shaped = [c for c in codes if c in bset.full_names and _has_geometry(bset, c)]
    level: Level = cluster.level
    polygons = np.array([bset.geometry(c) if c in shaped else None for c in codes], dtype=object)
    names = tuple(bset.full_names.get(c, c) for c in codes)
    return ZoneSides(
        tuple(codes),
        names,
        bset,
        level,
        polygons,
        adjacency(bset, level, shaped),
        np.eye(len(codes), dtype=bool),
        "members",
    )


def carried_zone_sides(
    cluster: Cluster, original: Cluster, origin: BoundarySet, width_m: float
) -> ZoneSides:
    """Return the sides of a carried cluster: its original members (or their stand-ins).

    Parameters
    ----------
    cluster
        The carried cluster (its members name the originals they succeed: ``successor_of``).
    original
        The cluster as signed, named in ``origin``.
    origin
        The set the original members are named in (the legacy set).
    width_m
        The band width, to word the basis.

    Raises
    ------
    GeozoneError
        When no original member has a polygon or a stand-in with one.
    """
    day = original.period.end.latest if original.period.end else None
    originals = [
        m
        for m in original.members
        if m.kind == "unit"
        and not m.planned
        and (day is None or m.joined is None or m.joined <= day)
    ]
    own = {m.id: str(m.territory_code) for m in originals}
    exact = all(_has_geometry(origin, code) for code in own.values())
    level: Level
    if exact:
        side_of = own
        level = original.level
    else:
        side_of = {mid: _stand_in(origin, code) for mid, code in own.items()}
        level = origin.get(next(iter(side_of.values()))).level
    codes = tuple(dict.fromkeys(side_of.values()))
    polygons = np.array([origin.geometry(c) for c in codes], dtype=object)
    found = adjacency(origin, level, list(codes))
    names: list[str] = []
    for code in codes:
        full = origin.get(code).full_name
        grouped = [m.name for m in originals if side_of[m.id] == code]
        names.append(full if exact else f"{full} ({', '.join(_bare(n) for n in grouped)})")
    if not exact:
        found = _near_hotspots(found, cluster)
    member_sides = _member_sides(cluster.members, originals, side_of, codes)
    basis = "original" if exact else "derived"
    vi, en = _basis_sentences(basis, origin, level, codes, names, cluster, width_m)
    return ZoneSides(
        codes, tuple(names), origin, level, polygons, found, member_sides, basis, vi, en
    )


def _has_geometry(bset: BoundarySet, code: str) -> bool:
    try:
        return bset.get(code).has_geometry
    except GeozoneError:
        return False


def _stand_in(bset: BoundarySet, code: str) -> str:
    """Return the unit's own code when it has a polygon, else its nearest parent's."""
    for unit in bset.chain(code):
        if unit.has_geometry:
            return unit.code
    raise GeozoneError(f"{code} has no polygon and no parent with one in {bset.id}")


def _bare(name: str) -> str:
    from geozone.text import split_unit_type

    return split_unit_type(name)[1]


def _member_sides(
    members: Sequence[Member],
    originals: Sequence[Member],
    side_of: dict[str, str],
    codes: tuple[str, ...],
) -> NDArray[np.bool_]:
    """Members × sides: the sides of the originals each carried member succeeds."""
    index = {code: k for k, code in enumerate(codes)}
    keys: dict[str, int] = {}
    for member in originals:
        for key in (member.id, member.unit_code, member.territory_code):
            if key:
                keys[str(key)] = index[side_of[member.id]]
    found = np.zeros((len(members), len(codes)), dtype=bool)
    for i, member in enumerate(members):
        for key in member.successor_of:
            if key in keys:
                found[i, keys[key]] = True
    return found


def _near_hotspots(found: Adjacency, cluster: Cluster) -> Adjacency:
    """Keep the lines and junctions within :data:`DERIVED_REACH_M` of the named hotspots."""
    if not cluster.hotspots:
        return found
    places = [hotspot.area() for hotspot in cluster.hotspots]
    centre = shapely.centroid(shapely.union_all(places))
    epsg = int(utm_epsg(float(centre.x)))
    zone = np.full(len(places), epsg, dtype=np.int64)
    reach_m = shapely.buffer(
        shapely.union_all(project_geometries(np.array(places, dtype=object), zone)),
        DERIVED_REACH_M,
    )
    (reach,) = unproject_geometries(np.array([reach_m], dtype=object), zone[:1])
    lines = found.lines.copy()
    lines["geometry"] = shapely.intersection(lines.geometry.to_numpy(), reach)
    lines = lines[~shapely.is_empty(lines.geometry.to_numpy())].reset_index(drop=True)
    junctions = found.junctions[shapely.intersects(found.junctions.geometry.to_numpy(), reach)]
    return replace(found, lines=lines, junctions=junctions.reset_index(drop=True))


def _basis_sentences(
    basis: str,
    origin: BoundarySet,
    level: str,
    codes: tuple[str, ...],
    names: list[str],
    cluster: Cluster,
    width_m: float,
) -> tuple[str, str]:
    """Say how a carried zone was derived (quoted in every decision of the cluster)."""
    width = {lang: f"{format_number(width_m, lang)} m" for lang in ("vi", "en")}
    if basis == "original":
        return (
            f" Vùng giáp ranh {width['vi']} dọc ranh giới cũ giữa các thành viên ban đầu "
            f"(ranh giới của bộ {origin.id}).",
            f" The {width['en']} border zone runs along the old boundaries between the "
            f"original members (from {origin.id}).",
        )
    hotspots = ", ".join(h.name for h in cluster.hotspots)
    where_vi = (
        f" trong phạm vi {format_number(DERIVED_REACH_M, 'vi')} m quanh {hotspots}"
        if hotspots
        else ""
    )
    where_en = f" within {format_number(DERIVED_REACH_M, 'en')} m of {hotspots}" if hotspots else ""
    joined_vi = " và ".join(names)
    joined_en = " and ".join(names)
    return (
        f" Chưa có ranh giới phường, xã cũ: vùng giáp ranh {width['vi']} được suy ra dọc ranh "
        f"giới cũ giữa {joined_vi}{where_vi}, theo danh sách chuyển đổi chính thức.",
        f" Old ward boundaries are missing: the {width['en']} border zone is derived along the "
        f"old boundary between {joined_en}{where_en}, from the official correspondence.",
    )


__all__ = ["DERIVED_REACH_M", "ZoneSides", "carried_zone_sides", "member_zone_sides"]
