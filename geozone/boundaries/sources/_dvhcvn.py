"""Reader of the dvhcvn layout (daohoangson/dvhcvn ``data/``).

``gis/<level1_id>.json`` carries province and district geometry; ``dvhcvn.json`` lists every
province, district and ward with its GSO code, name and type. Wards have no geometry: they
form the register of pre-2025 wards.
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

_GIS_FILE = re.compile(r"^(?:.*/)?gis/(\d{2})\.json$")
_REGISTER_FILE = re.compile(r"^(?:.*/)?dvhcvn\.json$")


def _geometry(node: dict[str, Any]) -> dict[str, Any] | None:
    coordinates = node.get("coordinates")
    return {"type": node["type"], "coordinates": coordinates} if coordinates else None


def _gis_units(zf: Any, members: list[str]) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Map unit code to (GIS node, parent code) for every province and district file."""
    found: dict[str, tuple[dict[str, Any], str | None]] = {}
    for member in members:
        province = read_json_member(zf, member)
        found[province["level1_id"]] = (province, None)
        for district in province.get("level2s", []):
            found[district["level2_id"]] = (district, province["level1_id"])
    return found


def _unregistered_records(
    gis: dict[str, tuple[dict[str, Any], str | None]], registered: set[str]
) -> list[dict[str, Any]]:
    """Make records for units with geometry that the (newer) register no longer lists.

    The register is dated 2025 and the geometry about 2023: districts merged in between (for
    example Huyện Mỹ Lộc into Thành phố Nam Định) keep their geometry and their GIS name.
    """
    records = []
    for code, (node, parent) in sorted(gis.items()):
        if code in registered:
            continue
        level = "district" if parent else "province"
        records.append(
            {
                "code": code,
                "name": node["name"],
                "full_name": node["name"],
                "unit_type": None,
                "level": level,
                "parent_code": parent,
                "province_code": parent or code,
                "name_en": None,
                "in_register": False,
            }
        )
    return records


def _register_records(register: dict[str, Any]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []

    def add(node: dict[str, Any], code: str, level: str, parent: str | None, prov: str) -> None:
        records.append(
            {
                "code": code,
                "name": node["name"],
                "full_name": node["name"],
                "unit_type": node.get("type"),
                "level": level,
                "parent_code": parent,
                "province_code": prov,
                "name_en": None,
                "in_register": True,
            }
        )

    for province in register["data"]:
        prov = province["level1_id"]
        add(province, prov, "province", None, prov)
        for district in province.get("level2s", []):
            add(district, district["level2_id"], "district", prov, prov)
            for ward in district.get("level3s", []):
                add(ward, ward["level3_id"], "ward", district["level2_id"], prov)
    return records


def read_dvhcvn(archive: Path) -> gpd.GeoDataFrame:
    """Read the register and the province/district geometry of a dvhcvn archive.

    Returns
    -------
    geopandas.GeoDataFrame
        Every registered unit; geometry is missing for wards and for units without a GIS file.
    """
    with open_archive(archive) as zf:
        names = sorted(zf.namelist())
        register_member = next((n for n in names if _REGISTER_FILE.match(n)), "dvhcvn.json")
        records = _register_records(read_json_member(zf, register_member))
        gis = _gis_units(zf, [n for n in names if _GIS_FILE.match(n)])
    records += _unregistered_records(gis, {record["code"] for record in records})
    geometry = [_geometry(gis[r["code"]][0]) if r["code"] in gis else None for r in records]
    return units_frame(records, geometries_from_geojson(geometry))
