"""Build boundary sets from their source archives into GeoParquet.

``build_set`` verifies the archive's sha256 against the manifest, reads it, repairs invalid
geometry (recording every repair), derives what the source lacks (vn2025 provinces are
dissolved from their wards), and writes into ``<cache>/boundaries/<set id>/``:

- ``units.parquet``: every unit at full resolution (the analysis layer; register-only units
  such as pre-2025 wards have no geometry);
- ``display.parquet``: units with geometry after a coverage-preserving simplification that
  keeps shared edges shared (the display layer);
- ``build.json``: inputs, counts, repairs and timings. A re-run whose inputs and builder
  version match it does nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geozone.boundaries.manifest import SourceEntry
from geozone.boundaries.sources import read_archive
from geozone.crs import metric_areas, zones_of
from geozone.errors import ChecksumMismatchError, ConfigurationError, DataNotFoundError
from geozone.hashing import file_sha256

#: Bump when the build's output changes for the same input, so caches rebuild.
BUILD_FORMAT = 2
UNITS_FILE = "units.parquet"
DISPLAY_FILE = "display.parquet"
META_FILE = "build.json"

StepCallback = Callable[[str], None]


@dataclass(frozen=True)
class Repair:
    """One geometry that was invalid in the source and was repaired with ``make_valid``."""

    code: str
    level: str
    reason: str
    area_before_m2: float
    area_after_m2: float


@dataclass
class BuildReport:
    """What a build did."""

    set_id: str
    skipped: bool
    output_dir: str
    counts: dict[str, int] = field(default_factory=dict)
    repairs: list[Repair] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)


def locate_archive(entry: SourceEntry, data_dir: Path | None) -> Path:
    """Return the archive path of ``entry``, or raise an error telling how to obtain it."""
    if data_dir is None:
        raise ConfigurationError(
            "no boundary data directory: set GEOZONE_DATA_DIR (or --data-dir) to a folder "
            f"holding {entry.directory}/{entry.archive}. {entry.obtain}"
        )
    path = entry.archive_path(data_dir)
    if not path.is_file():
        raise DataNotFoundError(f"boundary archive not found: {path}. {entry.obtain}")
    return path


def verify_checksum(entry: SourceEntry, archive: Path) -> str:
    """Check ``archive`` against the manifest's sha256 and return the digest."""
    digest = file_sha256(archive)
    if digest != entry.sha256:
        raise ChecksumMismatchError(
            f"{archive} has sha256 {digest}, the manifest expects {entry.sha256} for set "
            f"{entry.id!r}: the file is damaged or a different release"
        )
    return digest


def repair_geometries(units: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, list[Repair]]:
    """Make every invalid geometry valid, keeping only its polygonal parts.

    Returns the repaired frame and one :class:`Repair` per changed geometry.
    """
    geoms = units.geometry.to_numpy()
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if not invalid.any():
        return units, []
    before = geoms[invalid]
    reasons = shapely.is_valid_reason(before)
    after = _polygonal(shapely.make_valid(before, method="structure", keep_collapsed=False))
    repaired = units.copy()
    repaired.loc[invalid, "geometry"] = after
    rows = units.loc[invalid, ["code", "level"]]
    records = zip(
        rows["code"], rows["level"], reasons, metric_areas(before), metric_areas(after), strict=True
    )
    return repaired, [Repair(*record) for record in records]


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Reduce each geometry to a MultiPolygon of its polygonal parts."""
    parts, owners = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    return (
        shapely.multipolygons(parts[keep], indices=owners[keep], out=None) if keep.any() else geoms
    )


def dissolve_provinces(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Fill missing province geometry with the union of the province's wards.

    Adds ``geometry_source``: "source", "dissolved" or "none" (register-only units).
    """
    wards = units[(units["level"] == "ward") & units.geometry.notna()]
    groups = {code: frame.geometry.to_numpy() for code, frame in wards.groupby("province_code")}
    filled = units.copy()
    filled["geometry_source"] = np.where(units.geometry.isna(), "none", "source")
    need = (
        (units["level"] == "province")
        & units.geometry.isna()
        & units["province_code"].isin(list(groups))
    )
    if not need.any():
        return filled
    codes = units.loc[need, "province_code"].tolist()
    # GEOS releases the GIL, so provinces dissolve in parallel on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        unions = list(pool.map(lambda code: shapely.union_all(groups[code]), codes))
    filled.loc[need, "geometry"] = _polygonal(np.array(unions, dtype=object))
    filled.loc[need, "geometry_source"] = "dissolved"
    return filled


def simplify_for_display(units: gpd.GeoDataFrame, tolerance_deg: float) -> gpd.GeoDataFrame:
    """Simplify each level as a coverage so neighbours keep sharing their edges."""
    shaped = units[units.geometry.notna()].copy()
    for level in shaped["level"].unique():
        rows = shaped["level"] == level
        shaped.loc[rows, "geometry"] = shapely.coverage_simplify(
            shaped.loc[rows].geometry.to_numpy(), tolerance_deg, simplify_boundary=True
        )
    return shaped


def finish_units(units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Add the derived columns every stored set has and sort by level and code.

    ``utm_epsg`` (the metric zone of each unit), ``area_km2``, ``has_geometry`` and, when
    absent, ``geometry_source``.
    """
    geoms = units.geometry.to_numpy()
    finished = units.copy()
    if "geometry_source" not in finished:
        finished["geometry_source"] = np.where(shapely.is_missing(geoms), "none", "source")
    finished["utm_epsg"] = np.where(shapely.is_missing(geoms), 0, zones_of(geoms))
    finished["area_km2"] = metric_areas(geoms) / 1e6
    finished["has_geometry"] = ~shapely.is_missing(geoms)
    return finished.sort_values(["level", "code"], kind="stable").reset_index(drop=True)


#: Manifest fields that describe a set without shaping its built layers: when only these
#: differ from the entry a build recorded, ``build.json`` takes the new entry and nothing is
#: built again (the layers, and the index files keyed by the build, stay as they are).
DESCRIPTIVE_FIELDS = frozenset(
    {"title", "title_vi", "as_of", "licence", "attribution", "attribution_en", "obtain"}
)


def _built_state(
    out_dir: Path, digest: str, entry: SourceEntry, tolerance: float
) -> Literal["current", "described", "stale"]:
    """Tell how a set's build stands against its input and manifest entry.

    ``"current"``: nothing to do; ``"described"``: the layers are current but the manifest
    describes the set otherwise (:data:`DESCRIPTIVE_FIELDS` alone differ, or a field added
    since the build, such as ``as_of``); ``"stale"``: build again.
    """
    meta_path = out_dir / META_FILE
    if not meta_path.is_file() or not (out_dir / UNITS_FILE).is_file():
        return "stale"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if not (
        meta.get("sha256") == digest
        and meta.get("build_format") == BUILD_FORMAT
        and meta.get("display_simplify_deg") == tolerance
    ):
        return "stale"
    built, wanted = meta.get("entry") or {}, entry.model_dump(mode="json")
    if built == wanted:
        return "current"
    differ = {key for key in built.keys() | wanted.keys() if built.get(key) != wanted.get(key)}
    return "described" if differ <= DESCRIPTIVE_FIELDS else "stale"


def _describe_again(out_dir: Path, entry: SourceEntry) -> None:
    """Write the manifest's entry into a current build's ``build.json`` (atomically)."""
    meta_path = out_dir / META_FILE
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["entry"] = entry.model_dump(mode="json")
    partial = meta_path.with_name(f".{META_FILE}.{os.getpid()}.partial")
    _write_json(partial, meta)
    partial.replace(meta_path)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _write_atomically(out_dir: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Write every file into a sibling folder, then swap it in, so readers never see half."""
    staging = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, write in writers.items():
        write(staging / name)
    retired = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(retired)
    staging.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)


def _untimed(name: str, func: Callable[[], Any]) -> Any:
    return func()


def store_set(
    units: gpd.GeoDataFrame,
    repairs: list[Repair],
    out_dir: Path,
    meta: dict[str, Any],
    display_simplify_deg: float,
    timed: Callable[[str, Callable[[], Any]], Any] = _untimed,
) -> dict[str, int]:
    """Measure, simplify and write a set's layers and ``build.json`` atomically.

    Parameters
    ----------
    units
        Units with the reader columns and repaired geometry (EPSG:4326).
    repairs
        Geometry repairs to record.
    out_dir
        The set's folder in the cache; replaced as a whole.
    meta
        Identity to record: ``set_id``, ``sha256`` of the input, ``entry`` (validity,
        licence, attribution as :class:`geozone.boundaries.sets.SetInfo` reads it).
    display_simplify_deg
        Tolerance of the display layer's simplification, in degrees.
    timed
        Runs each named step (the build passes its progress/timing wrapper).

    Returns
    -------
    dict
        Count of units with geometry per level.
    """
    units = timed("measure", lambda: finish_units(units))
    display = timed(
        "simplify display layer", lambda: simplify_for_display(units, display_simplify_deg)
    )
    counts = {
        str(level): int(n)
        for level, n in units[units["has_geometry"]].groupby("level").size().items()
    }
    full_meta = {
        **meta,
        "build_format": BUILD_FORMAT,
        "display_simplify_deg": display_simplify_deg,
        "counts_with_geometry": counts,
        "counts_registered": {str(k): int(n) for k, n in units.groupby("level").size().items()},
        "repairs": [asdict(repair) for repair in repairs],
        "built_at": pd.Timestamp.now(tz="UTC").isoformat(),
    }
    timed(
        "write GeoParquet",
        lambda: _write_atomically(
            out_dir,
            {
                UNITS_FILE: lambda path: units.to_parquet(path, compression="zstd"),
                DISPLAY_FILE: lambda path: display.to_parquet(path, compression="zstd"),
                META_FILE: lambda path: _write_json(path, full_meta),
            },
        ),
    )
    return counts


def build_set(
    entry: SourceEntry,
    data_dir: Path | None,
    cache_dir: Path,
    *,
    display_simplify_deg: float = 1e-4,
    force: bool = False,
    on_step: StepCallback | None = None,
) -> BuildReport:
    """Build one boundary set into ``cache_dir / entry.id``.

    Parameters
    ----------
    entry
        The set's manifest entry.
    data_dir
        Folder holding ``<entry.directory>/<entry.archive>``.
    cache_dir
        Folder of built sets (``Settings.boundary_cache``).
    display_simplify_deg
        Tolerance of the display layer's simplification, in degrees.
    force
        Rebuild even when the inputs have not changed.
    on_step
        Called with the name of each step as it starts (for progress display).

    Returns
    -------
    BuildReport
        Counts per level, repairs and seconds per step; ``skipped`` when the layers are
        current (a manifest entry that only describes the set otherwise, see
        :data:`DESCRIPTIVE_FIELDS`, is written into ``build.json`` without building again).
    """
    step = on_step or (lambda name: None)
    timings: dict[str, float] = {}
    out_dir = cache_dir / entry.id

    def timed(name: str, func: Callable[[], Any]) -> Any:
        step(name)
        start = time.perf_counter()
        result = func()
        timings[name] = round(time.perf_counter() - start, 3)
        return result

    archive = locate_archive(entry, data_dir)
    digest: str = timed("verify checksum", lambda: verify_checksum(entry, archive))
    state = "stale" if force else _built_state(out_dir, digest, entry, display_simplify_deg)
    if state == "described":  # a new title, attribution or snapshot time: no new layers
        _describe_again(out_dir, entry)
    if state != "stale":
        return BuildReport(entry.id, skipped=True, output_dir=str(out_dir))

    units = timed("read archive", lambda: read_archive(entry.layout, archive))
    units, repairs = timed("repair geometry", lambda: repair_geometries(units))
    units = timed("dissolve provinces", lambda: dissolve_provinces(units))
    meta = {"set_id": entry.id, "sha256": digest, "entry": entry.model_dump(mode="json")}
    counts = store_set(units, repairs, out_dir, meta, display_simplify_deg, timed)
    return BuildReport(entry.id, False, str(out_dir), counts, repairs, timings)
