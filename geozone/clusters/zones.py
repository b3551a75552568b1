"""Border zones (địa bàn giáp ranh): bands along the boundaries shared inside a group of units.

For a group of units (the members of a cluster) and a width W, :func:`border_zones` returns

- one **pair zone** per pair of members sharing a boundary line: the points within W metres
  of their shared boundary that lie in either of the two units;
- one **junction zone** per point where three or more members meet: the disc of radius W
  around it, clipped to those members;
- the **sides**: every zone split by the unit it lies in (the part of the band in unit A and
  the part in unit B), which is what an incident assignment needs;
- the **union** of all zones of the group.

All metric work (buffers, clipping, areas, distances) is done in one UTM zone chosen for the
whole group from the longitude of its centroid (:func:`geozone.crs.utm_epsg`): 48N west of
108°E, 49N east of it. A group a few tens of kilometres across stays within 0.1% scale error;
the results are returned in EPSG:4326.

Shared lines are simplified by ``W / 500`` before buffering (Douglas-Peucker), so every point
of a band lies within ``1.002 W`` of the exact shared line
(:func:`geozone.clusters.measure.measure_bands` checks it). On real ward boundaries this halves
the buffering time and moves band areas by under 0.01%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from geozone.boundaries.manifest import Level
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import DEFAULT_SNAP_M, Adjacency, select_units
from geozone.clusters.adjacency import adjacency as build_adjacency
from geozone.crs import WGS84, project_geometries, project_xy, utm_epsg
from geozone.errors import InvalidCoordinatesError, InvalidParameterError, UnitLevelError

#: Default border-zone width in metres per level.
#:
#: - ward, 200 m: an urban block (a ngõ and the houses either side) is 100-200 m deep, so
#:   200 m covers the first block on each side of the line, where offenders step across;
#:   rural communes are larger but their hamlets cluster on roads that cross the line.
#: - district, 1,000 m: district lines run through several wards; about 1 km on each side
#:   covers the ward-scale streets and markets that straddle them without swallowing whole
#:   wards.
#: - province, 3,000 m: provincial borders follow rivers and ridges; 3 km covers the
#:   crossings (bridges, ferries, national roads) and the settlements at their ends.
DEFAULT_WIDTH_M: dict[Level, float] = {"ward": 200.0, "district": 1000.0, "province": 3000.0}
#: Shared lines are simplified by this fraction of the width before buffering.
SIMPLIFY_FRACTION = 1 / 500
#: Largest width accepted, in metres.
MAX_WIDTH_M = 50_000.0
#: Segments per quarter circle of the buffers (a chord strays 0.5% of W inside the arc).
_QUAD_SEGS = 8

ZONE_COLUMNS = ["zone_id", "kind", "code_a", "code_b", "codes", "area_m2", "width_m"]


def default_width(level: Level) -> float:
    """Return the default border-zone width in metres for units of ``level``.

    Raises
    ------
    UnitLevelError
        For an unknown level.
    """
    try:
        return DEFAULT_WIDTH_M[level]
    except KeyError:
        raise UnitLevelError(
            f"no default border-zone width for level {level!r} "
            f"(known: {', '.join(DEFAULT_WIDTH_M)})"
        ) from None


@dataclass(frozen=True)
class BorderZones:
    """The border zones of one group of units (all geometry in EPSG:4326).

    Attributes
    ----------
    set_id, level
        The boundary set and level of the members.
    codes
        The members, sorted.
    width_m
        Width W of the bands, in metres.
    utm_epsg
        The UTM zone all metric work was done in (from the group's centroid).
    tolerance_m
        Snapping tolerance of the adjacency the zones were built from.
    zones
        One row per zone: ``zone_id``, ``kind`` ("pair" or "junction"), ``code_a`` and
        ``code_b`` (pairs; None for junctions), ``codes`` (the units it is clipped to),
        ``area_m2``, ``width_m`` and ``geometry``. Pair zones have id ``"A-B"``, junction
        zones ``"J:A-B-C"``.
    sides
        Every zone split by unit: ``zone_id``, ``kind``, ``code_a``, ``code_b``, ``code``
        (the unit this piece lies in), ``area_m2``, ``geometry``.
    lines
        The shared boundary lines between members (as in :attr:`Adjacency.lines`).
    junctions
        Points where three or more members meet: ``junction_id``, ``codes`` (members only),
        ``n_units``, ``geometry``.
    """

    set_id: str
    level: Level
    codes: tuple[str, ...]
    width_m: float
    utm_epsg: int
    tolerance_m: float
    zones: gpd.GeoDataFrame
    sides: gpd.GeoDataFrame
    lines: gpd.GeoDataFrame
    junctions: gpd.GeoDataFrame
    _metric_zones: NDArray[np.object_] = field(repr=False, compare=False)
    _metric_lines: NDArray[np.object_] = field(repr=False, compare=False)

    @property
    def pairs(self) -> gpd.GeoDataFrame:
        """The pair zones."""
        return self.zones[self.zones["kind"] == "pair"]

    @property
    def junction_zones(self) -> gpd.GeoDataFrame:
        """The junction zones."""
        return self.zones[self.zones["kind"] == "junction"]

    @cached_property
    def union(self) -> gpd.GeoDataFrame:
        """One row: ``codes``, ``width_m``, ``area_m2`` and the union of all zones (EPSG:4326).

        Computed on first use (a national union of thousands of zones takes tens of seconds).
        """
        merged = (
            shapely.union_all(self._metric_zones) if len(self._metric_zones) else shapely.Polygon()
        )
        return gpd.GeoDataFrame(
            {
                "codes": [list(self.codes)],
                "width_m": [self.width_m],
                "area_m2": [float(shapely.area(merged))],
            },
            geometry=_to_wgs84(np.array([merged], dtype=object), self.utm_epsg),
            crs=WGS84,
        )

    def area_summary(self) -> dict[str, Any]:
        """Return the zones' areas in km², each labelled for what it is.

        ``union_km2`` counts each place once (zones overlap near junctions and where a
        member borders several others); ``pairs_km2`` and ``junctions_km2`` give each zone's
        own area; ``sum_of_zones_km2`` is their plain sum, larger than the union by the
        overlaps, and never the area of the border zone.
        """
        pairs = self.pairs
        junctions = self.junction_zones
        return {
            "union_km2": round(float(self.union["area_m2"].iloc[0]) / 1e6, 4),
            "pairs_km2": {
                str(z): round(float(a) / 1e6, 4)
                for z, a in zip(pairs["zone_id"], pairs["area_m2"], strict=True)
            },
            "junctions_km2": {
                str(z): round(float(a) / 1e6, 4)
                for z, a in zip(junctions["zone_id"], junctions["area_m2"], strict=True)
            },
            "sum_of_zones_km2": round(float(self.zones["area_m2"].sum()) / 1e6, 4),
            "note": "union_km2 is the border zone's area (each place counted once); "
            "sum_of_zones_km2 double-counts where zones overlap",
        }

    def clipped(self, area: shapely.Geometry) -> BorderZones:
        """Return the zones cut to ``area`` (EPSG:4326): a carried cluster's own territory.

        Zones, their sides and the lines keep what lies in the area (areas measured again);
        junctions outside it are dropped.
        """
        epsg = self.utm_epsg
        area_m = project_geometries(np.array([area], dtype=object), np.array([epsg]))[0]
        zones_m = shapely.intersection(self._metric_zones, area_m)
        sides_m = shapely.intersection(
            project_geometries(
                self.sides.geometry.to_numpy(), np.full(len(self.sides), epsg, dtype=np.int64)
            ),
            area_m,
        )
        lines_m = shapely.intersection(self._metric_lines, shapely.buffer(area_m, 1.0))
        keep_zone = ~shapely.is_empty(zones_m)
        keep_side = ~shapely.is_empty(sides_m)
        keep_line = ~shapely.is_empty(lines_m)
        zones = self.zones.iloc[np.flatnonzero(keep_zone)].assign(
            area_m2=shapely.area(zones_m[keep_zone])
        )
        sides = self.sides.iloc[np.flatnonzero(keep_side)].assign(
            area_m2=shapely.area(sides_m[keep_side])
        )
        junctions = self.junctions[shapely.intersects(self.junctions.geometry.to_numpy(), area)]
        return BorderZones(
            set_id=self.set_id,
            level=self.level,
            codes=self.codes,
            width_m=self.width_m,
            utm_epsg=epsg,
            tolerance_m=self.tolerance_m,
            zones=gpd.GeoDataFrame(
                zones.drop(columns="geometry"),
                geometry=_to_wgs84(zones_m[keep_zone], epsg).to_numpy(),
                crs=WGS84,
            ).reset_index(drop=True),
            sides=gpd.GeoDataFrame(
                sides.drop(columns="geometry"),
                geometry=_to_wgs84(sides_m[keep_side], epsg).to_numpy(),
                crs=WGS84,
            ).reset_index(drop=True),
            lines=gpd.GeoDataFrame(
                self.lines.iloc[np.flatnonzero(keep_line)].drop(columns="geometry"),
                geometry=_to_wgs84(lines_m[keep_line], epsg).to_numpy(),
                crs=WGS84,
            ).reset_index(drop=True),
            junctions=junctions.reset_index(drop=True),
            _metric_zones=zones_m[keep_zone],
            _metric_lines=lines_m[keep_line],
        )

    @property
    def union_geometry(self) -> shapely.Geometry:
        """The union of all zones (EPSG:4326); empty when the members share no boundary."""
        return self.union.geometry.iloc[0]

    def contains(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.bool_]:
        """Tell for each point whether it lies in the group's border zone (edges included)."""
        x, y = _coordinates(lon, lat)
        return shapely.intersects_xy(self.union_geometry, x, y)  # type: ignore[no-any-return]

    def nearest_boundary(self, lon: ArrayLike, lat: ArrayLike) -> pd.DataFrame:
        """Distance from points to the nearest shared boundary of the group.

        See :func:`geozone.clusters.measure.nearest_shared_boundary`.
        """
        return _nearest(self.lines, self._metric_lines, self.utm_epsg, lon, lat)

    def distance_m(self, lon: ArrayLike, lat: ArrayLike) -> NDArray[np.float64]:
        """Distance in metres from points to the nearest shared boundary of the group."""
        return self.nearest_boundary(lon, lat)["distance_m"].to_numpy()


# -- building -----------------------------------------------------------------------------------


def border_zones(
    bset: BoundarySet,
    codes: Sequence[str],
    width_m: float | None = None,
    level: Level | None = None,
    *,
    tolerance_m: float = DEFAULT_SNAP_M,
    adjacency: Adjacency | None = None,
) -> BorderZones:
    """Build the border zones of a group of units.

    Parameters
    ----------
    bset
        The boundary set.
    codes
        The group's units (for instance a cluster's members), all of ``level``.
    width_m
        Band width W in metres; defaults to :func:`default_width` of the level.
    level
        Level of the units; defaults to the set's leaf level.
    tolerance_m
        Snapping tolerance of the adjacency (see :func:`geozone.clusters.adjacency.adjacency`).
    adjacency
        A precomputed adjacency of the same set and level covering every member (for
        instance of the whole country), to avoid recomputing it. Its pairs and junctions
        are restricted to the members; a junction is kept when three or more members meet.

    Returns
    -------
    BorderZones

    Raises
    ------
    InvalidParameterError
        When the width is not a positive number of metres up to :data:`MAX_WIDTH_M`, or the
        adjacency does not fit.
    UnitLevelError, UnknownUnitError, NoGeometryError
        For bad members, as in :func:`geozone.clusters.adjacency.adjacency`.
    """
    level = level or bset.leaf_level
    width = default_width(level) if width_m is None else float(width_m)
    if not math.isfinite(width) or width <= 0 or width > MAX_WIDTH_M:
        raise InvalidParameterError(
            f"width_m must be a number of metres in (0, {MAX_WIDTH_M:g}], not {width_m!r}"
        )
    if not len(codes):
        raise InvalidParameterError("a border-zone group needs at least one unit code")
    members = select_units(bset, level, codes)
    member_codes = tuple(members["code"])
    lines, junctions, tolerance = _group_adjacency(
        bset, level, member_codes, tolerance_m, adjacency
    )
    epsg = group_epsg(members.geometry.to_numpy())
    zone_of = np.full(len(members), epsg, dtype=np.int64)
    polygons = pd.Series(
        project_geometries(members.geometry.to_numpy(), zone_of), index=pd.Index(member_codes)
    )
    lines_m = project_geometries(
        lines.geometry.to_numpy(), np.full(len(lines), epsg, dtype=np.int64)
    )
    pair_sides = _pair_sides(lines, lines_m, polygons, width)
    junction_sides = _junction_sides(junctions, polygons, width, epsg)
    sides_m = pd.concat([pair_sides, junction_sides], ignore_index=True)
    zones_m = _zones_from_sides(sides_m, width)
    sides_m = sides_m[~shapely.is_empty(sides_m["geometry"].to_numpy())]
    sides_m = sides_m.assign(_junction=sides_m["kind"] != "pair")
    sides_m = sides_m.sort_values(["_junction", "zone_id", "code"]).drop(columns="_junction")
    return BorderZones(
        set_id=bset.id,
        level=level,
        codes=member_codes,
        width_m=width,
        utm_epsg=epsg,
        tolerance_m=tolerance,
        zones=_frame(zones_m, epsg),
        sides=_frame(sides_m, epsg),
        lines=lines,
        junctions=junctions,
        _metric_zones=zones_m["geometry"].to_numpy(),
        _metric_lines=lines_m,
    )


def drawn_border_zones(
    drawn: shapely.Geometry,
    sides: Sequence[str],
    polygons: NDArray[np.object_],
    lines: gpd.GeoDataFrame,
    set_id: str,
    level: Level,
    width_m: float,
) -> BorderZones:
    """Return a border zone a planner drew, in the shape of :func:`border_zones`' result.

    One zone (``zone_id`` "drawn", ``kind`` "drawn") split by the sides it lies in; the
    sides' shared ``lines`` (EPSG:4326) are kept where they cross it; no junction discs.
    """
    epsg = group_epsg(np.array([drawn], dtype=object))
    zone_of = np.full(len(polygons), epsg, dtype=np.int64)
    drawn_m = project_geometries(np.array([drawn], dtype=object), np.array([epsg]))[0]
    pieces = shapely.intersection(project_geometries(np.asarray(polygons), zone_of), drawn_m)
    keep = ~shapely.is_empty(pieces)
    codes = [code for code, kept in zip(sides, keep, strict=True) if kept]
    zones_m = pd.DataFrame(
        {
            "zone_id": ["drawn"],
            "kind": ["drawn"],
            "code_a": [None],
            "code_b": [None],
            "codes": [codes],
            "area_m2": [float(shapely.area(drawn_m))],
            "width_m": [width_m],
            "geometry": [drawn_m],
        }
    )
    sides_m = pd.DataFrame(
        {
            "zone_id": "drawn",
            "kind": "drawn",
            "code_a": None,
            "code_b": None,
            "code": codes,
            "area_m2": shapely.area(pieces[keep]),
            "geometry": pieces[keep],
        }
    )
    lines_m = shapely.intersection(
        project_geometries(lines.geometry.to_numpy(), np.full(len(lines), epsg)), drawn_m
    )
    kept = ~shapely.is_empty(lines_m)
    return BorderZones(
        set_id=set_id,
        level=level,
        codes=tuple(sides),
        width_m=width_m,
        utm_epsg=epsg,
        tolerance_m=DEFAULT_SNAP_M,
        zones=_frame(zones_m, epsg),
        sides=_frame(sides_m, epsg),
        lines=gpd.GeoDataFrame(
            lines.iloc[np.flatnonzero(kept)].drop(columns="geometry"),
            geometry=_to_wgs84(lines_m[kept], epsg).to_numpy(),
            crs=WGS84,
        ).reset_index(drop=True),
        junctions=gpd.GeoDataFrame(
            {"junction_id": [], "codes": [], "n_units": []}, geometry=[], crs=WGS84
        ),
        _metric_zones=np.array([drawn_m], dtype=object),
        _metric_lines=lines_m[kept],
    )


def group_epsg(geoms: NDArray[np.object_]) -> int:
    """Return the UTM zone of a group of lon/lat geometries, from the longitude of its centroid."""
    parts = shapely.get_parts(geoms)
    parts = parts[~shapely.is_empty(parts)]
    if not len(parts):
        raise InvalidParameterError("the group has no geometry to choose a UTM zone from")
    areas = shapely.area(parts)
    lon = shapely.get_x(shapely.centroid(parts))
    weights = areas if areas.sum() > 0 else np.ones(len(parts))
    return int(utm_epsg(float(np.average(lon, weights=weights))))


def _group_adjacency(
    bset: BoundarySet,
    level: Level,
    members: tuple[str, ...],
    tolerance_m: float,
    given: Adjacency | None,
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, float]:
    """Shared lines and junctions among the members (computed, or cut from ``given``)."""
    if given is None:
        adj = build_adjacency(bset, level, members, tolerance_m)
        return adj.lines, adj.junctions, adj.tolerance_m
    if given.set_id != bset.id or given.level != level:
        raise InvalidParameterError(
            f"the adjacency given is of {given.set_id}/{given.level}, not {bset.id}/{level}"
        )
    missing = sorted(set(members) - set(given.units["code"]))
    if missing:
        raise InvalidParameterError(f"the adjacency given does not cover members {missing}")
    chosen = set(members)
    lines = given.lines[given.lines["code_a"].isin(chosen) & given.lines["code_b"].isin(chosen)]
    kept = given.junctions["codes"].map(lambda codes: [c for c in codes if c in chosen])
    junctions = given.junctions.assign(codes=kept, n_units=kept.map(len).astype(np.int64))
    junctions = junctions[junctions["n_units"] >= 3].reset_index(drop=True)
    junctions["junction_id"] = np.arange(len(junctions), dtype=np.int64)
    return lines.reset_index(drop=True), junctions, given.tolerance_m


def _pair_sides(
    lines: gpd.GeoDataFrame, lines_m: NDArray[np.object_], polygons: pd.Series, width: float
) -> pd.DataFrame:
    """Cut the band of each shared line by each of its two units (metric geometry)."""
    if lines.empty:
        return _empty_sides()
    simple = shapely.simplify(lines_m, width * SIMPLIFY_FRACTION, preserve_topology=False)
    band = shapely.buffer(simple, width, quad_segs=_QUAD_SEGS)
    zone_id = (lines["code_a"] + "-" + lines["code_b"]).to_numpy()
    frames = [
        pd.DataFrame(
            {
                "zone_id": zone_id,
                "kind": "pair",
                "code_a": lines["code_a"].to_numpy(),
                "code_b": lines["code_b"].to_numpy(),
                "code": lines[side].to_numpy(),
                "geometry": shapely.intersection(band, polygons[lines[side]].to_numpy()),
            }
        )
        for side in ("code_a", "code_b")
    ]
    return pd.concat(frames, ignore_index=True)


def _junction_sides(
    junctions: gpd.GeoDataFrame, polygons: pd.Series, width: float, epsg: int
) -> pd.DataFrame:
    """Cut the disc of radius W around each junction by each member meeting there."""
    if junctions.empty:
        return _empty_sides()
    zone = np.full(len(junctions), epsg, dtype=np.int64)
    centres = project_geometries(junctions.geometry.to_numpy(), zone)
    discs = shapely.buffer(centres, width, quad_segs=2 * _QUAD_SEGS)
    names = junctions["codes"].map(lambda codes: "J:" + "-".join(codes))
    repeat = names.groupby(names).cumcount()
    zone_id = np.where(repeat > 0, names + "#" + (repeat + 1).astype(str), names)
    rows = pd.DataFrame({"zone_id": zone_id, "code": junctions["codes"], "disc": discs}).explode(
        "code"
    )
    unit = polygons[rows["code"]].to_numpy()
    disc = rows["disc"].to_numpy()
    return pd.DataFrame(
        {
            "zone_id": rows["zone_id"].to_numpy(),
            "kind": "junction",
            "code_a": None,
            "code_b": None,
            "code": rows["code"].to_numpy(),
            "geometry": shapely.intersection(disc, unit),
        }
    )


def _empty_sides() -> pd.DataFrame:
    return pd.DataFrame(
        {
            name: pd.Series(dtype=object)
            for name in ("zone_id", "kind", "code_a", "code_b", "code", "geometry")
        }
    )


def _zones_from_sides(sides: pd.DataFrame, width: float) -> pd.DataFrame:
    """Union the sides of each zone; areas in square metres."""
    sides["geometry"] = shapely.make_valid(
        sides["geometry"].to_numpy(), method="structure", keep_collapsed=False
    )
    sides["area_m2"] = shapely.area(sides["geometry"].to_numpy())
    if sides.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in [*ZONE_COLUMNS, "geometry"]})
    grouped = sides.groupby("zone_id", sort=False)
    zones = grouped.agg(
        kind=("kind", "first"),
        code_a=("code_a", "first"),
        code_b=("code_b", "first"),
        codes=("code", list),
    )
    pairs = zones["kind"] == "pair"
    unions = np.empty(len(zones), dtype=object)
    # Pairs: a vectorised union of the two sides; junctions (few): union per zone.
    pair_sides = sides[sides["kind"] == "pair"]
    first = pair_sides.groupby("zone_id", sort=False)["geometry"].first()
    last = pair_sides.groupby("zone_id", sort=False)["geometry"].last()
    unions[pairs.to_numpy()] = shapely.union(
        first[zones.index[pairs]].to_numpy(), last[zones.index[pairs]].to_numpy()
    )
    others = sides[sides["kind"] != "pair"]
    if len(others):
        merged = others.groupby("zone_id", sort=False)["geometry"].agg(
            lambda geoms: shapely.union_all(geoms.to_numpy())
        )
        unions[(~pairs).to_numpy()] = merged[zones.index[~pairs]].to_numpy()
    zones["geometry"] = unions
    zones["area_m2"] = shapely.area(unions)
    zones["width_m"] = width
    zones = zones.reset_index()
    order = np.lexsort((zones["zone_id"].to_numpy(), (zones["kind"] != "pair").to_numpy()))
    return zones.iloc[order][[*ZONE_COLUMNS, "geometry"]].reset_index(drop=True)


def _frame(metric: pd.DataFrame, epsg: int) -> gpd.GeoDataFrame:
    columns = [c for c in metric.columns if c != "geometry"]
    return gpd.GeoDataFrame(
        metric[columns].reset_index(drop=True),
        geometry=_to_wgs84(metric["geometry"].to_numpy(), epsg),
        crs=WGS84,
    )


def _to_wgs84(geoms: NDArray[np.object_], epsg: int) -> gpd.GeoSeries:
    return gpd.GeoSeries(geoms, crs=epsg).to_crs(WGS84)


def _coordinates(lon: ArrayLike, lat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    x = np.asarray(lon, dtype=np.float64).ravel()
    y = np.asarray(lat, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise InvalidCoordinatesError(f"{len(x)} longitudes but {len(y)} latitudes")
    return x, y


def _nearest(
    lines: gpd.GeoDataFrame,
    lines_m: NDArray[np.object_] | None,
    epsg: int,
    lon: ArrayLike,
    lat: ArrayLike,
) -> pd.DataFrame:
    """Nearest shared line to each point (an STRtree over the lines' parts, in metres)."""
    x, y = _coordinates(lon, lat)
    result = pd.DataFrame(
        {
            "distance_m": np.full(len(x), np.nan),
            "code_a": pd.Series([None] * len(x), dtype=object),
            "code_b": pd.Series([None] * len(x), dtype=object),
        }
    )
    valid = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
    if lines.empty or not valid.any():
        return result
    if lines_m is None:
        lines_m = project_geometries(
            lines.geometry.to_numpy(), np.full(len(lines), epsg, dtype=np.int64)
        )
    parts, owner = shapely.get_parts(lines_m, return_index=True)
    px, py = project_xy(x[valid], y[valid], np.full(int(valid.sum()), epsg, dtype=np.int64))
    points = shapely.points(px, py)
    (point, part), distance = shapely.STRtree(parts).query_nearest(
        points, return_distance=True, all_matches=False
    )
    rows = np.flatnonzero(valid)[point]
    result.loc[rows, "distance_m"] = distance
    result.loc[rows, "code_a"] = lines["code_a"].to_numpy()[owner[part]]
    result.loc[rows, "code_b"] = lines["code_b"].to_numpy()[owner[part]]
    return result
