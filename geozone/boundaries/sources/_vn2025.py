"""Reader of the vn2025 layout (thanglequoc/vietnamese-provinces-database GeoJSON export).

``geojson/<PP>_<name>/wards/<CCCCC>_<name>.geojson`` holds one ward each; the province of a
ward is given only by its folder. Province polygons are *not* read from the province files,
which do not line up with the wards: the build dissolves them from the wards instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import geopandas as gpd

from geozone.boundaries.sources._common import (
    geometries_from_geojson,
    open_archive,
    read_json_member,
    units_frame,
)
from geozone.errors import SourceFormatError

_PROVINCE_FILE = re.compile(r"^geojson/(\d{2})_[^/]+/\1_[^/]+\.geojson$")
_WARD_FILE = re.compile(r"^geojson/(\d{2})_[^/]+/wards/(\d{5})_[^/]+\.geojson$")


def _single_feature(member: str, collection: Any) -> dict[str, Any]:
    features = collection.get("features") if isinstance(collection, dict) else None
    if not features or len(features) != 1:
        raise SourceFormatError(f"{member}: expected a FeatureCollection with one feature")
    feature: dict[str, Any] = features[0]
    return feature


def _record(props: dict[str, Any], level: str, parent: str | None, province: str) -> dict[str, Any]:
    return {
        "code": str(props["code"]).zfill(2 if level == "province" else 5),
        "name": props.get("name"),
        "full_name": props.get("fullName") or props.get("name"),
        "unit_type": None,
        "level": level,
        "parent_code": parent,
        "province_code": province,
        "name_en": props.get("nameEn"),
        "in_register": True,
    }


def read_vn2025(archive: Path) -> gpd.GeoDataFrame:
    """Read provinces (attributes only) and wards (with geometry) from a vn2025 archive.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per province (geometry missing, to be dissolved) and per ward.
    """
    records: list[dict[str, Any]] = []
    geometries: list[dict[str, Any] | None] = []
    with open_archive(archive) as zf:
        for member in sorted(zf.namelist()):
            if match := _WARD_FILE.match(member):
                province, level = match.group(1), "ward"
            elif match := _PROVINCE_FILE.match(member):
                province, level = match.group(1), "province"
            else:
                continue
            feature = _single_feature(member, read_json_member(zf, member))
            parent = province if level == "ward" else None
            records.append(_record(feature["properties"], level, parent, province))
            geometries.append(feature["geometry"] if level == "ward" else None)
    if not records:
        raise SourceFormatError(f"{archive}: no geojson/<province>/wards/*.geojson members")
    return units_frame(records, geometries_from_geojson(geometries))
