"""Import a user-supplied boundary layer (any OGR format) as a boundary set.

A user may hold a layer the bundled sources lack, for example a GADM level-3 file of pre-2025
wards. :func:`import_boundary_set` reads it with pyogrio, maps its fields to geozone's unit
columns, derives the coarser levels by dissolving (a ward layer that names its district and
province yields all three levels), optionally takes GSO codes and proper names from a register
set by matching folded names within the parent (GADM writes "QuanHoa" and has its own ids),
repairs invalid geometry, and stores the result like a built set, with validity dates, so that
``BoundarySet.load``, ``for_date`` and the QA treat it like any other.

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

from geozone.boundaries import BoundarySet
from geozone.build import BuildReport, file_sha256, repair_geometries, store_set
from geozone.errors import BoundaryImportError
from geozone.manifest import LEVEL_ORDER, Level
from geozone.sources import UNIT_COLUMNS
from geozone.text import fold, nfc, split_unit_type

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
    layer
        Layer name for multi-layer files (GeoPackage).
    register
        Id of a set whose units of the same levels give GSO codes and proper names.
    """

    levels: tuple[LevelFields, ...]
    set_id: str
    title: str
    valid_from: date
    valid_to: date | None = None
    licence: str = "unknown"
    attribution: str = ""
    layer: str | None = None
    register: str | None = None
    notes: list[str] = field(default_factory=list)


def _read(path: Path, spec: ImportSpec) -> gpd.GeoDataFrame:
    try:
        frame = pyogrio.read_dataframe(path, layer=spec.layer)
    except Exception as exc:  # pyogrio raises several types; all mean "cannot read"
        raise BoundaryImportError(f"cannot read {path}: {exc}") from None
    if frame.crs is None:
        raise BoundaryImportError(f"{path} has no coordinate reference system; assign one first")
    wanted = [f for lv in spec.levels for f in (lv.code, lv.name, lv.unit_type) if f]
    missing = [name for name in wanted if name not in frame.columns]
    if missing:
        raise BoundaryImportError(
            f"{path}: no field(s) {', '.join(missing)}; the layer has {', '.join(frame.columns)}"
        )
    return frame.to_crs(4326)


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


def match_register(
    units: gpd.GeoDataFrame, register: BoundarySet
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Replace source codes and names with the register's, level by level, coarsest first.

    A unit matches a register unit of the same level whose folded name (bare or with its
    type word) equals the unit's folded name and whose parent was matched to the unit's
    parent. Unmatched units keep their source code and name and are listed in the notes.
    """
    matched = units.copy()
    renamed: dict[str, str] = {}
    notes: list[str] = []
    for level in LEVEL_ORDER:
        rows = matched["level"] == level
        if not rows.any():
            continue
        ours = matched.loc[rows].copy()
        ours["parent_new"] = ours["parent_code"].map(lambda code: renamed.get(code, code))
        ours["key"] = ours["name"].map(fold)
        theirs = register.units(level)[
            ["code", "name", "full_name", "unit_type", "parent_code", "province_code"]
        ].copy()
        theirs["key"] = theirs["name"].map(fold)
        on = ["key", "parent_new"] if level != "province" else ["key"]
        theirs = theirs.rename(columns={"parent_code": "parent_new", "code": "code_new"})
        joined = (
            ours.reset_index()
            .merge(theirs.drop_duplicates(on), on=on, how="left", suffixes=("", "_reg"))
            .set_index("index")
        )
        hit = joined["code_new"].notna()
        renamed.update(dict(zip(joined.loc[hit, "code"], joined.loc[hit, "code_new"], strict=True)))
        for column in ("name", "full_name", "unit_type", "province_code"):
            matched.loc[joined.index[hit], column] = joined.loc[hit, f"{column}_reg"].to_numpy()
        matched.loc[joined.index[hit], "in_register"] = True
        misses = joined.loc[~hit, "name"].tolist()
        if misses:
            notes.append(
                f"{len(misses)} {level}(s) not found in {register.id}: "
                + ", ".join(misses[:MAX_LISTED])
                + (" …" if len(misses) > MAX_LISTED else "")
            )
    for column in ("code", "parent_code"):
        matched[column] = matched[column].map(lambda code: renamed.get(code, code))
    return matched, notes


def import_boundary_set(
    path: Path,
    spec: ImportSpec,
    cache_dir: Path,
    register: BoundarySet | None = None,
    *,
    protected: frozenset[str] = frozenset(),
    replace: bool = False,
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
    register
        The set named by ``spec.register``, already loaded.
    protected
        Set ids that must not be overwritten (the manifest's own sets).
    replace
        Allow replacing an earlier import of the same id.

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
    frame = _read(path, spec)
    problems = _row_problems(frame, spec.levels[0])
    if problems:
        raise BoundaryImportError(f"{path}: " + "; ".join(problems))
    frame, repairs = _repair(frame, spec.levels[0])
    units = pd.concat(
        [_level_frame(frame, spec, depth) for depth in range(len(spec.levels))], ignore_index=True
    )
    notes = list(spec.notes)
    if register is not None:
        units, misses = match_register(gpd.GeoDataFrame(units, crs=4326), register)
        notes += misses
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
            "register": spec.register,
            "levels": [lv.__dict__ for lv in spec.levels],
        },
        "notes": notes,
    }
    counts = store_set(units, repairs, out_dir, meta, display_simplify_deg)
    return BuildReport(spec.set_id, False, str(out_dir), counts, repairs)


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
