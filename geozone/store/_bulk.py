"""The bulk insert of prepared incidents, one way per database; the layout from the fields.

SQLite takes ``executemany`` of prepared tuples (``INSERT … ON CONFLICT DO NOTHING``), the
times as the text SQLAlchemy's SQLite DATETIME stores. PostgreSQL takes ``COPY`` of CSV
written by Arrow into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO
NOTHING``. The columns, their Arrow types and the staging table's SQL types follow the store
types of :data:`geozone.incidents.fields.INCIDENT_FIELDS`. Assignments are written to SQLite
the same way (:func:`update_units_sqlite`, :func:`insert_clusters_sqlite`): plain tuples to
the driver, in the text SQLAlchemy's types store.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy.engine import Connection

from geozone.incidents.fields import INCIDENT_COLUMNS, INCIDENT_FIELDS, IncidentField
from geozone.incidents.linking import own_events
from geozone.store.base import CLUSTER_COLUMNS, EVENT_COLUMNS, UNIT_COLUMNS

#: orjson's options of the store's JSON serializer (:func:`geozone.store._engine._json_dumps`).
_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
#: Rows per CSV block sent by COPY.
_COPY_CHUNK = 50_000
#: The columns an insert fills: the fields, then the import batch.
_INSERT_COLUMNS = (*INCIDENT_COLUMNS, "batch_id")
#: Arrow type and PostgreSQL type of each store type, for the COPY.
_ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "text": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
    "double": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
}
_PG_TYPES: dict[str, str] = {
    "string": "text",
    "text": "text",
    "time": "timestamptz",
    "double": "double precision",
    "integer": "integer",
    "boolean": "boolean",
}
_ARROW_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        *((spec.name, _ARROW_TYPES[spec.store.type]) for spec in INCIDENT_FIELDS),
        ("batch_id", pa.string()),
    ]
)
#: PostgreSQL type of each staged incident column, for the COPY.
_PG_STAGE_TYPES: dict[str, str] = {
    "ord": "bigint",
    **{spec.name: _PG_TYPES[spec.store.type] for spec in INCIDENT_FIELDS},
    "batch_id": "text",
}


def _nullable(series: pd.Series[Any]) -> list[Any]:
    """Column values as Python objects with None for missing ones."""
    return series.astype(object).where(series.notna(), None).tolist()


def _sqlite_times(series: pd.Series[Any]) -> list[str | None]:
    """``datetime64[us, UTC]`` as the text SQLAlchemy's SQLite DATETIME stores, vectorised."""
    naive = series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    if len(naive) == 0:
        return []
    text = np.datetime_as_string(naive, unit="us")  # YYYY-MM-DDTHH:MM:SS.ffffff
    chars = text.view(np.uint32).reshape(len(text), text.dtype.itemsize // 4)
    chars[:, 10] = ord(" ")  # the T, in place: SQLAlchemy writes a space
    out: np.ndarray[Any, Any] = text.astype(object)
    out[np.isnat(naive)] = None
    values: list[str | None] = out.tolist()
    return values


def _sqlite_values(spec: IncidentField, series: pd.Series[Any]) -> list[Any]:
    """One field's column as the values SQLite's driver binds."""
    if spec.store.type == "time":
        return _sqlite_times(series)
    if spec.store.type == "boolean":
        values: list[Any] = series.astype(int).tolist()
        return values
    if spec.nullable:
        return _nullable(series)
    return series.tolist()


def _unit_values(units: pd.DataFrame) -> list[list[Any]]:
    """Return the columns of :data:`UNIT_COLUMNS` as the values SQLite's driver binds."""
    columns: list[list[Any]] = []
    for name in UNIT_COLUMNS:
        if name == "candidates":
            columns.append(_json_lists(units[name]))
        elif name == "on_boundary":
            columns.append(units[name].astype(bool).astype(int).tolist())
        else:
            columns.append(_nullable(units[name]))
    return columns


@dataclass(frozen=True)
class LaidRows:
    """Rows laid out as SQLite's driver binds them, plain tuples, for one ``executemany``.

    Laid out before the write transaction that inserts them: binding a piece's values is
    Python work (~0.3 s a piece of 50,000) that need not hold SQLite's one write lock.
    """

    #: The external id of each row, in order.
    external_ids: list[str]
    rows: list[tuple[Any, ...]]
    sql: str


def lay_incidents_sqlite(
    frame: pd.DataFrame,
    units: pd.DataFrame | None = None,
    stamp: str | None = None,
    now: datetime | None = None,
    *,
    single: bool = False,
) -> LaidRows:
    """Lay out prepared incidents (with ``batch_id``) for :func:`insert_sqlite`.

    With ``units`` (one row per row of ``frame``, in its order), each incident is inserted
    with its unit assignment, stamped ``stamp`` at ``now``: no second pass updates the rows
    (and their five indexed assignment columns) after the insert. ``single``: each is
    inserted as its own event (:func:`~geozone.incidents.linking.own_events`), so that
    linking, which follows, writes only the reports it links.
    """
    columns = [_sqlite_values(spec, frame[spec.name]) for spec in INCIDENT_FIELDS]
    columns.append(_nullable(frame["batch_id"]))
    names = list(_INSERT_COLUMNS)
    if units is not None:
        if stamp is None or now is None:
            raise ValueError("an insert with units needs their stamp and time")
        n = len(frame)
        columns += [*_unit_values(units), [stamp] * n, [_sqlite_time(now)] * n]
        names += [*UNIT_COLUMNS, "assigned_with", "assigned_at"]
    if single:
        events = own_events(frame["external_id"])
        columns += [events[name].tolist() for name in EVENT_COLUMNS]
        names += EVENT_COLUMNS
    sql = (
        f"INSERT INTO incidents ({', '.join(names)}) "
        f"VALUES ({', '.join('?' * len(names))}) "
        "ON CONFLICT (external_id) DO NOTHING"
    )
    external_ids = frame["external_id"].astype(str).tolist()
    return LaidRows(external_ids, list(zip(*columns, strict=True)), sql)


def insert_sqlite(connection: Connection, laid: LaidRows) -> int:
    """Insert incidents laid out by :func:`lay_incidents_sqlite`; return the rows inserted."""
    return int(connection.exec_driver_sql(laid.sql, laid.rows).rowcount)


def insert_sqlite_indexed(connection: Connection, laid: LaidRows) -> dict[str, int]:
    """Insert like :func:`insert_sqlite`; return the row id of each inserted incident.

    Within the caller's write transaction (``BEGIN IMMEDIATE``: no other writer, so the new
    rows are those past the last id). When no row is skipped (no id stored already), their
    ids follow the last one in order and are not read back (~0.1 s a piece of 50,000).

    Returns
    -------
    dict of str to int
        The row id of each inserted incident, by external id.
    """
    last = int(
        connection.exec_driver_sql("SELECT coalesce(max(id), 0) FROM incidents").scalar_one()
    )
    inserted = insert_sqlite(connection, laid)
    if inserted == len(laid.rows):
        # None skipped: SQLite gives each new row the id after the largest (``id`` is the
        # rowid), in the order inserted, and no other writer inserts meanwhile.
        ids = range(last + 1, last + 1 + inserted)
        return dict(zip(laid.external_ids, ids, strict=True))
    raw = connection.connection.driver_connection
    assert raw is not None
    found = raw.execute("SELECT external_id, id FROM incidents WHERE id > ?", (last,)).fetchall()
    return {str(e): int(i) for e, i in found}


def _copy_postgres(
    connection: Connection, name: str, columns: list[tuple[str, str, pa.DataType]], frame: Any
) -> None:
    """COPY ``frame``'s ``columns`` (name, PostgreSQL type, Arrow type) into temporary ``name``.

    The table is dropped at commit. Arrow writes the CSV, quoting every value: an unquoted
    empty field is NULL, "" is empty text.
    """
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {name} ("
        + ", ".join(f"{column} {pg_type}" for column, pg_type, _ in columns)
        + ") ON COMMIT DROP"
    )
    schema = pa.schema([(column, arrow_type) for column, _, arrow_type in columns])
    table = pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
    options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
    raw = connection.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(f"COPY {name} FROM STDIN (FORMAT csv)") as copy:
        for block in table.to_batches(max_chunksize=_COPY_CHUNK):
            buffer = io.BytesIO()
            pacsv.write_csv(block, buffer, options)
            copy.write(buffer.getbuffer())


def _stage_postgres(
    connection: Connection,
    frame: pd.DataFrame,
    extra: list[tuple[str, str, pa.DataType]] | None = None,
) -> None:
    """COPY prepared incidents (with ``batch_id``) into the temporary table ``_incoming``.

    ``extra``: further columns of ``frame`` staged too (name, PostgreSQL type, Arrow type).
    """
    connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # sort by ord in memory
    staged = frame.assign(ord=np.arange(len(frame), dtype=np.int64))
    columns = [(field.name, _PG_STAGE_TYPES[field.name], field.type) for field in _ARROW_SCHEMA]
    _copy_postgres(connection, "_incoming", [*columns, *(extra or [])], staged)


_PG_INSERT = (
    f"INSERT INTO incidents ({', '.join(_INSERT_COLUMNS)}) "
    f"SELECT {', '.join(_INSERT_COLUMNS)} FROM _incoming ORDER BY ord "
    "ON CONFLICT (external_id) DO NOTHING"
)
#: The unit columns staged for the COPY (lists as JSON text, cast to jsonb by the insert).
_UNIT_STAGE: list[tuple[str, str, pa.DataType]] = [
    *((name, "text", pa.string()) for name in UNIT_COLUMNS if name != "on_boundary"),
    ("on_boundary", "boolean", pa.bool_()),
    ("assigned_with", "text", pa.string()),
    ("assigned_at", "timestamptz", pa.timestamp("us", tz="UTC")),
]
#: The event columns of reports inserted as their own event, staged for the COPY.
_SINGLE_STAGE: list[tuple[str, str, pa.DataType]] = [
    ("event_id", "text", pa.string()),
    ("event_role", "text", pa.string()),
    ("event_confidence", "double precision", pa.float64()),
]
#: The cluster columns staged for the COPY (as :data:`_UNIT_STAGE`).
_CLUSTER_STAGE: list[tuple[str, str, pa.DataType]] = [
    ("incident_id", "bigint", pa.int64()),
    *(
        (name, "boolean", pa.bool_())
        if name in ("in_zone", "review")
        else (name, "double precision", pa.float64())
        if name == "distance_m"
        else (name, "text", pa.string())
        for name in CLUSTER_COLUMNS
        if name != "external_id"
    ),
]
_JSON_COLUMNS = ("candidates", "zone_units", "cooperating")


def _selected(name: str) -> str:
    return f"{name}::jsonb" if name in _JSON_COLUMNS else name


def insert_postgres(connection: Connection, frame: pd.DataFrame) -> int:
    """Insert prepared incidents (with ``batch_id``) into PostgreSQL; return the rows inserted."""
    _stage_postgres(connection, frame)
    return int(connection.exec_driver_sql(_PG_INSERT).rowcount)


def insert_postgres_ids(
    connection: Connection,
    frame: pd.DataFrame,
    units: pd.DataFrame | None = None,
    stamp: str | None = None,
    now: datetime | None = None,
    *,
    single: bool = False,
) -> dict[str, int]:
    """Insert prepared incidents into PostgreSQL; return the row id of each inserted one.

    With ``units`` (one row per row of ``frame``, in its order), each incident is copied and
    inserted with its unit assignment, stamped ``stamp`` at ``now``, and with ``single``
    as its own event (as :func:`insert_sqlite`).
    """
    if units is None:
        _stage_postgres(connection, frame)
        result = connection.exec_driver_sql(_PG_INSERT + " RETURNING external_id, id")
        return {str(e): int(i) for e, i in result}
    if stamp is None or now is None:
        raise ValueError("an insert with units needs their stamp and time")
    staged = frame.reset_index(drop=True)
    for name in UNIT_COLUMNS:
        values = units[name].reset_index(drop=True)
        staged[name] = _json_lists(values) if name == "candidates" else values
    staged["on_boundary"] = staged["on_boundary"].astype(bool)
    staged["assigned_with"] = stamp
    staged["assigned_at"] = pd.Timestamp(now).tz_convert("UTC")
    stage = list(_UNIT_STAGE)
    if single:
        events = own_events(staged["external_id"])
        for name in EVENT_COLUMNS:
            staged[name] = events[name]
        stage += _SINGLE_STAGE
    _stage_postgres(connection, staged, stage)
    names = [*_INSERT_COLUMNS, *(name for name, _, _ in stage)]
    result = connection.exec_driver_sql(
        f"INSERT INTO incidents ({', '.join(names)}) "
        f"SELECT {', '.join(_selected(n) for n in names)} FROM _incoming ORDER BY ord "
        "ON CONFLICT (external_id) DO NOTHING RETURNING external_id, id"
    )
    return {str(e): int(i) for e, i in result}


def insert_clusters_postgres(connection: Connection, rows: pd.DataFrame) -> None:
    """Insert cluster rows (with ``incident_id``) on PostgreSQL by one COPY and one insert."""
    staged = rows.reset_index(drop=True).copy()
    for name in ("zone_units", "cooperating"):
        staged[name] = _json_lists(staged[name])
    for name in ("in_zone", "review"):
        staged[name] = staged[name].astype(bool)
    staged["incident_id"] = staged["incident_id"].astype(np.int64)
    staged["distance_m"] = pd.to_numeric(staged["distance_m"]).astype("float64")
    _copy_postgres(connection, "_incoming_clusters", _CLUSTER_STAGE, staged)
    names = [name for name, _, _ in _CLUSTER_STAGE]
    connection.exec_driver_sql(
        f"INSERT INTO incident_clusters ({', '.join(names)}) "
        f"SELECT {', '.join(_selected(n) for n in names)} FROM _incoming_clusters"
    )


def _json_lists(series: pd.Series[Any]) -> list[str]:
    """Return lists as the JSON text the store's JSON type writes (its serializer, orjson).

    Each distinct list is written once: the lists of codes repeat (most are empty).
    """
    texts: dict[tuple[Any, ...], str] = {}
    out: list[str] = []
    for value in series:
        key = tuple(value)
        text = texts.get(key)
        if text is None:
            text = texts[key] = orjson.dumps(list(key), option=_JSON_OPTIONS).decode()
        out.append(text)
    return out


def _sqlite_time(value: datetime) -> str:
    """Return an aware time as SQLAlchemy's SQLite DATETIME text (UTC wall time)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def update_units_sqlite(
    connection: Connection, units: pd.DataFrame, ids: pd.Series[Any], stamp: str, now: datetime
) -> None:
    """Set the unit assignment of stored incidents (``ids``: their row ids), on SQLite.

    One driver-level ``executemany`` of plain tuples: the same values SQLAlchemy binds for
    an ``UPDATE … WHERE id = :id`` of dicts, without building and processing a dict a row.
    """
    names = list(UNIT_COLUMNS)
    columns = _unit_values(units)
    n = len(units)
    columns += [[stamp] * n, [_sqlite_time(now)] * n, ids.astype(np.int64).tolist()]
    assignments = ", ".join(f"{name} = ?" for name in (*names, "assigned_with", "assigned_at"))
    connection.exec_driver_sql(
        f"UPDATE incidents SET {assignments} WHERE id = ?", list(zip(*columns, strict=True))
    )


def lay_clusters_sqlite(rows: pd.DataFrame) -> LaidRows:
    """Lay out cluster rows (with ``external_id``) for :func:`insert_clusters_sqlite`.

    Each tuple lacks the incident's row id, which the insert puts first.
    """
    names = [c for c in CLUSTER_COLUMNS if c != "external_id"]
    columns: list[list[Any]] = []
    for name in names:
        if name in ("zone_units", "cooperating"):
            columns.append(_json_lists(rows[name]))
        elif name in ("in_zone", "review"):
            columns.append(rows[name].astype(bool).astype(int).tolist())
        else:
            columns.append(_nullable(rows[name]))
    sql = (
        f"INSERT INTO incident_clusters ({', '.join(['incident_id', *names])}) "
        f"VALUES ({', '.join('?' * (len(names) + 1))})"
    )
    external_ids = rows["external_id"].astype(str).tolist()
    return LaidRows(external_ids, list(zip(*columns, strict=True)), sql)


def insert_clusters_sqlite(connection: Connection, laid: LaidRows, ids: Mapping[str, int]) -> None:
    """Insert cluster rows laid out by :func:`lay_clusters_sqlite`, of the incidents in ``ids``.

    ``ids``: the row id of each incident by external id; the rows of others are left out.
    """
    rows = [
        (ids[external_id], *row)
        for external_id, row in zip(laid.external_ids, laid.rows, strict=True)
        if external_id in ids
    ]
    if rows:
        connection.exec_driver_sql(laid.sql, rows)
