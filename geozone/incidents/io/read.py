"""Read incident files: CSV, GeoJSON, GeoPackage and (Geo)Parquet, whole or in pieces.

:func:`read_incidents` reads a file, maps its columns onto the incident fields, converts
coordinates from any CRS to EPSG:4326 and validates every row
(:func:`~geozone.incidents.io.validate.validate_incidents`). Valid rows come back as a
DataFrame; every other row comes back as one or more
:class:`~geozone.incidents.io.validate.Reject` (line, external id, field, reason). Nothing
is dropped silently: ``len(incidents) + number of rejected rows == number of input rows``.
:func:`open_incidents` opens a file to read it in pieces of rows (an import stores one piece
at a time); a CSV file is split into records on its bytes first
(:mod:`geozone.incidents.io._csv`), so that a broken line (bad UTF-8, a wrong number of
fields, a truncated quoted field) is one rejected row, never a refused file.

Columns are found by an explicit :class:`ColumnMapping`, else by the folded names of
:data:`DEFAULT_SYNONYMS`. Files that carry a CRS (GeoJSON, GeoPackage, GeoParquet) use their
own; ``crs`` applies to files without one (CSV, plain Parquet), whose ``lon``/``lat`` columns
then hold x/y in that CRS (see :mod:`geozone.incidents.io._crs` for VN-2000). A file marked
synthetic in its metadata (see :mod:`geozone.incidents.io.write`) gives synthetic rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
from numpy.typing import NDArray

from geozone.errors import IncidentFileError
from geozone.incidents.fields import INCIDENT_COLUMNS, REQUIRED_COLUMNS
from geozone.incidents.io._crs import crs_key
from geozone.incidents.io._csv import CsvRecords
from geozone.incidents.io._formats import PARQUET_SYNTHETIC_KEY, SYNTHETIC_MARK, format_of
from geozone.incidents.io.validate import ReadResult, Reject, validate_incidents
from geozone.text import fold

#: Folded column names recognised for each field when no mapping names the column, in order
#: of preference (English, then Vietnamese without diacritics).
DEFAULT_SYNONYMS: dict[str, tuple[str, ...]] = {
    "external_id": ("externalid", "id", "incidentid", "caseid", "mavuviec", "mavv", "ma"),
    "occurred_at": (
        "occurredat",
        "time",
        "datetime",
        "timestamp",
        "date",
        "thoigian",
        "thoidiem",
        "thoigianxayra",
        "ngayxayra",
    ),
    "detected_at": ("detectedat", "detectiontime", "thoigianphathien", "ngayphathien"),
    "lon": ("lon", "lng", "long", "longitude", "x", "kinhdo", "easting"),
    "lat": ("lat", "latitude", "y", "vido", "northing"),
    "category": ("category", "type", "loai", "loaivuviec", "phanloai"),
    "detected_by": ("detectedby", "donviphathien", "phathienboi", "unit"),
    "status": ("status", "trangthai", "ketqua"),
    "subjects": ("subjects", "nsubjects", "sodoituong", "doituong"),
    "jointly_handled": ("jointlyhandled", "joint", "phoihop"),
    "description": ("description", "mota", "noidung", "ghichu", "notes"),
    "synthetic": ("synthetic", "issynthetic"),
    # Not an incident field: the address of an incident without coordinates.
    "address": ("address", "diachi", "diachivuviec", "noixayra", "diadiem"),
}


@dataclass(frozen=True)
class ColumnMapping:
    """Which column of a file holds each incident field.

    Fields left None are looked up among :data:`DEFAULT_SYNONYMS` (folded names: case,
    diacritics, spaces and punctuation ignored). ``lon``/``lat`` name the x/y columns when
    the file is in a projected CRS. Example: ``ColumnMapping(external_id="ma_vu_viec",
    lon="kinh_do", lat="vi_do", occurred_at="thoi_gian", category="loai")``.
    """

    external_id: str | None = None
    occurred_at: str | None = None
    detected_at: str | None = None
    lon: str | None = None
    lat: str | None = None
    category: str | None = None
    detected_by: str | None = None
    status: str | None = None
    subjects: str | None = None
    jointly_handled: str | None = None
    description: str | None = None
    synthetic: str | None = None
    address: str | None = None

    @classmethod
    def from_dict(cls, mapping: Mapping[str, str]) -> ColumnMapping:
        """Build from ``{field: column}``; ``x``/``y`` are accepted for ``lon``/``lat``.

        Raises
        ------
        IncidentFileError
            When a key is not an incident field.
        """
        known = {f.name for f in fields(cls)}
        renamed = {{"x": "lon", "y": "lat"}.get(key, key): value for key, value in mapping.items()}
        unknown = sorted(set(renamed) - known)
        if unknown:
            raise IncidentFileError(
                f"column mapping names unknown field(s) {', '.join(unknown)}; "
                f"fields: {', '.join(sorted(known))}"
            )
        return cls(**renamed)

    def given(self) -> dict[str, str]:
        """Return the fields the mapping names explicitly."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name))}


def read_incidents(
    path: str | Path,
    *,
    mapping: ColumnMapping | Mapping[str, str] | None = None,
    crs: str | int = 4326,
    layer: str | int | None = None,
    synthetic: bool | None = None,
) -> ReadResult:
    """Read an incident file, validating every row.

    Parameters
    ----------
    path
        A ``.csv``, ``.geojson``/``.json``, ``.gpkg`` or ``.parquet``/``.geoparquet`` file.
        CSV is UTF-8 (a BOM is allowed), separated by commas, semicolons or tabs (guessed from
        the header).
    mapping
        Which column holds which field (a :class:`ColumnMapping` or a dict); unnamed fields are
        found by :data:`DEFAULT_SYNONYMS`.
    crs
        CRS of the coordinates of files that carry none (CSV, plain Parquet): an EPSG code or
        any pyproj input. Files with a CRS use their own.
    layer
        Layer of a multi-layer file (GeoPackage).
    synthetic
        None: take the file's ``synthetic`` column (and its metadata markers). True: mark every
        row synthetic. False: assert the rows are real (refused when the file says otherwise).

    Returns
    -------
    ReadResult
        The valid rows and the rejects.

    Raises
    ------
    IncidentFileError
        When the file cannot be read at all: unknown suffix, unreadable content, a required
        field without a column, a mapped column that does not exist, an unknown CRS, or
        ``synthetic=False`` for a file marked synthetic.
    """
    return open_incidents(path, mapping=mapping, crs=crs, layer=layer, synthetic=synthetic).read()


def open_incidents(
    path: str | Path,
    *,
    mapping: ColumnMapping | Mapping[str, str] | None = None,
    crs: str | int = 4326,
    layer: str | int | None = None,
    synthetic: bool | None = None,
) -> IncidentSource:
    """Open an incident file to read its rows whole or in pieces (:class:`IncidentSource`).

    The parameters and errors are those of :func:`read_incidents`; the file's columns, CRS
    and synthetic markers are checked now, the rows when they are read.
    """
    source = Path(path)
    kind = format_of(source)
    if not source.is_file():
        raise IncidentFileError(f"{source}: no such file")
    marked = False
    try:
        if kind == "csv":
            rows: _Rows = _CsvRows(CsvRecords(source.read_bytes()))
            file_crs: str | None = None
        elif kind == "parquet":
            raw, file_crs, marked = _read_parquet(source)
            rows = _FrameRows(raw)
        else:
            raw, file_crs, marked = _read_ogr(source, layer)
            rows = _FrameRows(raw)
    except IncidentFileError:
        raise
    except Exception as exc:  # readers raise many types; all mean "cannot read"
        raise IncidentFileError(f"cannot read {source}: {exc}") from None
    notes: tuple[str, ...] = ()
    if marked:
        notes = (f"{source.name} is marked {SYNTHETIC_MARK} in its metadata",)
        if synthetic is False:
            raise IncidentFileError(
                f"{source} is marked synthetic in its metadata; refusing synthetic=False"
            )
    has_geometry = kind != "csv" and "geometry" in rows.names
    columns = _resolve_columns(source, pd.DataFrame(columns=rows.names), mapping, has_geometry)
    return IncidentSource(
        source,
        rows,
        columns,
        file_crs if file_crs is not None else crs,
        True if marked and synthetic is None else synthetic,
        notes,
        has_geometry and not ("lon" in columns and "lat" in columns),
    )


class _Rows:
    """The rows of a file as raw cells, read by position."""

    names: list[str]
    n_rows: int

    def piece(self, start: int, stop: int) -> tuple[pd.DataFrame, NDArray[np.int64], list[Reject]]:
        """Rows ``[start, stop)``: the sound ones' cells, their lines, the broken ones' rejects."""
        raise NotImplementedError


class _FrameRows(_Rows):
    """Rows already in a frame (Parquet, GeoPackage, GeoJSON); line = feature number."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.names = [str(c) for c in frame.columns]
        self.n_rows = len(frame)

    def piece(self, start: int, stop: int) -> tuple[pd.DataFrame, NDArray[np.int64], list[Reject]]:
        """See :meth:`_Rows.piece`."""
        stop = min(stop, self.n_rows)
        return self.frame.iloc[start:stop], np.arange(start + 1, stop + 1, dtype=np.int64), []


class _CsvRows(_Rows):
    """The records of a CSV file (blank lines are no rows), parsed piece by piece."""

    def __init__(self, records: CsvRecords) -> None:
        self.records = records
        self.names = records.header()
        self.rows = np.flatnonzero(~records.blank)
        self.rows = self.rows[self.rows > 0]  # record 0 is the header
        self.n_rows = len(self.rows)

    def piece(self, start: int, stop: int) -> tuple[pd.DataFrame, NDArray[np.int64], list[Reject]]:
        """See :meth:`_Rows.piece`."""
        chosen = self.rows[start:stop]
        sound = chosen[self.records.sound[chosen]]
        frame = self.records.parse(self.names, sound)
        broken = chosen[self.records.broken[chosen]]
        return frame, self.records.lines[sound], self.records.rejects(broken)


@dataclass
class IncidentSource:
    """An incident file opened by :func:`open_incidents`: its rows, read whole or in pieces.

    CSV rows are parsed piece by piece from the file's bytes, so an import holds one piece of
    parsed rows at a time; other formats are read whole by their library, then validated and
    stored piece by piece.

    Attributes
    ----------
    path
        The file.
    columns
        Which input column gives each field.
    crs
        The CRS of the coordinates (the file's own, or the one given).
    """

    path: Path
    rows: _Rows
    columns: dict[str, str]
    crs: str | int
    synthetic: bool | None
    notes: tuple[str, ...]
    geometry: bool

    @property
    def n_rows(self) -> int:
        """Rows of the file (blank CSV lines are not rows)."""
        return self.rows.n_rows

    def read(self, start: int = 0, stop: int | None = None) -> ReadResult:
        """Read and validate rows ``[start, stop)`` (all by default) as :func:`read_incidents`."""
        raw, lines, broken = self.rows.piece(start, self.n_rows if stop is None else stop)
        canonical = pd.DataFrame({name: raw[column] for name, column in self.columns.items()})
        if self.geometry:
            canonical["geometry"] = raw["geometry"].to_numpy()
        result = validate_incidents(
            canonical, crs=self.crs, lines=lines, synthetic=self.synthetic, source=str(self.path)
        )
        return ReadResult(
            result.incidents,
            sorted([*result.rejects, *broken], key=lambda r: r.line),
            result.n_rows + len(broken),
            self.columns,
            result.source_crs,
            (*self.notes, *result.notes),
            result.address_only,
        )

    @property
    def crs_key(self) -> str:
        """The CRS of the coordinates as ``EPSG:<code>`` (or WKT when it has no code)."""
        return crs_key(self.crs)

    def pieces(self, size: int, cut: int = 0) -> Iterator[tuple[int, ReadResult]]:
        """Read every row, ``size`` at a time; yield (first row, its piece).

        Pieces start at 0, ``size``, … up to ``cut``, then at ``cut``, ``cut + size``, …
        (an import that resumes at row ``cut`` stores from there on). An id met in an
        earlier piece is a duplicate in a later one, as in one read: the later row is
        rejected naming the first line.
        """
        starts = [*range(0, min(cut, self.n_rows), size), *range(cut, self.n_rows, size)]
        seen = pd.Series(dtype=np.int64)  # the first line of each id read so far
        for first, stop in zip(starts, [*starts[1:], self.n_rows], strict=True):
            read, seen = _reject_repeated(self.read(first, stop), seen)
            yield first, read


def _reject_repeated(read: ReadResult, seen: pd.Series) -> tuple[ReadResult, pd.Series]:
    """Reject the valid rows whose id an earlier piece had; add this piece's ids to ``seen``."""
    ids = read.incidents["external_id"]
    again = ids.isin(seen.index).to_numpy(bool)
    if again.any():
        lines = read.incidents.index.to_numpy(np.int64)[again]
        firsts = seen.reindex(ids[again]).to_numpy(np.int64)
        extra = [
            Reject(int(line), str(i), "external_id", f"duplicate id {i!r} (first on line {f})")
            for line, i, f in zip(lines, ids[again], firsts, strict=True)
        ]
        rejects = sorted([*read.rejects, *extra], key=lambda r: r.line)
        read = replace(read, incidents=read.incidents[~again], rejects=rejects)
    named = [r for r in read.rejects if r.external_id]  # a rejected row's id counts too
    piece = pd.concat(
        [
            pd.Series(read.incidents.index.to_numpy(np.int64), index=ids[~again].to_numpy()),
            pd.Series(
                [r.line for r in named], index=[r.external_id for r in named], dtype=np.int64
            ),
        ]
    )
    piece = piece[~piece.index.duplicated(keep="first") & ~piece.index.isin(seen.index)]
    return read, pd.concat([seen, piece])


def _read_parquet(path: Path) -> tuple[pd.DataFrame, str | None, bool]:
    metadata = pq.read_schema(path).metadata or {}
    marked = metadata.get(PARQUET_SYNTHETIC_KEY, b"").lower() == b"true"
    if b"geo" in metadata:
        import geopandas as gpd

        frame = gpd.read_parquet(path)
        geometry = frame.geometry.name
        file_crs = crs_key(frame.crs) if frame.crs is not None else "EPSG:4326"
        plain = pd.DataFrame(frame.drop(columns=geometry))
        plain["geometry"] = frame.geometry.to_numpy()
        return plain, file_crs, marked
    return pd.read_parquet(path), None, marked


def _read_ogr(path: Path, layer: str | int | None) -> tuple[pd.DataFrame, str | None, bool]:
    info = pyogrio.read_info(path, layer=layer)
    meta = info.get("layer_metadata") or {}
    marked = any(
        str(meta.get(key, "")).upper().startswith(SYNTHETIC_MARK)
        for key in ("IDENTIFIER", "DESCRIPTION")
    )
    frame = pyogrio.read_dataframe(path, layer=layer)
    file_crs = crs_key(frame.crs) if frame.crs is not None else None
    geometry = frame.geometry.name
    plain = pd.DataFrame(frame.drop(columns=geometry))
    plain["geometry"] = frame.geometry.to_numpy()
    return plain, file_crs, marked


def _resolve_columns(
    source: Path,
    raw: pd.DataFrame,
    mapping: ColumnMapping | Mapping[str, str] | None,
    has_geometry: bool,
) -> dict[str, str]:
    """Map each incident field to a column of ``raw`` (explicit mapping, then synonyms)."""
    if mapping is not None and not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_dict(mapping)
    explicit = mapping.given() if mapping is not None else {}
    available = [str(c) for c in raw.columns if c != "geometry"]
    missing = [f"{name}={column!r}" for name, column in explicit.items() if column not in available]
    if missing:
        raise IncidentFileError(
            f"{source}: the column mapping names column(s) not in the file: "
            f"{', '.join(missing)}; the file has {', '.join(available)}"
        )
    folded: dict[str, str] = {}
    for column in available:
        folded.setdefault(fold(column), column)
    taken = set(explicit.values())
    columns = dict(explicit)
    for name, synonyms in DEFAULT_SYNONYMS.items():
        if name in columns or (has_geometry and name in ("lon", "lat")):
            continue
        for synonym in synonyms:
            found = folded.get(synonym)
            if found is not None and found not in taken:
                columns[name] = found
                taken.add(found)
                break
    pointless = has_geometry or "address" in columns  # a point, or an address, per row
    required = [n for n in REQUIRED_COLUMNS if not (pointless and n in ("lon", "lat"))]
    absent = [name for name in required if name not in columns]
    if absent:
        raise IncidentFileError(
            f"{source}: no column for {', '.join(absent)}; the file has "
            f"{', '.join(available) or 'no columns'}. Name them with a ColumnMapping "
            f"(e.g. mapping={{'{absent[0]}': '<column>'}})"
        )
    return {name: columns[name] for name in (*INCIDENT_COLUMNS, "address") if name in columns}
