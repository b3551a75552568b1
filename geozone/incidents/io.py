"""Read and write incident files: CSV, GeoJSON, GeoPackage and (Geo)Parquet.

:func:`read_incidents` reads a file, maps its columns onto the fields of
:class:`geozone.incidents.schema.Incident`, converts coordinates from any CRS to EPSG:4326 and
validates every row. Valid rows come back as a DataFrame; every other row comes back as one
or more :class:`Reject` (line, external id, field, reason). Nothing is dropped silently:
``len(incidents) + number of rejected rows == number of input rows``.
:func:`open_incidents` opens a file to read it in pieces of rows (an import stores one piece
at a time); a CSV file is split into records on its bytes first, so that a broken line (bad
UTF-8, a wrong number of fields, a truncated quoted field) is one rejected row, never a
refused file.

Validation is vectorised (pandas ``to_numeric``/``to_datetime`` with ``errors="coerce"`` and
masks); there is no pydantic call per row, so millions of rows read in seconds. The
vectorised path enforces the rules of the :class:`~geozone.incidents.schema.Incident` model and the
two must agree (``tests/test_incident_io.py`` checks them against each other on a sample):

- ``external_id``: present, NFC with spaces collapsed, at most 128 characters;
- ``occurred_at``: a date or date-time in the plausible range
  (:data:`~geozone.incidents.schema.EARLIEST_TIME` to now + 1 day); naive times are Vietnam time
  (UTC+7);
- ``detected_at``: optional, the same, and not before ``occurred_at``;
- ``lon``/``lat``: finite numbers in [-180, 180] and [-90, 90] (after CRS conversion);
- ``category``: a code or a Vietnamese/English label of
:data:`~geozone.incidents.schema.CATEGORIES`;
- ``detected_by``: optional, at most 64 characters;
- ``status``: ``open`` (default) or ``solved``;
- ``subjects``: a whole number from 0 to 10,000 (default 0);
- ``jointly_handled``, ``synthetic``: booleans (default false);
- ``description``: NFC, at most 4,000 characters;
- no text holds a NUL character.

On top of the model's rules the reader checks what needs the whole file or the country: a
point must lie in Vietnam's extent (a generous box, :data:`VIETNAM_BBOX`; the assignment step
later flags points outside every unit precisely), and an ``external_id`` may appear once per
file (the first row keeps it; later rows are rejected naming the first line).

The reader also accepts spellings found in Vietnamese exports that the model does not read
itself, and normalises them before the rules apply: ``dd/mm/yyyy[ HH:MM[:SS]]`` dates (day
first, as written in Vietnam), decimal commas (``21,0387``), whole numbers written ``2.0``,
case-insensitive and Vietnamese status words (``đã giải quyết``, ``làm rõ``: solved; ``đang
xử lý``: open), Vietnamese yes/no (``có``/``không``), and it strips and NFC-normalises
``detected_by``; empty optional cells are missing values. It does not read bare numbers as
Unix timestamps: in a police export ``20240501`` is a date, not a second
count, so such cells are rejected as "not a date" (the model refuses them too).

Reject fields are the Incident field names, plus ``coordinates`` (a point outside Vietnam or
not transformable) and ``geometry`` (a feature without a point geometry).

Coordinate reference systems
----------------------------
Any CRS pyproj knows can be read, by EPSG code or any pyproj input. Files that carry a CRS
(GeoJSON, GeoPackage, GeoParquet) use their own; ``crs`` applies to files without one (CSV,
plain Parquet), whose ``lon``/``lat`` columns then hold x/y in that CRS. VN-2000 (the national
datum) differs from WGS 84 by a 7-parameter Helmert shift (about 220 m in Hà
Nội); pyproj applies the EPSG transformation "VN-2000 to WGS 84" automatically. The VN-2000
projected systems in the EPSG database are listed by :func:`vn2000_crs_codes`:

- 3405 VN-2000 / UTM zone 48N, 3406 VN-2000 / UTM zone 49N;
- 5896 TM-3 zone 481, 5897 TM-3 zone 482, 5898 TM-3 zone 491, 5899 TM-3 107-45;
- 9205 TM-3 103-00, 9206 TM-3 104-00, 9207 TM-3 104-30, 9208 TM-3 104-45, 9209 TM-3 105-30,
  9210 TM-3 105-45, 9211 TM-3 106-00, 9212 TM-3 106-15, 9213 TM-3 106-30, 9214 TM-3 107-00,
  9215 TM-3 107-15, 9216 TM-3 107-30, 9217 TM-3 108-15, 9218 TM-3 108-30 (the provincial
  TM-3 zones named by central meridian);
- 4756 is VN-2000 geographic (lon/lat on the VN-2000 datum).

Writing
-------
:func:`write_incidents` writes the Incident columns by suffix (``.csv``, ``.geojson``/
``.json``, ``.gpkg``, ``.parquet``/``.geoparquet``). The ``synthetic`` column is always
written; a file holding synthetic rows also says so in its metadata where the format has
any: GeoParquet key-value metadata ``geozone:synthetic = "true"``, a GeoPackage layer
identifier and description starting with ``SYNTHETIC``, a GeoJSON ``description`` member.
:func:`read_incidents` reads those markers back and refuses ``synthetic=False`` for a file
that carries them.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pyogrio
import shapely
from numpy.typing import NDArray
from pyproj import CRS, Transformer
from pyproj.database import query_crs_info
from pyproj.transformer import TransformerGroup

from geozone.errors import IncidentFileError
from geozone.incidents.schema import (
    CATEGORIES,
    Incident,
    category_code,
    plausible_utc_us,
    time_range_text,
)
from geozone.text import fold, nfc
from geozone.vntime import VIETNAM_TZ

#: The columns of an incident frame, in the order of the :class:`Incident` fields.
INCIDENT_COLUMNS: tuple[str, ...] = tuple(Incident.model_fields)

#: Vietnam's extent in degrees (west, south, east, north), generous on purpose: the
#: mainland, Côn Đảo, Phú Quốc, Hoàng Sa and Trường Sa all fall inside (so does some of the
#: neighbours' land and sea; the assignment step flags points outside every unit).
VIETNAM_BBOX: tuple[float, float, float, float] = (102.0, 6.0, 118.0, 23.6)

#: Metadata key of GeoParquet files marking synthetic content.
PARQUET_SYNTHETIC_KEY = b"geozone:synthetic"
#: Word opening the GeoPackage layer identifier/description of synthetic content.
SYNTHETIC_MARK = "SYNTHETIC"

Format = Literal["csv", "geojson", "gpkg", "parquet"]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
    ".parquet": "parquet",
    ".geoparquet": "parquet",
}

_LIMITS = {"external_id": 128, "detected_by": 64, "description": 4_000, "subjects": 10_000}

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
}

_REQUIRED = ("external_id", "occurred_at", "lon", "lat", "category")
#: Order of fields in the reject list of a row.
_FIELD_ORDER = {
    name: i for i, name in enumerate(("row", *INCIDENT_COLUMNS, "coordinates", "geometry"))
}

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1", "co"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0", "khong"})
_STATUS = {
    "open": "open",
    "mo": "open",
    "dangxuly": "open",
    "chuagiaiquyet": "open",
    "chualamro": "open",
    "dangdieutra": "open",
    "solved": "solved",
    "closed": "solved",
    "dagiaiquyet": "solved",
    "daxuly": "solved",
    "lamro": "solved",
    "dalamro": "solved",
}
#: A time of day followed by a UTC offset ("21:30+07:00", "14:30:00Z"); a bare date has none.
_OFFSET = re.compile(r"\d:\d{2}(?::\d{2}(?:\.\d+)?)? ?(?:[zZ]|[+-]\d{2}(?::?\d{2})?)$")
_DAY_FIRST = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?$")
_DIGITS = re.compile(r"^[+-]?\d+(?:\.\d+)?$")


# -- public types ----------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Reject:
    """One problem of one input row.

    Attributes
    ----------
    line
        Line number in a CSV file (the header is line 1), feature number (from 1) otherwise.
    external_id
        The row's id as read (NFC), None when it has none.
    field
        The Incident field at fault, or ``coordinates`` / ``geometry``.
    reason
        What is wrong, quoting the value.
    """

    line: int
    external_id: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        who = f" ({self.external_id})" if self.external_id else ""
        return f"line {self.line}{who}: {self.field}: {self.reason}"


@dataclass(frozen=True)
class ReadResult:
    """The valid incidents of a file and the problems of the others.

    Attributes
    ----------
    incidents
        Valid rows, columns exactly :data:`INCIDENT_COLUMNS` (lon/lat in EPSG:4326, times in
        Vietnam time), indexed by the input line or feature number (index name ``line``).
    rejects
        Every problem of every rejected row, by line then field.
    n_rows
        Number of input rows (blank CSV lines are not rows).
    columns
        Which input column gave each field.
    source_crs
        The CRS the coordinates were read in.
    notes
        Remarks about the read (the coordinate transformation used, synthetic markers).
    """

    incidents: pd.DataFrame
    rejects: list[Reject]
    n_rows: int
    columns: dict[str, str] = field(default_factory=dict)
    source_crs: str = "EPSG:4326"
    notes: tuple[str, ...] = ()

    @property
    def rejected_lines(self) -> list[int]:
        """The lines of the rejected rows, sorted, each once."""
        return sorted({reject.line for reject in self.rejects})


# -- CRS helpers -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def vn2000_crs_codes() -> dict[int, str]:
    """Return the EPSG codes of the VN-2000 coordinate systems in pyproj's database.

    Returns
    -------
    dict of int to str
        Code → name, sorted by code: the geographic system (4756), UTM 48N/49N (3405, 3406)
        and the TM-3 zones (5896-5899, 9205-9218), as listed in the module notes.
    """
    found = {
        int(info.code): info.name
        for info in query_crs_info(auth_name="EPSG")
        if info.name.startswith("VN-2000") and not info.deprecated
    }
    return dict(sorted(found.items()))


@lru_cache(maxsize=32)
def _to_wgs84(source: str) -> Transformer | None:
    crs = CRS.from_user_input(source)
    if crs.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return None
    return Transformer.from_crs(crs, 4326, always_xy=True)


@lru_cache(maxsize=32)
def _operation(source: str) -> str:
    """Describe the best operation PROJ knows from ``source`` to WGS 84 (for notes)."""
    group = TransformerGroup(CRS.from_user_input(source), 4326, always_xy=True)
    if not group.transformers:
        return "no operation known"
    best = group.transformers[0]
    accuracy = f", accuracy {best.accuracy:g} m" if best.accuracy and best.accuracy > 0 else ""
    return f"{best.description}{accuracy}"


def _crs_key(crs: Any) -> str:
    try:
        parsed = CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises CRSError and others for bad input
        raise IncidentFileError(f"unknown coordinate reference system {crs!r}: {exc}") from None
    code = parsed.to_epsg()
    return f"EPSG:{code}" if code else parsed.to_wkt()


# -- reading ---------------------------------------------------------------------------------


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
    kind = _SUFFIXES.get(source.suffix.lower())
    if kind is None:
        raise IncidentFileError(
            f"{source}: unknown incident file type {source.suffix!r}; "
            f"expected one of {', '.join(sorted(_SUFFIXES))}"
        )
    if not source.is_file():
        raise IncidentFileError(f"{source}: no such file")
    marked = False
    try:
        if kind == "csv":
            rows: _Rows = _CsvRows(_CsvRecords(source.read_bytes()))
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

    def __init__(self, records: _CsvRecords) -> None:
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
        )

    @property
    def crs_key(self) -> str:
        """The CRS of the coordinates as ``EPSG:<code>`` (or WKT when it has no code)."""
        return _crs_key(self.crs)

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


class _CsvRecords:
    """The records of a CSV file located on its bytes, and the broken ones among them.

    A record ends at a line break outside quotes. A quote counts as structural when it opens
    or closes a field (next to a separator, a line break or the file's ends) or is doubled;
    a stray quote inside an unquoted field (``5"6``) is text, as the parser reads it.
    """

    def __init__(self, data: bytes) -> None:
        self.offset = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        self.data = data
        buf = np.frombuffer(data, dtype=np.uint8)
        head = data[self.offset : self.offset + 65536].split(b"\n", 1)[0]
        self.sep = max(b",;\t", key=head.count)
        breaks = np.flatnonzero(buf == ord("\n"))
        quotes = _structural_quotes(buf, self.sep, self.offset)
        inside = np.searchsorted(quotes, breaks) % 2 == 1
        ends = breaks[~inside]
        starts = np.concatenate(([self.offset], ends + 1))
        stops = np.concatenate((ends, [len(buf)]))
        if starts[-1] >= len(buf):  # the file ends with a line break: no last record
            starts, stops = starts[:-1], stops[:-1]
        self.truncated = len(quotes) % 2 == 1  # the last record ends inside a quoted field
        self.lines = np.searchsorted(breaks, starts) + 1  # the line each record starts on
        content = stops - starts - (buf[np.maximum(stops - 1, 0)] == ord("\r"))
        self.blank = content <= 0
        separators = np.flatnonzero(buf == self.sep)
        separators = separators[np.searchsorted(quotes, separators) % 2 == 0]
        self.fields = np.searchsorted(separators, stops) - np.searchsorted(separators, starts) + 1
        self.starts, self.stops = starts, stops
        self.reasons = self._problems(buf)
        self.broken = ~self.blank & pd.notna(self.reasons)
        self.broken[:1] = False  # the header is checked by header()
        self.sound = ~self.blank & ~self.broken
        self.sound[:1] = False

    def _problems(self, buf: NDArray[np.uint8]) -> NDArray[np.object_]:
        """Why each record is broken (None: sound); one reason per record."""
        n = len(self.starts)
        reasons = np.full(n, None, dtype=object)
        expected = int(self.fields[0]) if n else 0
        for row in np.flatnonzero(~self.blank & (self.fields != expected)):
            found = int(self.fields[row])
            reasons[row] = f"{found} fields where the header has {expected}: " + (
                "the row is cut short" if found < expected else "extra fields"
            )
        if self.truncated and n:
            reasons[-1] = "the file ends inside a quoted field (the last line is truncated)"
        for position in _invalid_utf8(self.data):
            hit = int(np.searchsorted(self.starts, position, side="right")) - 1
            if reasons[hit] is None or "UTF-8" not in reasons[hit]:
                column = int(position) - int(self.starts[hit]) + 1
                reasons[hit] = (
                    f"invalid UTF-8: byte 0x{buf[position]:02X} at byte {column} of the line; "
                    "save the file as UTF-8"
                )
        return reasons

    def header(self) -> list[str]:
        """Return the column names, made unique as pandas does (``a``, ``a.1``)."""
        if not len(self.starts):
            raise IncidentFileError("the file is empty")
        if self.reasons[0] is not None and "UTF-8" in str(self.reasons[0]):
            raise IncidentFileError(f"line 1 (the header): {self.reasons[0]}")
        text = self.data[self.starts[0] : self.stops[0]].decode("utf-8").rstrip("\r")
        names = next(csv.reader([text], delimiter=chr(self.sep)), [])
        seen: dict[str, int] = {}
        unique = []
        for name in names:
            count = seen.get(name, 0)
            seen[name] = count + 1
            unique.append(name if not count else f"{name}.{count}")
        return unique

    def parse(self, names: list[str], chosen: NDArray[np.intp]) -> pd.DataFrame:
        """Parse the chosen sound records as text columns named ``names`` (pyarrow)."""
        body = self._join(np.concatenate(([0], chosen)))
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=pa_csv.ParseOptions(
                delimiter=chr(self.sep), newlines_in_values=True, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        if table.num_rows != len(chosen):
            raise IncidentFileError(
                f"{len(chosen)} sound rows were read as {table.num_rows}; check the file's quotes"
            )
        frame: pd.DataFrame = table.to_pandas()
        return frame

    def _join(self, chosen: NDArray[np.intp]) -> bytes:
        """Return the bytes of the chosen records (ascending), one slice per run of them."""
        if len(chosen) == len(self.starts) and not self.offset:
            return self.data
        breaks = np.flatnonzero(np.diff(chosen) != 1) + 1
        pieces = []
        for run in np.split(chosen, breaks):
            if not len(run):
                continue
            stop = int(self.stops[run[-1]])
            end = stop + 1 if stop < len(self.data) else stop  # with its line break
            piece = self.data[int(self.starts[run[0]]) : end]
            pieces.append(piece if piece.endswith(b"\n") else piece + b"\n")
        return b"".join(pieces)

    def rejects(self, chosen: NDArray[np.intp]) -> list[Reject]:
        """One reject per chosen broken record."""
        return [Reject(int(self.lines[row]), None, "row", str(self.reasons[row])) for row in chosen]


def _structural_quotes(buf: NDArray[np.uint8], sep: int, offset: int) -> NDArray[np.intp]:
    """Positions of the quotes that open, close or double inside a quoted field."""
    quotes = np.flatnonzero(buf == ord('"'))
    if not len(quotes):
        return quotes
    edge = (ord("\n"), ord("\r"), sep, ord('"'))
    before = buf[np.maximum(quotes - 1, 0)]
    after = buf[np.minimum(quotes + 1, len(buf) - 1)]
    structural = (
        (quotes == offset) | (quotes == len(buf) - 1) | np.isin(before, edge) | np.isin(after, edge)
    )
    found: NDArray[np.intp] = quotes[structural]
    return found


def _invalid_utf8(data: bytes) -> list[int]:
    """Byte positions where ``data`` is not UTF-8 (one per bad sequence)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return []
    found: list[int] = []

    def note(error: UnicodeError) -> tuple[str, int]:
        assert isinstance(error, UnicodeDecodeError)
        found.append(error.start)
        return "\ufffd", error.end

    codecs.register_error("geozone-note", note)  # the latest registration wins
    data.decode("utf-8", errors="geozone-note")
    return found


def _read_parquet(path: Path) -> tuple[pd.DataFrame, str | None, bool]:
    metadata = pq.read_schema(path).metadata or {}
    marked = metadata.get(PARQUET_SYNTHETIC_KEY, b"").lower() == b"true"
    if b"geo" in metadata:
        import geopandas as gpd

        frame = gpd.read_parquet(path)
        geometry = frame.geometry.name
        file_crs = _crs_key(frame.crs) if frame.crs is not None else "EPSG:4326"
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
    file_crs = _crs_key(frame.crs) if frame.crs is not None else None
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
    required = [n for n in _REQUIRED if not (has_geometry and n in ("lon", "lat"))]
    absent = [name for name in required if name not in columns]
    if absent:
        raise IncidentFileError(
            f"{source}: no column for {', '.join(absent)}; the file has "
            f"{', '.join(available) or 'no columns'}. Name them with a ColumnMapping "
            f"(e.g. mapping={{'{absent[0]}': '<column>'}})"
        )
    return {name: columns[name] for name in INCIDENT_COLUMNS if name in columns}


# -- vectorised validation -------------------------------------------------------------------


class _Problems:
    """Problems found so far: (row positions, field, reasons) per check."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.bad = np.zeros(n, dtype=bool)
        self.found: list[tuple[NDArray[np.intp], str, list[str]]] = []

    def add(
        self,
        name: str,
        mask: NDArray[np.bool_],
        reason: Callable[[NDArray[np.intp]], Sequence[str]] | Sequence[str] | str,
    ) -> None:
        """Record ``reason`` (one text, one per masked row, or a function of the rows)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        self.bad[rows] = True
        if isinstance(reason, str):
            reasons = [reason] * len(rows)
        elif callable(reason):
            reasons = list(reason(rows))
        else:
            reasons = list(reason)
        self.found.append((rows, name, reasons))

    def rejects(self, lines: NDArray[np.int64], ids: NDArray[np.object_]) -> list[Reject]:
        items = [
            (int(row), _FIELD_ORDER.get(name, 99), name, text)
            for rows, name, reasons in self.found
            for row, text in zip(rows, reasons, strict=True)
        ]
        items.sort(key=lambda item: (item[0], item[1]))
        return [
            Reject(int(lines[row]), _printable_id(ids[row]), name, text)
            for row, _, name, text in items
        ]


def _printable_id(value: str | None) -> str | None:
    """Return a reject's id as it can be stored and shown (a NUL spelled out, as JSONB needs)."""
    return value.replace("\x00", "\\x00") if value else None


def _values(series: pd.Series) -> NDArray[np.object_]:
    return series.to_numpy(dtype=object)


def _cell_text(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # ids and codes read as numbers lose their ".0"
    return str(value)


def _strings(series: pd.Series) -> pd.Series:
    """Cells as stripped text (pandas ``str`` dtype); missing and blank cells are NA."""
    if isinstance(series.dtype, pd.StringDtype):
        text = series
    else:
        values = _values(series)
        text = pd.Series(
            [None if _is_missing(v) else _cell_text(v) for v in values],
            index=series.index,
            dtype="str",
        )
    text = text.str.strip()
    return text.where(text != "")


def _matches(text: pd.Series, pattern: str) -> NDArray[np.bool_]:
    """Tell which cells match ``pattern`` (RE2 syntax via pyarrow; NA cells never match).

    pandas sends some patterns (a trailing dollar sign, for one) to Python's ``re`` one cell at a
    time; pyarrow's compute kernel runs them all in C++, ten times faster.
    """
    found = pc.match_substring_regex(pa.array(text.array), pattern).fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


#: Text that NFC with collapsed spaces leaves unchanged has none of these (after strip).
_NEEDS_NFC = r"[^\x20-\x7e]|  "


def _text(series: pd.Series, normalise: bool = True) -> NDArray[np.object_]:
    """Cells as text, None for blanks; NFC with spaces collapsed when ``normalise``."""
    text = _strings(series)
    out = np.array(text.astype(object), dtype=object)
    present = np.array(text.notna(), dtype=bool)
    out[~present] = None
    if normalise:
        needs = present & _matches(text, _NEEDS_NFC)
        out[needs] = [nfc(v) for v in out[needs]]
    return out


def _by_unique(text: pd.Series, func: Callable[[str], Any]) -> NDArray[np.object_]:
    """Apply ``func`` once per distinct non-missing value; None where the cell is missing."""
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    mapped = np.array([func(str(u)) for u in uniques] + [None], dtype=object)
    picked: NDArray[np.object_] = mapped[np.where(codes < 0, len(uniques), codes)]
    return picked


def _quote(values: NDArray[np.object_] | pd.Series, rows: NDArray[np.intp]) -> list[str]:
    picked = np.asarray(values, dtype=object)[rows]
    return [repr(v) if isinstance(v, str) else repr(_plain(v)) for v in picked]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _numbers(series: pd.Series) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse numbers: (values, missing, not numeric). Decimal commas are accepted."""
    nothing = np.zeros(len(series), dtype=bool)
    if pd.api.types.is_bool_dtype(series.dtype):
        return np.asarray(series.astype(float), dtype=np.float64), nothing, nothing
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = np.asarray(pd.to_numeric(series, errors="coerce"), dtype=np.float64)
        return values, np.array(series.isna(), dtype=bool), nothing
    text = _strings(series)
    missing = np.array(text.isna(), dtype=bool)
    comma = _matches(text, r"^[+-]?\d+,\d+$")
    if comma.any():
        text = text.where(~comma, text.str.replace(",", ".", regex=False))
    values = np.array(pd.to_numeric(text, errors="coerce"), dtype=np.float64)
    spelled_nan = np.array(text.str.lower().isin(["nan", "+nan", "-nan"]), dtype=bool)
    bad = ~missing & np.isnan(values) & ~spelled_nan
    return values, missing, bad


def _bool_key(value: Any) -> str | None:
    value = _plain(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return fold(_cell_text(value))


def _booleans(
    series: pd.Series, name: str, problems: _Problems
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse booleans; return (values, missing). Blank cells are missing (false by default)."""
    n = len(series)
    if pd.api.types.is_bool_dtype(series.dtype) and not series.isna().any():
        return series.to_numpy(bool), np.zeros(n, bool)
    if pd.api.types.is_bool_dtype(series.dtype) or series.dtype == object:
        values = _values(series)
        keys = np.array([None if _is_missing(v) else _bool_key(v) for v in values], dtype=object)
        missing = np.array([k is None or k == "" for k in keys], dtype=bool)
    else:
        text = _strings(series)
        keys = _by_unique(text, _bool_key)
        missing = np.array(text.isna(), dtype=bool)
    is_true = np.isin(keys, list(_TRUE))
    is_false = np.isin(keys, list(_FALSE))
    bad = ~missing & ~is_true & ~is_false
    problems.add(
        name,
        bad,
        lambda rows: [f"not a yes/no value: {q}" for q in _quote(_values(series), rows)],
    )
    return is_true, missing


def _datetimes(
    series: pd.Series,
) -> tuple[pd.DatetimeIndex, NDArray[np.bool_], NDArray[np.bool_]]:
    """Parse date-times to Vietnam time: (values, missing, unreadable)."""
    n = len(series)
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        index = pd.DatetimeIndex(series).tz_convert(VIETNAM_TZ).as_unit("us")
        missing = np.array(series.isna(), dtype=bool)
        return index, missing, np.zeros(n, bool)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        index = pd.DatetimeIndex(series).tz_localize(VIETNAM_TZ).as_unit("us")
        missing = np.array(series.isna(), dtype=bool)
        return index, missing, np.zeros(n, bool)
    text = _strings(series)
    missing = np.array(text.isna(), dtype=bool)
    present = ~missing
    utc_us = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)  # NaT

    has_offset = present & _matches(text, _OFFSET.pattern)
    day_first = present & _matches(text, _DAY_FIRST.pattern)
    digits = present & _matches(text, _DIGITS.pattern)
    naive_iso = present & ~has_offset & ~day_first & ~digits
    if has_offset.any():
        parsed = pd.to_datetime(text[has_offset], format="ISO8601", utc=True, errors="coerce")
        utc_us[has_offset] = _us(parsed)
    if naive_iso.any():
        parsed = pd.to_datetime(text[naive_iso], format="ISO8601", errors="coerce")
        utc_us[naive_iso] = _us(_localise(parsed))
    if day_first.any():
        parsed = pd.to_datetime(text[day_first], dayfirst=True, format="mixed", errors="coerce")
        utc_us[day_first] = _us(_localise(parsed))
    index = pd.DatetimeIndex(utc_us.view("datetime64[us]")).tz_localize("UTC")
    index = index.tz_convert(VIETNAM_TZ).as_unit("us")
    unreadable = present & np.asarray(index.isna(), dtype=bool)
    return index, missing, unreadable


def _check_time_range(
    name: str, times: pd.DatetimeIndex, unread: NDArray[np.bool_], problems: _Problems
) -> None:
    """Reject read times outside the plausible range (a "01/01/0001" placeholder, a typo)."""
    outside = ~unread & ~plausible_utc_us(times.asi8)
    problems.add(
        name,
        outside,
        lambda rows: [
            f"{_iso_text(times.asi8[r])} is outside the plausible range ({time_range_text()})"
            for r in rows
        ],
    )


def _iso_text(utc_us: int) -> str:
    """Write an instant in Vietnam time as ISO text, also in years datetime cannot hold."""
    local = np.datetime64(int(utc_us), "us") + np.timedelta64(7, "h")
    return f"{np.datetime_as_string(local, unit='s')}+07:00"


def _has_nul(values: NDArray[np.object_]) -> NDArray[np.bool_]:
    """Tell which text cells hold a NUL character (None cells do not)."""
    found = pc.match_substring(pa.array(values, type=pa.string()), "\x00").fill_null(False)
    return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)


def _localise(parsed: pd.Series) -> pd.Series:
    values = pd.to_datetime(parsed, errors="coerce")
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # mixed input parsed aware
        return values.dt.tz_convert("UTC")
    return values.dt.tz_localize(VIETNAM_TZ, nonexistent="NaT", ambiguous="NaT").dt.tz_convert(
        "UTC"
    )


def _us(values: pd.Series) -> NDArray[np.int64]:
    index = pd.DatetimeIndex(values)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("us").asi8


def _geometry_coordinates(
    geoms: NDArray[np.object_], problems: _Problems
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    kinds = shapely.get_type_id(geoms)
    not_point = ~missing & (kinds != shapely.GeometryType.POINT)
    problems.add("geometry", missing, "no geometry")
    problems.add(
        "geometry",
        not_point,
        lambda rows: [f"not a point ({g.geom_type})" for g in geoms[rows]],
    )
    ok = ~missing & ~not_point
    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    x[ok] = shapely.get_x(geoms[ok])
    y[ok] = shapely.get_y(geoms[ok])
    return x, y


def validate_incidents(
    frame: pd.DataFrame,
    *,
    crs: str | int = 4326,
    lines: Sequence[int] | NDArray[np.int64] | None = None,
    synthetic: bool | None = None,
    source: str = "<frame>",
) -> ReadResult:
    """Validate rows whose columns are already named after the Incident fields.

    This is the vectorised path behind :func:`read_incidents`, usable on its own (records
    posted to an API, a frame built in memory). It enforces the rules of
    :class:`~geozone.incidents.schema.Incident` (see the module notes) plus the Vietnam extent and
    unique ids.

    Parameters
    ----------
    frame
        Columns named after Incident fields (``external_id``, ``occurred_at``, ``category``
        and either ``lon``/``lat`` or a ``geometry`` column of points are required); cells
        may be text or typed values.
    crs
        CRS of ``lon``/``lat`` (or of the geometry).
    lines
        Line or feature number of each row (default 1, 2, ...).
    synthetic
        See :func:`read_incidents`.
    source
        Named in error messages.

    Returns
    -------
    ReadResult
        Valid rows and rejects.

    Raises
    ------
    IncidentFileError
        When a required column is missing, the CRS is unknown, or ``synthetic=False`` meets
        rows marked synthetic.
    """
    n = len(frame)
    line_numbers = (
        np.arange(1, n + 1, dtype=np.int64) if lines is None else np.asarray(lines, np.int64)
    )
    required = [c for c in ("external_id", "occurred_at", "category") if c not in frame.columns]
    if "geometry" not in frame.columns:
        required += [c for c in ("lon", "lat") if c not in frame.columns]
    if required:
        raise IncidentFileError(f"{source}: no column for {', '.join(required)}")
    crs_key = _crs_key(crs)
    problems = _Problems(n)
    notes: list[str] = []
    absent = pd.Series([None] * n, index=frame.index, dtype=object)

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else absent

    # external_id
    ids = _text(frame["external_id"])
    problems.add("external_id", np.array([v is None for v in ids], bool), "missing id")
    long_ids = np.array([v is not None and len(v) > _LIMITS["external_id"] for v in ids], bool)
    problems.add(
        "external_id",
        long_ids,
        lambda rows: [f"longer than 128 characters ({len(ids[r])})" for r in rows],
    )
    id_series = pd.Series(ids, dtype=object)
    present = id_series.notna().to_numpy(bool)
    duplicated = present & id_series.duplicated(keep="first").to_numpy(bool)
    if duplicated.any():
        by_id = pd.Series(line_numbers).groupby(id_series.to_numpy(), dropna=False)
        firsts = by_id.transform("first").to_numpy(dtype=np.int64)
        problems.add(
            "external_id",
            duplicated,
            lambda rows: [f"duplicate id {ids[r]!r} (first on line {firsts[r]})" for r in rows],
        )

    # occurred_at, detected_at
    occurred, occ_missing, occ_bad = _datetimes(frame["occurred_at"])
    problems.add("occurred_at", occ_missing, "missing date")
    problems.add(
        "occurred_at",
        occ_bad,
        lambda rows: [f"not a date: {q}" for q in _quote(_values(frame["occurred_at"]), rows)],
    )
    detected, det_missing, det_bad = _datetimes(column("detected_at"))
    problems.add(
        "detected_at",
        det_bad,
        lambda rows: [f"not a date: {q}" for q in _quote(_values(column("detected_at")), rows)],
    )
    for name, times, unread in (
        ("occurred_at", occurred, occ_missing | occ_bad),
        ("detected_at", detected, det_missing | det_bad),
    ):
        _check_time_range(name, times, unread, problems)
    both = ~np.asarray(occurred.isna()) & ~np.asarray(detected.isna())
    early = both & (detected.asi8 < occurred.asi8)
    problems.add(
        "detected_at",
        early,
        lambda rows: [
            f"detected_at {detected[r].isoformat()} is before occurred_at {occurred[r].isoformat()}"
            for r in rows
        ],
    )

    # coordinates
    lon, lat = _coordinates(frame, crs_key, problems, notes)

    # category
    category = _categories(frame["category"], problems)

    # NUL characters (PostgreSQL cannot store them; no export means them)
    for name, values in (("external_id", ids), ("category", _text(frame["category"], False))):
        problems.add(name, _has_nul(values), "contains a NUL character (byte 0)")

    # detected_by
    detected_by = _text(column("detected_by"))
    too_long = np.array([v is not None and len(v) > _LIMITS["detected_by"] for v in detected_by])
    problems.add("detected_by", _has_nul(detected_by), "contains a NUL character (byte 0)")
    problems.add(
        "detected_by",
        too_long,
        lambda rows: [f"longer than 64 characters: {detected_by[r]!r}" for r in rows],
    )

    # status
    status_raw = _text(column("status"), normalise=False)
    status = _by_unique(_strings(column("status")), lambda v: _STATUS.get(fold(v), ""))
    status[pd.isna(status_raw)] = "open"
    problems.add(
        "status",
        status == "",
        lambda rows: [f"unknown status {status_raw[r]!r}; expected open or solved" for r in rows],
    )

    # subjects
    subjects, subj_missing, subj_bad = _numbers(column("subjects"))
    problems.add(
        "subjects",
        subj_bad,
        lambda rows: [f"not a number: {q}" for q in _quote(_values(column("subjects")), rows)],
    )
    with np.errstate(invalid="ignore"):
        not_whole = ~subj_missing & ~subj_bad & (np.isnan(subjects) | (subjects % 1 != 0))
        out_of_range = (
            ~subj_missing
            & ~subj_bad
            & ~not_whole
            & ((subjects < 0) | (subjects > _LIMITS["subjects"]))
        )
    problems.add(
        "subjects",
        not_whole,
        lambda rows: [
            f"not a whole number: {q}" for q in _quote(_values(column("subjects")), rows)
        ],
    )
    problems.add(
        "subjects",
        out_of_range,
        lambda rows: [f"{subjects[r]:g} is outside 0-10000" for r in rows],
    )

    # booleans
    jointly, _ = _booleans(column("jointly_handled"), "jointly_handled", problems)
    marked, marked_missing = _booleans(column("synthetic"), "synthetic", problems)
    if synthetic is False and (marked & ~marked_missing).any():
        raise IncidentFileError(
            f"{source}: {int(marked.sum())} row(s) are marked synthetic; refusing synthetic=False"
        )
    flags = np.ones(n, bool) if synthetic else marked

    # description
    description = _text(column("description"))
    problems.add("description", _has_nul(description), "contains a NUL character (byte 0)")
    long_text = np.array([v is not None and len(v) > _LIMITS["description"] for v in description])
    problems.add(
        "description",
        long_text,
        lambda rows: [f"longer than 4000 characters ({len(description[r])})" for r in rows],
    )

    keep = ~problems.bad
    subjects_out = np.where(subj_missing, 0, np.nan_to_num(subjects)).astype(np.int64)
    incidents = incident_frame(
        {
            "external_id": ids[keep],
            "occurred_at": occurred[keep],
            "detected_at": detected[keep],
            "lon": lon[keep],
            "lat": lat[keep],
            "category": category[keep],
            "detected_by": detected_by[keep],
            "status": status[keep],
            "subjects": subjects_out[keep],
            "jointly_handled": jointly[keep],
            "description": np.array([v or "" for v in description[keep]], dtype=object),
            "synthetic": flags[keep],
        },
        index=pd.Index(line_numbers[keep], name="line"),
    )
    return ReadResult(
        incidents=incidents,
        rejects=problems.rejects(line_numbers, ids),
        n_rows=n,
        source_crs=crs_key,
        notes=tuple(notes),
    )


def _category_or_blank(text: str) -> str:
    try:
        return category_code(text)
    except ValueError:
        return ""


def _categories(series: pd.Series, problems: _Problems) -> NDArray[np.object_]:
    out = _by_unique(_strings(series), _category_or_blank)
    problems.add("category", np.array([v is None for v in out], bool), "missing category")
    known = ", ".join(CATEGORIES)
    shown = _values(series)
    problems.add(
        "category",
        np.array([v == "" for v in out], bool),
        lambda rows: [f"unknown category {_cell_text(shown[r])!r}; known: {known}" for r in rows],
    )
    return out


def _coordinates(
    frame: pd.DataFrame, crs_key: str, problems: _Problems, notes: list[str]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Read, range-check, transform and extent-check the points; return lon/lat (NaN if bad)."""
    n = len(frame)
    source_crs = CRS.from_user_input(crs_key)
    geographic = source_crs.is_geographic
    if "lon" in frame.columns and "lat" in frame.columns:
        x, x_missing, x_bad = _numbers(frame["lon"])
        y, y_missing, y_bad = _numbers(frame["lat"])
        axis = ("longitude", "latitude") if geographic else ("x", "y")
        for name, label, missing, bad, source in (
            ("lon", axis[0], x_missing, x_bad, frame["lon"]),
            ("lat", axis[1], y_missing, y_bad, frame["lat"]),
        ):
            problems.add(name, missing, f"missing {label}")
            quoted = _quote(_values(source), np.flatnonzero(bad))
            problems.add(name, bad, [f"{label} is not a number: {q}" for q in quoted])
            values = x if name == "lon" else y
            nonfinite = ~missing & ~bad & ~np.isfinite(values)
            shown = values[nonfinite]
            problems.add(name, nonfinite, [f"{label} {v} is not finite" for v in shown])
        usable = np.isfinite(x) & np.isfinite(y) & ~x_bad & ~y_bad
    else:
        x, y = _geometry_coordinates(frame["geometry"].to_numpy(dtype=object), problems)
        usable = np.isfinite(x) & np.isfinite(y)
    if geographic:
        west, south, east, north = VIETNAM_BBOX
        swapped = (y >= west) & (y <= east) & (x >= south) & (x <= north)
        for name, values, limit in (("lon", x, 180.0), ("lat", y, 90.0)):
            label = "longitude" if name == "lon" else "latitude"
            outside = np.isfinite(values) & (np.abs(values) > limit)
            problems.add(
                name,
                outside,
                [
                    f"{label} {values[r]:g} is outside [-{limit:g}, {limit:g}]"
                    + (" (longitude and latitude look swapped)" if swapped[r] else "")
                    for r in np.flatnonzero(outside)
                ],
            )
            usable &= ~outside
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    transformer = _to_wgs84(crs_key)
    if transformer is None:
        lon[usable], lat[usable] = x[usable], y[usable]
    else:
        if usable.any():
            tx, ty = transformer.transform(x[usable], y[usable], errcheck=False)
            lon[usable], lat[usable] = tx, ty
        notes.append(f"coordinates converted from {crs_key}: {_operation(crs_key)}")
        failed = usable & ~(np.isfinite(lon) & np.isfinite(lat))
        problems.add(
            "coordinates",
            failed,
            lambda rows: [f"({x[r]:g}, {y[r]:g}) cannot be converted from {crs_key}" for r in rows],
        )
        usable &= ~failed
    west, south, east, north = VIETNAM_BBOX
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    outside = usable & ~inside
    problems.add(
        "coordinates",
        outside,
        lambda rows: [
            f"outside Vietnam: lon {lon[r]:.6f}, lat {lat[r]:.6f}"
            + ("" if transformer is None else f" (from {x[r]:.2f}, {y[r]:.2f} in {crs_key})")
            for r in rows
        ],
    )
    return lon, lat


# -- frames ----------------------------------------------------------------------------------


def incident_frame(columns: Mapping[str, Any], index: pd.Index | None = None) -> pd.DataFrame:
    """Assemble an incident frame with the canonical column order and dtypes.

    Parameters
    ----------
    columns
        One array per Incident field (all required). Times may be naive (Vietnam time) or
        aware; text columns use None for missing values.
    index
        Optional index (the reader uses the line numbers).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INCIDENT_COLUMNS`; ``occurred_at``/``detected_at`` are
        ``datetime64[us, ICT]``; ``lon``/``lat`` float64; ``subjects`` int64;
        ``jointly_handled``/``synthetic`` bool; ``detected_by`` object (None when unknown);
        the other text columns str.
    """
    missing = [name for name in INCIDENT_COLUMNS if name not in columns]
    if missing:
        raise IncidentFileError(f"incident frame lacks column(s) {', '.join(missing)}")
    data = {
        "external_id": pd.array(np.asarray(columns["external_id"], dtype=object), dtype="str"),
        "occurred_at": _as_vietnam_time(columns["occurred_at"]),
        "detected_at": _as_vietnam_time(columns["detected_at"]),
        "lon": np.asarray(columns["lon"], dtype=np.float64),
        "lat": np.asarray(columns["lat"], dtype=np.float64),
        "category": pd.array(np.asarray(columns["category"], dtype=object), dtype="str"),
        "detected_by": np.asarray(columns["detected_by"], dtype=object),
        "status": pd.array(np.asarray(columns["status"], dtype=object), dtype="str"),
        "subjects": np.asarray(columns["subjects"], dtype=np.int64),
        "jointly_handled": np.asarray(columns["jointly_handled"], dtype=bool),
        "description": pd.array(np.asarray(columns["description"], dtype=object), dtype="str"),
        "synthetic": np.asarray(columns["synthetic"], dtype=bool),
    }
    frame = pd.DataFrame(data, index=index)
    frame["detected_by"] = (
        frame["detected_by"].astype(object).where(frame["detected_by"].notna(), None)
    )
    return frame


def _as_vietnam_time(values: Any) -> pd.DatetimeIndex:
    index = pd.DatetimeIndex(values)
    index = index.tz_localize(VIETNAM_TZ) if index.tz is None else index.tz_convert(VIETNAM_TZ)
    return index.as_unit("us")


def iter_incidents(frame: pd.DataFrame) -> Iterator[Incident]:
    """Yield an :class:`Incident` per row (validating each; for small frames and checks)."""
    for record in frame[list(INCIDENT_COLUMNS)].to_dict("records"):
        yield Incident.model_validate(
            {key: (None if _is_missing(value) else _python(value)) for key, value in record.items()}
        )


def _is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def _python(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return _plain(value)


# -- writing ---------------------------------------------------------------------------------


def write_incidents(frame: pd.DataFrame, path: str | Path, *, layer: str | None = None) -> Path:
    """Write incidents to CSV, GeoJSON, GeoPackage or GeoParquet, chosen by the suffix.

    Only the Incident columns are written, in their order; lon/lat become point geometries
    (EPSG:4326) in the geographic formats and stay columns in CSV. Times are written with
    their UTC offset (CSV, GeoJSON, Parquet) or in UTC (GeoPackage, as its standard asks).
    The CSV's first line is the header (no comment lines). Synthetic rows are marked by the
    ``synthetic`` column and, where the format allows, by file metadata (see the module
    notes).

    Parameters
    ----------
    frame
        Incident rows, e.g. ``ReadResult.incidents`` or a synthetic frame; it must have every
        Incident column, ``synthetic`` included.
    path
        Target file; its suffix chooses the format. An existing file is replaced.
    layer
        Layer name for GeoPackage/GeoJSON (default ``incidents``, or ``synthetic_incidents``
        when any row is synthetic).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    IncidentFileError
        For an unknown suffix or a frame without the Incident columns.
    """
    target = Path(path)
    kind = _SUFFIXES.get(target.suffix.lower())
    if kind is None:
        raise IncidentFileError(
            f"{target}: unknown incident file type {target.suffix!r}; "
            f"expected one of {', '.join(sorted(_SUFFIXES))}"
        )
    missing = [name for name in INCIDENT_COLUMNS if name not in frame.columns]
    if missing:
        hint = " (say whether the rows are synthetic)" if "synthetic" in missing else ""
        raise IncidentFileError(
            f"cannot write {target}: the frame lacks column(s) {', '.join(missing)}{hint}"
        )
    data = frame[list(INCIDENT_COLUMNS)].reset_index(drop=True)
    data["synthetic"] = data["synthetic"].astype(bool)
    n_synthetic = int(data["synthetic"].sum())
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.unlink()
    if kind == "csv":
        _write_csv(data, target)
    elif kind == "parquet":
        _write_geoparquet(data, target, n_synthetic)
    else:
        _write_ogr(data, target, kind, layer, n_synthetic)
    return target


def _iso(values: pd.Series) -> NDArray[np.str_]:
    """ISO 8601 text with the +07:00 offset (vectorised; pandas' strftime is 50x slower)."""
    index = _as_vietnam_time(values)
    local = index.tz_localize(None).to_numpy("datetime64[us]")
    present = ~np.isnat(local)
    fractional = bool((local[present].astype(np.int64) % 1_000_000 != 0).any())
    text = np.datetime_as_string(local, unit="us" if fractional else "s")
    offset = VIETNAM_TZ.utcoffset(None)
    hours, rest = divmod(int(offset.total_seconds()), 3600)
    suffix = f"{'+' if hours >= 0 else '-'}{abs(hours):02d}:{rest // 60:02d}"
    out: NDArray[np.str_] = np.where(present, np.char.add(text, suffix), "")
    return out


def _write_csv(data: pd.DataFrame, target: Path) -> None:
    """Write with pyarrow's CSV writer (C++; pandas' to_csv is several times slower)."""
    columns: dict[str, pa.Array] = {}
    for name in INCIDENT_COLUMNS:
        if name in ("occurred_at", "detected_at"):
            columns[name] = pa.array(_iso(data[name]), type=pa.string())
        elif name in ("jointly_handled", "synthetic"):
            flags = data[name].to_numpy(bool)
            columns[name] = pa.array(np.where(flags, "true", "false"), type=pa.string())
        elif name in ("lon", "lat", "subjects"):
            columns[name] = pa.array(data[name].to_numpy())
        else:
            columns[name] = pa.array(data[name].astype("str").array).cast(pa.string())
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    with target.open("wb") as handle:  # header unquoted on the first line, then the rows
        handle.write((",".join(INCIDENT_COLUMNS) + "\n").encode())
        pa_csv.write_csv(pa.table(columns), handle, write_options=options)


def _points(data: pd.DataFrame) -> NDArray[np.object_]:
    return shapely.points(data["lon"].to_numpy(float), data["lat"].to_numpy(float))  # type: ignore[no-any-return]


def _synthetic_text(n_synthetic: int, n: int) -> tuple[str, str]:
    identifier = f"{SYNTHETIC_MARK} incidents (geozone)"
    description = (
        f"{SYNTHETIC_MARK}: {n_synthetic} of {n} incidents are synthetic, generated by "
        "geozone.incidents.synthetic for demonstration, testing and benchmarks; they are not real "
        "police records."
    )
    return identifier, description


def _write_ogr(
    data: pd.DataFrame, target: Path, kind: Format, layer: str | None, n_synthetic: int
) -> None:
    import geopandas as gpd

    out = data.drop(columns=["lon", "lat"])
    out["detected_by"] = out["detected_by"].astype("str")
    if kind == "gpkg":  # the GeoPackage standard stores date-times in UTC
        out["occurred_at"] = out["occurred_at"].dt.tz_convert("UTC")
        out["detected_at"] = out["detected_at"].dt.tz_convert("UTC")
    gdf = gpd.GeoDataFrame(out, geometry=_points(data), crs=4326)
    name = layer or ("synthetic_incidents" if n_synthetic else "incidents")
    options: dict[str, str] = {}
    if n_synthetic:
        identifier, description = _synthetic_text(n_synthetic, len(data))
        options = {"DESCRIPTION": description}
        if kind == "gpkg":
            options["IDENTIFIER"] = identifier
    driver = "GPKG" if kind == "gpkg" else "GeoJSON"
    pyogrio.write_dataframe(gdf, target, layer=name, driver=driver, layer_options=options)


def _write_geoparquet(data: pd.DataFrame, target: Path, n_synthetic: int) -> None:
    """Write GeoParquet 1.0 by hand: WKB points, CRS84 (the default CRS, so none is stored)."""
    out = data.drop(columns=["lon", "lat"])
    out["detected_by"] = out["detected_by"].astype(object)
    table = pa.Table.from_pandas(out, preserve_index=False)
    points = _points(data)
    table = table.append_column("geometry", pa.array(shapely.to_wkb(points), type=pa.binary()))
    finite = data[["lon", "lat"]].dropna()
    bbox = (
        [
            float(finite["lon"].min()),
            float(finite["lat"].min()),
            float(finite["lon"].max()),
            float(finite["lat"].max()),
        ]
        if len(finite)
        else []
    )
    geo = {
        "version": "1.0.0",
        "primary_column": "geometry",
        "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
    }
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(geo).encode()
    metadata[PARQUET_SYNTHETIC_KEY] = b"true" if n_synthetic else b"false"
    if n_synthetic:
        metadata[b"geozone:description"] = _synthetic_text(n_synthetic, len(data))[1].encode()
    pq.write_table(table.replace_schema_metadata(metadata), target)
