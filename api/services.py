"""What the routes call: thin adapters from HTTP shapes to the geozone core and back.

Routes stay free of logic; this module turns query parameters into geozone calls and
geozone results (data frames, dataclasses) into JSON-ready data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import numpy as np
import pandas as pd
import shapely
from fastapi.exceptions import RequestValidationError

from geozone.adjacency import adjacency
from geozone.assign import ClusterTerritory, assign
from geozone.boundaries import BoundarySet
from geozone.context import Context
from geozone.errors import (
    DataNotFoundError,
    InvalidParameterError,
    NoGeometryError,
    PatrolZoneGeometryError,
)
from geozone.incidents import VIETNAM_TZ
from geozone.migrate import migrate_cluster
from geozone.zones import BorderZones, border_zones

#: Degrees added around a unit's envelope to find the units that may touch it (≈1 km).
_NEIGHBOUR_MARGIN_DEG = 0.01


def jsonable(value: Any) -> Any:
    """Return ``value`` with numpy/pandas scalars, NaN and NaT turned into JSON-ready ones."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a frame's rows as JSON-ready dicts."""
    out: list[dict[str, Any]] = jsonable(frame.to_dict("records"))
    return out


def parse_bbox(text: str | None, field: str = "bbox") -> tuple[float, float, float, float] | None:
    """Parse ``minx,miny,maxx,maxy`` (degrees); a malformed box is a 422 naming ``field``."""
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    ok = (
        len(values) == 4
        and all(math.isfinite(v) for v in values)
        and -180 <= values[0] <= values[2] <= 180
        and -90 <= values[1] <= values[3] <= 90
    )
    if not ok:
        raise RequestValidationError(
            [
                {
                    "loc": ("query", field),
                    "msg": "expected minx,miny,maxx,maxy in degrees with min <= max",
                    "type": "value_error",
                }
            ]
        )
    return values  # type: ignore[return-value]


# -- boundaries ------------------------------------------------------------------------------


def list_units(
    bset: BoundarySet,
    *,
    level: str | None,
    parent: str | None,
    bbox: tuple[float, float, float, float] | None,
    q: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of units (without geometry) and how many matched."""
    frame = bset.frame
    if q:
        hits = bset.search(q, level, limit=offset + limit if not (parent or bbox) else 10_000)  # type: ignore[arg-type]
        frame = frame.set_index("code", drop=False).loc[[h.unit.code for h in hits]]
    elif level:
        frame = frame[frame["level"] == level]
    if parent:
        frame = frame[frame["parent_code"] == parent]
    if bbox is not None:
        near = bset.frame.iloc[bset.frame.sindex.query(shapely.box(*bbox), "intersects")]
        frame = frame[frame["code"].isin(near["code"])]
    total = len(frame)
    page = frame.iloc[offset : offset + limit]
    columns = [c for c in UNIT_FIELDS if c in page.columns]
    return records(page[columns]), total


UNIT_FIELDS = (
    "code",
    "name",
    "full_name",
    "unit_type",
    "level",
    "parent_code",
    "province_code",
    "name_en",
    "area_km2",
    "has_geometry",
    "in_register",
)


def unit_feature(bset: BoundarySet, code: str) -> dict[str, Any]:
    """Return a unit as a GeoJSON Feature with its chain of parents."""
    unit = bset.get(code)
    geom = bset.geometry(code)
    properties = jsonable(unit.to_dict())
    properties["set_id"] = bset.id
    properties["chain"] = [u.code for u in bset.chain(code)]
    return {
        "type": "Feature",
        "id": unit.code,
        "geometry": shapely.geometry.mapping(geom) if geom is not None else None,
        "properties": properties,
    }


def unit_features(bset: BoundarySet, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return rows of ``bset.frame`` as GeoJSON features (properties: the unit fields)."""
    rows = records(frame[list(UNIT_FIELDS)])
    geometries = shapely.to_geojson(frame.geometry.to_numpy())
    return [
        {
            "type": "Feature",
            "id": row["code"],
            "geometry": json.loads(geom),
            "properties": {**row, "set_id": bset.id},
        }
        for row, geom in zip(rows, geometries, strict=True)
    ]


def neighbours(bset: BoundarySet, code: str) -> list[dict[str, Any]]:
    """Return the units of the same level sharing a boundary line with ``code``.

    Adjacency is computed over the units whose envelope lies within about 1 km of the unit's
    (a spatial-index prefilter), not over the whole level.
    """
    unit = bset.get(code)
    geom = bset.geometry(code)
    if geom is None:
        raise NoGeometryError(f"unit {code} of {bset.id} has no geometry (register only)")
    minx, miny, maxx, maxy = shapely.bounds(geom)
    margin = _NEIGHBOUR_MARGIN_DEG
    area = shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)
    frame = bset.frame
    near = frame.iloc[frame.sindex.query(area, "intersects")]
    near = near[(near["level"] == unit.level) & near["has_geometry"]]
    codes = sorted(set(near["code"]) | {code})
    if len(codes) < 2:
        return []
    found = adjacency(bset, unit.level, codes=codes).neighbours(code)
    return [jsonable(bset.get(other).to_dict()) for other in found]


# -- locate ----------------------------------------------------------------------------------


def _occurred(day: date | None) -> pd.Timestamp:
    if day is None:
        return pd.Timestamp.now(tz=VIETNAM_TZ)
    return pd.Timestamp(datetime.combine(day, time(12), tzinfo=VIETNAM_TZ))


def locate_points(
    context: Context,
    points: Sequence[tuple[float, float, date | None, str | None]],
    tolerance_m: float | None,
) -> list[dict[str, Any]]:
    """Judge points: their unit, boundary candidates and each concerned cluster's decision.

    Parameters
    ----------
    points
        ``(lon, lat, date, detected_by)``; the date picks the boundary set (default today).
    """
    frame = pd.DataFrame(
        {
            "external_id": [str(i) for i in range(len(points))],
            "occurred_at": pd.Series([_occurred(p[2]) for p in points], dtype=object),
            "lon": np.array([p[0] for p in points], dtype=float),
            "lat": np.array([p[1] for p in points], dtype=float),
            "detected_by": pd.Series([p[3] for p in points], dtype=object),
        }
    )
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.tz_convert(VIETNAM_TZ)
    result = assign(frame, context.sets, context.territories, tolerance_m)
    clusters = result.clusters.copy()
    by_point: dict[str, list[dict[str, Any]]] = {}
    if len(clusters):
        for external_id, rows in clusters.groupby("external_id", sort=False):
            by_point[str(external_id)] = records(rows.drop(columns=["external_id"]))
    units = records(result.units)
    out = []
    for i, (lon, lat, _day, detector) in enumerate(points):
        unit = units[i]
        unit.pop("external_id", None)
        unit["candidates"] = unit.get("candidates") or []
        out.append(
            {
                "lon": lon,
                "lat": lat,
                "detected_by": detector,
                **unit,
                "clusters": by_point.get(str(i), []),
            }
        )
    return out


def locate_one(
    context: Context,
    lon: float,
    lat: float,
    day: date | None,
    detected_by: str | None,
    tolerance_m: float | None,
) -> dict[str, Any]:
    """Judge one point, with its full unit chain and candidate distances."""
    (judged,) = locate_points(context, [(lon, lat, day, detected_by)], tolerance_m)
    if judged["set_id"] is not None:
        location = context.boundary_set(judged["set_id"]).locate(lon, lat, tolerance_m)
        data = jsonable(location.to_dict())
        judged["chain"] = data["chain"]
        judged["candidates"] = data["candidates"]
        judged["description"] = data["description"]
        judged["tolerance_m"] = data["tolerance_m"]
    else:
        judged["chain"] = []
        judged["description"] = "No loaded boundary set is in force on that date."
    return judged


# -- incidents -------------------------------------------------------------------------------


def incident_features(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return stored incidents (a query result) as GeoJSON Point features."""
    data = frame.drop(columns=["geometry"], errors="ignore")
    rows = records(data)
    return [
        {
            "type": "Feature",
            "id": row["external_id"],
            "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
            "properties": row,
        }
        for row in rows
    ]


# -- patrol zones ----------------------------------------------------------------------------


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

    A self-intersecting polygon is repaired with :func:`shapely.make_valid` when that gives
    one polygon; otherwise it is refused with the reason. ``units`` lists the leaf units of
    ``bset`` the polygon intersects.

    Raises
    ------
    PatrolZoneGeometryError
        Naming the problem.
    """
    if given.get("type") != "Polygon":
        raise PatrolZoneGeometryError(
            f"geometry must be a GeoJSON Polygon, not {str(given.get('type'))[:40]!r}"
        )
    try:
        geom = shapely.geometry.shape(given)
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        raise PatrolZoneGeometryError(f"geometry is not a valid GeoJSON Polygon: {exc}") from exc
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
    shaped = bset.frame[bset.frame["has_geometry"]]
    minx, miny, maxx, maxy = shaped.total_bounds
    gx0, gy0, gx1, gy1 = geom.bounds
    if not (minx <= gx0 and gx1 <= maxx and miny <= gy0 and gy1 <= maxy):
        raise PatrolZoneGeometryError(
            f"geometry is outside Vietnam: its extent ({gx0:.4f}, {gy0:.4f}, {gx1:.4f}, "
            f"{gy1:.4f}) is not within that of boundary set {bset.id}"
        )
    frame = bset.frame
    hit = frame.iloc[frame.sindex.query(geom, "intersects")]
    hit = hit[(hit["level"] == bset.leaf_level) & hit["has_geometry"]]
    if hit.empty:
        raise PatrolZoneGeometryError(
            f"geometry touches no unit of boundary set {bset.id} (outside Vietnam's land)"
        )
    return ZoneGeometry(geom, repaired, sorted(str(c) for c in hit["code"]))


def zone_feature(record: dict[str, Any], repaired: bool | None = None) -> dict[str, Any]:
    """Return a stored patrol zone as a GeoJSON Feature."""
    properties = {
        "name": record["name"],
        "cluster_id": record["cluster_id"],
        "created_at": jsonable(record["created_at"]),
        "updated_at": jsonable(record["updated_at"]),
        "created_by": record["created_by"],
        "units": list(record["units"]),
        "notes": record["notes"],
    }
    if repaired is not None:
        properties["repaired"] = repaired
    return {
        "type": "Feature",
        "id": int(record["id"]),
        "geometry": json.loads(record["geometry"]),
        "properties": properties,
    }


# -- clusters --------------------------------------------------------------------------------


def cluster_summary(
    territory: ClusterTerritory, source: str = "file", editable: bool = False
) -> dict[str, Any]:
    """Return a placed cluster's identity and members, JSON-ready.

    Parameters
    ----------
    territory
        The placed cluster.
    source
        ``"file"`` (committed in ``data/clusters``) or ``"api"`` (defined by a planner).
    editable
        Whether ``PUT /clusters/{id}`` may replace it (a defined cluster, not a carried
        version).
    """
    cluster = territory.cluster
    members = territory.members
    return {
        "id": cluster.id,
        "name": cluster.name,
        "name_en": cluster.name_en,
        "boundary_set": cluster.boundary_set,
        "level": cluster.level,
        "zone_width_m": territory.width_m,
        "carried_from": cluster.carried_from,
        "applies": bool(territory.applies),
        "source": source,
        "editable": editable,
        "members": records(members),
    }


def cluster_zones(territory: ClusterTerritory) -> BorderZones:
    """Build the border zones of a placed cluster's members that have territory."""
    codes = territory.members.loc[territory.members["has_territory"], "code"].tolist()
    return border_zones(territory.bset, codes, territory.width_m, territory.cluster.level)


def zone_features(zones: BorderZones, cluster_id: str) -> list[dict[str, Any]]:
    """Return border zones as GeoJSON features (id ``<cluster>:<zone>``)."""
    frame = zones.zones
    rows = records(frame.drop(columns=["geometry"]))
    return [
        {
            "type": "Feature",
            "id": f"{cluster_id}:{row['zone_id']}",
            "geometry": shapely.geometry.mapping(geom),
            "properties": {**row, "cluster_id": cluster_id, "set_id": zones.set_id},
        }
        for row, geom in zip(rows, frame.geometry, strict=True)
    ]


def migrate(context: Context, cluster_id: str, into: str | None) -> dict[str, Any]:
    """Carry a committed cluster into another set's units; return the migration report."""
    cluster = context.clusters.get(cluster_id)
    if cluster is None:
        raise DataNotFoundError(
            f"no committed cluster {cluster_id!r}; known: {', '.join(sorted(context.clusters))}"
        )
    legacy = context.boundary_set(cluster.boundary_set)
    current = context.current if into is None else context.boundary_set(into)
    if current.id == legacy.id:
        raise InvalidParameterError(
            f"cluster {cluster_id} is named in {legacy.id} already; give another set as into"
        )
    data: dict[str, Any] = jsonable(migrate_cluster(cluster, legacy, current).to_dict())
    return data
