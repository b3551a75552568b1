"""Named places (the T11 bridge area): their incidents, share, kinds and density."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geozone.analysis.hotspots._common import (
    _check_area,
    _check_metres,
    _geometry_to_metric,
    _incident_points,
    _to_metric,
    _zone,
)
from geozone.analysis.hotspots.results import NAMED_COLUMNS, HotspotResult
from geozone.clusters.model import Cluster
from geozone.crs import WGS84, utm_epsg
from geozone.errors import InvalidParameterError
from geozone.incidents.schema import CATEGORIES

# -- named places ------------------------------------------------------------------------------


def cluster_places(clusters: Iterable[Cluster]) -> dict[str, BaseGeometry]:
    """Return the named hotspots of clusters as polygons (EPSG:4326), by hotspot name.

    Points become discs of their own ``radius_m`` (:meth:`geozone.clusters.model.Hotspot.area`),
    e.g. "Cầu T11", the T11 bridge with 150 m. A name met twice (a cluster and its carried
    copy) is kept once.
    """
    places: dict[str, BaseGeometry] = {}
    for cluster in clusters:
        for hotspot in cluster.hotspots:
            places.setdefault(hotspot.name, hotspot.area())
    return places


def named_hotspot_figures(
    incidents: pd.DataFrame,
    hotspots: Mapping[str, tuple[float, float] | BaseGeometry],
    radius_m: float = 300.0,
    *,
    area: BaseGeometry | None = None,
    result: HotspotResult | None = None,
) -> pd.DataFrame:
    """Return figures for named places: incidents there, their share, kinds and density.

    Parameters
    ----------
    incidents
        Points in EPSG:4326 (GeoDataFrame), or a frame with ``lon``/``lat``; a ``category``
        column gives the criminal / administrative split.
    hotspots
        Name → ``(lon, lat)``, a shapely Point (both taken as a disc of ``radius_m``) or a
        polygon (EPSG:4326), e.g. :func:`cluster_places` of the clusters.
    radius_m
        Radius around point places, in metres.
    area
        Study area for the overall density (EPSG:4326). Default: the convex hull of the
        incidents.
    result
        A Gi* result: then ``hot_cell`` says whether a significant hot cell overlaps the place.

    Returns
    -------
    pandas.DataFrame
        One row per place, in the order given: ``place``, ``n_incidents`` (within the place),
        ``share`` (of all incidents given), ``n_criminal``, ``n_administrative``,
        ``top_category``, ``area_km2``, ``density_km2``, ``overall_density_km2`` (all
        incidents over the study area), ``ratio`` (density / overall density), ``hot_cell``
        (bool, or NA without ``result``). ``attrs`` carries ``n_total``, ``study_area_km2``,
        ``epsg`` and ``synthetic``.

    Raises
    ------
    InvalidParameterError
        When ``radius_m`` is out of range or a place is not a point or polygon.
    AnalysisInputError
        When the incidents are unusable.
    """
    radius_m = _check_metres("radius_m", radius_m)
    area = _check_area(area)
    points = _incident_points(incidents)
    shapes: list[BaseGeometry] = []
    for name, place in hotspots.items():
        if isinstance(place, BaseGeometry):
            geometry = place
        else:
            try:
                lon, lat = (float(v) for v in place)
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"place {name!r} must be (lon, lat) or a shapely geometry, not {place!r}"
                ) from None
            geometry = shapely.Point(lon, lat)
        if geometry.geom_type not in ("Point", "Polygon", "MultiPolygon") or geometry.is_empty:
            raise InvalidParameterError(f"place {name!r} must be a point or a polygon")
        shapes.append(geometry)
    if area is None and not len(points.lon) and shapes:
        epsg = int(utm_epsg(float(shapely.point_on_surface(shapes[0]).x)))
    else:
        epsg = _zone(points, area)
    x, y = _to_metric(points, epsg)
    metric = gpd.GeoSeries(shapes, crs=WGS84).to_crs(epsg).to_numpy()
    is_point = shapely.get_type_id(metric) == 0
    metric[is_point] = shapely.buffer(metric[is_point], radius_m, quad_segs=32)
    n_total = len(x)
    if area is not None:
        study = _geometry_to_metric(area, epsg)
    else:
        study = (
            shapely.convex_hull(shapely.multipoints(np.column_stack([x, y]))) if n_total else None
        )
    study_km2 = float(shapely.area(study)) / 1e6 if study is not None else 0.0
    overall = n_total / study_km2 if study_km2 > 0 else np.nan
    categories = (
        incidents["category"].iloc[points.rows].astype(str).to_numpy()
        if "category" in incidents.columns
        else np.full(n_total, "", dtype=object)
    )
    kind_of = {code: category.kind for code, category in CATEGORIES.items()}
    kind = pd.Series(categories, dtype=object).map(kind_of).fillna("other").to_numpy(dtype=object)
    hot_geoms = None
    if result is not None:
        hot_geoms = gpd.GeoSeries(result.hot.geometry.to_numpy(), crs=WGS84).to_crs(epsg).to_numpy()
    rows = []
    for name, geometry in zip(hotspots, metric, strict=True):
        shapely.prepare(geometry)
        inside = shapely.contains_xy(geometry, x, y) if n_total else np.zeros(0, dtype=bool)
        count = int(inside.sum())
        area_km2 = float(shapely.area(geometry)) / 1e6
        top = pd.Series(categories[inside]).value_counts()
        density = count / area_km2 if area_km2 > 0 else np.nan
        hot_cell: object = pd.NA
        if hot_geoms is not None:
            hot_cell = bool(len(hot_geoms) and shapely.intersects(geometry, hot_geoms).any())
        rows.append(
            {
                "place": name,
                "n_incidents": count,
                "share": count / n_total if n_total else np.nan,
                "n_criminal": int((kind[inside] == "criminal").sum()),
                "n_administrative": int((kind[inside] == "administrative").sum()),
                "top_category": str(top.index[0]) if len(top) and top.index[0] else None,
                "area_km2": area_km2,
                "density_km2": density,
                "overall_density_km2": overall,
                "ratio": density / overall if overall and np.isfinite(overall) else np.nan,
                "hot_cell": hot_cell,
            }
        )
    table = pd.DataFrame(rows, columns=list(NAMED_COLUMNS))
    table.attrs.update(
        {
            "n_total": n_total,
            "study_area_km2": study_km2,
            "epsg": epsg,
            "synthetic": points.synthetic,
            "radius_m": radius_m,
        }
    )
    return table
