"""Patrol zones: checking and repairing drawn polygons, stored zones as GeoJSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from api.services.common import jsonable
from geozone.analysis.patrol import check_within_set
from geozone.boundaries.sets import BoundarySet
from geozone.context import Context
from geozone.errors import PatrolZoneGeometryError

#: Most vertices of an invalid patrol zone that is repaired rather than refused.
MAX_REPAIR_VERTICES = 1_000
#: Most edge crossings of an invalid patrol zone that is repaired rather than refused (a
#: repair's work grows with the square of the crossings: a random 500-vertex tangle, 60,000
#: crossings, takes minutes; a zone drawn with a loop or two has a handful).
MAX_REPAIR_CROSSINGS = 50


def check_zone(
    cluster_id: str, geometry: dict[str, Any], context: Context, max_vertices: int
) -> ZoneGeometry:
    """Check a patrol zone of a placed cluster (:func:`check_zone_geometry` on the current set).

    Raises
    ------
    PatrolZoneGeometryError
        ``cluster_id`` is not a placed cluster, or the geometry is not usable (named).
    """
    if cluster_id not in {t.cluster.id for t in context.territories}:
        raise PatrolZoneGeometryError(
            f"cluster_id {cluster_id!r} is not a placed cluster "
            f"(known: {', '.join(sorted(t.cluster.id for t in context.territories))})"
        )
    return check_zone_geometry(geometry, context.current, max_vertices)


@dataclass(frozen=True)
class ZoneGeometry:
    """A checked patrol zone polygon."""

    geometry: shapely.Polygon
    repaired: bool
    units: list[str]

    @property
    def geojson(self) -> str:
        """The polygon as GeoJSON text."""
        return json.dumps(shapely.geometry.mapping(self.geometry))


def check_zone_geometry(
    given: dict[str, Any], bset: BoundarySet, max_vertices: int
) -> ZoneGeometry:
    """Check a patrol zone polygon: one polygon, few enough vertices, in Vietnam, area > 0.

    A self-intersecting polygon of at most :data:`MAX_REPAIR_VERTICES` vertices and
    :data:`MAX_REPAIR_CROSSINGS` crossings is repaired with :func:`shapely.make_valid` when
    that gives one polygon; otherwise it is refused with the reason, before any costly work.
    ``units`` lists the leaf units of ``bset`` the polygon intersects.

    Raises
    ------
    PatrolZoneGeometryError
        Naming the problem.
    """
    if given.get("type") != "Polygon":
        raise PatrolZoneGeometryError(
            f"geometry must be a GeoJSON Polygon, not {str(given.get('type'))[:40]!r}"
        )
    if not isinstance(given.get("coordinates"), list) or not given["coordinates"]:
        raise PatrolZoneGeometryError("geometry has no coordinates (a list of rings)")
    try:
        geom = shapely.geometry.shape(given)
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise PatrolZoneGeometryError(
            f"geometry is not a valid GeoJSON Polygon: {str(exc)[:200]}"
        ) from exc
    except shapely.errors.GEOSException as exc:
        raise PatrolZoneGeometryError(
            f"geometry is not a valid GeoJSON Polygon: {str(exc)[:200]}"
        ) from exc
    vertices = int(shapely.get_num_coordinates(geom))
    if vertices > max_vertices:
        raise PatrolZoneGeometryError(
            f"geometry has {vertices:,} vertices; at most {max_vertices:,} are allowed"
        )
    coords = shapely.get_coordinates(geom)
    if not np.isfinite(coords).all():
        raise PatrolZoneGeometryError("geometry has a coordinate that is not a finite number")
    repaired = False
    if not shapely.is_valid(geom):
        reason = shapely.is_valid_reason(geom)
        crossings = edge_crossings(geom) if vertices <= MAX_REPAIR_VERTICES else None
        if crossings is None or crossings > MAX_REPAIR_CROSSINGS:
            what = f"{vertices:,} vertices" if crossings is None else f"{crossings:,} crossings"
            raise PatrolZoneGeometryError(
                f"geometry is invalid ({reason}); a polygon with {what} is not repaired (at "
                f"most {MAX_REPAIR_VERTICES:,} vertices and {MAX_REPAIR_CROSSINGS} crossings): "
                "draw it again without crossing edges"
            )
        fixed = shapely.make_valid(geom)
        parts = shapely.get_parts(fixed)
        polygons = [p for p in shapely.get_parts(parts) if p.geom_type == "Polygon"]
        if len(polygons) != 1:
            raise PatrolZoneGeometryError(
                f"geometry is invalid ({reason}) and repairing it gives {len(polygons)} "
                "polygons, not one; draw it again without crossing edges"
            )
        geom, repaired = polygons[0], True
    if not geom.area > 0:
        raise PatrolZoneGeometryError("geometry has no area")
    check_within_set(geom, bset, "geometry")
    frame = bset.frame
    hit = frame.iloc[frame.sindex.query(geom, "intersects")]
    hit = hit[(hit["level"] == bset.leaf_level) & hit["has_geometry"]]
    if hit.empty:
        raise PatrolZoneGeometryError(
            f"geometry touches no unit of boundary set {bset.id} (outside Vietnam's land)"
        )
    return ZoneGeometry(geom, repaired, sorted(str(c) for c in hit["code"]))


def edge_crossings(polygon: shapely.Polygon) -> int:
    """Count the pairs of a polygon's edges that meet, other than neighbours on one ring.

    One spatial-index query over the edges (no Python loop over them); the count is what a
    repair's work grows with.
    """
    rings = [polygon.exterior, *polygon.interiors]
    coords = [shapely.get_coordinates(ring) for ring in rings]
    starts = np.concatenate([c[:-1] for c in coords])
    ends = np.concatenate([c[1:] for c in coords])
    ring_of = np.concatenate([np.full(len(c) - 1, k) for k, c in enumerate(coords)])
    position = np.concatenate([np.arange(len(c) - 1) for c in coords])
    size = np.concatenate([np.full(len(c) - 1, len(c) - 1) for c in coords])
    edges = shapely.linestrings(np.stack([starts, ends], axis=1))
    i, j = shapely.STRtree(edges).query(edges, predicate="intersects")
    later = i < j
    i, j = i[later], j[later]
    gap = np.abs(position[i] - position[j])
    neighbours = (ring_of[i] == ring_of[j]) & ((gap == 1) | (gap == size[i] - 1))
    return int((~neighbours).sum())


def unit_names(context: Context) -> dict[str, str]:
    """Return the names of the current set's units by code (to name a zone's units)."""
    return context.current.full_names


def zone_feature(
    record: dict[str, Any], repaired: bool | None = None, names: dict[str, str] | None = None
) -> dict[str, Any]:
    """Return a stored patrol zone as a GeoJSON Feature.

    With ``names`` (:func:`unit_names`) its properties also hold ``unit_names``, the units'
    names in the order of ``units`` (a code without a name stays a code).
    """
    properties = {
        "name": record["name"],
        "cluster_id": record["cluster_id"],
        "created_at": jsonable(record["created_at"]),
        "updated_at": jsonable(record["updated_at"]),
        "created_by": record["created_by"],
        "units": list(record["units"]),
        "notes": record["notes"],
    }
    if names is not None:
        properties["unit_names"] = [names.get(code, code) for code in properties["units"]]
    if repaired is not None:
        properties["repaired"] = repaired
    return {
        "type": "Feature",
        "id": int(record["id"]),
        "geometry": json.loads(record["geometry"]),
        "properties": properties,
    }


def check_area_geometry(
    given: Any, bset: BoundarySet, max_vertices: int
) -> shapely.Polygon | shapely.MultiPolygon:
    """Check a GeoJSON Polygon or MultiPolygon as patrol zones are checked.

    Each polygon goes through :func:`check_zone_geometry` (validity and repair, in Vietnam,
    area); the vertex limit applies to the whole geometry.

    Raises
    ------
    PatrolZoneGeometryError
        Naming the problem (400).
    """
    if not isinstance(given, dict):
        raise PatrolZoneGeometryError("the body must be a GeoJSON Polygon or MultiPolygon object")
    kind = given.get("type")
    if kind == "Polygon":
        return check_zone_geometry(given, bset, max_vertices).geometry
    if kind != "MultiPolygon":
        raise PatrolZoneGeometryError(
            f"geometry must be a GeoJSON Polygon or MultiPolygon, not {str(kind)[:40]!r}"
        )
    coordinates = given.get("coordinates")
    if not isinstance(coordinates, list) or not coordinates:
        raise PatrolZoneGeometryError("a MultiPolygon needs a non-empty list of polygons")
    total = 0
    parts = []
    for polygon in coordinates:
        checked = check_zone_geometry(
            {"type": "Polygon", "coordinates": polygon}, bset, max_vertices - total
        )
        total += int(shapely.get_num_coordinates(checked.geometry))
        parts.append(checked.geometry)
    merged = shapely.union_all(parts)
    if not isinstance(merged, shapely.Polygon | shapely.MultiPolygon) or not merged.is_valid:
        raise PatrolZoneGeometryError("the polygons of the MultiPolygon do not form a valid area")
    return merged


def scoped_zone(
    planner_store: Any, context: Context, scopes: tuple[str, ...], zone_id: int
) -> dict[str, Any]:
    """Return a saved zone a key may see: one outside its scopes is answered as unknown.

    Raises
    ------
    UnknownPatrolZoneError
        No zone has the id, or the key's scopes do not hold it (404, the same words: its
        existence is not told).
    """
    from api.scopes import zone_in_scope
    from geozone.errors import UnknownPatrolZoneError

    record: dict[str, Any] = planner_store.get_zone(zone_id)
    if scopes and not zone_in_scope(context, scopes, record["cluster_id"], record["units"]):
        raise UnknownPatrolZoneError(f"no patrol zone with id {zone_id}")
    return record


def check_zone_scope(
    context: Context, scopes: tuple[str, ...], cluster_id: str, units: list[str]
) -> None:
    """Refuse (403) a zone a scoped key would write outside its scopes, naming why.

    Raises
    ------
    PermissionDeniedError
        The zone's cluster is not one of the key's and it touches units beyond its scopes.
    """
    from api.errors import PermissionDeniedError
    from api.scopes import covers, scope_units, zone_in_scope

    if not scopes or zone_in_scope(context, scopes, cluster_id, units):
        return
    held = scope_units(context, scopes)
    beyond = [c for c in units if not covers(context, held, context.current.id, c)]
    raise PermissionDeniedError(
        f"the key is limited to {', '.join(scopes)}: cluster {cluster_id!r} is not one of its "
        f"own and the zone touches units beyond them ({', '.join(beyond)}); nothing was saved"
    )
