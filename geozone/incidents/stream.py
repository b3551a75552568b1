"""Assignment of incident files of any size, piece by piece, with flat memory.

``geozone incidents assign`` reads a file in pieces of ``chunk_rows`` rows
(:meth:`~geozone.incidents.io.IncidentSource.pieces`: CSV in blocks of records, Parquet in
record batches, GeoPackage in runs of features), validates each piece, judges it
(:func:`geozone.assignment.assign`) and appends it to the output (:class:`AssignedWriter`:
Parquet row groups, one GeoPackage transaction per piece, CSV rows), so that memory holds a
piece and its judgement, never the file. The answer is the one a whole read gives, row for
row: an incident is judged alone, and an id met in an earlier piece is rejected as a
duplicate naming its first line, as in one read (tests/incidents/test_stream.py holds the
two to each other at chunk size 1, at a boundary splitting a duplicate id, with rejects in
several pieces).

The assigned table has a fixed schema (:func:`assigned_schema`) whatever a piece holds, so
that pieces, and the parts of a dataset written by the distributed engine
(:mod:`geozone.incidents.distributed`), append to one table.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyogrio
from pyproj import CRS

from geozone.assignment import (
    CLUSTER_COLUMNS,
    UNIT_COLUMNS,
    assign,
    cluster_columns,
    locate_incidents,
)
from geozone.context import Context, release_memory
from geozone.errors import IncidentFileError
from geozone.incidents.fields import INCIDENT_FIELDS
from geozone.incidents.io import ReadResult, Reject, open_incidents
from geozone.parallel import Behind, prefetched, threads_for
from geozone.vntime import local_dates

#: Rows per piece by default. Some 4-5 KB a row is in flight (the piece judged, the next one
#: read, the last one written): at 40,000 the one-shot run of 1 M rows peaks at ~1,460 MB
#: with the country's index, 50,000 gave 1,500-1,520 MB, too near the 1,536 MB bound
#: (benchmarks/bench_oneshot.py; 40,000 costs ~0.2 s more CPU per 1 M rows).
DEFAULT_CHUNK_ROWS = 40_000
#: Rows of a piece converted to Arrow and written at a time (a Parquet row group).
WRITE_ROWS = 25_000
#: Columns whose values are nearly all distinct: written plainly. The Parquet writer would
#: otherwise build a dictionary of each row group's values before giving it up (the
#: sentences alone: about 400 bytes a row), ~20 % of the writing CPU.
_PLAIN_COLUMNS = frozenset(
    {
        "external_id",
        "occurred_at",
        "detected_at",
        "lon",
        "lat",
        "description",
        "distance_m",
        "explanation_vi",
        "explanation_en",
        "geometry",
    }
)
#: Pieces between two hand-backs of the freed heap and Arrow's pool to the system (the
#: boundary index pages go after every piece, see ``release_memory``): each hand-back costs the
#: next pieces page faults for the memory they take again (slow on a virtual machine), and
#: between two the memory a piece freed is reused by the next.
RELEASE_PIECES = 10
#: A streamed piece of at least this many rows is judged on the settings' threads (the
#: pieces of a file are judged one after the other: halves of 20,000 points pay for the
#: split; below it, one thread).
PIECE_ROWS_PER_THREAD = 20_000
#: Pieces read and validated ahead while the context still loads (a few seconds of the
#: one-shot command, when the judge has nothing to do yet): about 16 MB each at the
#: default size, taken before the indexes reach their peak.
HEAD_START_PIECES = 8
#: Columns of the assigned table that hold lists of unit codes.
LIST_COLUMNS = ("candidates", "zone_units", "cooperating")
#: Columns of the assigned table that are flags and distances.
_FLAGS = ("on_boundary", "in_zone", "review")
_NUMBERS = ("distance_m",)
#: Rejects kept in a summary (all are counted).
MAX_KEPT_REJECTS = 1_000
#: Output suffixes the writer knows.
OUTPUT_SUFFIXES = (".parquet", ".geoparquet", ".gpkg", ".csv")

ProgressCallback = Callable[[int, int], None]


def assigned_table(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> gpd.GeoDataFrame:
    """One row per incident and concerned cluster (incidents no cluster concerns: one row).

    :func:`assigned_frame` with the points as geometry (EPSG:4326).
    """
    table = assigned_frame(incidents, units, clusters)
    lon, lat = table["lon"].to_numpy(dtype=float), table["lat"].to_numpy(dtype=float)
    return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs=4326)


def assigned_frame(
    incidents: pd.DataFrame, units: pd.DataFrame, clusters: pd.DataFrame
) -> pd.DataFrame:
    """One row per incident and concerned cluster (incidents no cluster concerns: one row).

    The rows and columns of two left merges on ``external_id`` (incidents, then units, then
    clusters), built by placing rows instead: ``units`` holds one row per incident in the
    same order (:func:`~geozone.assignment.jurisdiction`), and each incident's cluster rows
    follow it in their order. Frames that do not fit that shape are merged.
    """
    ids = incidents["external_id"].to_numpy(dtype=object)
    shared = (set(incidents.columns) & (set(units.columns) | set(clusters.columns))) | (
        set(units.columns) & set(clusters.columns)
    )
    simple = (
        shared == {"external_id"}
        and np.array_equal(ids, units["external_id"].to_numpy(dtype=object))
        and incidents["external_id"].is_unique
    )
    if not simple:
        base = incidents.merge(units, on="external_id", how="left")
        return base.merge(clusters, on="external_id", how="left")
    incident, cluster = _placed_rows(ids, clusters["external_id"].to_numpy(dtype=object))
    base = pd.concat(
        [
            incidents.reset_index(drop=True),
            units.drop(columns="external_id").reset_index(drop=True),
        ],
        axis=1,
    )
    # The key's type is the one the merges give it (their common type).
    empty = incidents.iloc[:0].merge(units.iloc[:0], on="external_id")
    key = empty.merge(clusters.iloc[:0], on="external_id")["external_id"].dtype
    base["external_id"] = incidents["external_id"].reset_index(drop=True).astype(key)
    if len(incident) != len(base) or not np.array_equal(incident, np.arange(len(base))):
        base = base.take(incident).reset_index(drop=True)
    right = clusters.drop(columns="external_id").reset_index(drop=True)
    right = right.reindex(pd.Index(cluster)).reset_index(drop=True)  # -1: no row, all missing
    return pd.concat([base, right], axis=1)


def _placed_rows(ids: np.ndarray, cluster_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a left merge of incidents ``ids`` with cluster rows ``cluster_ids``.

    Returns, per output row, the incident's position and the cluster row's (-1 for an
    incident no cluster row names, which gets one row); cluster rows naming no incident are
    left out, as a left merge leaves them.
    """
    position = pd.Index(ids).get_indexer(cluster_ids)
    known = np.flatnonzero(position >= 0)
    order = known[np.argsort(position[known], kind="stable")]
    counts = np.bincount(position[known], minlength=len(ids))
    slots = np.maximum(counts, 1)
    start = np.cumsum(slots) - slots
    incident = np.repeat(np.arange(len(ids)), slots)
    cluster = np.full(len(incident), -1, dtype=np.intp)
    held = position[order]
    rank = np.arange(len(order)) - np.searchsorted(held, held)
    cluster[start[held] + rank] = order
    return incident, cluster


def judge(read: ReadResult, context: Context, tolerance: float | None = None) -> gpd.GeoDataFrame:
    """Judge the valid rows of a piece and return its assigned table."""
    incidents = read.incidents.reset_index(drop=True)
    result = assign(incidents, context.sets, context.territories, tolerance)
    return assigned_table(incidents, result.units, result.clusters)


def judge_arrow(
    read: ReadResult,
    context: Context,
    tolerance: float | None = None,
    threads: int | None = None,
) -> pa.Table:
    """Judge the valid rows of a piece and return its assigned table in Arrow (GeoParquet).

    The table :func:`judge` returns, as :func:`arrow_table` converts it, built from the
    judged columns without a pandas frame in between (the rows placed by index, the points'
    WKB written directly). ``threads``: see :func:`geozone.parallel.threads_for`.
    """
    incidents = read.incidents.reset_index(drop=True)
    days = local_dates(incidents["occurred_at"])
    units, _ = locate_incidents(incidents, context.sets, tolerance, days, threads)
    clusters = cluster_columns(
        incidents, units, context.territories, tolerance, days, arrow_text=True, threads=threads
    )
    if not incidents["external_id"].is_unique:  # rows cannot be placed by id: merge them
        frame = None if clusters is None else pd.DataFrame(_objects(clusters))
        table = assigned_table(
            incidents,
            pd.DataFrame(units),
            frame if frame is not None else pd.DataFrame(columns=CLUSTER_COLUMNS),
        )
        return arrow_table(table, assigned_schema())
    return assigned_arrow(incidents, units, clusters)


def assigned_arrow(
    incidents: pd.DataFrame,
    units: dict[str, np.ndarray],
    clusters: dict[str, np.ndarray] | None,
) -> pa.Table:
    """Return the assigned table (:func:`assigned_schema` and WKB points) of judged columns.

    ``units`` holds one row per incident in the same order (:func:`locate_incidents`),
    ``clusters`` the cluster rows (:func:`cluster_columns`; None: no cluster concerned);
    each incident's cluster rows follow it in their order, as in :func:`assigned_frame`.
    """
    schema = assigned_schema()
    ids = incidents["external_id"].to_numpy(dtype=object)
    n = len(ids)
    if clusters is None:
        incident_rows, cluster_rows = np.arange(n), np.full(n, -1, dtype=np.intp)
    else:
        incident_rows, cluster_rows = _placed_rows(ids, clusters["external_id"])
    repeated = len(incident_rows) != n
    own = [f for f in schema if f.name in incidents.columns]
    base = pa.Table.from_pandas(
        _nullable(pd.DataFrame({f.name: incidents[f.name] for f in own}), pa.schema(own)),
        schema=pa.schema(own),
        preserve_index=False,
    )
    arrays: dict[str, pa.Array | pa.ChunkedArray] = {f.name: base.column(f.name) for f in own}
    for name, values in units.items():
        if name in schema.names and name not in arrays:
            arrays[name] = pa.array(values, schema.field(name).type, from_pandas=True)
    if repeated:
        take = pa.array(incident_rows)
        arrays = {name: column.take(take) for name, column in arrays.items()}
    missing = pa.array(cluster_rows, mask=cluster_rows < 0)
    for item in schema:
        if item.name in arrays:
            continue
        if clusters is None or item.name not in clusters:
            arrays[item.name] = pa.nulls(len(incident_rows), item.type)
            continue
        values = clusters[item.name]
        if not isinstance(values, pa.Array):
            values = pa.array(values, item.type, from_pandas=True)
        arrays[item.name] = values.take(missing).cast(item.type)  # a dictionary: decoded
    lon = incidents["lon"].to_numpy(dtype=float)[incident_rows]
    lat = incidents["lat"].to_numpy(dtype=float)[incident_rows]
    table = pa.table([arrays[f.name] for f in schema], schema=schema)
    table = table.append_column("geometry", point_wkb(lon, lat))
    return table.replace_schema_metadata({b"geo": _geo_metadata()})


def _objects(columns: dict[str, Any]) -> dict[str, Any]:
    """Columns with any Arrow array turned into Python objects (for a pandas frame)."""
    return {
        name: np.asarray(values.to_pylist(), dtype=object)
        if isinstance(values, pa.Array)
        else values
        for name, values in columns.items()
    }


def _parquet_writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    """Open a Parquet output: dictionaries for the columns that repeat, not the others."""
    repeat = [
        f"{f.name}.list.element" if pa.types.is_list(f.type) else f.name  # a leaf's path
        for f in schema
        if f.name not in _PLAIN_COLUMNS
    ]
    return pq.ParquetWriter(path, schema, use_dictionary=repeat)


def point_wkb(lon: np.ndarray, lat: np.ndarray) -> pa.BinaryArray:
    """Return points as little-endian 2-D WKB (21 bytes each), written without GEOS."""
    n = len(lon)
    record = np.dtype([("order", "u1"), ("kind", "<u4"), ("x", "<f8"), ("y", "<f8")])
    packed = np.empty(n, dtype=record)
    packed["order"], packed["kind"], packed["x"], packed["y"] = 1, 1, lon, lat
    offsets = np.arange(0, 21 * n + 1, 21, dtype=np.int32)
    return pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(packed.view(np.uint8))]
    )


def assigned_schema() -> pa.Schema:
    """Return the Arrow schema of an assigned table (without geometry), the same for every piece."""
    kinds = {
        "time": pa.timestamp("us", tz="+07:00"),
        "coordinate": pa.float64(),
        "count": pa.int64(),
        "flag": pa.bool_(),
    }
    fields = [(spec.name, kinds.get(spec.kind, pa.string())) for spec in INCIDENT_FIELDS]
    for name in (*UNIT_COLUMNS, *(c for c in CLUSTER_COLUMNS if c not in UNIT_COLUMNS)):
        if name == "external_id":
            continue
        if name in LIST_COLUMNS:
            kind: pa.DataType = pa.list_(pa.string())
        elif name in _FLAGS:
            kind = pa.bool_()
        elif name in _NUMBERS:
            kind = pa.float64()
        else:
            kind = pa.string()
        fields.append((name, kind))
    return pa.schema(fields)


def _geo_metadata() -> bytes:
    """GeoParquet metadata of the WKB point column in EPSG:4326."""
    crs = CRS.from_epsg(4326).to_json_dict()
    column = {"encoding": "WKB", "geometry_types": ["Point"], "crs": crs}
    return json.dumps(
        {"version": "1.0.0", "primary_column": "geometry", "columns": {"geometry": column}}
    ).encode()


def arrow_table(table: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Return an assigned table in the fixed schema, with its points as WKB (GeoParquet)."""
    plain = _nullable(pd.DataFrame({name: table[name] for name in schema.names}), schema)
    arrow = pa.Table.from_pandas(plain, schema=schema, preserve_index=False)
    arrow = arrow.append_column(
        "geometry", point_wkb(table["lon"].to_numpy(float), table["lat"].to_numpy(float))
    )
    return arrow.replace_schema_metadata({b"geo": _geo_metadata()})


def _nullable(plain: pd.DataFrame, schema: pa.Schema) -> pd.DataFrame:
    """Make missing values null for Arrow: NaN in a text, flag or list column becomes None."""
    for item in schema:
        values = plain[item.name]
        typed = pd.api.types.is_bool_dtype(values) or pd.api.types.is_float_dtype(values)
        if item.name in LIST_COLUMNS or (
            (pa.types.is_string(item.type) or pa.types.is_boolean(item.type))
            and not (pa.types.is_boolean(item.type) and pd.api.types.is_bool_dtype(values))
            and (typed or values.isna().all())
        ):  # a missing value (no cluster row: NaN after the merge) is null
            plain[item.name] = values.astype(object).where(values.notna(), None)
    return plain


def flat_arrow(table: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """Return an assigned table for GeoPackage in a fixed schema: lists as text, times ISO text."""
    arrow = arrow_table(flat_table(table), _flat_schema(schema))
    return arrow.replace_schema_metadata(None)


def _flat_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema(
        [
            pa.field(f.name, pa.string())
            if pa.types.is_list(f.type) or pa.types.is_timestamp(f.type)
            else f
            for f in schema
        ]
    )


def flat_table(table: pd.DataFrame) -> pd.DataFrame:
    """Return an assigned table for GeoPackage and CSV: lists as comma-separated text, times ISO."""
    flat = table.copy()
    for column in LIST_COLUMNS:
        if column in flat:
            flat[column] = flat[column].map(lambda v: ",".join(v) if isinstance(v, list) else v)
    for column in flat.columns:
        if pd.api.types.is_datetime64_any_dtype(flat[column]):
            flat[column] = flat[column].map(lambda v: v.isoformat() if pd.notna(v) else None)
    return flat


class AssignedWriter:
    """Append assigned tables to one file: Parquet row groups, GeoPackage, CSV.

    Parquet takes the fixed schema of :func:`assigned_schema` (GeoParquet, WKB points);
    GeoPackage appends each piece in one transaction to the layer ``assigned_incidents``;
    CSV appends rows under one header, the file UTF-8 with a BOM (for Excel). The file is
    written to ``<name>.partial`` and moved into place by :meth:`close`, so a failed run
    leaves no half file under the final name.
    ``metadata``: key-value metadata added to a Parquet file's schema, beside ``geo`` (only
    Parquet takes it).
    """

    def __init__(
        self,
        path: Path,
        layer: str = "assigned_incidents",
        schema: pa.Schema | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        suffix = path.suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise IncidentFileError(f"cannot write {path.name}: use .parquet, .gpkg or .csv")
        self.path = path
        self.kind = "parquet" if suffix in (".parquet", ".geoparquet") else suffix[1:]
        if metadata and self.kind != "parquet":
            raise ValueError(f"key-value metadata is written to Parquet, not {self.kind}")
        self._metadata = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
        self.layer = layer
        self.partial = path.with_name(f"{path.stem}.partial{path.suffix}")
        self.partial.unlink(missing_ok=True)
        self.rows = 0
        self._parquet: pq.ParquetWriter | None = None
        self._schema = schema
        self._started = False

    def write_arrow(self, table: pa.Table) -> None:
        """Append one assigned table in Arrow (:func:`judge_arrow`) to a Parquet output."""
        if self.kind != "parquet":
            raise ValueError(f"write_arrow writes Parquet, not {self.kind}")
        if self._parquet is None:
            self._parquet = self._open(table.schema)
        if table.num_rows:
            self._parquet.write_table(table, row_group_size=WRITE_ROWS)
        self._started = True
        self.rows += table.num_rows

    def write(self, table: pd.DataFrame) -> None:
        """Append one assigned table."""
        if self.kind == "parquet":
            if self._schema is None:
                self._schema = schema_of(table)
            # Converted and written a slice at a time: the Arrow copy of a whole piece (with
            # its object columns) would add some 1 KB a row to the peak.
            for start in range(0, max(len(table), 1), WRITE_ROWS):
                arrow = arrow_table(table.iloc[start : start + WRITE_ROWS], self._schema)
                if self._parquet is None:
                    self._parquet = self._open(arrow.schema)
                if len(arrow):
                    self._parquet.write_table(arrow)
        elif self.kind == "gpkg":
            if self._schema is None:
                self._schema = schema_of(table)
            if len(table) or not self._started:
                arrow = flat_arrow(table, self._schema)
                pyogrio.write_arrow(
                    arrow,
                    self.partial,
                    layer=self.layer,
                    driver="GPKG",
                    append=self._started,
                    geometry_name="geometry",
                    geometry_type="Point",
                    crs="EPSG:4326",
                )
        else:
            flat = pd.DataFrame(flat_table(table).drop(columns="geometry"))
            # UTF-8 with a BOM before the header, as the report's CSVs, so that Excel reads
            # the diacritics; pandas, GDAL and geozone's import read the header without it.
            encoding = "utf-8" if self._started else "utf-8-sig"
            flat.to_csv(
                self.partial, index=False, mode="a", header=not self._started, encoding=encoding
            )
        self._started = True
        self.rows += len(table)

    def close(self) -> None:
        """Finish the file and move it to its name."""
        if self.kind == "parquet":
            if self._parquet is None:
                empty = _empty_assigned()
                schema = self._schema or assigned_schema()
                self._parquet = self._open(arrow_table(empty, schema).schema)
            self._parquet.close()
        elif not self._started:
            self.write(_empty_assigned())
        self.partial.replace(self.path)

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        """Open the Parquet output of ``schema``, its metadata with :attr:`_metadata` added."""
        if self._metadata:
            schema = schema.with_metadata({**(schema.metadata or {}), **self._metadata})
        return _parquet_writer(self.partial, schema)

    def abort(self) -> None:
        """Drop what was written."""
        if self._parquet is not None:
            self._parquet.close()
        self.partial.unlink(missing_ok=True)


def _empty_assigned() -> gpd.GeoDataFrame:
    schema = assigned_schema()
    frame = schema.empty_table().to_pandas()
    return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy([], []), crs=4326)


def schema_of(table: pd.DataFrame) -> pa.Schema:
    """Return the Arrow schema of a table of any columns (without geometry) for a Parquet stream.

    Columns of the assigned table take their fixed type (:func:`assigned_schema`); other
    columns take the type of this table, an all-null one text.
    """
    fixed = assigned_schema()
    plain = pd.DataFrame(table.drop(columns="geometry", errors="ignore"))
    for name in LIST_COLUMNS:
        if name in plain:
            plain[name] = plain[name].astype(object)
    found = pa.Schema.from_pandas(plain, preserve_index=False)
    fields = []
    for item in found:
        kind = item.type
        if item.name in fixed.names:
            kind = fixed.field(item.name).type
        elif pa.types.is_null(kind):
            kind = pa.string()
        fields.append(pa.field(item.name, kind))
    return pa.schema(fields)


def write_assigned(table: pd.DataFrame, path: Path) -> None:
    """Write a whole table at once (the same file :class:`AssignedWriter` writes)."""
    writer = AssignedWriter(path, schema=schema_of(table))
    try:
        writer.write(table)
    except BaseException:
        writer.abort()
        raise
    writer.close()


@dataclass
class AssignSummary:
    """What a streamed assignment did."""

    read: int = 0
    rejected: int = 0
    assigned: int = 0
    cluster_rows: int = 0
    review: int = 0
    output: str = ""
    pieces: int = 0
    seconds: float = 0.0
    rejects: list[Reject] = field(default_factory=list)

    def add(self, read: ReadResult, table: pd.DataFrame | pa.Table) -> None:
        """Count one judged piece (its assigned table in pandas or in Arrow)."""
        self.read += read.n_rows
        self.rejected += len(read.rejected_lines)
        self.assigned += len(read.incidents)
        cluster_rows, review = decision_counts(table)
        self.cluster_rows += cluster_rows
        self.review += review
        self.pieces += 1
        room = MAX_KEPT_REJECTS - len(self.rejects)
        if room > 0:
            self.rejects += read.rejects[:room]

    def to_dict(self) -> dict[str, Any]:
        """Return the summary as JSON-ready data (the first 100 rejects)."""
        data = {k: v for k, v in self.__dict__.items() if k != "rejects"}
        data["rows_per_second"] = round(self.read / self.seconds) if self.seconds else None
        data["rejects"] = [r.__dict__ for r in self.rejects[:100]]
        return data


def decision_counts(table: pd.DataFrame | pa.Table) -> tuple[int, int]:
    """Return an assigned table's cluster rows and the rows to review."""
    if isinstance(table, pa.Table):
        cluster_id, review = table.column("cluster_id"), table.column("review")
        flagged = pc.sum(pc.fill_null(review, False)).as_py() or 0
        return len(cluster_id) - cluster_id.null_count, int(flagged)
    return int(table["cluster_id"].notna().sum()), int(
        table["review"].fillna(False).astype(bool).sum()
    )


def read_pieces(
    source: Path, *, crs: str | int = 4326, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> tuple[int, Iterator[tuple[int, ReadResult]]]:
    """Open a file streamed and return its row count and its validated pieces."""
    opened = open_incidents(source, crs=crs, stream=True)
    return opened.n_rows, opened.pieces(chunk_rows)


def assign_file(
    source: Path,
    output: Path,
    context: Context | Callable[[], Context],
    *,
    crs: str | int = 4326,
    tolerance: float | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    on_progress: ProgressCallback | None = None,
) -> AssignSummary:
    """Judge every incident of a file piece by piece and write the assigned table.

    Three stages overlap on threads: the next piece is read and validated while this one is
    judged, and the last one judged is written meanwhile (a Parquet output).

    Parameters
    ----------
    source
        Incident file (CSV, GeoJSON, GeoPackage, Parquet).
    output
        ``.parquet`` (GeoParquet, row groups), ``.gpkg`` or ``.csv``.
    context
        The boundary sets and cluster territories to judge with, or a function returning
        them, called once the first piece is read (a context loading on another thread).
    crs, tolerance
        The CRS of coordinates in files without one; the boundary tolerance in metres.
    chunk_rows
        Source rows per piece: memory grows with it, not with the file.
    on_progress
        Called with (rows done, rows in all) after each piece.

    Returns
    -------
    AssignSummary
        Counts, and the first :data:`MAX_KEPT_REJECTS` rejects.
    """
    started = time.perf_counter()
    with _system_arrow_pool():
        summary = _assign_pieces(source, output, context, crs, tolerance, chunk_rows, on_progress)
    summary.seconds = time.perf_counter() - started
    return summary


@contextlib.contextmanager
def _system_arrow_pool() -> Iterator[None]:
    """Let Arrow allocate from the C library's allocator for the block, then as before.

    A streamed run reads a piece on one thread, judges it on another and writes it on a
    third; Arrow's default pool (mimalloc) keeps what a thread frees of another thread's
    memory, some 90 MB at the peak of a 1 M-row run, where the system allocator, trimmed
    between pieces (:func:`~geozone.context.release_memory`), gives it back. Each buffer
    is freed to the pool it came from, so the switch back is safe.
    """
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _assign_pieces(
    source: Path,
    output: Path,
    context: Context | Callable[[], Context],
    crs: str | int,
    tolerance: float | None,
    chunk_rows: int,
    on_progress: ProgressCallback | None,
) -> AssignSummary:
    """Judge and write the pieces of a file (:func:`assign_file` without the clock)."""
    total, pieces = read_pieces(source, crs=crs, chunk_rows=chunk_rows)
    summary = AssignSummary(output=str(output))
    writer = AssignedWriter(output, schema=assigned_schema())
    behind = Behind()
    try:
        for number, (first, read) in enumerate(
            prefetched(pieces, head_start=0 if isinstance(context, Context) else HEAD_START_PIECES),
            start=1,
        ):
            if not isinstance(context, Context):
                context = context()
            table: pd.DataFrame | pa.Table
            if writer.kind == "parquet":  # built in Arrow from the judged columns
                threads = threads_for(len(read.incidents), min_points=PIECE_ROWS_PER_THREAD)
                table = judge_arrow(read, context, tolerance, threads)
                behind.submit(writer.write_arrow, table)
            else:
                table = judge(read, context, tolerance)
                behind.submit(writer.write, table)
            summary.add(read, table)
            done = first + read.n_rows
            del table, read  # before the next piece is read
            release_memory(heap=number % RELEASE_PIECES == 0)
            if on_progress:
                on_progress(done, total)
        behind.close()
        writer.close()
    except BaseException:
        with contextlib.suppress(Exception):
            behind.close()
        writer.abort()
        raise
    return summary


__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "LIST_COLUMNS",
    "AssignSummary",
    "AssignedWriter",
    "arrow_table",
    "assign_file",
    "assigned_arrow",
    "assigned_schema",
    "assigned_table",
    "decision_counts",
    "flat_table",
    "judge",
    "judge_arrow",
    "point_wkb",
    "read_pieces",
    "schema_of",
    "write_assigned",
]
