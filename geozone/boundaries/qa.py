"""Quality checks of a built boundary set: validity, overlaps, gaps, isolation, completeness.

Every check works level by level on the full-resolution layer. Areas are metric (UTM).
Real data has slivers: overlaps and gaps below ``sliver_m2`` are counted apart rather than
listed one by one, so a handful of digitising artefacts do not hide a real defect.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray

from geozone.boundaries.build import META_FILE
from geozone.boundaries.sets import BoundarySet
from geozone.crs import metric_areas
from geozone.settings import Settings, get_settings

#: Overlaps and gaps smaller than this (m²) are slivers: counted, not listed.
DEFAULT_SLIVER_M2 = 1_000.0
QA_FILE = "qa.json"
#: Bump when the checks change, so cached reports are recomputed.
QA_FORMAT = 1


@dataclass(frozen=True)
class Overlap:
    """Two units of one level whose interiors overlap."""

    level: str
    codes: tuple[str, str]
    names: tuple[str, str]
    area_m2: float
    lon: float
    lat: float


@dataclass(frozen=True)
class Gap:
    """Land covered by no unit of a level: a hole inside a parent or between parents."""

    level: str
    parent_code: str | None
    parent_name: str | None
    area_m2: float
    lon: float
    lat: float


@dataclass
class LevelReport:
    """Findings of one level."""

    level: str
    units_with_geometry: int
    units_registered: int
    expected: int | None
    invalid: list[str] = field(default_factory=list)
    overlaps: list[Overlap] = field(default_factory=list)
    overlap_slivers: int = 0
    overlap_area_m2: float = 0.0
    gaps: list[Gap] = field(default_factory=list)
    gap_slivers: int = 0
    gap_area_m2: float = 0.0
    isolated: list[str] = field(default_factory=list)
    without_geometry: list[str] = field(default_factory=list)


@dataclass
class QAReport:
    """Everything :func:`check` found in one boundary set."""

    set_id: str
    sliver_m2: float
    levels: list[LevelReport]
    repairs: list[dict[str, Any]]
    known_missing: dict[str, list[str]]

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data."""
        return asdict(self)

    def summary_lines(self) -> list[str]:
        """Return a short human-readable summary, one line per finding."""
        lines = [
            f"QA of boundary set {self.set_id} (slivers < {self.sliver_m2:g} m² counted apart)"
        ]
        for rep in self.levels:
            expected = f" (expected {rep.expected})" if rep.expected is not None else ""
            lines.append(
                f"- {rep.level}: {rep.units_with_geometry} with geometry{expected}, "
                f"{rep.units_registered} registered; {len(rep.invalid)} invalid; "
                f"{len(rep.overlaps)} overlaps ({rep.overlap_area_m2 / 1e6:.3f} km², "
                f"+{rep.overlap_slivers} slivers); {len(rep.gaps)} gaps "
                f"({rep.gap_area_m2 / 1e6:.3f} km², +{rep.gap_slivers} slivers); "
                f"{len(rep.isolated)} without neighbours; "
                f"{len(rep.without_geometry)} registered without geometry"
            )
            for overlap in rep.overlaps[:5]:
                lines.append(
                    f"    overlap {overlap.area_m2 / 1e6:.3f} km² "
                    f"{overlap.names[0]} ({overlap.codes[0]}) × {overlap.names[1]} "
                    f"({overlap.codes[1]}) at {overlap.lon:.4f}, {overlap.lat:.4f}"
                )
            for gap in rep.gaps[:3]:
                lines.append(
                    f"    gap {gap.area_m2 / 1e6:.3f} km² in {gap.parent_name or 'no parent'}"
                    f" at {gap.lon:.4f}, {gap.lat:.4f}"
                )
        lines.append(f"- geometry repairs at build: {len(self.repairs)}")
        for level, codes in self.known_missing.items():
            lines.append(f"- known missing upstream ({level}): {', '.join(codes)}")
        return lines


def _overlaps(units: pd.DataFrame, sliver_m2: float) -> tuple[list[Overlap], int, float]:
    geoms = units.geometry.to_numpy()
    tree = shapely.STRtree(geoms)
    left, right = tree.query(geoms, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    overlapping = (
        shapely.overlaps(geoms[left], geoms[right])
        | shapely.contains(geoms[left], geoms[right])
        | shapely.within(geoms[left], geoms[right])
    )
    left, right = left[overlapping], right[overlapping]
    pieces = shapely.intersection(geoms[left], geoms[right])
    areas = metric_areas(pieces)
    listed = areas >= sliver_m2
    where = shapely.point_on_surface(pieces[listed])
    codes, names = units["code"].to_numpy(), units["full_name"].to_numpy()
    found = [
        Overlap(
            str(units["level"].iat[0]), (codes[i], codes[j]), (names[i], names[j]), float(a), x, y
        )
        for i, j, a, x, y in zip(
            left[listed],
            right[listed],
            areas[listed],
            shapely.get_x(where),
            shapely.get_y(where),
            strict=True,
        )
    ]
    found.sort(key=lambda item: -item.area_m2)
    return found, int((~listed).sum()), float(areas[listed].sum())


def _holes(geom: Any) -> NDArray[np.object_]:
    """Return the interior rings of a (multi)polygon as polygons."""
    parts = shapely.get_parts(geom)
    counts = shapely.get_num_interior_rings(parts)
    owners = np.repeat(parts, counts)
    ring_numbers = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return shapely.polygons(shapely.get_interior_ring(owners, ring_numbers))  # type: ignore[no-any-return]


def _parent_level(bset: BoundarySet, level: str) -> str | None:
    """Return the nearest coarser level that has geometry."""
    coarser = bset.levels[: bset.levels.index(level)]  # type: ignore[arg-type,unused-ignore]
    return coarser[-1] if coarser else None


def _gaps(bset: BoundarySet, level: str, sliver_m2: float) -> tuple[list[Gap], int, float]:
    """Holes in the union of a level, plus parent area that no child covers."""
    units = bset.units(level)  # type: ignore[arg-type]
    units = units[units["has_geometry"]]
    parent_level = _parent_level(bset, level)
    parents = None
    if parent_level:
        parents = bset.units(parent_level)  # type: ignore[arg-type]
        parents = parents[parents["has_geometry"]].set_index("code")
    dissolved = parents is not None and bool((parents["geometry_source"] == "dissolved").all())
    # A parent dissolved from this level has the same union, at a fraction of the cost.
    outline = (parents if dissolved and parents is not None else units).geometry.to_numpy()
    pieces = [_holes(shapely.union_all(outline))]
    if parents is not None and not dissolved:
        key = (
            "parent_code" if parent_level != "province" or level == "district" else "province_code"
        )
        unions = units.groupby(key).geometry.agg(lambda g: shapely.union_all(g.to_numpy()))
        shared = unions.index.intersection(parents.index)
        uncovered = shapely.difference(
            parents.loc[shared].geometry.to_numpy(), unions[shared].to_numpy()
        )
        pieces.append(shapely.get_parts(uncovered))
    gaps = np.concatenate(pieces)
    gaps = gaps[~shapely.is_empty(gaps)]
    gaps = shapely.get_parts(shapely.union_all(gaps)) if len(gaps) else gaps
    areas = metric_areas(gaps)
    listed = areas >= sliver_m2
    where = shapely.point_on_surface(gaps[listed])
    owner_codes = _owner_codes(parents, where)
    names = parents["full_name"] if parents is not None else pd.Series(dtype=object)
    found = [
        Gap(level, code, names.get(code) if code else None, float(a), float(x), float(y))
        for code, a, x, y in zip(
            owner_codes, areas[listed], shapely.get_x(where), shapely.get_y(where), strict=True
        )
    ]
    found.sort(key=lambda item: -item.area_m2)
    return found, int((~listed).sum()), float(areas[listed].sum())


def _owner_codes(parents: pd.DataFrame | None, points: NDArray[np.object_]) -> list[str | None]:
    """Code of the parent whose outer outline holds each point (None between parents)."""
    owners: NDArray[np.object_] = np.full(len(points), None, dtype=object)
    if parents is None or not len(points):
        return list(owners)
    parts, part_owner = shapely.get_parts(parents.geometry.to_numpy(), return_index=True)
    outlines = shapely.polygons(shapely.get_exterior_ring(parts))
    point, outline = shapely.STRtree(outlines).query(points, predicate="within")
    owners[point] = parents.index.to_numpy()[part_owner[outline]]
    return list(owners)


def _isolated(units: pd.DataFrame) -> list[str]:
    geoms = units.geometry.to_numpy()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    neighbours = np.bincount(left[left != right], minlength=len(geoms))
    return [str(code) for code in units["code"].to_numpy()[neighbours == 0]]


def check(
    bset: BoundarySet,
    expected: dict[str, int] | None = None,
    known_missing: dict[str, list[str]] | None = None,
    repairs: list[dict[str, Any]] | None = None,
    sliver_m2: float = DEFAULT_SLIVER_M2,
) -> QAReport:
    """Run every check on ``bset``.

    Parameters
    ----------
    bset
        The boundary set.
    expected
        Expected count of units with geometry per level (from the manifest).
    known_missing
        Codes the source is known to lack, per level (reported, not treated as errors).
    repairs
        Geometry repairs recorded by the build.
    sliver_m2
        Overlaps and gaps below this area are counted, not listed.

    Returns
    -------
    QAReport
    """
    expected = expected or {}
    levels = []
    for level in bset.levels:
        every = bset.units(level)
        shaped = every[every["has_geometry"]]
        report = LevelReport(level, len(shaped), len(every), expected.get(level))
        report.invalid = [
            str(c) for c in shaped["code"][~shapely.is_valid(shaped.geometry.to_numpy())]
        ]
        report.overlaps, report.overlap_slivers, report.overlap_area_m2 = _overlaps(
            shaped, sliver_m2
        )
        report.gaps, report.gap_slivers, report.gap_area_m2 = _gaps(bset, level, sliver_m2)
        report.isolated = _isolated(shaped)
        report.without_geometry = [str(c) for c in every["code"][~every["has_geometry"]]]
        levels.append(report)
    return QAReport(bset.id, sliver_m2, levels, repairs or [], known_missing or {})


def check_built(
    set_id: str, settings: Settings | None = None, sliver_m2: float = DEFAULT_SLIVER_M2
) -> QAReport:
    """Check a built set, with the manifest's expectations and the build's repair log.

    The report is cached beside the build (``qa.json``) and recomputed when the set is
    rebuilt or ``sliver_m2`` changes.
    """
    settings = settings or get_settings()
    bset = BoundarySet.load(set_id, settings)
    folder = settings.boundary_cache / set_id
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    cache = folder / QA_FILE
    stamp = {"built_at": meta["built_at"], "sliver_m2": sliver_m2, "qa_format": QA_FORMAT}
    if cache.is_file():
        cached = json.loads(cache.read_text(encoding="utf-8"))
        if cached.get("stamp") == stamp:
            return _report_from_dict(cached["report"])
    report = check(
        bset,
        expected=meta["entry"].get("expected"),
        known_missing=meta["entry"].get("known_missing"),
        repairs=meta.get("repairs"),
        sliver_m2=sliver_m2,
    )
    payload = {"stamp": stamp, "report": report.to_dict()}
    cache.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
    return report


def _report_from_dict(data: dict[str, Any]) -> QAReport:
    levels = []
    for raw in data["levels"]:
        level = LevelReport(**{k: v for k, v in raw.items() if k not in ("overlaps", "gaps")})
        level.overlaps = [
            Overlap(**{**o, "codes": tuple(o["codes"]), "names": tuple(o["names"])})
            for o in raw["overlaps"]
        ]
        level.gaps = [Gap(**gap) for gap in raw["gaps"]]
        levels.append(level)
    return QAReport(
        data["set_id"], data["sliver_m2"], levels, data["repairs"], data["known_missing"]
    )
