"""Tiny source archives in both layouts, written by tests (never real data)."""

from __future__ import annotations

import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import shapely

from geozone.boundaries.manifest import Provenance, SourceEntry
from geozone.hashing import file_sha256


def square(x0: float, y0: float, size: float = 0.01) -> dict[str, Any]:
    """A GeoJSON MultiPolygon square in degrees."""
    ring = [[x0, y0], [x0 + size, y0], [x0 + size, y0 + size], [x0, y0 + size], [x0, y0]]
    return {"type": "MultiPolygon", "coordinates": [[ring]]}


#: A self-intersecting "bow tie": invalid, make_valid turns it into two triangles.
BOW_TIE = {
    "type": "MultiPolygon",
    "coordinates": [
        [[[105.0, 21.0], [105.01, 21.01], [105.01, 21.0], [105.0, 21.01], [105.0, 21.0]]]
    ],
}


def _collection(props: dict[str, Any], geometry: dict[str, Any]) -> bytes:
    feature = {"type": "Feature", "properties": props, "geometry": geometry}
    return json.dumps({"type": "FeatureCollection", "features": [feature]}).encode()


def _ward_props(code: str, name: str, kind: str = "Phường") -> dict[str, Any]:
    return {"code": code, "name": name, "fullName": f"{kind} {name}", "nameEn": None}


def write_vn2025_zip(path: Path, *, invalid: bool = False) -> Path:
    """Two provinces: 01 with wards 00001/00002 side by side, 02 with ward 00010."""
    wards = {
        "geojson/01_ha_noi/wards/00001_mot.geojson": (
            _ward_props("00001", "Một"),
            square(105.0, 21.0),
        ),
        "geojson/01_ha_noi/wards/00002_hai.geojson": (
            _ward_props("00002", "Hai"),
            BOW_TIE if invalid else square(105.01, 21.0),
        ),
        "geojson/02_ha_giang/wards/00010_muoi.geojson": (
            _ward_props("00010", "Mười", "Xã"),
            square(105.5, 22.0),
        ),
    }
    provinces = {
        "geojson/01_ha_noi/01_ha_noi.geojson": {
            "code": "01",
            "name": "Hà Nội",
            "fullName": "Thành phố Hà Nội",
        },
        "geojson/02_ha_giang/02_ha_giang.geojson": {
            "code": "02",
            "name": "Hà Giang",
            "fullName": "Tỉnh Hà Giang",
        },
    }
    with zipfile.ZipFile(path, "w") as zf:
        for member, (props, geom) in wards.items():
            zf.writestr(member, _collection(props, geom))
        for member, props in provinces.items():
            # Deliberately off: the build must dissolve provinces from wards, not read these.
            zf.writestr(member, _collection(props, square(100.0, 10.0, 5.0)))
    return path


def write_dvhcvn_zip(path: Path) -> Path:
    """Province 01 > districts 001 (geometry), 002 (register only) > wards; 003 (GIS only)."""
    register = {
        "data": [
            {
                "level1_id": "01",
                "name": "Thành phố Hà Nội",
                "type": "Thành phố Trung ương",
                "level2s": [
                    {
                        "level2_id": "001",
                        "name": "Quận Ba Đình",
                        "type": "Quận",
                        "level3s": [
                            {"level3_id": "00001", "name": "Phường Phúc Xá", "type": "Phường"},
                            {"level3_id": "00006", "name": "Phường Vĩnh Phúc", "type": "Phường"},
                        ],
                    },
                    {"level2_id": "002", "name": "Quận Hoàn Kiếm", "type": "Quận", "level3s": []},
                ],
            }
        ]
    }
    gis = {
        "level1_id": "01",
        "name": "Thành phố Hà Nội",
        **square(105.0, 21.0, 0.02),
        "level2s": [
            {"level2_id": "001", "name": "Quận Ba Đình", **square(105.0, 21.0)},
            {"level2_id": "003", "name": "Huyện Mỹ Lộc", **square(105.01, 21.0)},
        ],
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("dvhcvn.json", json.dumps(register, ensure_ascii=False))
        zf.writestr("gis/01.json", json.dumps(gis, ensure_ascii=False))
    return path


def entry_for(archive: Path, layout: str, set_id: str = "test") -> SourceEntry:
    """A manifest entry whose checksum matches ``archive``."""
    return SourceEntry(
        id=set_id,
        title="test set",
        layout=layout,  # type: ignore[arg-type]
        directory=archive.parent.name,
        archive=archive.name,
        sha256=file_sha256(archive),
        valid_from=date(2025, 7, 1),
        levels=("province", "ward"),
        licence="CC0",
        attribution="test",
        attribution_en="test",
        obtain="made by the test",
        provenance=Provenance(
            repository="-", commit="-", path="-", exported="-", geometry_origin="-"
        ),
        expected={"province": 2, "ward": 3},
    )


def area_deg(geom: dict[str, Any]) -> float:
    """Planar area of a GeoJSON geometry in square degrees (for shape checks only)."""
    return float(shapely.area(shapely.from_geojson(json.dumps(geom))))
