"""User ward layers that refine a boundary set: ward geometry under its districts.

The legacy set lists the pre-2025 wards in its register only; a user's ward layer (GADM level
3, an OSM extract, a survey) supplies their polygons. :func:`refine_set` matches each feature
of the layer to a ward of the register and stores the matched polygons as a *refinement* of
that set (``<cache>/refinements/<set>/<id>/``): the set keeps its id, its codes and its
validity, and :meth:`geozone.boundaries.sets.BoundarySet.load` adds the wards to it. Nothing
becomes a rival set, and the districts and provinces stay the set's own.

Matching, level by level from the province down, each unit within its matched parent:

1. **exact**: the name as written (NFC, case and spacing ignored, diacritics kept) and, when
   the layer gives one, the unit type ("Thị trấn Yên Viên" and "Xã Yên Viên" are two units);
2. **folded**: without diacritics, among the register units no exact match took ("Truc Hung"
   names Trực Hùng only if no Trực Hưng is in the same district);
3. wards only, **merged**: names the official correspondence lists as merged into a ward of
   the register (Cao Đại, Việt Xuân and Bồ Sao into Sao Đại Việt) are dissolved into it;
4. provinces and districts only, **area**: a unit the names do not match takes the register
   unit that holds at least half of it and of which it holds at least half (renamed units,
   such as Thừa Thiên Huế, now Thành phố Huế).

A name that fits several register units is *ambiguous*; a register ward two features claim is
claimed by neither (*duplicate*); a name that fits none is *unmatched*. Each such feature is
reported by name in ``report.csv`` beside the refinement (and where the caller asks), and
never imported: duplicate codes cannot result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geozone.crs import project_geometries
from geozone.errors import BoundaryImportError
from geozone.hashing import file_sha256
from geozone.text import fold, nfc, split_unit_type

#: The folder of refinements in the boundary cache.
REFINEMENTS = "refinements"
WARDS_FILE = "wards.parquet"
DISPLAY_FILE = "display.parquet"
META_FILE = "refinement.json"
REPORT_FILE = "report.csv"
#: The area method's threshold: each unit holds at least this share of the other.
AREA_MATCH_SHARE = 0.5

REPORT_COLUMNS = [
    "feature",
    "level",
    "name",
    "unit_type",
    "parent",
    "status",
    "reason",
    "candidates",
]


@dataclass(frozen=True)
class LayerFields:
    """Fields of the layer: each level's code and name fields (and the ward's type field)."""

    ward_code: str
    ward_name: str
    district_code: str
    district_name: str
    province_code: str
    province_name: str
    ward_type: str | None = None


@dataclass
class RefineReport:
    """What a refinement matched and what it could not."""

    set_id: str
    refinement_id: str
    features: int
    wards: int
    matched: dict[str, int]
    problems: pd.DataFrame
    folder: str
    report_path: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (problems counted, listed in the file)."""
        counts = self.problems["status"].value_counts().to_dict() if len(self.problems) else {}
        return {
            "set_id": self.set_id,
            "refinement_id": self.refinement_id,
            "features": self.features,
            "wards_refined": self.wards,
            "matched_by": self.matched,
            "not_imported": {str(k): int(v) for k, v in counts.items()},
            "report": self.report_path,
            "folder": self.folder,
            "notes": self.notes,
        }


def refinements_root(cache: Path, set_id: str) -> Path:
    """Return the folder of a set's refinements in the boundary cache."""
    return cache / REFINEMENTS / set_id


# -- name keys ------------------------------------------------------------------------------


def _exact_key(name: str) -> str:
    """Lower case NFC without spaces or punctuation, diacritics kept."""
    return "".join(ch for ch in nfc(name).lower() if ch.isalnum())


def _type_key(unit_type: Any) -> str:
    return fold(str(unit_type)) if isinstance(unit_type, str) and unit_type.strip() else ""


def _split(name: Any, unit_type: Any) -> tuple[str, str]:
    """Return (bare name, folded type): a type word opening the name wins over the field."""
    text = nfc(str(name))
    found, bare = split_unit_type(text)
    return bare, _type_key(found or unit_type)


# -- matching one level ----------------------------------------------------------------------


def match_names(ours: pd.DataFrame, theirs: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Match units to register units of the same parent by name (exact, then folded).

    Parameters
    ----------
    ours
        ``key`` (a label per unit to match), ``name``, ``type`` (folded, may be empty),
        ``parent`` (the matched parent's register code; NaN for provinces: all compete).
    theirs
        The register's units of the level: ``code``, ``name``, ``type`` (folded),
        ``parent``.

    Returns
    -------
    tuple of Series
        Indexed like ``ours``: the register code (NaN when none), the method ("exact",
        "folded") or the problem ("ambiguous", "duplicate", "unmatched"), and the
        candidates' codes when ambiguous.
    """
    code = pd.Series(np.nan, index=ours.index, dtype=object)
    how = pd.Series("unmatched", index=ours.index, dtype=object)
    candidates = pd.Series("", index=ours.index, dtype=object)
    theirs = theirs.assign(
        exact=theirs["name"].map(_exact_key),
        folded=theirs["name"].map(fold),
        parent=theirs["parent"].astype(object).where(theirs["parent"].notna(), ""),
    )
    ours = ours.assign(
        exact=ours["name"].map(_exact_key),
        folded=ours["name"].map(fold),
        parent=ours["parent"].astype(object).where(ours["parent"].notna(), ""),
    ).rename_axis("_row")
    taken: set[str] = set()
    for method in ("exact", "folded"):
        pending = ours[how.loc[ours.index] == "unmatched"]
        if pending.empty:
            break
        pool = theirs[~theirs["code"].isin(taken)]
        joined = pending.reset_index().merge(
            pool[["code", method, "type", "parent"]].rename(columns={"type": "their_type"}),
            on=[method, "parent"],
            how="inner",
        )
        typed = (joined["type"] == "") | (joined["their_type"] == "")
        joined = joined[typed | (joined["type"] == joined["their_type"])]
        size = joined.groupby("_row")["code"].transform("size")
        one = joined[size == 1]
        code.loc[one["_row"].to_numpy()] = one["code"].to_numpy()
        how.loc[one["_row"].to_numpy()] = method
        several = joined[size > 1].groupby("_row")["code"].agg(", ".join)
        how.loc[several.index] = "ambiguous"
        candidates.loc[several.index] = several.to_numpy()
        taken |= {str(c) for c in code.dropna()}
    claimed = code.dropna()
    twice = claimed[claimed.duplicated(keep=False)]
    code.loc[twice.index] = np.nan
    how.loc[twice.index] = "duplicate"
    candidates.loc[twice.index] = twice.astype(str).to_numpy()
    return code, how, candidates


def _area_match(
    ours: gpd.GeoDataFrame, theirs: gpd.GeoDataFrame, unmatched: pd.Index, taken: Iterable[str]
) -> dict[Any, str]:
    """Match units by area: each holds at least :data:`AREA_MATCH_SHARE` of the other."""
    free = theirs[~theirs["code"].isin(set(taken)) & theirs["has_geometry"]]
    pending = ours.loc[unmatched]
    if pending.empty or free.empty:
        return {}
    left, right = shapely.STRtree(free.geometry.to_numpy()).query(
        pending.geometry.to_numpy(), predicate="intersects"
    )
    if not len(left):
        return {}
    zones = free["utm_epsg"].to_numpy(np.int64)[right]  # each pair in the register unit's zone
    a = project_geometries(pending.geometry.to_numpy()[left], zones)
    b = project_geometries(free.geometry.to_numpy()[right], zones)
    common = shapely.area(shapely.intersection(a, b))
    good = (common >= AREA_MATCH_SHARE * shapely.area(a)) & (
        common >= AREA_MATCH_SHARE * shapely.area(b)
    )
    return {
        pending.index[i]: str(free["code"].iloc[j])
        for i, j in zip(left[good], right[good], strict=True)
    }


# -- the refinement --------------------------------------------------------------------------


def refine_set(
    path: Path,
    fields: LayerFields,
    register: Any,
    cache: Path,
    refinement_id: str,
    *,
    layer: str | None = None,
    licence: str = "unknown",
    attribution: str = "",
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    report_to: Path | None = None,
    replace: bool = False,
) -> RefineReport:
    """Match a ward layer to ``register`` and store the matched wards as its refinement.

    Parameters
    ----------
    path
        Any file pyogrio reads, with a CRS.
    fields
        Which fields give each level's code and name.
    register
        The boundary set to refine (:class:`geozone.boundaries.sets.BoundarySet`).
    cache
        The boundary cache (``Settings.boundary_cache``).
    refinement_id
        Names the refinement (several may refine one set; a later one wins for a ward).
    layer
        Layer of a multi-layer file.
    licence, attribution
        Of the layer: shown with the set's own on maps and exports.
    aliases
        Register ward code → folded names of earlier wards merged into it (the official
        correspondence's; default none).
    report_to
        Also write the report of features not imported here.
    replace
        Replace an earlier refinement of the same id.

    Returns
    -------
    RefineReport
        Counts by method, and every feature not imported with its reason.

    Raises
    ------
    BoundaryImportError
        The file cannot be read, lacks a field or a CRS, the refinement exists, or no ward
        matched.
    """
    from geozone.boundaries.importer import read_layer

    folder = refinements_root(cache, register.id) / refinement_id
    if folder.exists() and not replace:
        raise BoundaryImportError(
            f"refinement {refinement_id!r} of {register.id} exists already; pass --replace"
        )
    wanted = [
        fields.ward_code,
        fields.ward_name,
        fields.district_code,
        fields.district_name,
        fields.province_code,
        fields.province_name,
        *([fields.ward_type] if fields.ward_type else []),
    ]
    frame = read_layer(path, wanted, layer).reset_index(drop=True)
    frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
    provinces, prov_how = _match_level(frame, register, fields, "province", None)
    districts, dist_how = _match_level(frame, register, fields, "district", provinces)
    wards, how, candidates = _match_wards(frame, register, fields, districts, aliases or {})
    matched = wards.notna()
    if not matched.any():
        raise BoundaryImportError(
            f"{path}: no feature matched a ward of {register.id} (see the names and parents "
            "the layer gives: --code/--name/--parent)"
        )
    geometry = gpd.GeoDataFrame(
        {"code": wards[matched].to_numpy()}, geometry=frame.geometry[matched].to_numpy(), crs=4326
    )
    geometry = geometry.dissolve("code", as_index=False)
    geometry["geometry"] = shapely.make_valid(geometry.geometry.to_numpy())
    problems = _problems(frame, fields, how, candidates, prov_how, dist_how)
    counts = {str(k): int(v) for k, v in how[matched].value_counts().items()}
    meta = {
        "set_id": register.id,
        "refinement_id": refinement_id,
        "source": {"path": str(path), "layer": layer, "sha256": file_sha256(path)},
        "licence": licence,
        "attribution": attribution or f"{path.name} (user supplied)",
        "fields": fields.__dict__,
        "features": len(frame),
        "wards": len(geometry),
        "matched_by": counts,
        "not_imported": len(problems),
        "imported_at": datetime.now(UTC).isoformat(),
    }
    _write(folder, geometry, problems, meta)
    report_path = folder / REPORT_FILE
    if report_to is not None:
        problems.to_csv(report_to, index=False, encoding="utf-8-sig")
        report_path = report_to
    return RefineReport(
        register.id,
        refinement_id,
        len(frame),
        len(geometry),
        counts,
        problems,
        str(folder),
        str(report_path),
    )


def _level_fields(fields: LayerFields, level: str) -> tuple[str, str]:
    return {
        "province": (fields.province_code, fields.province_name),
        "district": (fields.district_code, fields.district_name),
    }[level]


def _match_level(
    frame: gpd.GeoDataFrame,
    register: Any,
    fields: LayerFields,
    level: str,
    parents: pd.Series | None,
) -> tuple[pd.Series, pd.Series]:
    """Match the layer's provinces or districts: by name within the parent, then by area.

    Returns the register code and the method per layer code (NaN / "unmatched" when none).
    """
    code_field, name_field = _level_fields(fields, level)
    keys = frame[code_field].astype(str)
    units = gpd.GeoDataFrame(
        {"key": keys, "raw": frame[name_field].astype(str)}, geometry=frame.geometry, crs=4326
    ).dissolve("key", as_index=False, aggfunc="first")
    units = units.set_index("key")
    split = units["raw"].map(lambda n: _split(n, None))
    ours = pd.DataFrame(
        {
            "name": split.map(lambda pair: pair[0]),
            "type": split.map(lambda pair: pair[1]),
            "parent": np.nan,
        },
        index=units.index,
    )
    if parents is not None:
        parent_keys = frame.groupby(keys)[fields.province_code].first().astype(str)
        ours["parent"] = parent_keys.reindex(units.index).map(parents)
    theirs_all = register.units(level)
    theirs = pd.DataFrame(
        {
            "code": theirs_all["code"],
            "name": theirs_all["name"],
            "type": theirs_all["unit_type"].map(_type_key),
            "parent": theirs_all["parent_code"] if parents is not None else np.nan,
        }
    )
    code, how, _ = match_names(ours.assign(type=""), theirs.assign(type=""))
    by_area = _area_match(units, theirs_all, code.index[code.isna()], code.dropna())
    for key, found in by_area.items():
        code[key], how[key] = found, "area"
    return code, how


def _match_wards(
    frame: gpd.GeoDataFrame,
    register: Any,
    fields: LayerFields,
    districts: pd.Series,
    aliases: Mapping[str, tuple[str, ...]],
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Match every feature to a register ward of its matched district."""
    type_field = frame[fields.ward_type] if fields.ward_type else pd.Series(None, index=frame.index)
    split = [_split(n, t) for n, t in zip(frame[fields.ward_name], type_field, strict=True)]
    ours = pd.DataFrame(
        {
            "name": [bare for bare, _ in split],
            "type": [kind for _, kind in split],
            "parent": frame[fields.district_code].astype(str).map(districts).to_numpy(),
        },
        index=frame.index,
    )
    wards = register.units("ward")
    theirs = pd.DataFrame(
        {
            "code": wards["code"],
            "name": wards["name"],
            "type": wards["unit_type"].map(_type_key),
            "parent": wards["parent_code"],
        }
    )
    code, how, candidates = match_names(ours, theirs)
    _merged_wards(ours, theirs, aliases, code, how)
    no_parent = ours["parent"].isna() & code.isna()
    how[no_parent & (how == "unmatched")] = "no_district"
    return code, how, candidates


def _merged_wards(
    ours: pd.DataFrame,
    theirs: pd.DataFrame,
    aliases: Mapping[str, tuple[str, ...]],
    code: pd.Series,
    how: pd.Series,
) -> None:
    """Match unmatched features named as wards merged into a register ward (in place)."""
    if not aliases:
        return
    listed = pd.DataFrame(
        [(c, key) for c, keys in aliases.items() for key in keys], columns=["code", "alias"]
    )
    listed = listed.merge(theirs[["code", "parent"]], on="code", how="inner")
    pending = ours[how == "unmatched"]
    if pending.empty or listed.empty:
        return
    bare = pending["name"].map(fold)
    probe = pd.DataFrame(
        [
            (i, key, parent)
            for i, name, kind, parent in zip(
                pending.index, bare, pending["type"], pending["parent"], strict=True
            )
            for key in {name, kind + name}
        ],
        columns=["index", "alias", "parent"],
    )
    found = probe.merge(listed, on=["alias", "parent"], how="inner").drop_duplicates(
        ["index", "code"]
    )
    single = found.groupby("index")["code"].transform("size") == 1
    for index, ward in zip(found.loc[single, "index"], found.loc[single, "code"], strict=True):
        code[index], how[index] = ward, "merged"


_REASONS = {
    "unmatched": "no ward of that name in its district in the register",
    "ambiguous": "the name fits several wards of its district (give diacritics or the type)",
    "duplicate": "another feature takes the same ward: neither is imported",
    "no_district": "its district (or province) matched no unit of the register",
}


def _problems(
    frame: gpd.GeoDataFrame,
    fields: LayerFields,
    how: pd.Series,
    candidates: pd.Series,
    prov_how: pd.Series,
    dist_how: pd.Series,
) -> pd.DataFrame:
    """One row per feature not imported, and per province or district not matched."""
    bad = how.isin(list(_REASONS))
    parent = (
        frame[fields.district_name].astype(str) + ", " + frame[fields.province_name].astype(str)
    )
    rows = pd.DataFrame(
        {
            "feature": frame.index[bad] + 1,
            "level": "ward",
            "name": frame.loc[bad, fields.ward_name].astype(str).to_numpy(),
            "unit_type": frame.loc[bad, fields.ward_type].astype(str).to_numpy()
            if fields.ward_type
            else "",
            "parent": parent[bad].to_numpy(),
            "status": how[bad].to_numpy(),
            "reason": how[bad].map(_REASONS).to_numpy(),
            "candidates": candidates[bad].to_numpy(),
        }
    )
    upper = []
    for level, methods, name_field in (
        ("province", prov_how, fields.province_name),
        ("district", dist_how, fields.district_name),
    ):
        code_field = _level_fields(fields, level)[0]
        names = frame.groupby(frame[code_field].astype(str))[name_field].first()
        for key, method in methods.items():
            if method in ("unmatched", "ambiguous", "duplicate"):
                upper.append(
                    {
                        "feature": "",
                        "level": level,
                        "name": str(names.get(key, key)),
                        "unit_type": "",
                        "parent": "",
                        "status": method,
                        "reason": f"no {level} of that name or place in the register",
                        "candidates": "",
                    }
                )
    return pd.concat([pd.DataFrame(upper, columns=REPORT_COLUMNS), rows], ignore_index=True)[
        REPORT_COLUMNS
    ]


def _write(
    folder: Path, wards: gpd.GeoDataFrame, problems: pd.DataFrame, meta: dict[str, Any]
) -> None:
    """Write the refinement whole or not at all (a staging folder swapped in)."""
    import shutil

    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    wards.to_parquet(staging / WARDS_FILE, compression="zstd")
    simplified = shapely.simplify(wards.geometry.to_numpy(), 1e-4, preserve_topology=True)
    gpd.GeoDataFrame({"code": wards["code"]}, geometry=simplified, crs=4326).to_parquet(
        staging / DISPLAY_FILE, compression="zstd"
    )
    problems.to_csv(staging / REPORT_FILE, index=False, encoding="utf-8-sig")
    (staging / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), "utf-8")
    retired = folder.with_name(folder.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if folder.exists():
        folder.rename(retired)
    staging.rename(folder)
    shutil.rmtree(retired, ignore_errors=True)


def read_refinements(cache: Path, set_id: str) -> list[tuple[dict[str, Any], Path]]:
    """Return each stored refinement of a set (its metadata and folder), oldest first."""
    root = refinements_root(cache, set_id)
    found = []
    for meta in sorted(root.glob(f"*/{META_FILE}")):
        if meta.parent.name.endswith((".partial", ".old")):
            continue
        found.append((json.loads(meta.read_text("utf-8")), meta.parent))
    return sorted(found, key=lambda item: str(item[0].get("imported_at", "")))


__all__ = [
    "LayerFields",
    "RefineReport",
    "match_names",
    "read_refinements",
    "refine_set",
    "refinements_root",
]
