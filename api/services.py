"""What the routes call: thin adapters from HTTP shapes to the geozone core and back.

Routes stay free of logic; this module turns query parameters into geozone calls and
geozone results (data frames, dataclasses) into JSON-ready data.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import shapely
from fastapi import Response
from fastapi.exceptions import RequestValidationError

from api.jobs import Job
from geozone import vntime
from geozone.analysis.patrol import check_within_set
from geozone.analysis.study import ClusterStudy, cluster_study, study_period
from geozone.assignment import ClusterTerritory, SetLocated, cluster_columns, locate_incidents
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import adjacency
from geozone.clusters.migrate import migrate_cluster
from geozone.clusters.registry import ClusterRegistry
from geozone.clusters.zones import BorderZones
from geozone.context import Context
from geozone.errors import (
    DataNotFoundError,
    InvalidParameterError,
    NoGeometryError,
    PatrolZoneGeometryError,
)
from geozone.incidents.pipeline import assign_stale, context_stamp
from geozone.settings import get_settings
from geozone.store import IncidentStore
from geozone.store.sql import write_wait

#: Most vertices of an invalid patrol zone that is repaired rather than refused.
MAX_REPAIR_VERTICES = 1_000
#: Most edge crossings of an invalid patrol zone that is repaired rather than refused (a
#: repair's work grows with the square of the crossings: a random 500-vertex tangle, 60,000
#: crossings, takes minutes; a zone drawn with a loop or two has a handful).
MAX_REPAIR_CROSSINGS = 50
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


def json_response(data: Any, status_code: int = 200) -> Response:
    """Return JSON-ready data (see :func:`jsonable`) as a response, skipping FastAPI's encoder.

    For routes whose answer is built to their response model already: the route keeps the
    model for the documentation, and the answer is not validated a second time.
    """
    return Response(orjson.dumps(data), status_code=status_code, media_type="application/json")


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


def _judged_on(day: date | None) -> np.datetime64:
    """Return the date a point is judged on: the given one, or today in Vietnam."""
    return np.datetime64(day or vntime.today(), "D")


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
    return _judge(context, points, tolerance_m)[0]


def _judge(
    context: Context,
    points: Sequence[tuple[float, float, date | None, str | None]],
    tolerance_m: float | None,
) -> tuple[list[dict[str, Any]], list[SetLocated]]:
    """Judge points in one pass; also return the location columns (chain, distances)."""
    columns = {
        "external_id": np.array([str(i) for i in range(len(points))], dtype=object),
        "lon": np.array([p[0] for p in points], dtype=float),
        "lat": np.array([p[1] for p in points], dtype=float),
        "detected_by": np.array([p[3] for p in points], dtype=object),
    }
    days = np.array([_judged_on(p[2]) for p in points], dtype="datetime64[D]")
    units, located = locate_incidents(columns, context.sets, tolerance_m, days)
    clusters = cluster_columns(columns, units, context.territories, tolerance_m, days)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(clusters or {}):
        by_point.setdefault(str(row.pop("external_id")), []).append(row)
    out = []
    for i, ((lon, lat, _day, detector), unit) in enumerate(zip(points, _rows(units), strict=True)):
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
    return out, located


def _rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Return equal-length column arrays as JSON-ready row dicts (no DataFrame in between)."""
    names = list(columns)
    # tolist() turns numpy scalars into Python ones in C; what is left is NaN for missing.
    lists = [np.asarray(values).tolist() for values in columns.values()]
    return [
        {name: None if value != value else value for name, value in zip(names, row, strict=True)}
        for row in zip(*lists, strict=True)
    ]


def locate_one(
    context: Context,
    lon: float,
    lat: float,
    day: date | None,
    detected_by: str | None,
    tolerance_m: float | None,
) -> dict[str, Any]:
    """Judge one point, with its full unit chain and candidate distances (one lookup)."""
    (judged,), located = _judge(context, [(lon, lat, day, detected_by)], tolerance_m)
    if located:
        (part,) = located
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
        location = part.bset.location_at(part.columns, 0, tol, strict=True)
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
        "carry_status": cluster.carry_status,
        "confirmed_from": cluster.confirmed_from.isoformat() if cluster.confirmed_from else None,
        "applies": bool(territory.applies),
        "decides": bool(territory.decides),
        "mode": territory.mode,
        "zone_basis": _zone_basis(territory),
        "source": source,
        "editable": editable,
        "members": records(members),
    }


def _zone_basis(territory: ClusterTerritory) -> dict[str, str] | None:
    """How the border zone was derived, in both languages (None for an ordinary cluster)."""
    if not territory.geometric or not territory.sides.carried:
        return None
    sides = territory.sides
    return {"basis": sides.basis, "vi": sides.basis_vi.strip(), "en": sides.basis_en.strip()}


def cluster_zones(territory: ClusterTerritory) -> BorderZones:
    """Return the border zones of a placed cluster (a carried one's along its original lines)."""
    return territory.zones


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


def run_reassign(job: Job, store: IncidentStore, registry: ClusterRegistry) -> None:
    """Recompute the stored incidents whose assignment is stale, with the newest context.

    Runs as a background job after a cluster is created or replaced; the job's report holds
    the number of incidents assigned and the stamp they now carry.
    """
    job.status = "running"
    try:
        with registry.reassign_lock, write_wait(None):  # a job, not a request: the full wait
            context = registry.context
            assigned = assign_stale(store, context)
        job.rows_done = job.rows_total = assigned
        job.report = {"assigned": assigned, "stamp": context_stamp(context)}
        job.status = "done"
    except Exception as exc:  # the job records every failure; the process goes on
        job.status = "failed"
        job.error = f"{type(exc).__name__}: {exc}"
    finally:
        job.finished_at = datetime.now(UTC)


# -- analytics (hotspots, border effect, coverage, suggestions) -------------------------------

#: Most grid cells an analytics request may build (the core allows more, for batch work).
ANALYTICS_MAX_CELLS = 50_000
#: Largest cells × (permutations + 1) × time bins one request may compute.
ANALYTICS_MAX_WORK = 40_000_000
#: Days of the default analytics period (ending today, Vietnam time).
#: Analytics results kept per app.
ANALYTICS_CACHE_SIZE = 32
#: Label of synthetic data on analytics answers.
SYNTHETIC_LABEL_TEXT = "dữ liệu mô phỏng / synthetic data"


def invalid(field: str, message: str, where: str = "query") -> RequestValidationError:
    """Return a 422 validation error naming ``field`` (never the raw input)."""
    return RequestValidationError([{"loc": (where, field), "msg": message, "type": "value_error"}])


def default_period(start: date | None, end: date | None) -> tuple[date, date]:
    """Fill a missing period: ``end`` today (Vietnam time), ``start`` a year before ``end``."""
    return study_period(start, end)


def parse_categories(text: str | None) -> tuple[str, ...] | None:
    """Parse a comma-separated list of category codes; an unknown code is a 422."""
    from geozone.incidents.schema import CATEGORIES

    if text is None or not text.strip():
        return None
    codes = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [code for code in codes if code not in CATEGORIES]
    if unknown:
        raise invalid(
            "category", f"unknown category code(s); known: {', '.join(sorted(CATEGORIES))}"
        )
    return codes


#: A cluster's family over a period: :class:`geozone.analysis.study.ClusterStudy`.
ClusterPeriod = ClusterStudy


def cluster_period(
    store: Any,
    context: Context,
    cluster_id: str,
    start: date | None,
    end: date | None,
    categories: tuple[str, ...] | None = None,
) -> ClusterStudy:
    """Read a cluster's study over a period (:func:`geozone.analysis.study.cluster_study`).

    Raises
    ------
    UnknownClusterError
        No cluster has the id (404).
    InvalidParameterError
        The period is reversed, or no member has a territory with geometry in it (400).
    """
    return cluster_study(store, context, cluster_id, start, end, categories)


def change_marker(store: Any, context: Context) -> tuple[str, int] | None:
    """Return what cached analytics depend on, or None while assignments are being redone.

    The context's assignment stamp (cluster definitions, builds, rules) and the number of
    stored incidents: the store only adds incidents, and a new context changes the stamp.
    While incidents wait for reassignment their decisions are in flux: nothing is cached.
    """
    from geozone.incidents.pipeline import context_stamp
    from geozone.store import IncidentQuery

    stamp = context_stamp(context)
    if store.stale_ids(stamp, limit=1):
        return None
    return stamp, int(store.count(IncidentQuery()))


class AnalyticsCache:
    """A small thread-safe LRU of analytics results, keyed by request and change marker."""

    def __init__(self, size: int = ANALYTICS_CACHE_SIZE) -> None:
        from collections import OrderedDict
        from threading import Lock

        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = Lock()
        self.size = size
        self.hits = 0

    def get(self, key: Any) -> Any:
        """Return the cached value, or None."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        """Keep ``value`` under ``key``, dropping the least recently used beyond the size."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def estimated_cells(area: Any, cell_size_m: float) -> int:
    """Return about how many cells of ``cell_size_m`` a grid over ``area`` has (upper bound)."""
    from geozone.crs import project_geometries, zones_of

    geoms = np.array([area], dtype=object)
    metric = project_geometries(geoms, zones_of(geoms))[0]
    minx, miny, maxx, maxy = shapely.bounds(metric)
    columns = math.floor((maxx - minx) / cell_size_m) + 2
    rows = math.floor((maxy - miny) / cell_size_m) + 2
    return int(columns * rows)


def check_workload(n_cells: int, permutations: int, n_bins: int = 1) -> None:
    """Refuse (422) a grid with too many cells or too much permutation work for a request."""
    if n_cells > ANALYTICS_MAX_CELLS:
        raise invalid(
            "cell_size_m",
            f"the grid would have about {n_cells:,} cells; at most {ANALYTICS_MAX_CELLS:,} "
            "are allowed: use larger cells",
        )
    work = n_cells * (permutations + 1) * n_bins
    if work > ANALYTICS_MAX_WORK:
        raise invalid(
            "permutations",
            f"about {n_cells:,} cells × {permutations + 1:,} permutations × {n_bins} bins is "
            f"more than {ANALYTICS_MAX_WORK:,}: use fewer permutations or larger cells",
        )


def with_labels(collection: dict[str, Any], period: ClusterPeriod) -> dict[str, Any]:
    """Add the cluster, period, attribution and synthetic label to a result's properties."""
    properties = collection.setdefault("properties", {})
    sets = [
        f.bset for f in period.forms if f.bset is not None and f.overlaps(period.start, period.end)
    ] or [f.bset for f in period.forms if f.bset is not None]
    properties.update(
        {
            "cluster_id": period.cluster_id,
            "from": period.start.isoformat(),
            "to": period.end.isoformat(),
            "attribution": "; ".join(dict.fromkeys(b.info.attribution for b in sets)),
            "attribution_en": "; ".join(dict.fromkeys(b.info.attribution_en for b in sets)),
        }
    )
    if properties.get("synthetic"):
        properties["synthetic_label"] = SYNTHETIC_LABEL_TEXT
    result: dict[str, Any] = jsonable(collection)
    return result


def border_effect_rows(
    period: ClusterPeriod, by: Sequence[str], every: str | None
) -> list[dict[str, Any]]:
    """Return the border effect of every form in force, as rows with ``cluster_id``."""
    from geozone.analysis.border_effect import border_effect

    columns = ["external_id", "occurred_at", "category", "member_code", "in_zone", "zone_units"]
    columns += ["lon", "lat"]
    rows: list[dict[str, Any]] = []
    for form in period.forms:
        if form.territory is None or not form.territory.geometric:
            continue
        if not form.overlaps(period.start, period.end):
            continue
        mine = period.incidents[period.incidents["cluster_id"] == form.id]
        table = border_effect(mine[columns], form.territory, by=by, period=every)
        for row in records(table):
            rows.append({"cluster_id": form.id, **row})
    return rows


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
