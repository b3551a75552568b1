"""Import a user-supplied boundary layer (any OGR format) as a boundary set of its own.

A user may hold a layer the bundled sources lack. :func:`import_boundary_set` reads it with
pyogrio, maps its fields to geozone's unit columns, derives the coarser levels by dissolving
(a ward layer that names its district and province yields all three levels), repairs invalid
geometry, and stores the result like a built set, with validity dates, so that
``BoundarySet.load``, ``for_date`` and the QA treat it like any other.

A ward layer meant to add ward geometry to an existing set (GADM level 3 for the pre-2025
wards) does not come here: it *refines* that set (:mod:`geozone.boundaries.refine`), keeping the
set's
codes and validity. A new set whose dates overlap a built set's would silently become the set
in force on those dates (the latest ``valid_from`` wins): it is refused unless the caller
says ``supersede=True``, and the report then warns what changes.

An import is all or nothing: rows with no code, no name or no geometry, duplicate codes, a
missing field or CRS stop it with a message listing them, and the previous set of the same id
stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geozone.boundaries.build import BuildReport, repair_geometries, store_set
from geozone.boundaries.manifest import LEVEL_ORDER, Level
from geozone.boundaries.sources import UNIT_COLUMNS
from geozone.errors import BoundaryImportError
from geozone.hashing import file_sha256
from geozone.text import nfc, split_unit_type

#: How many offending rows an error message lists before summarising.
MAX_LISTED = 10


@dataclass(frozen=True)
class LevelFields:
    """Which fields of the layer give one level's code and name (and, optionally, type)."""

    level: Level
    code: str
    name: str
    unit_type: str | None = None


@dataclass(frozen=True)
class ImportSpec:
    """How to read a layer: the finest level first, then each coarser level it names.

    Parameters
    ----------
    levels
        ``levels[0]`` describes the features themselves; the others are dissolved from them
        (e.g. ward fields, then district fields, then province fields).
    set_id, title, valid_from, valid_to, licence, attribution
        Identity and validity of the new set; the attribution shows on maps and exports.
    as_of
        When the layer's units stand as of, for a layer that is one snapshot used for a
        longer period (``"YYYY-MM"`` or ``"YYYY-MM-DD"``, as the manifest's ``as_of``): answers
        for other days then say so. None: its units are those of every day it is used for.
    layer
        Layer name for multi-layer files (GeoPackage).
    """

    levels: tuple[LevelFields, ...]
    set_id: str
    title: str
    valid_from: date
    valid_to: date | None = None
    licence: str = "unknown"
    attribution: str = ""
    layer: str | None = None
    notes: list[str] = field(default_factory=list)
    as_of: str | None = None


def read_layer(path: Path, wanted: list[str], layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a boundary layer in EPSG:4326, checking its CRS and the fields it must have.

    Raises
    ------
    BoundaryImportError
        The file cannot be read, has no CRS, or lacks a field (all missing fields named).
    """
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read"
        raise BoundaryImportError(f"cannot read {path}: {exc}") from None
    if frame.crs is None:
        raise BoundaryImportError(f"{path} has no coordinate reference system; assign one first")
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise BoundaryImportError(
            f"{path}: no field(s) {', '.join(missing)}; the layer has {', '.join(frame.columns)}"
        )
    return frame.to_crs(4326)


def _read(path: Path, spec: ImportSpec) -> gpd.GeoDataFrame:
    wanted = [f for lv in spec.levels for f in (lv.code, lv.name, lv.unit_type) if f]
    return read_layer(path, wanted, spec.layer)


def _row_problems(frame: gpd.GeoDataFrame, leaf: LevelFields) -> list[str]:
    problems = []
    blank_code = frame[leaf.code].isna() | (frame[leaf.code].astype(str).str.strip() == "")
    blank_name = frame[leaf.name].isna() | (frame[leaf.name].astype(str).str.strip() == "")
    no_geometry = frame.geometry.isna() | frame.geometry.is_empty
    not_polygon = ~no_geometry & ~frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    duplicated = frame[leaf.code].duplicated(keep=False) & ~blank_code
    for label, mask in [
        ("no code", blank_code),
        ("no name", blank_name),
        ("no geometry", no_geometry),
        ("not a polygon", not_polygon),
        (f"duplicate {leaf.code}", duplicated),
    ]:
        rows = np.flatnonzero(mask.to_numpy()) + 1
        if len(rows):
            listed = ", ".join(map(str, rows[:MAX_LISTED])) + (
                " …" if len(rows) > MAX_LISTED else ""
            )
            problems.append(f"{len(rows)} feature(s) with {label} (feature {listed})")
    return problems


def _level_frame(frame: gpd.GeoDataFrame, spec: ImportSpec, depth: int) -> gpd.GeoDataFrame:
    """Units of ``spec.levels[depth]``: the features themselves, or dissolved from them."""
    fields = spec.levels[depth]
    parent = spec.levels[depth + 1] if depth + 1 < len(spec.levels) else None
    province = spec.levels[-1]
    source = gpd.GeoDataFrame(
        {
            "code": frame[fields.code],
            "raw_name": frame[fields.name],
            "province_code": frame[province.code],
            "parent_code": frame[parent.code] if parent else None,
            "raw_type": frame[fields.unit_type] if fields.unit_type else None,
        },
        geometry=frame.geometry.to_numpy(),
        crs=4326,
    )
    if depth:
        # Coarser levels: one unit per code, the union of its features.
        source = source.dissolve("code", as_index=False, aggfunc="first")
    units = gpd.GeoDataFrame(source, geometry="geometry", crs=4326)
    units["code"] = units["code"].astype(str).str.strip()
    units["level"] = fields.level
    units["province_code"] = units["province_code"].astype(str).str.strip()
    if parent:
        units["parent_code"] = units["parent_code"].astype(str).str.strip()
    return _names(units)


def _names(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    raw_name = units["raw_name"].astype(str).map(nfc)
    split = raw_name.map(split_unit_type)
    given_type = units["raw_type"].map(lambda value: nfc(value) if isinstance(value, str) else None)
    unit_type = split.map(lambda pair: pair[0]).where(lambda s: s.notna(), given_type)
    units["name"] = split.map(lambda pair: pair[1])
    units["unit_type"] = unit_type
    units["full_name"] = [
        f"{kind} {name}" if isinstance(kind, str) and kind else name
        for kind, name in zip(unit_type, units["name"], strict=True)
    ]
    units["name_en"] = None
    units["in_register"] = False
    return units.drop(columns=["raw_name", "raw_type"])


def import_boundary_set(
    path: Path,
    spec: ImportSpec,
    cache_dir: Path,
    *,
    protected: frozenset[str] = frozenset(),
    replace: bool = False,
    supersede: bool = False,
    display_simplify_deg: float = 1e-4,
) -> BuildReport:
    """Import a boundary layer as a set stored in ``cache_dir / spec.set_id``.

    Parameters
    ----------
    path
        Any file pyogrio reads (GeoPackage, Shapefile, GeoJSON, FlatGeobuf…).
    spec
        Field mapping, identity and validity of the set.
    cache_dir
        Folder of built sets (``Settings.boundary_cache``).
    protected
        Set ids that must not be overwritten (the manifest's own sets).
    replace
        Allow replacing an earlier import of the same id.
    supersede
        Allow dates that overlap a built set's: the new set is then the one in force on the
        common days, and the report's warnings say which set it replaces and when.

    Returns
    -------
    BuildReport
        Counts per level and repairs; notes on unmatched names go in ``build.json``.

    Raises
    ------
    BoundaryImportError
        With every reason the layer cannot be imported.
    """
    out_dir = cache_dir / spec.set_id
    if spec.set_id in protected:
        raise BoundaryImportError(
            f"set id {spec.set_id!r} belongs to a bundled source; choose another"
        )
    if out_dir.exists() and not replace:
        raise BoundaryImportError(
            f"set {spec.set_id!r} exists already; pass replace=True (--replace)"
        )
    if [lv.level for lv in spec.levels] != sorted(
        (lv.level for lv in spec.levels), key=LEVEL_ORDER.index, reverse=True
    ):
        raise BoundaryImportError("levels must go from the finest to the coarsest")
    warnings = _overlaps(spec, cache_dir, supersede)
    frame = _read(path, spec)
    problems = _row_problems(frame, spec.levels[0])
    if problems:
        raise BoundaryImportError(f"{path}: " + "; ".join(problems))
    frame, repairs = _repair(frame, spec.levels[0])
    units = pd.concat(
        [_level_frame(frame, spec, depth) for depth in range(len(spec.levels))], ignore_index=True
    )
    notes = list(spec.notes) + warnings
    units = gpd.GeoDataFrame(units[[*UNIT_COLUMNS, "geometry"]], geometry="geometry", crs=4326)
    duplicated = units["code"][units["code"].duplicated()]
    if len(duplicated):
        raise BoundaryImportError(
            f"codes repeat after mapping: {', '.join(duplicated[:MAX_LISTED])}"
        )
    entry = {
        "id": spec.set_id,
        "title": spec.title,
        "valid_from": spec.valid_from.isoformat(),
        "valid_to": spec.valid_to.isoformat() if spec.valid_to else None,
        "as_of": spec.as_of,
        "licence": spec.licence,
        "attribution": spec.attribution or f"{path.name} (user supplied)",
        "attribution_en": spec.attribution or f"{path.name} (user supplied)",
        "expected": {lv.level: int((units["level"] == lv.level).sum()) for lv in spec.levels},
    }
    meta = {
        "set_id": spec.set_id,
        "sha256": file_sha256(path),
        "entry": entry,
        "source": {
            "path": str(path),
            "layer": spec.layer,
            "levels": [lv.__dict__ for lv in spec.levels],
        },
        "notes": notes,
    }
    counts = store_set(units, repairs, out_dir, meta, display_simplify_deg)
    return BuildReport(spec.set_id, False, str(out_dir), counts, repairs, warnings=warnings)


def _overlaps(spec: ImportSpec, cache_dir: Path, supersede: bool) -> list[str]:
    """Refuse (or, with ``supersede``, warn of) dates that overlap a built set's."""
    import json

    from geozone.boundaries.sets import SetInfo

    start, end = spec.valid_from, spec.valid_to or date.max
    clashes = []
    for meta in sorted(cache_dir.glob("*/build.json")):
        if meta.parent.name.endswith((".partial", ".old")) or meta.parent.name == spec.set_id:
            continue
        info = SetInfo.from_dict(json.loads(meta.read_text(encoding="utf-8"))["entry"])
        first, last = max(start, info.valid_from), min(end, info.valid_to or date.max)
        if first <= last:
            clashes.append((info, first, last))
    if clashes and not supersede:
        listed = "; ".join(f"{i.id} ({i.valid_from} – {i.valid_to or 'open'})" for i, *_ in clashes)
        raise BoundaryImportError(
            f"{spec.set_id} ({start} – {spec.valid_to or 'open'}) overlaps {listed}. To add "
            "ward geometry to that set, refine it: --register SET (it keeps its codes and "
            "dates). To make this set the one in force on the common days, pass --supersede."
        )
    return [_superseded(spec, info, first, last) for info, first, last in clashes]


def _superseded(spec: ImportSpec, info: Any, first: date, last: date) -> str:
    """Say which of two overlapping sets judges the common days (the later start wins)."""
    days = f"from {first} to {last if last != date.max else 'open'}"
    if spec.valid_from >= info.valid_from:
        return (
            f"{days} incidents are judged in {spec.set_id} instead of {info.id}: clusters "
            f"named in {info.id} have no territory there on those days unless "
            f"{spec.set_id} has their units"
        )
    return f"{days} incidents stay judged in {info.id} (it starts later); {spec.set_id} is unused"


def _repair(frame: gpd.GeoDataFrame, leaf: LevelFields) -> tuple[gpd.GeoDataFrame, Any]:
    probe = gpd.GeoDataFrame(
        {"code": frame[leaf.code].astype(str), "level": leaf.level},
        geometry=frame.geometry.to_numpy(),
        crs=4326,
    )
    repaired, repairs = repair_geometries(probe)
    fixed = frame.copy()
    fixed.geometry = repaired.geometry.to_numpy()
    fixed = fixed[~shapely.is_empty(fixed.geometry.to_numpy())]
    return fixed, repairs
