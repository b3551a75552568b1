"""The incident store on SQLite (embedded default) and on PostgreSQL + PostGIS.

One class, :class:`SqlIncidentStore`, written in SQLAlchemy Core; the two databases differ in
three places only:

- the spatial index: SQLite keeps an R*Tree virtual table ``incidents_rtree`` filled by
  triggers in the inserting transaction; PostGIS has a generated ``geom geometry(Point, 4326)``
  column with a GiST index. A bbox query joins the R*Tree, or uses ``geom && ST_MakeEnvelope``;
  both then compare the exact coordinates, so points on the box's edge are inside;
- the bulk insert: ``executemany`` of prepared tuples (``INSERT … ON CONFLICT DO NOTHING``) on
  SQLite; ``COPY`` of CSV written by Arrow into a temporary table, then one
  ``INSERT … SELECT … ON CONFLICT DO NOTHING`` on PostgreSQL;
- locking: SQLite runs in WAL mode with a busy timeout and opens every writing transaction with
  ``BEGIN IMMEDIATE``, so concurrent writer processes queue instead of failing; PostgreSQL
  relies on row locks (and an advisory lock around migrations).

The schema is created and upgraded by the Alembic migrations in ``migrations/`` (see
:func:`migrate`); the tables below describe it for queries and must match it.
"""

from __future__ import annotations

import io
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from geoalchemy2 import Geometry
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Dialect, Engine, make_url

from geozone.clusters.model import Confirmation
from geozone.errors import (
    ConfigurationError,
    ImportBatchError,
    InvalidParameterError,
    StoreBusyError,
    StoreError,
    UnknownIncidentError,
)
from geozone.incidents.schema import EARLIEST_TIME, latest_time, time_range_text
from geozone.settings import Settings
from geozone.store.base import (
    CLUSTER_COLUMNS,
    INCIDENT_COLUMNS,
    RESULT_COLUMNS,
    UNIT_COLUMNS,
    AddResult,
    IncidentQuery,
    IncidentStore,
    prepare_assignments,
    prepare_incidents,
)
from geozone.text import nfc
from geozone.vntime import VIETNAM_TZ

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK = 0x67656F7A6F6E65  # "geozone"
#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
_WRITE = "geozone_write"
#: Most bound parameters in one IN (...) list (SQLite allows 32,766).
_IN_CHUNK = 5_000
#: Rows per CSV block sent by COPY.
_COPY_CHUNK = 50_000
#: How long a write begun in this context waits for other writers (None: the engine's wait).
_WRITE_WAIT: ContextVar[float | None] = ContextVar("geozone_write_wait", default=None)
#: SQLSTATEs of PostgreSQL lock waits that gave up: lock_not_available, deadlock_detected.
_PG_BUSY = frozenset({"55P03", "40P01"})


@contextmanager
def write_wait(seconds: float | None) -> Iterator[None]:
    """Bound how long the writes begun in this context wait for other writers.

    The web service answers a write that cannot get the store within a few seconds with 503
    and ``Retry-After`` rather than hold the request for the store's full busy timeout (a
    proxy in front would give up first). None restores the store's own wait (import jobs).
    Applies to SQLite's busy timeout and PostgreSQL's ``lock_timeout``.
    """
    token = _WRITE_WAIT.set(seconds)
    try:
        yield
    finally:
        _WRITE_WAIT.reset(token)


def is_busy(exc: sa.exc.DBAPIError) -> bool:
    """Tell whether a database error means another writer held a lock too long."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(exc.orig, "sqlstate", None) in _PG_BUSY


# --------------------------------------------------------------------------------------------
# Schema (as the migrations create it)
# --------------------------------------------------------------------------------------------


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware instant: stored as UTC, returned in Vietnam time.

    PostgreSQL stores ``timestamptz``; SQLite stores the UTC time as text
    ``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts and compares in time order. Naive values are
    refused rather than guessed.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC (naive UTC for SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise InvalidParameterError(f"time {value.isoformat()} has no time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the instant in Vietnam time."""
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(VIETNAM_TZ)


_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def build_metadata(dialect: str) -> sa.MetaData:
    """Describe the store's tables for ``dialect`` ("sqlite" or "postgresql").

    The migrations create the schema; this description is what queries are built from, and a
    test checks that the two agree (Alembic's ``compare_metadata``).
    """
    metadata = sa.MetaData()
    sa.Table(
        "import_batches",
        metadata,
        sa.Column("batch_id", sa.String(128), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False),
        sa.Column("rows_inserted", sa.Integer, nullable=False),
        sa.Column("rows_duplicate", sa.Integer, nullable=False),
        sa.Column("rows_stored", sa.Integer),
        sa.Column("rows_rejected", sa.Integer),
        sa.Column("rejects", _JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.CheckConstraint(
            "rows_done >= 0 AND rows_done <= rows_total", name="ck_import_batches_progress"
        ),
        sa.CheckConstraint("status IN ('running', 'done')", name="ck_import_batches_status"),
    )
    spatial: list[sa.Column[Any] | sa.Index] = []
    if dialect == "postgresql":
        spatial += [
            sa.Column(
                "geom",
                Geometry("POINT", srid=4326, spatial_index=False),
                sa.Computed("ST_SetSRID(ST_MakePoint(lon, lat), 4326)", persisted=True),
            ),
            sa.Index("ix_incidents_geom", "geom", postgresql_using="gist"),
        ]
    sa.Table(
        "incidents",
        metadata,
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", UTCDateTime, nullable=False),
        sa.Column("detected_at", UTCDateTime),
        sa.Column("lon", sa.Double, nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("detected_by", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subjects", sa.Integer, nullable=False),
        sa.Column("jointly_handled", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column(
            "batch_id",
            sa.String(128),
            sa.ForeignKey("import_batches.batch_id", name="fk_incidents_batch_id"),
        ),
        sa.Column("set_id", sa.String(64)),
        sa.Column("locate_status", sa.String(16)),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("ward_code", sa.String(64)),
        sa.Column("district_code", sa.String(64)),
        sa.Column("province_code", sa.String(64)),
        sa.Column("on_boundary", sa.Boolean),
        sa.Column("candidates", _JSON),
        sa.Column("assigned_with", sa.String(128)),
        sa.Column("assigned_at", UTCDateTime),
        sa.UniqueConstraint("external_id", name="uq_incidents_external_id"),
        sa.CheckConstraint("lon BETWEEN -180 AND 180", name="ck_incidents_lon"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90", name="ck_incidents_lat"),
        sa.CheckConstraint("status IN ('open', 'solved')", name="ck_incidents_status"),
        sa.CheckConstraint("subjects >= 0", name="ck_incidents_subjects"),
        sa.CheckConstraint(
            "detected_at IS NULL OR detected_at >= occurred_at", name="ck_incidents_detected"
        ),
        sa.Index("ix_incidents_occurred_at", "occurred_at"),
        sa.Index("ix_incidents_category", "category", "occurred_at"),
        sa.Index("ix_incidents_unit_code", "unit_code"),
        sa.Index("ix_incidents_ward_code", "ward_code"),
        sa.Index("ix_incidents_district_code", "district_code"),
        sa.Index("ix_incidents_province_code", "province_code"),
        sa.Index("ix_incidents_assigned_with", "assigned_with"),
        sa.Index("ix_incidents_batch_id", "batch_id"),
        *spatial,
    )
    sa.Table(
        "incident_clusters",
        metadata,
        sa.Column(
            "incident_id",
            _ID,
            sa.ForeignKey("incidents.id", ondelete="CASCADE", name="fk_incident_clusters_incident"),
        ),
        sa.Column("cluster_id", sa.String(64)),
        sa.Column("member_code", sa.String(64)),
        sa.Column("in_zone", sa.Boolean, nullable=False),
        sa.Column("zone_kind", sa.String(32)),
        sa.Column("zone_units", _JSON, nullable=False),
        sa.Column("distance_m", sa.Double),
        sa.Column("boundary_with", sa.String(64)),
        sa.Column("lead_unit", sa.String(64)),
        sa.Column("cooperating", _JSON, nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("review", sa.Boolean, nullable=False),
        sa.Column("explanation_vi", sa.Text, nullable=False),
        sa.Column("explanation_en", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("incident_id", "cluster_id", name="pk_incident_clusters"),
        sa.Index("ix_incident_clusters_cluster_id", "cluster_id", "in_zone"),
    )
    if dialect == "sqlite":
        # The R*Tree virtual table (created by the migration with its triggers).
        sa.Table(
            "incidents_rtree",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("minx", sa.Float),
            sa.Column("maxx", sa.Float),
            sa.Column("miny", sa.Float),
            sa.Column("maxy", sa.Float),
        )
    sa.Table(  # migration 0004
        "cluster_confirmations",
        metadata,
        sa.Column("cluster_id", sa.String(120), primary_key=True),
        sa.Column("from_date", sa.Date, nullable=False),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("zone", sa.Text),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
    )
    return metadata


# --------------------------------------------------------------------------------------------
# Engines and migrations
# --------------------------------------------------------------------------------------------


def _json_dumps(value: object) -> str:
    """JSON text of lists of codes and reject records (numpy scalars welcome, UTF-8 kept)."""
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=str, option=options).decode("utf-8")


def _journal_wal(cursor: Any, timeout_s: float) -> None:
    """Put the database in WAL mode, waiting up to ``timeout_s`` for other connections.

    The switch needs the file's exclusive lock. When another connection writes the file or
    makes the same switch (processes opening a new store at once), SQLite may answer
    "database is locked" at once, without waiting for the busy timeout (its deadlock
    avoidance): the switch is then tried again until the timeout.
    """
    deadline = time.monotonic() + timeout_s
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.2)


def store_exists(settings: Settings) -> bool:
    """Tell whether the configured store is there to read.

    A SQLite store is when its file exists; a server URL is taken to answer.
    """
    url = sa.engine.make_url(settings.store_url)
    if url.get_backend_name() != "sqlite":
        return True
    return url.database is not None and Path(url.database).is_file()


def create_store_engine(url: str, *, busy_timeout_s: float = 60.0) -> Engine:
    """Create the SQLAlchemy engine of a store URL, configured for concurrent writers.

    Parameters
    ----------
    url
        ``sqlite:///path/to/file.sqlite`` or ``postgresql+psycopg://user@host:port/db``
        (``postgresql://`` is taken as psycopg 3).
    busy_timeout_s
        SQLite: how long a writer waits for another writer's transaction to end.

    Raises
    ------
    ConfigurationError
        The URL is not of a supported database, or names an in-memory SQLite database.
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigurationError(f"store URL {url!r} is not a database URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
            raise ConfigurationError(
                f"store URL {url!r}: an in-memory SQLite database is not supported (each "
                "connection and process would see its own); give a file, sqlite:///path"
            )
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            parsed,
            connect_args={"timeout": busy_timeout_s},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        busy_ms = int(busy_timeout_s * 1000)

        def on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN (see on_begin)
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            _journal_wal(cursor, busy_timeout_s)
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA cache_size = -65536")
            cursor.close()

        def on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(_WRITE, False)
            if write:  # the wait of this context (set on the pooled connection every time)
                wait = _WRITE_WAIT.get()
                ms = busy_ms if wait is None else int(min(wait, busy_timeout_s) * 1000)
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "begin", on_begin)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() not in ("psycopg", "postgresql", "psycopg2"):
            raise ConfigurationError(
                f"store URL {url!r}: use the psycopg 3 driver, postgresql+psycopg://…"
            )
        parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(
            parsed,
            pool_pre_ping=True,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
    raise ConfigurationError(
        f"store URL {url!r}: unsupported database {backend!r}; use sqlite:///path or "
        "postgresql+psycopg://user@host:port/db"
    )


def alembic_config(connection: Connection) -> Config:
    """Return an Alembic configuration that migrates over ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the store's schema to ``revision``, safely when processes do it at once.

    SQLite serialises concurrent upgrades through ``BEGIN IMMEDIATE``, PostgreSQL through a
    transaction-level advisory lock; the PostGIS extension is created when missing
    (``CREATE EXTENSION IF NOT EXISTS postgis``, which needs a role allowed to create it).
    """
    with (
        engine.connect().execution_options(**{_WRITE: True}) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), revision)


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


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


_INSERT_COLUMNS = (*INCIDENT_COLUMNS, "batch_id")
_ARROW_SCHEMA = pa.schema(
    [
        ("ord", pa.int64()),
        ("external_id", pa.string()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("detected_at", pa.timestamp("us", tz="UTC")),
        ("lon", pa.float64()),
        ("lat", pa.float64()),
        ("category", pa.string()),
        ("detected_by", pa.string()),
        ("status", pa.string()),
        ("subjects", pa.int64()),
        ("jointly_handled", pa.bool_()),
        ("description", pa.string()),
        ("synthetic", pa.bool_()),
        ("batch_id", pa.string()),
    ]
)
_PG_STAGING = """
CREATE TEMPORARY TABLE _incoming (
    ord bigint, external_id text, occurred_at timestamptz, detected_at timestamptz,
    lon double precision, lat double precision, category text, detected_by text, status text,
    subjects integer, jointly_handled boolean, description text, synthetic boolean,
    batch_id text
) ON COMMIT DROP
"""


class SqlIncidentStore(IncidentStore):
    """:class:`~geozone.store.base.IncidentStore` on SQLite or PostgreSQL + PostGIS.

    Open it with :func:`geozone.store.open_store`, which also migrates the schema.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._tables = build_metadata(self.dialect).tables
        self._incidents = self._tables["incidents"]
        self._clusters = self._tables["incident_clusters"]
        self._batches = self._tables["import_batches"]
        self._writer = engine.execution_options(**{_WRITE: True})

    def __repr__(self) -> str:
        return f"SqlIncidentStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Open a write transaction; a lock held too long by another writer is StoreBusyError."""
        try:
            with self._writer.begin() as connection:
                wait = _WRITE_WAIT.get()
                if wait is not None and self.dialect == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
                yield connection
        except sa.exc.DBAPIError as exc:
            if is_busy(exc):
                raise StoreBusyError(
                    "the store is busy: another writer held it too long; nothing of this "
                    "call was stored"
                ) from exc
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as connection:
            if self.dialect == "postgresql":
                connection = connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    # -- incidents ---------------------------------------------------------------------------
    def add_incidents(
        self,
        incidents: pd.DataFrame,
        batch_id: str | None = None,
        *,
        source_rows: int | None = None,
    ) -> AddResult:
        """Store incidents in one transaction, skipping stored external ids.

        See :meth:`geozone.store.base.IncidentStore.add_incidents`.
        """
        prepared, _repeated = prepare_incidents(incidents)
        consumed = len(incidents) if source_rows is None else source_rows
        if consumed < len(incidents):
            raise InvalidParameterError(
                f"source_rows {consumed} is less than the {len(incidents)} rows given"
            )
        prepared["batch_id"] = batch_id
        try:
            with self._write() as connection:
                if batch_id is not None:
                    self._running_batch(connection, batch_id)
                inserted = self._bulk_insert(connection, prepared) if len(prepared) else 0
                duplicates = len(incidents) - inserted
                if batch_id is not None:
                    stamp = datetime.now(UTC)
                    batches = self._batches
                    connection.execute(
                        batches.update()
                        .where(batches.c.batch_id == batch_id)
                        .values(
                            rows_done=batches.c.rows_done + consumed,
                            rows_inserted=batches.c.rows_inserted + inserted,
                            rows_duplicate=batches.c.rows_duplicate + duplicates,
                            updated_at=stamp,
                        )
                    )
        except sa.exc.DBAPIError as exc:
            if "ck_import_batches_progress" in str(exc.orig):
                raise ImportBatchError(
                    f"batch {batch_id!r}: {consumed} more rows would pass its declared "
                    "rows_total; nothing of this call was stored"
                ) from exc
            raise StoreError(
                f"the incidents could not be stored, nothing of this call was: {exc.orig}"
            ) from exc
        return AddResult(inserted=inserted, duplicates=duplicates)

    def _bulk_insert(self, connection: Connection, prepared: pd.DataFrame) -> int:
        if self.dialect == "sqlite":
            return self._insert_sqlite(connection, prepared)
        return self._insert_postgres(connection, prepared)

    def _insert_sqlite(self, connection: Connection, frame: pd.DataFrame) -> int:
        columns = [
            frame["external_id"].tolist(),
            _sqlite_times(frame["occurred_at"]),
            _sqlite_times(frame["detected_at"]),
            frame["lon"].tolist(),
            frame["lat"].tolist(),
            frame["category"].tolist(),
            _nullable(frame["detected_by"]),
            frame["status"].tolist(),
            frame["subjects"].tolist(),
            frame["jointly_handled"].astype(int).tolist(),
            frame["description"].tolist(),
            frame["synthetic"].astype(int).tolist(),
            _nullable(frame["batch_id"]),
        ]
        sql = (
            f"INSERT INTO incidents ({', '.join(_INSERT_COLUMNS)}) "
            f"VALUES ({', '.join('?' * len(_INSERT_COLUMNS))}) "
            "ON CONFLICT (external_id) DO NOTHING"
        )
        result = connection.exec_driver_sql(sql, list(zip(*columns, strict=True)))
        return int(result.rowcount)

    def _insert_postgres(self, connection: Connection, frame: pd.DataFrame) -> int:
        connection.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # sort by ord in memory
        connection.exec_driver_sql(_PG_STAGING)
        staged = frame.assign(ord=np.arange(len(frame), dtype=np.int64))
        table = pa.Table.from_pandas(
            staged[_ARROW_SCHEMA.names], schema=_ARROW_SCHEMA, preserve_index=False
        )
        options = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
        raw = connection.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy("COPY _incoming FROM STDIN (FORMAT csv)") as copy:
            # CSV quoting every value: an unquoted empty field is NULL, "" is empty text.
            for block in table.to_batches(max_chunksize=_COPY_CHUNK):
                buffer = io.BytesIO()
                pacsv.write_csv(block, buffer, options)
                copy.write(buffer.getbuffer())
        columns = ", ".join(_INSERT_COLUMNS)
        result = connection.exec_driver_sql(
            f"INSERT INTO incidents ({columns}) SELECT {columns} FROM _incoming ORDER BY ord "
            "ON CONFLICT (external_id) DO NOTHING"
        )
        return int(result.rowcount)

    def _result_columns(self, *, raw: bool = False) -> list[sa.ColumnElement[Any]]:
        """Return the result columns; ``raw``: times and flags as the driver gives them.

        Raw values skip SQLAlchemy's per-value conversion, so that :func:`_frame` converts
        whole columns at once.
        """
        columns: list[sa.ColumnElement[Any]] = []
        for name in RESULT_COLUMNS:
            column = self._incidents.c[name]
            if raw and name == "detected_at":  # NULL when outside the plausible range
                unread = sa.type_coerce(column, sa.types.NullType())
                columns.append(sa.case((self._in_range(column), unread)).label(name))
            elif raw and isinstance(column.type, UTCDateTime | sa.Boolean):
                columns.append(sa.type_coerce(column, sa.types.NullType()).label(name))
            else:
                columns.append(column)
        return columns

    def get(self, external_id: str) -> dict[str, Any] | None:
        """Return one incident with its assignment and cluster rows, or None.

        See :meth:`geozone.store.base.IncidentStore.get`.
        """
        incidents, clusters = self._incidents, self._clusters
        times = ("occurred_at", "detected_at")
        columns = [
            self._time_or_null(c.name) if c.name in times else c for c in self._result_columns()
        ]
        raw = [sa.cast(incidents.c[name], sa.Text).label(f"raw_{name}") for name in times]
        with self._read() as connection:
            row = connection.execute(
                sa.select(incidents.c.id, *columns, *raw).where(
                    incidents.c.external_id == nfc(external_id)
                )
            ).first()
            if row is None:
                return None
            cluster_rows = connection.execute(
                sa.select(*(clusters.c[name] for name in CLUSTER_COLUMNS))
                .where(clusters.c.incident_id == row.id)
                .order_by(clusters.c.cluster_id)
            ).all()
        values = row._asdict()
        values.pop("id")
        record: dict[str, Any] = {name: values[name] for name in (*INCIDENT_COLUMNS, "batch_id")}
        if values["assigned_with"] is None:
            record["assignment"] = None
        else:
            record["assignment"] = {
                name: values[name] for name in (*UNIT_COLUMNS, "assigned_with", "assigned_at")
            }
        record["clusters"] = [r._asdict() for r in cluster_rows]
        record["problems"] = [
            f"{name}: the stored value {values[f'raw_{name}']!r} is outside the plausible range "
            f"({time_range_text()}); the incident is left out of queries and assignment until "
            "it is corrected"
            for name in times
            if values[name] is None and values[f"raw_{name}"] is not None
        ]
        return record

    def get_many(self, external_ids: Sequence[str]) -> pd.DataFrame:
        """Return the incident fields of many incidents (unknown ids are left out).

        See :meth:`geozone.store.base.IncidentStore.get_many`.
        """
        incidents = self._incidents
        wanted = [nfc(i) for i in external_ids]
        frames = []
        with self._read() as connection:
            for first in range(0, len(wanted), 5_000):  # stay below bind-parameter limits
                columns = [
                    self._time_or_null(name)
                    if name in ("occurred_at", "detected_at")
                    else incidents.c[name]
                    for name in INCIDENT_COLUMNS
                ]
                rows = connection.execute(
                    sa.select(*columns).where(
                        incidents.c.external_id.in_(wanted[first : first + 5_000])
                    )
                ).all()
                frames.append(pd.DataFrame(rows, columns=list(INCIDENT_COLUMNS)))
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=list(INCIDENT_COLUMNS))
        )

    # -- times outside the plausible range ---------------------------------------------------
    def _in_range(self, column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        """Tell where a stored time lies in the plausible range (NULL is not in it).

        SQLite compares the stored UTC text with the bound's text (both sort as times; any
        other text, such as year 0000, falls outside); PostgreSQL compares instants.
        """
        return column.between(EARLIEST_TIME, latest_time())

    def _plausible(self) -> sa.ColumnElement[bool]:
        """Tell which incidents have a plausible ``occurred_at`` (the rows queries return).

        A range on the indexed column, so it costs a query little; an implausible
        ``detected_at`` is read as NULL instead (see :meth:`_result_columns`).
        """
        return self._in_range(self._incidents.c.occurred_at)

    def _sound(self) -> sa.ColumnElement[bool]:
        """Tell which incidents have both stored times plausible (see :meth:`quarantined`)."""
        t = self._incidents
        detected_ok = sa.or_(t.c.detected_at.is_(None), self._in_range(t.c.detected_at))
        return sa.and_(self._in_range(t.c.occurred_at), detected_ok)

    def _time_or_null(self, name: str) -> sa.ColumnElement[Any]:
        """Read a time column safely: NULL where the stored value is outside the range."""
        column = self._incidents.c[name]
        return sa.case((self._in_range(column), column), else_=sa.null()).label(name)

    def quarantined(self, limit: int = 100) -> tuple[int, list[str]]:
        """Count the stored incidents whose times are outside the plausible range.

        Such rows were written before the range was enforced (or by hand). Readers survive
        them: :meth:`get` returns the row with the time as None and the reason in
        ``problems``; queries, counts and assignment leave them out until the row is fixed.

        Returns
        -------
        tuple of int and list of str
            How many there are and the external ids of the first ``limit``, by id.
        """
        t = self._incidents
        outside = sa.not_(self._sound())
        with self._read() as connection:
            total = connection.execute(sa.select(sa.func.count()).where(outside)).scalar_one()
            ids = connection.execute(
                sa.select(t.c.external_id).where(outside).order_by(t.c.id).limit(limit)
            ).scalars()
            return int(total), list(ids)

    # -- queries -----------------------------------------------------------------------------
    def _where(self, query: IncidentQuery) -> list[sa.ColumnElement[bool]]:
        t, c = self._incidents, self._clusters
        where: list[sa.ColumnElement[bool]] = [self._plausible()]
        if query.bbox is not None:
            minx, miny, maxx, maxy = query.bbox
            if self.dialect == "sqlite":
                r = self._tables["incidents_rtree"]
                hits = sa.select(r.c.id).where(
                    r.c.minx <= maxx, r.c.maxx >= minx, r.c.miny <= maxy, r.c.maxy >= miny
                )
                where.append(t.c.id.in_(hits))
            else:
                envelope = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
                where.append(t.c.geom.op("&&")(envelope))
            # Index boxes are single precision: compare the exact coordinates as well.
            where += [t.c.lon.between(minx, maxx), t.c.lat.between(miny, maxy)]
        if query.start is not None:
            where.append(t.c.occurred_at >= query.start)
        if query.end is not None:
            where.append(t.c.occurred_at < query.end)
        if query.categories is not None:
            where.append(t.c.category.in_(query.categories))
        if query.unit_code is not None:
            code = query.unit_code
            where.append(
                sa.or_(
                    t.c.unit_code == code,
                    t.c.ward_code == code,
                    t.c.district_code == code,
                    t.c.province_code == code,
                )
            )
        if query.status is not None:
            where.append(t.c.status == query.status)
        if query.synthetic is not None:
            where.append(t.c.synthetic == query.synthetic)
        # Driven from incident_clusters (indexed on cluster_id, in_zone); one row per pair.
        if query.cluster_id is not None:
            members = sa.select(c.c.incident_id).where(c.c.cluster_id == query.cluster_id)
            if query.in_border_zone is not None:
                members = members.where(c.c.in_zone == query.in_border_zone)
            where.append(t.c.id.in_(members))
        elif query.in_border_zone is not None:
            zoned = sa.select(c.c.incident_id).where(c.c.in_zone == sa.true())
            where.append(t.c.id.in_(zoned) if query.in_border_zone else t.c.id.not_in(zoned))
        return where

    def query(self, query: IncidentQuery) -> tuple[gpd.GeoDataFrame, int]:
        """Return one page of matching incidents and the total matched.

        See :meth:`geozone.store.base.IncidentStore.query`.
        """
        t = self._incidents
        where = self._where(query)
        if query.order == "occurred_at":
            keys = [t.c.occurred_at, t.c.external_id]
        else:
            keys = [t.c.external_id]
        order = [k.desc() if query.descending else k.asc() for k in keys]
        page = (
            sa.select(*self._result_columns(raw=True))
            .where(*where)
            .order_by(*order)
            .limit(query.limit)
            .offset(query.offset)
        )
        with self._read() as connection:
            rows = connection.execute(page).all()
            if 0 < len(rows) < query.limit or (not rows and query.offset == 0):
                n_total = query.offset + len(rows)  # the last page: no need to count
            else:
                counted = connection.execute(
                    sa.select(sa.func.count()).select_from(t).where(*where)
                )
                n_total = int(counted.scalar_one())
        return _frame(rows, sqlite=self.dialect == "sqlite"), n_total

    def cluster_rows(self, query: IncidentQuery) -> pd.DataFrame:
        """Return the cluster decisions of the page of incidents ``query`` selects.

        See :meth:`geozone.store.base.IncidentStore.cluster_rows`.
        """
        t, c = self._incidents, self._clusters
        keys = [t.c.occurred_at, t.c.external_id] if query.order == "occurred_at" else []
        keys.append(t.c.external_id)
        order = [k.desc() if query.descending else k.asc() for k in keys]
        page = (
            sa.select(
                t.c.id,
                t.c.external_id,
                sa.func.row_number().over(order_by=order).label("position"),
            )
            .where(*self._where(query))
            .order_by(*order)
            .limit(query.limit)
            .offset(query.offset)
            .subquery()
        )
        statement = (
            sa.select(page.c.external_id, *(c.c[name] for name in CLUSTER_COLUMNS))
            .join(c, c.c.incident_id == page.c.id)
            .order_by(page.c.position, c.c.cluster_id)
        )
        if query.cluster_id is not None:
            statement = statement.where(c.c.cluster_id == query.cluster_id)
        with self._read() as connection:
            rows = connection.execute(statement).all()
        frame = pd.DataFrame.from_records(
            [tuple(row) for row in rows], columns=["external_id", *CLUSTER_COLUMNS]
        )
        frame["in_zone"] = frame["in_zone"].astype(bool)
        frame["review"] = frame["review"].astype(bool)
        frame["distance_m"] = frame["distance_m"].astype("float64")
        return frame

    def count(self, query: IncidentQuery) -> int:
        """Return how many incidents match ``query``."""
        t = self._incidents
        with self._read() as connection:
            result = connection.execute(
                sa.select(sa.func.count()).select_from(t).where(*self._where(query))
            )
            return int(result.scalar_one())

    # -- assignments -------------------------------------------------------------------------
    def save_assignments(self, units: pd.DataFrame, clusters: pd.DataFrame, *, stamp: str) -> int:
        """Replace the assignment of the incidents in ``units``, atomically.

        See :meth:`geozone.store.base.IncidentStore.save_assignments`.
        """
        if not stamp or len(stamp) > 128:
            raise InvalidParameterError(f"stamp {stamp!r} must be 1 to 128 characters")
        unit_frame, cluster_frame = prepare_assignments(units, clusters)
        if unit_frame.empty:
            return 0
        t, c = self._incidents, self._clusters
        external_ids: list[str] = unit_frame["external_id"].tolist()
        now = datetime.now(UTC)
        with self._write() as connection:
            ids: dict[str, int] = {}
            for chunk in _chunks(external_ids):
                found = connection.execute(
                    sa.select(t.c.external_id, t.c.id).where(t.c.external_id.in_(chunk))
                )
                ids.update((e, i) for e, i in found)
            missing = [e for e in external_ids if e not in ids]
            if missing:
                raise UnknownIncidentError(
                    f"{len(missing)} incident(s) of the assignment are not stored: "
                    f"{', '.join(map(repr, missing[:5]))}{', …' if len(missing) > 5 else ''}"
                )
            # Bound names must differ from the column names an UPDATE sets.
            unit_rows = (
                unit_frame.assign(
                    id=unit_frame["external_id"].map(ids),
                    on_boundary=unit_frame["on_boundary"].astype(object),
                )
                .drop(columns="external_id")
                .add_prefix("p_")
            )
            params = cast(
                list[dict[str, Any]],
                unit_rows.astype(object).where(unit_rows.notna(), None).to_dict("records"),
            )
            values: dict[str, Any] = {name: sa.bindparam(f"p_{name}") for name in UNIT_COLUMNS}
            values |= {"assigned_with": stamp, "assigned_at": now}
            connection.execute(
                t.update().where(t.c.id == sa.bindparam("p_id")).values(values), params
            )
            id_list = list(ids.values())
            for chunk in _chunks(id_list):
                connection.execute(c.delete().where(c.c.incident_id.in_(chunk)))
            if not cluster_frame.empty:
                rows = cluster_frame.assign(incident_id=cluster_frame["external_id"].map(ids)).drop(
                    columns="external_id"
                )
                records = cast(
                    list[dict[str, Any]],
                    rows.astype(object).where(rows.notna(), None).to_dict("records"),
                )
                connection.execute(c.insert(), records)
        return len(external_ids)

    def stale_ids(self, stamp: str, limit: int | None = None) -> list[str]:
        """Return external ids never assigned or assigned with another stamp, oldest first."""
        t = self._incidents
        statement = (
            sa.select(t.c.external_id)
            .where(sa.or_(t.c.assigned_with.is_(None), t.c.assigned_with != stamp))
            .where(self._plausible())
            .order_by(t.c.id)
        )
        if limit is not None:
            statement = statement.limit(limit)
        with self._read() as connection:
            return list(connection.execute(statement).scalars())

    # -- import batches ----------------------------------------------------------------------
    def _batch_row(self, connection: Connection, batch_id: str) -> dict[str, Any] | None:
        row = connection.execute(
            sa.select(self._batches).where(self._batches.c.batch_id == batch_id)
        ).first()
        return None if row is None else row._asdict()

    def _running_batch(self, connection: Connection, batch_id: str) -> dict[str, Any]:
        record = self._batch_row(connection, batch_id)
        if record is None:
            raise ImportBatchError(f"batch {batch_id!r} is unknown; call begin_batch first")
        if record["status"] != "running":
            raise ImportBatchError(f"batch {batch_id!r} is finished ({record['status']})")
        return record

    def begin_batch(
        self, batch_id: str, source: str, sha256: str, rows_total: int
    ) -> dict[str, Any]:
        """Register an import batch, or return the existing one to resume it.

        See :meth:`geozone.store.base.IncidentStore.begin_batch`.
        """
        if not batch_id or len(batch_id) > 128:
            raise InvalidParameterError(f"batch_id {batch_id!r} must be 1 to 128 characters")
        if rows_total < 0:
            raise InvalidParameterError(f"rows_total {rows_total} must be 0 or more")
        now = datetime.now(UTC)
        insert = sqlite_insert if self.dialect == "sqlite" else postgresql_insert
        with self._write() as connection:
            # Two importers may begin the same batch at once: the second keeps the first's row.
            connection.execute(
                insert(self._batches)
                .values(
                    batch_id=batch_id,
                    source=source,
                    sha256=sha256,
                    rows_total=rows_total,
                    rows_done=0,
                    rows_inserted=0,
                    rows_duplicate=0,
                    status="running",
                    started_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["batch_id"])
            )
            record = self._batch_row(connection, batch_id)
        assert record is not None
        if (record["sha256"], record["rows_total"]) != (sha256, rows_total):
            raise ImportBatchError(
                f"batch {batch_id!r} exists for another input (sha256 {record['sha256']}, "
                f"{record['rows_total']} rows; given {sha256}, {rows_total} rows)"
            )
        return record

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        """Return a batch's record or None."""
        with self._read() as connection:
            return self._batch_row(connection, batch_id)

    def finish_batch(
        self,
        batch_id: str,
        rows_stored: int,
        rows_rejected: int,
        rejects: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Mark a running batch done with its final counts and rejected rows; return it."""
        if rows_stored < 0 or rows_rejected < 0:
            raise InvalidParameterError("rows_stored and rows_rejected must be 0 or more")
        now = datetime.now(UTC)
        with self._write() as connection:
            self._running_batch(connection, batch_id)
            connection.execute(
                self._batches.update()
                .where(self._batches.c.batch_id == batch_id)
                .values(
                    status="done",
                    rows_stored=rows_stored,
                    rows_rejected=rows_rejected,
                    rejects=rejects,
                    updated_at=now,
                    finished_at=now,
                )
            )
            record = self._batch_row(connection, batch_id)
        assert record is not None
        return record

    # -- carried clusters ---------------------------------------------------------------------
    def confirm_cluster(self, confirmation: Confirmation) -> None:
        """Record (or replace) a planner's confirmation of a carried cluster."""
        table = self._tables["cluster_confirmations"]
        values = {
            "from_date": confirmation.from_date,
            "confirmed_by": confirmation.by,
            "note": confirmation.note,
            "zone": confirmation.zone,
            "confirmed_at": datetime.now(UTC),
        }
        with self._write() as connection:
            updated = connection.execute(
                table.update().where(table.c.cluster_id == confirmation.cluster_id).values(**values)
            )
            if not updated.rowcount:
                connection.execute(
                    table.insert().values(cluster_id=confirmation.cluster_id, **values)
                )

    def withdraw_confirmation(self, cluster_id: str) -> bool:
        """Remove a carried cluster's confirmation; tell whether there was one."""
        table = self._tables["cluster_confirmations"]
        with self._write() as connection:
            removed = connection.execute(table.delete().where(table.c.cluster_id == cluster_id))
        return bool(removed.rowcount)

    def confirmations(self) -> list[Confirmation]:
        """Return every recorded confirmation, by cluster id."""
        table = self._tables["cluster_confirmations"]
        with self._read() as connection:
            rows = connection.execute(table.select().order_by(table.c.cluster_id)).all()
        return [
            Confirmation(row.cluster_id, row.from_date, row.confirmed_by, row.note, row.zone)
            for row in rows
        ]

    def close(self) -> None:
        """Close the engine's pooled connections."""
        self.engine.dispose()


def _frame(rows: Sequence[sa.Row[Any]], *, sqlite: bool) -> gpd.GeoDataFrame:
    """Assemble the query result frame with its dtypes (also when empty), column by column.

    Times arrive raw: UTC text on SQLite, aware datetimes from psycopg.
    """
    frame = pd.DataFrame.from_records(
        [tuple(r) for r in rows], columns=list(RESULT_COLUMNS), coerce_float=False
    )
    for column in ("occurred_at", "detected_at", "assigned_at"):
        if sqlite:
            times = pd.to_datetime(frame[column], utc=True, format="%Y-%m-%d %H:%M:%S.%f")
        else:
            times = pd.to_datetime(frame[column], utc=True)
        frame[column] = times.dt.tz_convert(VIETNAM_TZ).dt.as_unit("us")
    frame["lon"] = frame["lon"].astype("float64")
    frame["lat"] = frame["lat"].astype("float64")
    frame["subjects"] = frame["subjects"].astype("int64")
    for column in ("jointly_handled", "synthetic"):
        frame[column] = frame[column].astype(bool)
    frame["on_boundary"] = frame["on_boundary"].astype("boolean")
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)
