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

import functools
import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import pyproj
import shapely
from numpy.typing import NDArray

from geozone.errors import IncidentFileError
from geozone.incidents.fields import INCIDENT_COLUMNS, REQUIRED_COLUMNS
from geozone.incidents.io._crs import crs_key
from geozone.incidents.io._csv import CsvBlocks, CsvRecords
from geozone.incidents.io._formats import PARQUET_SYNTHETIC_KEY, SYNTHETIC_MARK, format_of
from geozone.incidents.io._ids import IdLedger
from geozone.incidents.io.validate import _FIELD_ORDER as FIELD_ORDER
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
    stream: bool = False,
) -> IncidentSource:
    """Open an incident file to read its rows whole or in pieces (:class:`IncidentSource`).

    The parameters and errors are those of :func:`read_incidents`; the file's columns, CRS
    and synthetic markers are checked now, the rows when they are read. With ``stream``, the
    rows are read from the file piece by piece as :meth:`IncidentSource.pieces` asks for them
    (CSV in blocks of records, Parquet in record batches, GeoPackage in runs of features), so
    that memory holds one piece, whatever the size of the file; the pieces are the rows a
    whole read gives (GeoJSON, which GDAL parses whole, is read whole either way).
    """
    source = Path(path)
    kind = format_of(source)
    if not source.is_file():
        raise IncidentFileError(f"{source}: no such file")
    marked = False
    try:
        if kind == "csv" and stream:
            rows: _Rows = _CsvStream(CsvBlocks(source))
            file_crs: str | None = None
        elif kind == "csv":
            rows = _CsvRows(CsvRecords(source.read_bytes()))
            file_crs = None
        elif kind == "parquet" and stream and _wkb_or_plain(source):
            parquet = _ParquetStream(source)
            rows, file_crs, marked = parquet, parquet.crs, parquet.marked
        elif kind == "gpkg" and stream:
            ogr = _OgrStream(source, layer)
            rows, file_crs, marked = ogr, ogr.crs, ogr.marked
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

    def stream(self, bounds: list[int]) -> Iterator[_Piece]:
        """Rows ``[bounds[i], bounds[i + 1])`` for each i, in order (see :meth:`piece`)."""
        for start, stop in itertools.pairwise(bounds):
            yield self.piece(start, stop)

    def partitions(self, rows: int) -> list[tuple[int, ...]]:
        """Cut the file into parts of about ``rows`` rows that a process reads alone."""
        return [(start, min(start + rows, self.n_rows)) for start in range(0, self.n_rows, rows)]

    def read_partition(self, part: tuple[int, ...]) -> _Piece:
        """Read one part of :meth:`partitions`."""
        return self.piece(part[0], part[1])


_Piece = tuple[pd.DataFrame, NDArray[np.int64], list[Reject]]


def _join_pieces(parts: list[_Piece], names: list[str]) -> _Piece:
    """One piece of consecutive parts."""
    if len(parts) == 1:
        return parts[0]
    frames = [frame for frame, _, _ in parts]
    return (
        pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=names),
        np.concatenate([lines for _, lines, _ in parts]) if parts else np.zeros(0, np.int64),
        [reject for _, _, rejects in parts for reject in rejects],
    )


def _cut_batches(
    batches: Iterator[pd.DataFrame], bounds: list[int], names: list[str]
) -> Iterator[_Piece]:
    """Re-cut consecutive frames of rows (from row 0) into the pieces ``bounds`` asks for."""
    position = 0  # the file row of the first row held in ``held``
    held: list[pd.DataFrame] = []
    size = 0
    exhausted = False
    for start, stop in itertools.pairwise(bounds):
        while position + size < stop and not exhausted:
            batch = next(batches, None)
            if batch is None:
                exhausted = True
            else:
                held.append(batch)
                size += len(batch)
        frame = held[0] if len(held) == 1 else pd.concat(held, ignore_index=True)
        frame = frame.reset_index(drop=True) if len(held) == 1 else frame
        low, high = start - position, min(stop, position + size) - position
        piece = frame.iloc[low:high].reset_index(drop=True)
        rest = frame.iloc[high:].reset_index(drop=True)
        position, held, size = position + high, [rest] if len(rest) else [], len(rest)
        yield piece, np.arange(start + 1, start + len(piece) + 1, dtype=np.int64), []
    _ = names


class _CsvStream(_Rows):
    """The records of a CSV file read block by block (:class:`CsvBlocks`); see :class:`_CsvRows`."""

    def __init__(self, blocks: CsvBlocks) -> None:
        self.blocks = blocks
        self.names = blocks.header()

    @functools.cached_property
    def n_rows(self) -> int:  # type: ignore[override]
        """Rows of the file, counted block by block on first use."""
        return self.blocks.count()

    def piece(self, start: int, stop: int) -> _Piece:
        """See :meth:`_Rows.piece`."""
        return next(self.stream([start, stop]))

    def partitions(self, rows: int) -> list[tuple[int, ...]]:
        """Cut the file into spans of whole records of about ``rows`` rows.

        Bytes per row are taken from the first MB; the spans, (first byte, end byte, line
        shift), are found on a light pass.
        """
        sample = self.blocks.header_bytes
        with self.blocks.path.open("rb") as handle:
            handle.seek(len(sample))
            probe = handle.read(1 << 20)
        per_row = max(16, len(probe) // max(1, probe.count(b"\n"))) if probe else 64
        return list(self.blocks.spans(rows * per_row))

    def read_partition(self, part: tuple[int, ...]) -> _Piece:
        """Read one span of :meth:`partitions`."""
        start, end, shift = part
        records = self.blocks.span(start, end)
        rows = np.flatnonzero(~records.blank)
        return _csv_part(records, self.names, rows[rows > 0], shift)

    def stream(self, bounds: list[int]) -> Iterator[_Piece]:
        """See :meth:`_Rows.stream`: each block's records are cut at the bounds."""
        edges = iter(itertools.pairwise(bounds))
        edge = next(edges, None)
        position = 0
        parts: list[_Piece] = []
        for records, shift in self.blocks:
            rows = np.flatnonzero(~records.blank)
            rows = rows[rows > 0]
            offset = 0  # rows of this block already given to a piece
            while edge is not None:
                start, stop = edge
                low = max(start - position, offset)
                high = min(stop - position, len(rows))
                if low < high:
                    parts.append(_csv_part(records, self.names, rows[low:high], shift))
                if stop - position > len(rows):  # the piece goes on in the next block
                    break
                offset = max(offset, high)
                yield _join_pieces(parts, self.names) if parts else _empty(self.names)
                parts = []
                edge = next(edges, None)
            position += len(rows)
            if edge is None:
                return
        while edge is not None:  # pieces past the end of the file
            yield _join_pieces(parts, self.names) if parts else _empty(self.names)
            parts = []
            edge = next(edges, None)


def _csv_part(
    records: CsvRecords, names: list[str], chosen: NDArray[np.intp], shift: int
) -> _Piece:
    """Return some records of a CSV block as a piece, lines shifted to the file's."""
    sound = chosen[records.sound[chosen]]
    frame = records.parse(names, sound)
    broken = chosen[records.broken[chosen]]
    rejects = [replace(r, line=r.line + shift) for r in records.rejects(broken)]
    return frame, records.lines[sound].astype(np.int64) + shift, rejects


def _empty(names: list[str]) -> _Piece:
    return (
        pd.DataFrame({name: pd.Series(dtype=object) for name in names}),
        np.zeros(0, np.int64),
        [],
    )


class _ParquetStream(_Rows):
    """A (Geo)Parquet file read in record batches; line = row number from 1."""

    def __init__(self, path: Path) -> None:
        self.file = pq.ParquetFile(path)
        schema = self.file.schema_arrow
        metadata = schema.metadata or {}
        self.marked = metadata.get(PARQUET_SYNTHETIC_KEY, b"").lower() == b"true"
        self.geometry_column: str | None = None
        self.crs: str | None = None
        if b"geo" in metadata:
            geo = json.loads(metadata[b"geo"])
            primary = geo.get("primary_column", "geometry")
            column = geo.get("columns", {}).get(primary, {})
            self.geometry_column = primary
            crs = column.get("crs", "EPSG:4326")
            self.crs = "EPSG:4326" if crs is None else crs_key(pyproj.CRS.from_user_input(crs))
        names = [name for name in schema.names if name != self.geometry_column]
        self.names = names + (["geometry"] if self.geometry_column else [])
        self.n_rows = int(self.file.metadata.num_rows)

    def piece(self, start: int, stop: int) -> _Piece:
        """See :meth:`_Rows.piece`."""
        return next(self.stream([start, stop]))

    def stream(self, bounds: list[int]) -> Iterator[_Piece]:
        """See :meth:`_Rows.stream`."""
        size = max(1, min(65_536, max((b - a for a, b in itertools.pairwise(bounds)), default=1)))
        batches = (self._frame(b) for b in self._batches(size))
        return _cut_batches(batches, bounds, self.names)

    def _batches(self, size: int) -> Iterator[pa.RecordBatch]:
        """Yield the file's record batches, with a reader per row group.

        One reader over the whole file holds on to memory for each row group it has read
        (pyarrow 26: some 47 MB per million rows of an incident file, 470 MB at 10 M); a
        reader per group frees it when the group is done, so a streamed read stays flat.
        """
        for group in range(self.file.num_row_groups):
            yield from self.file.iter_batches(batch_size=size, row_groups=[group])

    def partitions(self, rows: int) -> list[tuple[int, ...]]:
        """Cut the file into runs of row groups of about ``rows`` rows: (first row, groups…)."""
        parts: list[tuple[int, ...]] = []
        groups: list[int] = []
        first = size = 0
        for group in range(self.file.num_row_groups):
            groups.append(group)
            size += self.file.metadata.row_group(group).num_rows
            if size >= rows:
                parts.append((first, *groups))
                first, groups, size = first + size, [], 0
        if groups:
            parts.append((first, *groups))
        return parts

    def read_partition(self, part: tuple[int, ...]) -> _Piece:
        """Read one run of row groups of :meth:`partitions`."""
        first, groups = part[0], list(part[1:])
        table = self.file.read_row_groups(groups)
        frame = self._frame(table) if table.num_rows else _empty(self.names)[0]
        return frame, np.arange(first + 1, first + len(frame) + 1, dtype=np.int64), []

    def _frame(self, batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
        table = (
            batch
            if isinstance(batch, pa.Table)
            else pa.Table.from_batches([batch], schema=self.file.schema_arrow)
        )
        if self.geometry_column is None:
            plain: pd.DataFrame = table.to_pandas()
            return plain
        # Kept as WKB: validation reads points from it without a GEOS geometry each.
        wkb = table.column(self.geometry_column).to_numpy(zero_copy_only=False)
        frame: pd.DataFrame = table.drop_columns([self.geometry_column]).to_pandas()
        frame["geometry"] = wkb
        return frame


def _wkb_or_plain(path: Path) -> bool:
    """Return whether a Parquet file is plain or GeoParquet with WKB geometries.

    Those are streamed by batch; other geometry encodings (GeoArrow) are read whole by
    GeoPandas.
    """
    metadata = pq.read_schema(path).metadata or {}
    if b"geo" not in metadata:
        return True
    geo = json.loads(metadata[b"geo"])
    column = geo.get("columns", {}).get(geo.get("primary_column", "geometry"), {})
    return str(column.get("encoding", "WKB")).upper() == "WKB"


class _OgrStream(_Rows):
    """A GeoPackage layer read in runs of features (GDAL); line = feature number from 1."""

    def __init__(self, path: Path, layer: str | int | None) -> None:
        self.path, self.layer = path, layer
        info = pyogrio.read_info(path, layer=layer)
        meta = info.get("layer_metadata") or {}
        self.marked = any(
            str(meta.get(key, "")).upper().startswith(SYNTHETIC_MARK)
            for key in ("IDENTIFIER", "DESCRIPTION")
        )
        self.crs = crs_key(info["crs"]) if info.get("crs") else None
        self.n_rows = int(info["features"])
        self.names = [
            *map(str, info["fields"]),
            *(["geometry"] if info.get("geometry_type") else []),
        ]

    def piece(self, start: int, stop: int) -> _Piece:
        """See :meth:`_Rows.piece`."""
        return next(self.stream([start, stop]))

    def stream(self, bounds: list[int]) -> Iterator[_Piece]:
        """See :meth:`_Rows.stream`: one pass over the layer in Arrow batches."""
        size = max(1, min(65_536, max((b - a for a, b in itertools.pairwise(bounds)), default=1)))
        if bounds and bounds[0] > 0:  # a piece alone (a part): GDAL skips to it
            yield from self._ranges(bounds)
            return
        with pyogrio.open_arrow(self.path, layer=self.layer, batch_size=size, use_pyarrow=True) as (
            meta,
            reader,
        ):
            geometry = meta.get("geometry_name") or "wkb_geometry"

            def frames() -> Iterator[pd.DataFrame]:
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    wkb = table.column(geometry).to_numpy(zero_copy_only=False)
                    frame: pd.DataFrame = table.drop_columns([geometry]).to_pandas()
                    frame["geometry"] = shapely.from_wkb(wkb)
                    yield frame

            yield from _cut_batches(frames(), bounds, self.names)

    def _ranges(self, bounds: list[int]) -> Iterator[_Piece]:
        for start, stop in itertools.pairwise(bounds):
            stop = min(stop, self.n_rows)
            if stop <= start:
                yield _empty(self.names)
                continue
            frame = pyogrio.read_dataframe(
                self.path, layer=self.layer, skip_features=start, max_features=stop - start
            )
            geometry = frame.geometry.name
            plain = pd.DataFrame(frame.drop(columns=geometry))
            plain["geometry"] = frame.geometry.to_numpy()
            yield plain, np.arange(start + 1, stop + 1, dtype=np.int64), []


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

    Opened with ``stream`` (imports, ``incidents assign``), the rows are read from the file
    piece by piece: CSV in blocks of whole records (:class:`~geozone.incidents.io._csv.
    CsvBlocks`), Parquet in record batches, GeoPackage in Arrow batches; GeoJSON, and
    GeoParquet in another encoding than WKB, are read whole. Otherwise a CSV file's bytes are
    held and parsed piece by piece, and other formats are read whole by their library. Ids
    met in earlier pieces are kept in an :class:`~geozone.incidents.io._ids.IdLedger`.

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
        return self._validate(*self.rows.piece(start, self.n_rows if stop is None else stop))

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
        size = max(1, size)
        starts = [*range(0, min(cut, self.n_rows), size), *range(cut, self.n_rows, size)]
        seen = IdLedger()  # the first line of each id read so far
        bounds = [*starts, self.n_rows]
        for first, (raw, lines, broken) in zip(starts, self.rows.stream(bounds), strict=False):
            yield first, reject_repeated(self._validate(raw, lines, broken), seen)

    def partitions(self, rows: int) -> list[tuple[int, ...]]:
        """Cut the file into parts of about ``rows`` rows, in file order.

        Another process reads a part alone with :meth:`read_partition` (CSV: spans of bytes;
        Parquet: runs of row groups; others: ranges of rows).
        """
        return self.rows.partitions(max(1, rows))

    def read_partition(self, part: tuple[int, ...]) -> ReadResult:
        """Read and validate one part of :meth:`partitions`.

        Ids repeated in other parts are not checked: the caller does it, in file order.
        """
        return self._validate(*self.rows.read_partition(part))

    def _validate(
        self, raw: pd.DataFrame, lines: NDArray[np.int64], broken: list[Reject]
    ) -> ReadResult:
        """Validate one piece of raw rows (see :meth:`read`)."""
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


def duplicate_reason(external_id: str | None, first: int) -> str:
    """Return the reason of a repeated id's reject, as :func:`validate_incidents` words it."""
    return f"duplicate id {external_id!r} (first on line {first})"


def reject_repeated(read: ReadResult, seen: IdLedger) -> ReadResult:
    """Reject the valid rows whose id an earlier piece had; add this piece's ids to ``seen``."""
    ids = read.incidents["external_id"].to_numpy(object)
    firsts = seen.first_lines(ids)
    again = firsts >= 0
    if again.any():
        lines = read.incidents.index.to_numpy(np.int64)[again]
        extra = [
            Reject(int(line), str(i), "external_id", duplicate_reason(str(i), int(f)))
            for line, i, f in zip(lines, ids[again], firsts[again], strict=True)
        ]
        rejects = sorted([*read.rejects, *extra], key=lambda r: r.line)
        read = replace(read, incidents=read.incidents[~again], rejects=rejects)
    named = [r for r in read.rejects if r.external_id]  # a rejected row's id counts too
    repeats = [r for r in named if r.field == "external_id" and r.reason.startswith("duplicate")]
    if repeats:  # repeated within this piece, but first met in an earlier one
        earlier = seen.first_lines(np.array([r.external_id for r in repeats], dtype=object))
        renamed = {
            id(r): replace(r, reason=duplicate_reason(r.external_id, int(f)))
            for r, f in zip(repeats, earlier, strict=True)
            if f >= 0
        }
        if renamed:
            read = replace(read, rejects=[renamed.get(id(r), r) for r in read.rejects])
            named = [r for r in read.rejects if r.external_id]
    if named:  # a rejected row's id met before is also a duplicate, as in a whole read
        lines_named = {r.line: r.external_id for r in named}
        have = {
            r.line for r in read.rejects if r.field == "external_id" and "duplicate" in r.reason
        }
        rows = [line for line in lines_named if line not in have]
        before = seen.first_lines(np.array([lines_named[line] for line in rows], dtype=object))
        extra = [
            Reject(line, lines_named[line], "external_id", duplicate_reason(lines_named[line], f))
            for line, f in zip(rows, before, strict=True)
            if f >= 0
        ]
        if extra:
            rejects = [*read.rejects, *extra]
            rejects.sort(key=lambda r: (r.line, FIELD_ORDER.get(r.field, 99)))
            read = replace(read, rejects=rejects)
    new_ids = np.concatenate([ids[~again], np.array([r.external_id for r in named], dtype=object)])
    new_lines = np.concatenate(
        [read.incidents.index.to_numpy(np.int64), np.array([r.line for r in named], np.int64)]
    )
    seen.add(new_ids, new_lines)
    return read


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
