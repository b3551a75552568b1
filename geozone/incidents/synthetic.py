"""Seeded synthetic incidents for demonstrations, tests and benchmarks.

:func:`generate_incidents` draws ``n`` incidents that look like a police log around the five
clusters of the reports (../shared/seeds) and across the country. Every record says what it
is: ``synthetic = True``, a ``description`` opening with "SYNTHETIC", an ``external_id``
``SYN-<seed>-<k>``. The same seed gives the same frame; all work is vectorised numpy/shapely
(1,000,000 incidents in about ten seconds on two cores, most of it spent locating the points).

The mixture
-----------
``MIXTURE`` gives the shares of three components (rounded to whole counts):

15 % hotspots
    Dense points around the clusters' named hotspots (the T11 bridge, 105.8064 E 21.0387 N,
    ±150 m): a circular gaussian in metres with sigma = radius / 2, so 86 % of them fall
    within the radius; polygon hotspots are filled uniformly. Hotspots share the component
    equally.
35 % cluster borders
    Points along the boundaries shared by members of each cluster. The shared lines are the
    parts of each member's boundary within 2 m of another member (``SNAP_M``), computed in the
    cluster's UTM zone. A position is drawn uniformly along their length, then moved across
    the line by a Laplace offset (density decaying exponentially with the distance) whose
    scale is a quarter of the cluster's border-zone width: 50 m for ward clusters (200 m
    zone), 250 m for district clusters, 750 m for provinces; 98 % of the points lie within
    the zone width of the line. Clusters share the component equally, whatever their line
    length (the T11 cluster's 11 km gets as many points as the Gia Lâm cluster's 460 km).
50 % background
    Points uniformly inside wards drawn with weight ``area_km2 ** 0.3 × (8 if Phường else
    1)``: urban wards (phường) see far more incidents per km² than rural communes (xã), and
    a large commune only somewhat more than a small one. With the 2025 wards this puts about
    half of the background in phường. Multi-part wards choose a part by area; points are
    drawn in the part's bounding box and kept when inside (batched rejection sampling).

A component with nothing to draw passes its share on: without hotspots the hotspot share
goes to the borders; without shared lines the border share goes to the background. Hotspot
and border points that fall outside every unit (at sea beyond a coastal boundary) are drawn
again, up to ``REDRAW_ROUNDS`` times.

Attributes
----------
category
    Per context (``CATEGORY_MIX``), from the reports: the T11 area (hotspot and borders of
    the Hoa–Đô–Phúc–Vị cluster) drugs, prostitution, theft, pavement encroachment,
    sanitation; Việt Trì–Vĩnh Tường–Lập Thạch drugs, theft, loan-sharking; Sông Cầu–Quy Nhơn
    theft, robbery, drugs, gambling; Gia Lâm and Cần Thơ–An Giang general crime; background
    a national mix (theft first, then traffic, public order, drugs...). A cluster not listed
    uses its ``problems`` that are categories (70 %) and the national mix (30 %).
status
    ``solved`` with a probability per category (``SOLVED_PROBABILITY``: theft 60 %, drugs
    85 %, administrative violations 95 %...), so that a review such as "31 of 35 criminal
    cases solved" looks plausible.
subjects
    0 to 3, distribution per category (``SUBJECTS_PROBABILITY``): thefts often have no known
    subject, gambling usually several.
jointly_handled
    More likely near borders: 40 % at hotspots, 10 % + 50 % × exp(-d / s) on cluster borders
    (d the distance to the line, s the offset scale), 3 % in the background.
occurred_at
    A uniform day in [start, end] and an hour from the category's diurnal profile
    (``DIURNAL``): night for drugs, prostitution and gambling, daytime for pavement,
    sanitation and traffic, evening for theft, robbery and disorder, office hours for fraud
    and loan-sharking; Vietnam time (UTC+7), whole seconds.
detected_at
    ``occurred_at`` plus a lognormal delay (median per category, ``DETECTION_DELAY_MIN``,
    from 3 minutes for traffic to 12 hours for fraud; sigma 1).
detected_by
    Cluster points (hotspot and border): the member holding the point (58 %), the member
    across the boundary (30 %: the "detected first" case of the lead rule), unknown (6 %),
    a unit outside the cluster (4 %: the province police for ward and district clusters,
    the ward for province clusters) and, in clusters with a member without territory (the
    Bồ Sao company), that member's id (2 %; otherwise the share goes to the holder). The
    member across the boundary is the other member of the line the point was drawn from (for
    hotspots, the nearest other member to the hotspot). Background: the ward holding the
    point (85 %, from :meth:`BoundarySet.locate_many`) or unknown.

Dates and boundary sets
-----------------------
Codes come from ``boundaries`` (the 2025 units), and the clusters must be given in them
(``migrate_cluster(...).to_cluster()``). When ``legacy`` is given, incidents dated before
``boundaries`` came into force take their ``detected_by`` from ``legacy``, the set in force
then, as a log of that time would: the legacy unit holding the point (a district, or the
province for province clusters); the neighbour across the boundary is the legacy unit
holding the point mirrored across the line (or across the hotspot's centre).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from pyproj import Transformer

from geozone.boundaries.sets import BoundarySet
from geozone.clusters.model import Cluster, Hotspot
from geozone.crs import project_geometries, utm_epsg
from geozone.errors import ClusterDefinitionError, InvalidParameterError, UnknownUnitError
from geozone.incidents.io import incident_frame
from geozone.incidents.schema import CATEGORIES
from geozone.vntime import VIETNAM_TZ, aware

#: Shares of the three components of the mixture (see the module notes).
MIXTURE: dict[str, float] = {"hotspot": 0.15, "border": 0.35, "background": 0.50}
#: Background ward weight: ``area_km2 ** AREA_EXPONENT × (URBAN_FACTOR if Phường else 1)``.
AREA_EXPONENT = 0.3
URBAN_FACTOR = 8.0
#: Hotspot gaussian sigma as a share of the hotspot radius.
HOTSPOT_SIGMA_SHARE = 0.5
#: Border offset Laplace scale as a share of the cluster's border-zone width.
BORDER_SCALE_SHARE = 0.25
#: Member boundaries closer than this many metres are shared lines.
SNAP_M = 2.0
#: How often hotspot and border points outside every unit are drawn again.
REDRAW_ROUNDS = 8
#: Shares of the detecting unit for cluster points: holder, neighbour across the boundary,
#: unknown, non-member unit, member without territory (folded into holder when none).
DETECTION_SHARES: dict[str, float] = {
    "holder": 0.58,
    "neighbour": 0.30,
    "unknown": 0.06,
    "non_member": 0.04,
    "organisation": 0.02,
}
#: Share of background incidents whose detecting unit is unknown.
BACKGROUND_UNKNOWN = 0.15
#: jointly_handled probability: hotspot, background; border is base + peak × exp(-d/scale).
JOINT_HOTSPOT, JOINT_BACKGROUND, JOINT_BORDER_BASE, JOINT_BORDER_PEAK = 0.40, 0.03, 0.10, 0.50

#: National mix of categories (background), shares summing to 1.
NATIONAL_MIX: dict[str, float] = {
    "theft": 0.27,
    "traffic": 0.16,
    "public_order": 0.12,
    "drugs": 0.12,
    "fraud": 0.08,
    "assault": 0.07,
    "robbery": 0.05,
    "gambling": 0.05,
    "pavement_encroachment": 0.03,
    "sanitation": 0.02,
    "prostitution": 0.01,
    "loan_sharking": 0.01,
    "fire_safety": 0.01,
}

#: Category mix per cluster (by original id; carried clusters use ``carried_from``).
CATEGORY_MIX: dict[str, dict[str, float]] = {
    "hoa-do-phuc-vi": {
        "drugs": 0.25,
        "prostitution": 0.15,
        "theft": 0.25,
        "pavement_encroachment": 0.20,
        "sanitation": 0.15,
    },
    "viet-tri-vinh-tuong-lap-thach": {"drugs": 0.35, "theft": 0.40, "loan_sharking": 0.25},
    "song-cau-quy-nhon": {
        "theft": 0.35,
        "robbery": 0.15,
        "drugs": 0.20,
        "gambling": 0.15,
        "assault": 0.10,
        "fraud": 0.05,
    },
    "gia-lam": {
        "theft": 0.30,
        "drugs": 0.15,
        "robbery": 0.10,
        "traffic": 0.15,
        "public_order": 0.10,
        "gambling": 0.10,
        "fraud": 0.10,
    },
    "can-tho-an-giang": {
        "theft": 0.30,
        "drugs": 0.20,
        "gambling": 0.15,
        "robbery": 0.10,
        "fraud": 0.10,
        "public_order": 0.15,
    },
}

#: Probability that an incident of each category is solved.
SOLVED_PROBABILITY: dict[str, float] = {
    "drugs": 0.85,
    "theft": 0.60,
    "robbery": 0.70,
    "loan_sharking": 0.55,
    "prostitution": 0.80,
    "gambling": 0.90,
    "assault": 0.80,
    "fraud": 0.40,
    "pavement_encroachment": 0.95,
    "sanitation": 0.95,
    "traffic": 0.97,
    "public_order": 0.85,
    "fire_safety": 0.95,
}

#: Probability of 0, 1, 2 and 3 subjects per category.
SUBJECTS_PROBABILITY: dict[str, tuple[float, float, float, float]] = {
    "drugs": (0.02, 0.60, 0.28, 0.10),
    "theft": (0.35, 0.50, 0.12, 0.03),
    "robbery": (0.30, 0.45, 0.20, 0.05),
    "loan_sharking": (0.10, 0.45, 0.30, 0.15),
    "prostitution": (0.00, 0.50, 0.35, 0.15),
    "gambling": (0.00, 0.20, 0.35, 0.45),
    "assault": (0.05, 0.55, 0.30, 0.10),
    "fraud": (0.40, 0.45, 0.12, 0.03),
    "pavement_encroachment": (0.00, 0.85, 0.12, 0.03),
    "sanitation": (0.05, 0.85, 0.08, 0.02),
    "traffic": (0.00, 0.90, 0.08, 0.02),
    "public_order": (0.00, 0.40, 0.35, 0.25),
    "fire_safety": (0.10, 0.85, 0.05, 0.00),
}

#: Relative weight of each hour of the day (0-23, Vietnam time) per profile.
DIURNAL: dict[str, tuple[float, ...]] = {
    # drugs, prostitution, gambling: late evening and night
    "night": (8, 7, 6, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4, 6, 8, 9, 10, 9),
    # pavement, sanitation, traffic, fire safety: working day, rush hours
    "day": (0.5, 0.3, 0.2, 0.2, 0.5, 2, 5, 8, 8, 6, 6, 6, 5, 5, 6, 6, 7, 8, 7, 4, 3, 2, 1, 1),
    # theft, robbery, assault, public order: all day, evening peak, some pre-dawn burglary
    "evening": (4, 4, 4, 3, 2, 1, 1, 2, 3, 3, 3, 3, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7, 5),
    # fraud, loan-sharking: office hours
    "office": (0.5, 0.2, 0.2, 0.2, 0.2, 0.5, 1, 3, 6, 7, 7, 6, 4, 5, 6, 6, 6, 5, 4, 3, 2, 2, 1, 1),
}
CATEGORY_PROFILE: dict[str, str] = {
    "drugs": "night",
    "prostitution": "night",
    "gambling": "night",
    "pavement_encroachment": "day",
    "sanitation": "day",
    "traffic": "day",
    "fire_safety": "day",
    "theft": "evening",
    "robbery": "evening",
    "assault": "evening",
    "public_order": "evening",
    "fraud": "office",
    "loan_sharking": "office",
}
#: Median delay from occurrence to detection in minutes per category (lognormal, sigma 1).
DETECTION_DELAY_MIN: dict[str, float] = {
    "drugs": 30,
    "prostitution": 30,
    "gambling": 30,
    "theft": 90,
    "robbery": 20,
    "assault": 15,
    "fraud": 720,
    "loan_sharking": 600,
    "pavement_encroachment": 5,
    "sanitation": 10,
    "traffic": 3,
    "public_order": 10,
    "fire_safety": 60,
}
DELAY_SIGMA = 1.0
#: Longest detection delay drawn (30 days), in seconds.
MAX_DELAY_S = 30 * 86_400

_CODES = np.array(list(CATEGORIES), dtype=object)
_CODE_INDEX = {code: i for i, code in enumerate(_CODES)}
_HOTSPOT, _BORDER, _BACKGROUND = 0, 1, 2
_ROLE_NAMES = ("holder", "neighbour", "unknown", "non_member", "organisation")
_ROLE_HOLDER, _ROLE_NEIGHBOUR, _ROLE_UNKNOWN, _ROLE_NON_MEMBER, _ROLE_ORGANISATION = range(5)


@lru_cache(maxsize=16)
def _transformer(source: int | str, target: int | str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


def _table(values: dict[str, float]) -> NDArray[np.float64]:
    return np.array([values[str(code)] for code in _CODES], dtype=np.float64)


_SOLVED = _table(SOLVED_PROBABILITY)
_SUBJECT_CDF = np.cumsum(np.array([SUBJECTS_PROBABILITY[str(c)] for c in _CODES]), axis=1)
_DELAY_MEDIAN_S = _table(DETECTION_DELAY_MIN) * 60.0


# -- specifications of what to draw ----------------------------------------------------------


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


# -- drawing points --------------------------------------------------------------------------


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


# -- the generator ---------------------------------------------------------------------------


def _split(total: int, parts: int) -> NDArray[np.int64]:
    """Split ``total`` into ``parts`` whole counts as equal as possible."""
    edges = np.round(np.linspace(0, total, parts + 1)).astype(np.int64)
    return np.diff(edges)


def generate_incidents(
    n: int,
    seed: int,
    *,
    boundaries: BoundarySet,
    clusters: Sequence[Cluster],
    start: datetime,
    end: datetime,
    legacy: BoundarySet | None = None,
) -> pd.DataFrame:
    """Draw ``n`` synthetic incidents (see the module notes for the mixture and attributes).

    Parameters
    ----------
    n
        Number of incidents (0 or more).
    seed
        Seed of the random generator: the same seed and arguments give the same frame.
    boundaries
        The boundary set the points and codes belong to (the 2025 units).
    clusters
        Clusters defined in ``boundaries`` (e.g. ``migrate_cluster(c, legacy,
        vn2025).to_cluster()`` of the five real clusters). May be empty: then every
        incident is background.
    start, end
        Period of ``occurred_at`` (naive times are Vietnam time); ``end`` after ``start``.
    legacy
        The set in force before ``boundaries``; when given, incidents dated before
        ``boundaries`` came into force name its units in ``detected_by``.

    Returns
    -------
    pandas.DataFrame
        The Incident columns (:data:`geozone.incidents.io.INCIDENT_COLUMNS`), sorted by
        ``occurred_at``, ``synthetic`` True on every row, ``external_id`` ``SYN-<seed>-<k>``
        (k from 1 in time order), ``description`` starting with "SYNTHETIC" and naming the
        component the point was drawn from.

    Raises
    ------
    InvalidParameterError
        When ``n`` is negative or ``end`` is not after ``start``.
    ClusterDefinitionError, UnknownUnitError
        When a cluster is not defined in ``boundaries`` or names a unit it lacks.
    """
    if n < 0:
        raise InvalidParameterError(f"n must be 0 or more, not {n}")
    first, last = aware(start), aware(end)
    if last <= first:
        raise InvalidParameterError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    rng_hotspot, rng_border, rng_background, rng_attributes, rng_time = streams
    specs = _cluster_specs(boundaries, clusters)
    hotspots = _hotspot_specs(boundaries, specs)
    borders = _border_specs(boundaries, specs)

    share = dict(MIXTURE)
    if not hotspots:
        share["border"] += share.pop("hotspot")
        share["hotspot"] = 0.0
    if not borders:
        share["background"] += share.pop("border")
        share["border"] = 0.0
    n_hotspot = round(n * share["hotspot"])
    n_border = round(n * share["border"])
    n_background = n - n_hotspot - n_border

    groups: list[_HotspotSpec | _BorderSpec] = [*hotspots, *borders]
    counts = np.concatenate(
        [
            _split(n_hotspot, len(hotspots)) if hotspots else np.zeros(0, np.int64),
            _split(n_border, len(borders)) if borders else np.zeros(0, np.int64),
        ]
    )
    group = np.repeat(np.arange(len(groups)), counts)
    n_cluster = len(group)
    drawn = [
        _draw_group(g, rng_hotspot if isinstance(g, _HotspotSpec) else rng_border, int(c))
        for g, c in zip(groups, counts, strict=True)
    ]
    cl = _concat(drawn, n_cluster)
    bg_lon, bg_lat, bg_ward = _draw_background(boundaries, rng_background, n_background)

    lon = np.concatenate([cl.lon, bg_lon])
    lat = np.concatenate([cl.lat, bg_lat])
    located = boundaries.locate_many(lon, lat, tolerance_m=0.0)
    level_columns = [c for c in located.columns if c.endswith("_code")]
    codes = {c: np.array(located[c], dtype=object) for c in level_columns}
    inside = np.array(located["status"] == "inside", dtype=bool)
    for _ in range(REDRAW_ROUNDS):
        again = np.flatnonzero(~inside[:n_cluster])
        if not len(again):
            break
        for g in np.unique(group[again]):
            rows = again[group[again] == g]
            rng = rng_hotspot if isinstance(groups[g], _HotspotSpec) else rng_border
            fresh = _draw_group(groups[g], rng, len(rows))
            _assign(cl, rows, fresh)
        lon[again], lat[again] = cl.lon[again], cl.lat[again]
        relocated = boundaries.locate_many(lon[again], lat[again], tolerance_m=0.0)
        inside[again] = (relocated["status"] == "inside").to_numpy(bool)
        for c in level_columns:
            codes[c][again] = relocated[c].to_numpy(dtype=object)

    component = np.concatenate(
        [
            np.where(group < len(hotspots), _HOTSPOT, _BORDER),
            np.full(n_background, _BACKGROUND),
        ]
    ).astype(np.int64)
    cluster_of = np.concatenate(
        [np.array([g.cluster for g in groups], dtype=np.int64)[group], np.full(n_background, -1)]
    )
    category = _categories(rng_attributes, component, cluster_of, specs)
    solved = rng_attributes.random(n) < _SOLVED[category]
    subjects = (rng_attributes.random(n)[:, None] > _SUBJECT_CDF[category]).sum(axis=1)
    distance = np.concatenate([cl.distance_m, np.zeros(n_background)])
    scale = np.array(
        [spec.scale_m if isinstance(spec, _BorderSpec) else 1.0 for spec in groups] + [1.0]
    )[np.concatenate([group, np.full(n_background, len(groups))])]
    joint_p = np.select(
        [component == _HOTSPOT, component == _BORDER],
        [
            np.full(n, JOINT_HOTSPOT),
            JOINT_BORDER_BASE + JOINT_BORDER_PEAK * np.exp(-distance / scale),
        ],
        JOINT_BACKGROUND,
    )
    jointly = rng_attributes.random(n) < joint_p
    occurred_s, detected_s = _times(rng_time, category, first, last)

    holder = np.concatenate([np.full(n_cluster, None, dtype=object), bg_ward])
    background = component == _BACKGROUND
    holder[background & inside] = codes["unit_code"][background & inside]
    detected_by, role = _detected_by(
        rng_attributes, component, cluster_of, specs, cl, codes, holder, n_cluster
    )
    if legacy is not None:
        _legacy_detected_by(
            legacy, boundaries, detected_by, role, occurred_s, cluster_of, specs, cl, lon, lat
        )

    labels = np.array(
        [
            f"SYNTHETIC incident (geozone.incidents.synthetic, seed {seed}): {g.label}"
            for g in groups
        ]
        + [f"SYNTHETIC incident (geozone.incidents.synthetic, seed {seed}): background"],
        dtype=object,
    )
    description = labels[np.concatenate([group, np.full(n_background, len(groups))])]
    order = np.argsort(occurred_s, kind="stable")
    ids = np.array([f"SYN-{seed}-{k}" for k in range(1, n + 1)], dtype=object)
    return incident_frame(
        {
            "external_id": ids,
            "occurred_at": _timestamps(occurred_s[order]),
            "detected_at": _timestamps(detected_s[order]),
            "lon": lon[order],
            "lat": lat[order],
            "category": _CODES[category[order]],
            "detected_by": detected_by[order],
            "status": np.where(solved[order], "solved", "open").astype(object),
            "subjects": subjects[order],
            "jointly_handled": jointly[order],
            "description": description[order],
            "synthetic": np.ones(n, dtype=bool),
        }
    )


def _draw_group(spec: _HotspotSpec | _BorderSpec, rng: np.random.Generator, k: int) -> _Drawn:
    if isinstance(spec, _HotspotSpec):
        return _draw_hotspot(spec, rng, k)
    return _draw_border(spec, rng, k)


def _concat(drawn: list[_Drawn], n: int) -> _Drawn:
    if not drawn:
        empty = np.zeros(n)
        none = np.full(n, None, dtype=object)
        return _Drawn(empty, empty, empty, empty, none, none, empty)
    return _Drawn(
        *(np.concatenate([getattr(d, name) for d in drawn]) for name in _Drawn.__dataclass_fields__)
    )


def _assign(target: _Drawn, rows: NDArray[np.intp], fresh: _Drawn) -> None:
    for name in _Drawn.__dataclass_fields__:
        getattr(target, name)[rows] = getattr(fresh, name)


def _categories(
    rng: np.random.Generator,
    component: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
) -> NDArray[np.int64]:
    mixes = np.vstack([*(spec.mix for spec in specs), _table(NATIONAL_MIX)])
    mix = np.where(component == _BACKGROUND, len(specs), cluster_of)
    cdf = np.cumsum(mixes, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(mix))
    return np.asarray((u[:, None] > cdf[mix]).sum(axis=1), dtype=np.int64)


def _times(
    rng: np.random.Generator, category: NDArray[np.int64], first: datetime, last: datetime
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Occurrence and detection times in seconds since the epoch (UTC)."""
    n = len(category)
    start_s, end_s = int(first.timestamp()), int(last.timestamp())
    local_first = first.astimezone(VIETNAM_TZ)
    midnight = datetime.combine(local_first.date(), datetime.min.time(), VIETNAM_TZ)
    base_s = int(midnight.timestamp())
    n_days = (last.astimezone(VIETNAM_TZ).date() - local_first.date()).days + 1
    profiles = list(DIURNAL)
    hour_cdf = np.cumsum(np.array([DIURNAL[p] for p in profiles], dtype=np.float64), axis=1)
    hour_cdf /= hour_cdf[:, -1:]
    profile = np.array([profiles.index(CATEGORY_PROFILE[str(c)]) for c in _CODES])[category]
    occurred = np.zeros(n, dtype=np.int64)
    pending = np.arange(n)
    for _ in range(50):
        if not len(pending):
            break
        day = rng.integers(0, n_days, len(pending))
        hour = (rng.random(len(pending))[:, None] > hour_cdf[profile[pending]]).sum(axis=1)
        second = rng.integers(0, 3600, len(pending))
        value = base_s + day * 86_400 + hour * 3600 + second
        ok = (value >= start_s) & (value <= end_s)
        occurred[pending[ok]] = value[ok]
        pending = pending[~ok]
    if len(pending):  # a period shorter than the profile's busy hours: uniform instead
        occurred[pending] = rng.integers(start_s, end_s + 1, len(pending))
    delay = rng.lognormal(np.log(_DELAY_MEDIAN_S[category]), DELAY_SIGMA)
    detected = occurred + np.minimum(np.round(delay), MAX_DELAY_S).astype(np.int64)
    return occurred, detected


def _timestamps(seconds: NDArray[np.int64]) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(seconds.astype("datetime64[s]")).tz_localize("UTC")
    return index.tz_convert(VIETNAM_TZ).as_unit("us")


def _roles(
    rng: np.random.Generator, cluster_of: NDArray[np.int64], specs: list[_ClusterSpec]
) -> NDArray[np.int64]:
    shares = np.array([DETECTION_SHARES[name] for name in _ROLE_NAMES])
    table = np.tile(shares, (len(specs), 1))
    for i, spec in enumerate(specs):
        if spec.organisation is None:
            table[i, 0] += table[i, 4]
            table[i, 4] = 0.0
    cdf = np.cumsum(table, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(cluster_of))
    if not len(cluster_of):
        return np.zeros(0, dtype=np.int64)
    return np.asarray((u[:, None] > cdf[cluster_of]).sum(axis=1), dtype=np.int64)


def _detected_by(
    rng: np.random.Generator,
    component: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
    cl: _Drawn,
    codes: dict[str, NDArray[np.object_]],
    holder: NDArray[np.object_],
    n_cluster: int,
) -> tuple[NDArray[np.object_], NDArray[np.int64]]:
    """Draw the detecting unit of every incident; return the codes and the role drawn."""
    n = len(component)
    result = holder.copy()
    unknown_bg = (component == _BACKGROUND) & (rng.random(n) < BACKGROUND_UNKNOWN)
    result[unknown_bg] = None
    roles = np.where(unknown_bg, _ROLE_UNKNOWN, _ROLE_HOLDER).astype(np.int64)
    if not n_cluster:
        return result, roles
    clusters = cluster_of[:n_cluster]
    role = _roles(rng, clusters, specs)
    own = np.full(n_cluster, None, dtype=object)
    outside_cluster = np.full(n_cluster, None, dtype=object)
    for i, spec in enumerate(specs):
        rows = np.flatnonzero(clusters == i)
        own[rows] = codes[spec.level_column][rows]
        other = "unit_code" if spec.level_column == "province_code" else "province_code"
        outside_cluster[rows] = codes[other][rows]
    neighbour = np.where(own == cl.code_a, cl.code_b, cl.code_a)
    own = np.where(pd.isna(own), cl.code_a, own)
    organisation = np.array([spec.organisation for spec in specs] + [None], dtype=object)[clusters]
    chosen = np.select(
        [
            role == _ROLE_HOLDER,
            role == _ROLE_NEIGHBOUR,
            role == _ROLE_UNKNOWN,
            role == _ROLE_NON_MEMBER,
        ],
        [own, neighbour, np.full(n_cluster, None, dtype=object), outside_cluster],
        organisation,
    )
    result[:n_cluster] = chosen
    roles[:n_cluster] = role
    return result, roles


def _legacy_detected_by(
    legacy: BoundarySet,
    boundaries: BoundarySet,
    detected_by: NDArray[np.object_],
    role: NDArray[np.int64],
    occurred_s: NDArray[np.int64],
    cluster_of: NDArray[np.int64],
    specs: list[_ClusterSpec],
    cl: _Drawn,
    lon: NDArray[np.float64],
    lat: NDArray[np.float64],
) -> None:
    """Name the detecting units of incidents dated before ``boundaries`` in ``legacy``."""
    change = datetime.combine(boundaries.info.valid_from, datetime.min.time(), VIETNAM_TZ)
    before = occurred_s < int(change.timestamp())
    rows = np.flatnonzero(
        before & ((role == _ROLE_HOLDER) | (role == _ROLE_NEIGHBOUR) | (role == _ROLE_NON_MEMBER))
    )
    if not len(rows):
        return
    here = legacy.locate_many(lon[rows], lat[rows], tolerance_m=0.0)
    leaf = here["unit_code"].to_numpy(dtype=object)
    province = here["province_code"].to_numpy(dtype=object)
    n_cluster = len(cl.lon)
    in_cluster = rows < n_cluster
    province_level = np.zeros(len(rows), dtype=bool)
    province_level[in_cluster] = np.array(
        [spec.level_column == "province_code" for spec in specs], dtype=bool
    )[cluster_of[rows[in_cluster]]]
    own = np.where(province_level, province, leaf)
    new = np.where(role[rows] == _ROLE_NON_MEMBER, np.where(province_level, leaf, province), own)
    across_rows = np.flatnonzero(role[rows] == _ROLE_NEIGHBOUR)
    if len(across_rows):
        picked = rows[across_rows]
        there = legacy.locate_many(cl.mirror_lon[picked], cl.mirror_lat[picked], tolerance_m=0.0)
        new[across_rows] = np.where(
            province_level[across_rows],
            there["province_code"].to_numpy(dtype=object),
            there["unit_code"].to_numpy(dtype=object),
        )
    detected_by[rows] = new
