"""Boundary sets: versioned collections of administrative units with geometry.

A :class:`BoundarySet` holds every unit of one set (provinces, districts where the set has
them, wards), answers lookups by code and by name, and locates points. Sets carry validity
dates, so an incident is judged by the set in force on its date (:meth:`BoundarySet.for_date`),
and a set that is one snapshot used for a longer period carries the snapshot's time
(:attr:`SetInfo.as_of`), so that an answer for another day can say what it rests on
(:meth:`SetInfo.outside_snapshot`).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property, lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
from numpy.typing import ArrayLike, NDArray

from geozone.boundaries._coregrid import CoreGrid
from geozone.boundaries._locate import (
    CORE_RULE,
    CORE_SIMPLIFY_M,
    OUTLINE_TAG,
    CoreSource,
    GridSource,
    LeafIndex,
    OutlinePieces,
    interior_cores,
)
from geozone.boundaries.build import DISPLAY_FILE, META_FILE, UNITS_FILE, finish_units
from geozone.boundaries.manifest import LEVEL_ORDER, Level, load_manifest, snapshot_days
from geozone.boundaries.refine import read_refinements
from geozone.crs import metric_areas, zones_of
from geozone.errors import (
    ConfigurationError,
    DataNotFoundError,
    InvalidCoordinatesError,
    NoBoundarySetForDateError,
    UnknownUnitError,
)
from geozone.parallel import threads_for
from geozone.settings import Settings, get_settings
from geozone.text import fold, search_keys

LocateStatus = Literal["inside", "outside", "invalid"]


@dataclass(frozen=True)
class SetInfo:
    """Identity, validity and provenance of a boundary set.

    Attributes
    ----------
    title_vi
        The title in Vietnamese (None: only ``title``, in English).
    as_of
        When the set's boundaries stand as of, for a set that is one snapshot
        used for a longer period: ``"YYYY-MM"`` (known to the month) or ``"YYYY-MM-DD"`` (the
        manifest's ``as_of``; see :func:`geozone.boundaries.manifest.snapshot_days`). None:
        the set shows its units as they are on every day it is used for.
    """

    id: str
    title: str
    valid_from: date
    valid_to: date | None
    licence: str
    attribution: str
    attribution_en: str
    title_vi: str | None = None
    as_of: str | None = None

    def in_force(self, day: date) -> bool:
        """Tell whether the set is in force on ``day`` (both ends inclusive)."""
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    @property
    def snapshot(self) -> tuple[date, date] | None:
        """The first and last day the set's snapshot stands for (None: no snapshot).

        ``as_of = "2023-02"`` gives (2023-02-01, 2023-02-28): a snapshot known only to the
        month stands for each day of it.
        """
        return None if self.as_of is None else snapshot_days(self.as_of)

    def outside_snapshot(self, first: date, last: date | None = None) -> bool:
        """Tell whether using the set for the days ``first`` to ``last`` needs the snapshot notice.

        The rule: a set with a snapshot (:attr:`as_of`) shows its boundaries as they
        stood then; any answer that uses it for a day outside the snapshot's days
        (its month, or its day) says so (see
        :func:`geozone.assignment.explain.snapshot_notice`), whether or not that day is in the
        set's validity (a set asked for by name may be used outside it). A day within the
        snapshot's days needs nothing; a set without a snapshot (vn2025: its units as they
        took effect on its ``valid_from``, unchanged since) never does.

        Parameters
        ----------
        first, last
            The days the set is used for, both inclusive (``last`` None: ``first`` alone). A
            stretch (a report's period, a cluster map's) needs the notice when any of its days
            does; callers clip it to the days the set is used for.

        Returns
        -------
        bool
            True when the notice is due.
        """
        shown = self.snapshot
        if shown is None:
            return False
        return first < shown[0] or (last or first) > shown[1]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetInfo:
        """Build from a manifest entry dumped as JSON.

        An entry written before a field existed (``title_vi``, ``as_of``) gives None for it
        (see :func:`_with_manifest_fields`, which fills them from the manifest).
        """
        valid_to = data.get("valid_to")
        return cls(
            id=data["id"],
            title=data["title"],
            valid_from=date.fromisoformat(str(data["valid_from"])),
            valid_to=date.fromisoformat(str(valid_to)) if valid_to else None,
            licence=data["licence"],
            attribution=data["attribution"],
            attribution_en=data["attribution_en"],
            title_vi=data.get("title_vi"),
            as_of=data.get("as_of"),
        )


@dataclass(frozen=True)
class Unit:
    """One administrative unit of a boundary set (without its geometry)."""

    code: str
    name: str
    full_name: str
    unit_type: str | None
    level: Level
    parent_code: str | None
    province_code: str
    name_en: str | None
    area_km2: float
    has_geometry: bool
    in_register: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the unit as JSON-ready data."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Candidate:
    """A unit within the boundary tolerance of a located point."""

    code: str
    full_name: str
    distance_m: float


@dataclass(frozen=True)
class Location:
    """Where a point lies in a boundary set.

    Attributes
    ----------
    status
        ``"inside"`` when a unit holds the point (on its boundary counts), ``"outside"`` at
        sea or abroad (or where the set has no geometry), ``"invalid"`` for bad coordinates.
    chain
        The holding unit, then its parents up to the province.
    on_boundary
        True when two or more units (or, outside, any unit) lie within ``tolerance_m``.
    candidates
        Every unit within ``tolerance_m``, nearest first; the holding unit comes first.
    """

    lon: float
    lat: float
    set_id: str
    status: LocateStatus
    chain: tuple[Unit, ...]
    on_boundary: bool
    candidates: tuple[Candidate, ...]
    tolerance_m: float

    @property
    def unit(self) -> Unit | None:
        """The finest unit holding the point, or None outside."""
        return self.chain[0] if self.chain else None

    def describe(self) -> str:
        """Say in one sentence where the point is (Vietnamese names, English sentence)."""
        if self.status != "inside":
            near = ", ".join(f"{c.full_name} ({c.distance_m:.0f} m)" for c in self.candidates)
            return f"Outside every unit of {self.set_id}" + (f"; near {near}." if near else ".")
        place = ", ".join(unit.full_name for unit in self.chain)
        others = [c for c in self.candidates if c.code != self.chain[0].code]
        if not others:
            return f"In {place} ({self.set_id})."
        near = ", ".join(f"{c.full_name} ({c.distance_m:.0f} m)" for c in others)
        return f"In {place} ({self.set_id}), within {self.tolerance_m:g} m of {near}."

    def to_dict(self) -> dict[str, Any]:
        """Return the location as JSON-ready data."""
        chain = [unit.to_dict() for unit in self.chain]
        return {
            "lon": self.lon,
            "lat": self.lat,
            "set_id": self.set_id,
            "status": self.status,
            "chain": chain,
            "on_boundary": self.on_boundary,
            "candidates": [
                {"code": c.code, "full_name": c.full_name, "distance_m": c.distance_m}
                for c in self.candidates
            ],
            "tolerance_m": self.tolerance_m,
            "unit": chain[0] if chain else None,
            "description": self.describe(),
        }


@dataclass(frozen=True)
class SearchHit:
    """A unit found by name, with the province that tells homonyms apart."""

    unit: Unit
    province: str
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the hit as JSON-ready data."""
        return {"unit": self.unit.to_dict(), "province": self.province, "exact": self.exact}


_UNIT_FIELDS = tuple(Unit.__dataclass_fields__)


@dataclass
class BoundarySet:
    """A versioned set of administrative units.

    Parameters
    ----------
    info
        Identity, validity dates and attribution.
    frame
        One row per unit with the columns of :class:`Unit` and a ``geometry`` (EPSG:4326),
        missing for units known only from a register.
    display_path
        The simplified display layer, when built.
    build_id
        Identifies the build the set was loaded from (derived index files are keyed by it).
    refined_display
        The simplified display layers of the ward refinements applied to the set.
    """

    info: SetInfo
    frame: gpd.GeoDataFrame
    display_path: Path | None = None
    build_id: str | None = None
    refined_display: tuple[Path, ...] = ()
    _by_code: pd.DataFrame = field(init=False, repr=False)
    #: Whether other threads share the location index's set (see :meth:`index_alone`).
    _index_shared: bool = field(default=True, init=False, repr=False)

    def __post_init__(self) -> None:
        duplicated = self.frame["code"][self.frame["code"].duplicated()]
        if len(duplicated):
            raise ValueError(f"boundary set {self.info.id}: duplicate codes {list(duplicated[:5])}")
        self._by_code = self.frame.set_index("code", drop=False)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def from_units(cls, info: SetInfo, units: gpd.GeoDataFrame) -> BoundarySet:
        """Make a set from units in memory (tests, user-supplied layers).

        ``units`` needs the reader columns (code, name, full_name, unit_type, level,
        parent_code, province_code, name_en, in_register) and a geometry in EPSG:4326.
        """
        if units.crs is None or units.crs.to_epsg() != 4326:
            units = units.to_crs(4326) if units.crs is not None else units.set_crs(4326)
        return cls(info, finish_units(units))

    @classmethod
    def load(
        cls, set_id: str, settings: Settings | None = None, *, fresh: bool = False
    ) -> BoundarySet:
        """Load a built set by id (cached per process until it is rebuilt).

        ``fresh``: read it anew, a set of the caller's own that the cache does not hold.

        Raises
        ------
        DataNotFoundError
            When the set has not been built (run ``geozone data build``).
        """
        cache = (settings or get_settings()).boundary_cache
        folder = cache / set_id
        meta = folder / META_FILE
        if not meta.is_file():
            raise DataNotFoundError(
                f"boundary set {set_id!r} is not built in {folder.parent}; "
                "run `geozone data build` first"
            )
        refined = tuple(
            (str(where), (where / "refinement.json").stat().st_mtime_ns)
            for _, where in read_refinements(cache, set_id)
        )
        read = _load_built.__wrapped__ if fresh else _load_built
        manifest = str((settings or get_settings()).manifest_path)
        return read(str(folder), meta.stat().st_mtime_ns, refined, manifest)

    @classmethod
    def for_date(cls, day: date, settings: Settings | None = None) -> BoundarySet:
        """Load the set in force on ``day``; the most recent ``valid_from`` wins."""
        infos = [info for info in available_sets(settings) if info.in_force(day)]
        if not infos:
            raise NoBoundarySetForDateError(f"no built boundary set is in force on {day}")
        latest = max(infos, key=lambda info: info.valid_from)
        return cls.load(latest.id, settings)

    # -- units -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The set's id."""
        return self.info.id

    @cached_property
    def levels(self) -> tuple[Level, ...]:
        """Levels that have geometry, coarsest first."""
        present = set(self.frame.loc[self.frame["has_geometry"], "level"])
        return tuple(level for level in LEVEL_ORDER if level in present)

    @property
    def leaf_level(self) -> Level:
        """The finest level with geometry: the level points are located in."""
        return self.levels[-1]

    def units(self, level: Level | None = None) -> gpd.GeoDataFrame:
        """Return the units of one level (all levels when None), full resolution."""
        if level is None:
            return self.frame
        return self.frame[self.frame["level"] == level]

    def get(self, code: str) -> Unit:
        """Return the unit with GSO ``code``.

        Raises
        ------
        UnknownUnitError
            When no unit of this set has the code.
        """
        key = str(code)
        known = self._units_by_code.get(key)
        if known is not None:
            return known
        try:
            row = self._by_code.loc[key]
        except KeyError:
            raise UnknownUnitError(
                f"no unit with code {code!r} in boundary set {self.id}"
            ) from None
        unit = _unit_from_row(row)  # type: ignore[arg-type]  # codes are unique
        self._units_by_code[key] = unit
        return unit

    @cached_property
    def _units_by_code(self) -> dict[str, Unit]:
        """Units already looked up (frozen records; the frame is not changed after loading)."""
        return {}

    def geometry(self, code: str) -> Any:
        """Return the full-resolution geometry of a unit (None for register-only units)."""
        self.get(code)  # raises UnknownUnitError with a clear message
        geom = self._by_code.at[str(code), "geometry"]
        return None if geom is None or (isinstance(geom, float) and np.isnan(geom)) else geom

    @cached_property
    def full_names(self) -> dict[str, str]:
        """Full name of every unit by code (for wording many rows at once)."""
        return dict(zip(self.frame["code"], self.frame["full_name"], strict=True))

    def chain(self, code: str) -> tuple[Unit, ...]:
        """Return the unit and its parents, finest first."""
        units = [self.get(code)]
        while units[-1].parent_code:
            units.append(self.get(units[-1].parent_code))
        return tuple(units)

    def display_layer(self) -> gpd.GeoDataFrame:
        """Return the simplified layer for maps (shared edges kept), refined wards included."""
        if self.display_path is None or not self.display_path.is_file():
            return self.frame[self.frame["has_geometry"]]
        layer = gpd.read_parquet(self.display_path)
        if not self.refined_display:
            return layer
        added = pd.concat(
            [gpd.read_parquet(path) for path in self.refined_display if path.is_file()]
        ).drop_duplicates("code", keep="last")
        units = self._by_code.loc[added["code"]].drop(columns="geometry").reset_index(drop=True)
        wards = gpd.GeoDataFrame(units, geometry=added.geometry.to_numpy(), crs=4326)
        kept = layer[~layer["code"].isin(wards["code"])]
        return gpd.GeoDataFrame(pd.concat([kept, wards], ignore_index=True), crs=4326)

    # -- search ----------------------------------------------------------------------------

    @cached_property
    def _search_index(self) -> pd.DataFrame:
        keys = [
            search_keys(name, unit_type)
            for name, unit_type in zip(self.frame["name"], self.frame["unit_type"], strict=True)
        ]
        index = pd.DataFrame({"code": self.frame["code"], "key": keys}).explode("key")
        return index.reset_index(drop=True)

    def search(self, text: str, level: Level | None = None, limit: int = 50) -> list[SearchHit]:
        """Find units by name, ignoring case, diacritics, spacing and the type word.

        Exact matches of the folded name (or of type word plus name) come first; when there
        are none, names containing the text are returned. Homonyms are all returned, each
        with its province.

        Parameters
        ----------
        text
            "quan hoa", "QuanHoa", "Phường Nghĩa Đô", "nghia do", "TP Việt Trì"...
        level
            Restrict to one level.
        limit
            At most this many hits.
        """
        key = fold(text)
        if not key:
            return []
        index = self._search_index
        exact = index.loc[index["key"] == key, "code"].drop_duplicates()
        partial = pd.Series(dtype=object)
        if exact.empty:
            partial = index.loc[
                index["key"].str.contains(key, regex=False), "code"
            ].drop_duplicates()
        hits = [(code, True) for code in exact] + [(code, False) for code in partial]
        units = [self.get(code) for code, _ in hits]
        chosen = [
            SearchHit(unit, self._province_name(unit), is_exact)
            for unit, (_, is_exact) in zip(units, hits, strict=True)
            if level is None or unit.level == level
        ]
        return sorted(chosen, key=lambda hit: (not hit.exact, LEVEL_ORDER.index(hit.unit.level)))[
            :limit
        ]

    def _province_name(self, unit: Unit) -> str:
        if unit.province_code in self._by_code.index:
            return str(self._by_code.at[unit.province_code, "full_name"])
        return unit.province_code

    # -- location --------------------------------------------------------------------------

    @cached_property
    def _leaf(self) -> tuple[LeafIndex, NDArray[np.object_]]:
        leaves = self.frame[self._is_leaf]
        geometries = leaves.geometry.to_numpy()
        zones = leaves["utm_epsg"].to_numpy(np.int64)
        index = LeafIndex(
            geometries,
            zones,
            self._cached_cores(geometries, zones),
            self._cached_grid(len(geometries)),
            self._cached_outline(geometries, zones),
            shared=self._index_shared,
        )
        return index, leaves["code"].to_numpy(dtype=object)

    def index_alone(self) -> None:
        """Let the location index use the set's own polygons, unprepared, not prepared copies.

        Some 160 MB less for the 2025 wards, and some 300 MB less once a long run has tested
        points near every outline (see ``LeafIndex``). Only for a set that no other thread
        uses while points are located in it: the sets of a one-shot command's own context.
        No effect once the index is made.
        """
        if "_leaf" not in self.__dict__:
            self._index_shared = False

    @cached_property
    def _is_leaf(self) -> pd.Series:
        """Units points are located in: with geometry, and no child with geometry.

        Usually the finest level; a set refined with wards for some districts only locates
        in those wards there and in the other districts elsewhere.
        """
        shaped = self.frame["has_geometry"].to_numpy(bool)
        parents = set(self.frame.loc[shaped, "parent_code"].dropna())
        leaf: pd.Series = self.frame["has_geometry"] & ~self.frame["code"].isin(parents)
        return leaf

    def _derived_path(self, kind: str, tolerance_m: float, suffix: str) -> Path | None:
        """Where a derived index of the location index is kept next to the built set.

        The name carries the tolerance, the cores' simplification and rule (a change of
        method makes a new file) and the build; None for a set that was not loaded from a build.
        """
        method = f"s{CORE_SIMPLIFY_M:g}m-{CORE_RULE}"
        return self._beside(f"{kind}-{tolerance_m:g}m-{method}-{self.build_id}{suffix}")

    @property
    def units_path(self) -> Path | None:
        """The built set's units file (GeoParquet, a row per unit); None if not built."""
        return self._beside(UNITS_FILE)

    def _beside(self, name: str) -> Path | None:
        """Return where a derived file ``name`` is kept next to the built set (None: not built)."""
        if self.display_path is None or self.build_id is None:
            return None
        return self.display_path.parent / name

    def _cached_cores(
        self, geometries: NDArray[np.object_], zones: NDArray[np.int64]
    ) -> CoreSource:
        """Interior cores kept next to a built set, made on first use (a derived index)."""

        def load(tolerance_m: float) -> NDArray[np.object_]:
            path = self._derived_path("cores", tolerance_m, ".parquet")
            if path is not None and path.is_file():
                cores = gpd.read_parquet(path).geometry.to_numpy()
                if len(cores) == len(geometries):
                    return cores  # type: ignore[no-any-return]
            cores = interior_cores(geometries, zones, tolerance_m)
            _write_derived(path, gpd.GeoDataFrame(geometry=cores, crs=4326).to_parquet)
            return cores

        return load

    def _cached_grid(self, polygons: int) -> GridSource:
        """Return the cores' grid kept next to a built set, made on first use (a derived index)."""

        def load(tolerance_m: float, cores: Callable[[], NDArray[np.object_]]) -> CoreGrid:
            path = self._derived_path("coregrid", tolerance_m, ".npz")
            grid = CoreGrid.load(path, polygons) if path is not None and path.is_file() else None
            if grid is None:
                grid = CoreGrid.build(cores())
                _write_derived(path, lambda partial: grid.save(partial, polygons))
            return grid

        return load

    def _cached_outline(
        self, geometries: NDArray[np.object_], zones: NDArray[np.int64]
    ) -> Callable[[], OutlinePieces]:
        """Return the metric outline pieces kept next to a built set, made on first use.

        The file's name carries the build, the PROJ version (the projected coordinates are
        PROJ's) and the cutting and index kept in it: another of any of them makes a new file.
        """

        def load() -> OutlinePieces:
            proj = pyproj.proj_version_str
            path = self._beside(f"outline-{self.build_id}-proj{proj}-{OUTLINE_TAG}.npz")
            if path is not None and path.is_file():
                pieces = OutlinePieces.load(path, len(geometries))
                if pieces is not None:
                    return pieces
            pieces = OutlinePieces.build(geometries, zones)
            _write_derived(path, lambda partial: pieces.save(partial, len(geometries)))
            return pieces

        return load

    def prepare_index(self, tolerance_m: float | None = None, large_batches: bool = False) -> None:
        """Make (or load) the whole point-location index now rather than piece by piece on use.

        ``large_batches`` makes what batches of many thousand points use instead (the grid
        they are first looked up in, see ``geozone.boundaries._coregrid``, the metric outline
        pieces and
        the polygons' distance indexes), so that the first large batch costs what later ones
        do; a service answering a few points at a time does without them.
        """
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else tolerance_m
        self._leaf[0].prepare(tol, large_batches)

    def write_index_files(self, tolerance_m: float) -> None:
        """Make the derived index files kept next to the built set (cores and their grid).

        Only the files: what lives in memory alone (projected polygons, outline pieces) is
        left to :meth:`prepare_index` or first use.
        """
        if tolerance_m > 0:
            self._leaf[0].grid(tolerance_m)  # the grid is made from the cores
        self._leaf[0].outline_pieces()

    @cached_property
    def _leaf_chain(self) -> dict[str, NDArray[np.object_]]:
        """Per leaf polygon of the index, its unit's code at each level (finest first).

        Made once, so that the chain of located points is an array lookup by polygon index;
        NaN where a unit has no parent at a level (or, for a leaf coarser than the finest
        level, no unit at the finer ones).
        """
        by_code = self.frame.set_index("code")
        current = pd.Series(self._leaf[1], dtype=object)
        chain = {
            f"{level}_code": np.full(len(current), np.nan, dtype=object)
            for level in reversed(self.levels)
        }
        for _ in LEVEL_ORDER:  # at most one step per level up to the province
            level = current.map(by_code["level"]).to_numpy(dtype=object)
            for name, values in chain.items():
                here = level == name.removesuffix("_code")
                values[here] = current.to_numpy(dtype=object)[here]
            current = current.map(by_code["parent_code"])
        return chain

    def locate_many(
        self, lon: ArrayLike, lat: ArrayLike, tolerance_m: float | None = None
    ) -> pd.DataFrame:
        """Locate many points at once (vectorised; no Python loop per point).

        Parameters
        ----------
        lon, lat
            Coordinates in EPSG:4326, same length.
        tolerance_m
            Distance in metres within which a unit counts as a boundary candidate. Defaults to
            ``Settings.boundary_tolerance_m``.

        Returns
        -------
        pandas.DataFrame
            One row per point, in input order: ``status`` ("inside", "outside", "invalid"),
            ``unit_code`` (the holding leaf unit; on a shared boundary the nearest, then the
            lowest code), one ``<level>_code`` column per level of the set (the unit chain),
            ``on_boundary``, ``n_candidates`` and ``candidates`` (codes within the tolerance,
            nearest first; None unless on a boundary) with ``candidate_distances_m``.
        """
        columns = self.locate_arrays(lon, lat, tolerance_m)
        # Codes and lists stay object columns: inferring a string dtype would make a column's
        # dtype depend on whether the batch happens to hold a missing value.
        plain = {*self._leaf_chain, "unit_code", "candidates", "candidate_distances_m"}
        return pd.DataFrame(
            {
                name: pd.Series(values, dtype=object, copy=False) if name in plain else values
                for name, values in columns.items()
            }
        )

    def locate_arrays(
        self,
        lon: ArrayLike,
        lat: ArrayLike,
        tolerance_m: float | None = None,
        threads: int | None = None,
    ) -> dict[str, NDArray[Any]]:
        """Locate points like :meth:`locate_many`, returning its columns as numpy arrays.

        The one code path behind :meth:`locate_many`, :meth:`locate` and
        :func:`geozone.assignment.jurisdiction`: a batch of one point costs an index query
        and a
        few array operations, no DataFrame. Missing values are NaN. ``threads``: see
        :func:`geozone.parallel.threads_for`.
        """
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
        x = np.asarray(lon, dtype=np.float64).ravel()
        y = np.asarray(lat, dtype=np.float64).ravel()
        if x.shape != y.shape:
            raise InvalidCoordinatesError(f"{len(x)} longitudes but {len(y)} latitudes")
        valid = np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90)
        index, codes = self._leaf
        workers = threads_for(len(x), threads)
        matches = index.match(np.where(valid, x, 0.0), np.where(valid, y, 0.0), tol, workers)
        n = len(x)
        status = np.full(n, "outside", dtype=object)
        status[~valid] = "invalid"
        first = np.flatnonzero(np.diff(matches.point, prepend=-1))  # pairs come sorted by point
        holder = matches.contains[first]
        held_points = matches.point[first][holder]
        held_polygons = matches.polygon[first][holder]
        status[held_points] = "inside"
        columns: dict[str, NDArray[Any]] = {"lon": x, "lat": y, "status": status}
        unit = np.full(n, np.nan, dtype=object)
        unit[held_points] = codes[held_polygons]
        columns["unit_code"] = unit
        for name, per_polygon in self._leaf_chain.items():
            values = np.full(n, np.nan, dtype=object)
            values[held_points] = per_polygon[held_polygons]
            columns[name] = values
        held = np.zeros(n, dtype=bool)
        held[held_points] = True
        self._add_candidates(columns, matches, codes, valid, held)
        return columns

    @staticmethod
    def _add_candidates(
        columns: dict[str, NDArray[Any]],
        matches: Any,
        codes: NDArray[np.object_],
        valid: NDArray[np.bool_],
        held: NDArray[np.bool_],
    ) -> None:
        n = len(valid)
        counts = np.bincount(matches.point, minlength=n)
        on_boundary = valid & ((counts >= 2) | (~held & (counts >= 1)))
        columns["n_candidates"] = counts
        columns["on_boundary"] = on_boundary
        candidates = np.full(n, np.nan, dtype=object)
        distances = np.full(n, np.nan, dtype=object)
        flagged = on_boundary[matches.point]
        if flagged.any():
            # Pairs are sorted by point: cut the flagged ones into one list per point.
            # Slicing Python lists is far cheaper than one numpy array per point.
            points = matches.point[flagged]
            starts = np.flatnonzero(np.r_[True, points[1:] != points[:-1]])
            owners = points[starts]
            edges = list(pairwise([*starts.tolist(), len(points)]))
            flat_codes = codes[matches.polygon[flagged]].tolist()
            flat_distances = np.round(matches.distance_m[flagged], 2).tolist()
            listed = np.empty(len(owners), dtype=object)
            listed[:] = [flat_codes[a:b] for a, b in edges]
            candidates[owners] = listed
            listed = np.empty(len(owners), dtype=object)
            listed[:] = [flat_distances[a:b] for a, b in edges]
            distances[owners] = listed
        columns["candidates"] = candidates
        columns["candidate_distances_m"] = distances

    def locate(self, lon: float, lat: float, tolerance_m: float | None = None) -> Location:
        """Locate one point; never raises for a point outside Vietnam.

        Raises
        ------
        InvalidCoordinatesError
            When lon/lat are not finite numbers within [-180, 180] and [-90, 90].
        """
        tol = get_settings().boundary_tolerance_m if tolerance_m is None else float(tolerance_m)
        columns = self.locate_arrays([lon], [lat], tol)
        return self.location_at(columns, 0, tol, strict=True)

    def location_at(
        self, columns: dict[str, NDArray[Any]], i: int, tolerance_m: float, strict: bool = False
    ) -> Location:
        """Return point ``i`` of a :meth:`locate_arrays` result as a :class:`Location`.

        Parameters
        ----------
        columns
            What :meth:`locate_arrays` returned.
        i
            The point's position in that batch.
        tolerance_m
            The tolerance the batch was located with.
        strict
            Raise for invalid coordinates instead of returning an ``"invalid"`` location.

        Raises
        ------
        InvalidCoordinatesError
            With ``strict``, when lon/lat are not finite numbers within [-180, 180] and
            [-90, 90].
        """
        status = str(columns["status"][i])
        if strict and status == "invalid":
            lon, lat = columns["lon"][i], columns["lat"][i]
            raise InvalidCoordinatesError(
                f"invalid coordinates lon={float(lon)!r}, lat={float(lat)!r}: expected finite "
                "degrees, longitude in [-180, 180] and latitude in [-90, 90]"
            )
        chain = self.chain(str(columns["unit_code"][i])) if status == "inside" else ()
        listed = columns["candidates"][i]
        candidates: tuple[Candidate, ...] = ()
        if isinstance(listed, list):
            candidates = tuple(
                Candidate(code, self.get(code).full_name, float(distance))
                for code, distance in zip(listed, columns["candidate_distances_m"][i], strict=True)
            )
        elif chain:
            candidates = (Candidate(chain[0].code, chain[0].full_name, 0.0),)
        return Location(
            float(columns["lon"][i]),
            float(columns["lat"][i]),
            self.id,
            status,  # type: ignore[arg-type]  # one of the LocateStatus values
            chain,
            bool(columns["on_boundary"][i]),
            candidates,
            float(tolerance_m),
        )


def _write_derived(path: Path | None, write: Callable[[Path], object]) -> None:
    """Write a derived index file whole or not at all; a read-only cache only costs time.

    Each writer has a partial file of its own: two processes that need the same missing file
    at once (the workers of a distributed run starting together) each write theirs whole, and
    the last to finish puts its copy in place (both hold the same content).
    """
    if path is None:
        return
    partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        write(partial)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)


def _unit_from_row(row: pd.Series) -> Unit:
    values = {name: row[name] for name in _UNIT_FIELDS}
    for name in ("unit_type", "parent_code", "name_en"):
        if pd.isna(values[name]):
            values[name] = None
    values["area_km2"] = float(values["area_km2"])
    values["has_geometry"] = bool(values["has_geometry"])
    values["in_register"] = bool(values["in_register"])
    return Unit(**values)


@lru_cache(maxsize=8)
def _load_built(
    folder: str,
    _mtime_ns: int,
    refined: tuple[tuple[str, int], ...] = (),
    manifest: str | None = None,
) -> BoundarySet:
    path = Path(folder)
    meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    frame = gpd.read_parquet(path / UNITS_FILE)
    info = SetInfo.from_dict(_with_manifest_fields(meta, manifest))
    stamp = f"{meta.get('sha256')}|{meta.get('built_at')}|{meta.get('build_format')}"
    displays: list[Path] = []
    for where, _ in refined:
        frame, info, digest = _apply_refinement(frame, info, Path(where))
        stamp += f"|{digest}"
        displays.append(Path(where) / "display.parquet")
    build_id = hashlib.sha256(stamp.encode()).hexdigest()[:12]
    return BoundarySet(info, frame, path / DISPLAY_FILE, build_id, tuple(displays))


def _apply_refinement(
    frame: gpd.GeoDataFrame, info: SetInfo, folder: Path
) -> tuple[gpd.GeoDataFrame, SetInfo, str]:
    """Give the set's wards the polygons of a stored refinement (see ``geozone.boundaries.refine``).

    Returns the frame, the info with the layer's attribution added, and the refinement's
    identity (its source's checksum and import time) for the build id.
    """
    meta = json.loads((folder / "refinement.json").read_text(encoding="utf-8"))
    wards = gpd.read_parquet(folder / "wards.parquet").set_index("code")
    rows = frame.index[(frame["level"] == "ward") & frame["code"].isin(wards.index)]
    geoms = wards.geometry.reindex(frame.loc[rows, "code"]).to_numpy()
    refined = frame.copy()
    refined.loc[rows, "geometry"] = geoms
    refined.loc[rows, "has_geometry"] = True
    refined.loc[rows, "geometry_source"] = f"refinement:{meta['refinement_id']}"
    refined.loc[rows, "utm_epsg"] = zones_of(geoms)
    refined.loc[rows, "area_km2"] = metric_areas(geoms) / 1e6
    credit = f"{meta['attribution']} (ward boundaries, {meta['licence']})"
    info = replace(
        info,
        attribution=f"{info.attribution}; {credit}",
        attribution_en=f"{info.attribution_en}; {credit}",
    )
    digest = f"{meta['refinement_id']}:{meta['source']['sha256']}:{meta['imported_at']}"
    return refined, info, digest


#: Fields of a manifest entry added after sets were first built: a ``build.json`` written
#: before has none of them, and takes them from the manifest (:func:`_with_manifest_fields`).
_LATER_FIELDS = ("title_vi", "as_of")


def _with_manifest_fields(meta: dict[str, Any], manifest: str | None) -> dict[str, Any]:
    """Return a built set's entry, with the fields added since it was built from the manifest.

    A set built before ``as_of`` existed still loads: its ``build.json`` entry lacks the key,
    and the manifest's entry of the same set and archive (same sha256) gives it (``geozone
    data build`` then writes it into ``build.json`` without building again). A set the
    manifest does not describe (an imported layer), or another archive, keeps None.
    """
    entry: dict[str, Any] = meta["entry"]
    missing = [name for name in _LATER_FIELDS if name not in entry]
    if not missing or manifest is None:
        return entry
    try:
        sets = load_manifest(Path(manifest)).sets
    except ConfigurationError:
        return entry
    described = sets.get(str(entry.get("id")))
    if described is None or described.sha256 != meta.get("sha256"):
        return entry
    return {**entry, **{name: getattr(described, name) for name in missing}}


def available_sets(settings: Settings | None = None) -> list[SetInfo]:
    """Return the info of every built set in the cache."""
    settings = settings or get_settings()
    cache = settings.boundary_cache
    infos = []
    for meta in sorted(cache.glob(f"*/{META_FILE}")):
        if meta.parent.name.endswith((".partial", ".old")):
            continue
        built = json.loads(meta.read_text(encoding="utf-8"))
        infos.append(SetInfo.from_dict(_with_manifest_fields(built, str(settings.manifest_path))))
    return infos
