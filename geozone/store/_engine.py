"""Engines of the store's two databases, and the migrations that make their schema.

:func:`create_store_engine` configures SQLite for concurrent writer processes (WAL mode, a
busy timeout, ``BEGIN IMMEDIATE`` for writes) and PostgreSQL for psycopg 3;
:func:`migrate` upgrades the schema with the Alembic migrations in ``migrations/``, safely
when processes do it at once. :func:`write_wait` bounds how long the writes of a context wait
for other writers, and :func:`is_busy` tells a lock wait that gave up from other errors.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from geozone.errors import ConfigurationError
from geozone.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Key of the PostgreSQL advisory lock that serialises concurrent migrations.
_MIGRATION_LOCK = 0x67656F7A6F6E65  # "geozone"
#: Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE = "geozone_write"
#: How long a write begun in this context waits for other writers (None: the engine's wait).
WRITE_WAIT: ContextVar[float | None] = ContextVar("geozone_write_wait", default=None)
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
    token = WRITE_WAIT.set(seconds)
    try:
        yield
    finally:
        WRITE_WAIT.reset(token)


def is_busy(exc: sa.exc.DBAPIError) -> bool:
    """Tell whether a database error means another writer held a lock too long."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return getattr(exc.orig, "sqlstate", None) in _PG_BUSY


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
            write = connection.get_execution_options().get(WRITE, False)
            if write:  # the wait of this context (set on the pooled connection every time)
                wait = WRITE_WAIT.get()
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
        engine.connect().execution_options(**{WRITE: True}) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), revision)
