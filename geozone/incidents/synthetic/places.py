"""Where synthetic incidents happen: hotspots, cluster borders and the background.

Specifications (what to draw around each cluster) and the vectorised drawing of points in
metres in each cluster's UTM zone (see the mixture in :mod:`geozone.incidents.synthetic`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster, Hotspot
from geozone.crs import project_geometries, utm_epsg
from geozone.errors import ClusterDefinitionError, UnknownUnitError
from geozone.incidents.schema import CATEGORIES
from geozone.incidents.synthetic.profile import (
    _CODE_INDEX,
    _CODES,
    AREA_EXPONENT,
    BORDER_SCALE_SHARE,
    CATEGORY_MIX,
    HOTSPOT_SIGMA_SHARE,
    NATIONAL_MIX,
    SNAP_M,
    URBAN_FACTOR,
    _table,
)


@lru_cache(maxsize=16)
def _transformer(source: int | str, target: int | str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


@dataclass
class _ClusterSpec:
    """A cluster's members in ``boundaries`` and what its points are attributed to."""

    cluster: Cluster
    codes: list[str]
    level_column: str
    mix: NDArray[np.float64]
    organisation: str | None
    zone_width_m: float


@dataclass
class _HotspotSpec:
    cluster: int
    hotspot: Hotspot
    epsg: int
    centre: tuple[float, float]
    sigma_m: float
    polygon: Any
    nearest: tuple[str, str]
    label: str


@dataclass
class _BorderSpec:
    cluster: int
    epsg: int
    start: NDArray[np.float64]
    delta: NDArray[np.float64]
    length: NDArray[np.float64]
    cumulative: NDArray[np.float64]
    code_a: NDArray[np.object_]
    code_b: NDArray[np.object_]
    scale_m: float
    label: str


@dataclass
class _Drawn:
    """Points of one group with what the attribution needs."""

    lon: NDArray[np.float64]
    lat: NDArray[np.float64]
    mirror_lon: NDArray[np.float64]
    mirror_lat: NDArray[np.float64]
    code_a: NDArray[np.object_]
    code_b: NDArray[np.object_]
    distance_m: NDArray[np.float64]


def _mix_for(cluster: Cluster) -> NDArray[np.float64]:
    key = cluster.carried_from or cluster.id
    mix = CATEGORY_MIX.get(key)
    if mix is None:
        own = [p for p in cluster.problems if p in CATEGORIES]
        national = _table(NATIONAL_MIX)
        if not own:
            return national
        extra = np.zeros(len(_CODES))
        extra[[_CODE_INDEX[p] for p in own]] = 1.0 / len(own)
        return np.asarray(0.7 * extra + 0.3 * national, dtype=np.float64)
    weights = np.array([mix.get(str(code), 0.0) for code in _CODES], dtype=np.float64)
    return np.asarray(weights / weights.sum(), dtype=np.float64)


def _cluster_specs(boundaries: BoundarySet, clusters: Sequence[Cluster]) -> list[_ClusterSpec]:
    specs = []
    for cluster in clusters:
        if cluster.boundary_set != boundaries.id:
            raise ClusterDefinitionError(
                f"cluster {cluster.id} is defined in {cluster.boundary_set!r}, not in "
                f"{boundaries.id!r}; carry it first (migrate_cluster(...).to_cluster())"
            )
        codes = list(dict.fromkeys(str(m.unit_code) for m in cluster.members if m.kind == "unit"))
        for code in codes:
            unit = boundaries.get(code)  # raises UnknownUnitError naming the code
            if not unit.has_geometry:
                raise UnknownUnitError(
                    f"cluster {cluster.id}: member {code} ({unit.full_name}) has no geometry "
                    f"in {boundaries.id}"
                )
        level = cluster.level if cluster.level in boundaries.levels else boundaries.leaf_level
        organisations = [m.id for m in cluster.members if m.kind == "organisation"]
        specs.append(
            _ClusterSpec(
                cluster=cluster,
                codes=codes,
                level_column=f"{level}_code",
                mix=_mix_for(cluster),
                organisation=organisations[0] if organisations else None,
                zone_width_m=cluster.effective_zone_width_m,
            )
        )
    return specs


def _member_geometries(boundaries: BoundarySet, codes: list[str]) -> NDArray[np.object_]:
    return boundaries.frame.set_index("code").loc[codes].geometry.to_numpy()  # type: ignore[no-any-return]


def _hotspot_specs(boundaries: BoundarySet, specs: list[_ClusterSpec]) -> list[_HotspotSpec]:
    found = []
    for index, spec in enumerate(specs):
        if not spec.codes:
            continue
        geoms = _member_geometries(boundaries, spec.codes)
        for hotspot in spec.cluster.hotspots:
            shape = hotspot.geometry()
            centre_lonlat = shapely.centroid(shape)
            epsg = int(utm_epsg(float(shapely.get_x(centre_lonlat))))
            to_metric = _transformer("EPSG:4326", epsg)
            cx, cy = to_metric.transform(shapely.get_x(centre_lonlat), shapely.get_y(centre_lonlat))
            metric_members = project_geometries(geoms, np.full(len(geoms), epsg))
            distance = shapely.distance(metric_members, shapely.Point(cx, cy))
            order = np.argsort(distance, kind="stable")
            nearest = [spec.codes[i] for i in order[:2]]
            polygon = None
            if hotspot.point is None:
                polygon = project_geometries(np.array([shape], dtype=object), np.array([epsg]))[0]
            found.append(
                _HotspotSpec(
                    cluster=index,
                    hotspot=hotspot,
                    epsg=epsg,
                    centre=(float(cx), float(cy)),
                    sigma_m=float(hotspot.radius_m or 0.0) * HOTSPOT_SIGMA_SHARE,
                    polygon=polygon,
                    nearest=(nearest[0], nearest[-1]),
                    label=f"hotspot {hotspot.name} of cluster {spec.cluster.id}",
                )
            )
    return found


def _border_specs(boundaries: BoundarySet, specs: list[_ClusterSpec]) -> list[_BorderSpec]:
    found = []
    for index, spec in enumerate(specs):
        if len(spec.codes) < 2:
            continue
        geoms = _member_geometries(boundaries, spec.codes)
        centre = shapely.centroid(shapely.union_all(shapely.envelope(geoms)))
        epsg = int(utm_epsg(float(shapely.get_x(centre))))
        metric = project_geometries(geoms, np.full(len(geoms), epsg))
        left, right = shapely.STRtree(metric).query(metric, predicate="dwithin", distance=SNAP_M)
        keep = left < right
        left, right = left[keep], right[keep]
        shared = shapely.intersection(
            shapely.boundary(metric[left]), shapely.buffer(metric[right], SNAP_M)
        )
        parts, pair = shapely.get_parts(shared, return_index=True)
        is_line = shapely.get_type_id(parts) == shapely.GeometryType.LINESTRING
        parts, pair = parts[is_line], pair[is_line]
        if not len(parts):
            continue
        coords, owner = shapely.get_coordinates(parts, return_index=True)
        same = owner[1:] == owner[:-1]
        start = coords[:-1][same]
        delta = (coords[1:] - coords[:-1])[same]
        length = np.hypot(delta[:, 0], delta[:, 1])
        segment_pair = pair[owner[:-1][same]]
        ok = length > 0
        codes = np.array(spec.codes, dtype=object)
        found.append(
            _BorderSpec(
                cluster=index,
                epsg=epsg,
                start=start[ok],
                delta=delta[ok],
                length=length[ok],
                cumulative=np.cumsum(length[ok]),
                code_a=codes[left[segment_pair[ok]]],
                code_b=codes[right[segment_pair[ok]]],
                scale_m=spec.zone_width_m * BORDER_SCALE_SHARE,
                label=f"border of cluster {spec.cluster.id}",
            )
        )
    return found


def _to_lonlat(
    epsg: int, x: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    lon, lat = _transformer(epsg, "EPSG:4326").transform(x, y)
    return np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64)


def _draw_hotspot(spec: _HotspotSpec, rng: np.random.Generator, k: int) -> _Drawn:
    cx, cy = spec.centre
    if spec.polygon is None:
        x = cx + rng.normal(0.0, spec.sigma_m, k)
        y = cy + rng.normal(0.0, spec.sigma_m, k)
    else:
        x, y = _uniform_in(np.full(k, spec.polygon, dtype=object), rng)
    dx, dy = x - cx, y - cy
    radius = np.hypot(dx, dy)
    stretch = np.where(radius > 0, np.maximum(radius, 30.0) / np.maximum(radius, 1e-9), 0.0)
    lon, lat = _to_lonlat(spec.epsg, x, y)
    mirror_lon, mirror_lat = _to_lonlat(spec.epsg, cx - dx * stretch, cy - dy * stretch)
    a, b = spec.nearest
    return _Drawn(
        lon,
        lat,
        mirror_lon,
        mirror_lat,
        np.full(k, a, dtype=object),
        np.full(k, b, dtype=object),
        radius,
    )


def _draw_border(spec: _BorderSpec, rng: np.random.Generator, k: int) -> _Drawn:
    along = rng.random(k) * spec.cumulative[-1]
    segment = np.minimum(
        np.searchsorted(spec.cumulative, along, side="right"), len(spec.length) - 1
    )
    before = spec.cumulative[segment] - spec.length[segment]
    t = np.clip((along - before) / spec.length[segment], 0.0, 1.0)
    base = spec.start[segment] + t[:, None] * spec.delta[segment]
    normal = np.column_stack([-spec.delta[segment, 1], spec.delta[segment, 0]])
    normal /= spec.length[segment][:, None]
    offset = rng.laplace(0.0, spec.scale_m, k)
    point = base + offset[:, None] * normal
    mirrored = base - (np.sign(offset) * np.maximum(np.abs(offset), 30.0))[:, None] * normal
    lon, lat = _to_lonlat(spec.epsg, point[:, 0], point[:, 1])
    mirror_lon, mirror_lat = _to_lonlat(spec.epsg, mirrored[:, 0], mirrored[:, 1])
    return _Drawn(
        lon,
        lat,
        mirror_lon,
        mirror_lat,
        spec.code_a[segment],
        spec.code_b[segment],
        np.abs(offset),
    )


def _uniform_in(
    parts: NDArray[np.object_], rng: np.random.Generator, rounds: int = 200
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One uniform point inside each polygon (batched rejection in the bounding boxes)."""
    shapely.prepare(parts)
    bounds = shapely.bounds(parts)
    x = np.full(len(parts), np.nan)
    y = np.full(len(parts), np.nan)
    pending = np.arange(len(parts))
    for _ in range(rounds):
        if not len(pending):
            break
        box = bounds[pending]
        cx = box[:, 0] + rng.random(len(pending)) * (box[:, 2] - box[:, 0])
        cy = box[:, 1] + rng.random(len(pending)) * (box[:, 3] - box[:, 1])
        inside = shapely.contains_xy(parts[pending], cx, cy)
        x[pending[inside]], y[pending[inside]] = cx[inside], cy[inside]
        pending = pending[~inside]
    if len(pending):  # slivers that rejection keeps missing: a point surely inside
        surface = shapely.point_on_surface(parts[pending])
        x[pending], y[pending] = shapely.get_x(surface), shapely.get_y(surface)
    return x, y


def _draw_background(
    boundaries: BoundarySet, rng: np.random.Generator, k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.object_]]:
    """Points in wards weighted by area and urban type; returns lon, lat and the ward code."""
    wards = boundaries.units(boundaries.leaf_level)
    wards = wards[wards["has_geometry"].to_numpy(bool)]
    area = wards["area_km2"].to_numpy(np.float64)
    urban = (wards["unit_type"] == "Phường").to_numpy(bool)
    weight = np.power(np.maximum(area, 1e-6), AREA_EXPONENT) * np.where(urban, URBAN_FACTOR, 1.0)
    parts, owner = shapely.get_parts(wards.geometry.to_numpy(), return_index=True)
    part_area = shapely.area(parts)  # degree², only compared within a ward
    cumulative = np.cumsum(part_area)
    last = np.searchsorted(owner, np.arange(len(wards)), side="right") - 1
    first = np.searchsorted(owner, np.arange(len(wards)), side="left")
    ward_end = cumulative[last]
    ward_start = ward_end - np.bincount(owner, weights=part_area, minlength=len(wards))
    chosen = rng.choice(len(wards), size=k, p=weight / weight.sum())
    target = ward_start[chosen] + rng.random(k) * (ward_end[chosen] - ward_start[chosen])
    part = np.clip(np.searchsorted(cumulative, target, side="right"), first[chosen], last[chosen])
    lon, lat = _uniform_in(parts[part], rng)
    return lon, lat, wards["code"].to_numpy(dtype=object)[chosen]


def _split(total: int, parts: int) -> NDArray[np.int64]:
    """Split ``total`` into ``parts`` whole counts as equal as possible."""
    edges = np.round(np.linspace(0, total, parts + 1)).astype(np.int64)
    return np.diff(edges)
