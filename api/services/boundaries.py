"""Boundary sets and units: pages of units, one unit as GeoJSON, its neighbours."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import shapely

from api.services.common import jsonable, records
from geozone.boundaries.sets import BoundarySet
from geozone.clusters.adjacency import adjacency
from geozone.errors import NoGeometryError

#: Degrees added around a unit's envelope to find the units that may touch it (≈1 km).
_NEIGHBOUR_MARGIN_DEG = 0.01


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
