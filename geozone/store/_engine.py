"""Engines of the store's two databases, and the migrations that make their schema.

:func:`create_store_engine` configures SQLite for concurrent writer processes (WAL mode, a
busy timeout, ``BEGIN IMMEDIATE`` for writes) and PostgreSQL for psycopg 3;
:func:`migrate` upgrades the schema with the Alembic migrations in ``migrations/``, safely
when processes do it at once. :func:`write_wait` bounds how long the writes of a context wait
for other writers, and :func:`is_busy` tells a lock wait that gave up from other errors;
:func:`linking_lock` lets one linker of events at a time write, across processes, and
:func:`import_lock` one run of an import batch at a time (:func:`import_running` tells).

A store that cannot be reached, or whose role lacks a right (a wrong port or password, a
missing database, no PostGIS, no schema to create tables in), raises
:class:`~geozone.errors.StoreAccessError` with one line naming the problem and its fix
(:func:`describe_store_error`), never a driver traceback. :func:`init_store` creates or
checks PostGIS and the schema and says what it did (``geozone db init``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from geozone.errors import (
    ConfigurationError,
    ImportBatchError,
    StoreAccessError,
    StoreBusyError,
)
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
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreAccessError(
                f"store {url}: cannot create the SQLite store's folder {folder}: "
                f"{exc.strerror or exc}"
            ) from None
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
            # 16 MB of pages per connection (8 x SQLite's default). Each pooled connection
            # keeps its own: at 64 MB an import of 1 M rows held ~200 MB more at its peak
            # (its writer, readers and linking), and stored no faster (measured at 300 k rows).
            cursor.execute("PRAGMA cache_size = -16384")
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

    Raises
    ------
    StoreAccessError
        The store cannot be reached or its role lacks a right (one line naming it).
    """
    with (
        store_access(engine.url),
        engine.connect().execution_options(**{WRITE: True}) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
            )
        command.upgrade(alembic_config(connection), revision)


# -- one linker of events at a time -----------------------------------------------------------

#: Key of the PostgreSQL advisory lock held by whoever links reports into events.
_LINKING_LOCK = 0x67656F6C696E6B  # "geolink"
#: Pause between tries of a linking lock held elsewhere (doubling up to the last).
_LOCK_PAUSES = (0.01, 0.02, 0.05, 0.1, 0.2)


@dataclass
class _Holder:
    """The linking lock of one store in this process: a thread's hold count and its handle."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    depth: int = 0
    release: Callable[[], None] | None = None


_HOLDERS: dict[str, _Holder] = {}
_HOLDERS_GUARD = threading.Lock()


@contextmanager
def linking_lock(
    engine: Engine, *, on_wait: Callable[[], None] | None = None, now: bool = False
) -> Iterator[None]:
    """Hold the store's linking lock: one linker of events at a time, across processes.

    Linking reads the reports around the ones it links and writes their events from that
    read; two linkers at once (an import and ``geozone incidents link``, two imports) could
    each write from a read the other made stale. The lock is re-entrant within a thread (an
    import holds it for its whole linking, each chunk takes it again). SQLite: an exclusive
    ``flock`` on a file beside the database (``<database>-link.lock``), released by the
    kernel when the process ends; PostgreSQL: a session advisory lock on its own connection.

    Waits as long as :func:`write_wait` allows (None: until the lock is free), calling
    ``on_wait`` once if it has to wait at all; with ``now``, does not wait.

    Raises
    ------
    StoreBusyError
        Another linker held the lock past the wait.
    StoreAccessError
        The lock file of a SQLite store cannot be opened.
    """
    key = engine.url.render_as_string(hide_password=True)
    with _HOLDERS_GUARD:
        holder = _HOLDERS.setdefault(key, _Holder())
    wait = 0.0 if now else WRITE_WAIT.get()
    deadline = None if wait is None else time.monotonic() + wait
    if not holder.lock.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
            on_wait = None
        if not holder.lock.acquire(timeout=-1 if wait is None else max(0.0, wait)):
            raise _busy_linking()
    try:
        if holder.depth == 0:
            holder.release = _acquire_outer(engine, deadline, on_wait)
        holder.depth += 1
        try:
            yield
        finally:
            holder.depth -= 1
            if holder.depth == 0 and holder.release is not None:
                release, holder.release = holder.release, None
                release()
    finally:
        holder.lock.release()


def _busy_linking() -> StoreBusyError:
    return StoreBusyError(
        "the store is busy linking reports into events (an import or 'geozone incidents "
        "link' in another process or request); nothing of this call's linking was written"
    )


def _acquire_outer(
    engine: Engine, deadline: float | None, on_wait: Callable[[], None] | None
) -> Callable[[], None]:
    """Take the lock between processes; return what releases it."""
    try_lock, release = _process_lock(engine, "link", (_LINKING_LOCK,))
    try:
        tries = 0
        while not try_lock():
            if on_wait is not None:
                on_wait()
                on_wait = None
            pause = _LOCK_PAUSES[min(tries, len(_LOCK_PAUSES) - 1)]
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _busy_linking()
                pause = min(pause, left)  # a last try at the deadline
            time.sleep(pause)
            tries += 1
    except BaseException:
        release(False)
        raise
    return lambda: release(True)


def _process_lock(
    engine: Engine, name: str, key: tuple[int, ...], *, probe: bool = False
) -> tuple[Callable[[], bool], Callable[[bool], None]]:
    """Return a try and a release of a lock between processes (and connections).

    SQLite: ``flock`` on the file ``<database>-<name>.lock``; PostgreSQL: the session
    advisory lock ``key`` (one bigint, or two int4) on a connection of its own. ``probe``:
    only to tell whether another holds it (a SQLite lock file that cannot be made is held
    by no one).
    """
    if engine.dialect.name == "sqlite":
        path = Path(str(engine.url.database)).expanduser()
        return _sqlite_lock(path, path.with_name(f"{path.name}-{name}.lock"), name, probe)
    return _postgres_lock(engine, key)


def _sqlite_lock(
    path: Path, lock_path: Path, name: str, probe: bool
) -> tuple[Callable[[], bool], Callable[[bool], None]]:
    # Read-only and created if missing: flock needs no write access, so users sharing the
    # store (the service, an administrator's CLI) share the file whoever made it.
    try:
        handle = os.open(lock_path, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError as exc:
        if probe and not lock_path.exists():  # never made, so never held
            return (lambda: True), (lambda _held: None)
        raise StoreAccessError(
            f"store {path}: cannot open its {name} lock {lock_path}: {exc.strerror or exc}"
        ) from None

    def try_lock() -> bool:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(held: bool) -> None:
        try:
            if held:
                fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            os.close(handle)

    return try_lock, release


def _postgres_lock(
    engine: Engine, key: tuple[int, ...]
) -> tuple[Callable[[], bool], Callable[[bool], None]]:
    """Return a try and a release of a session advisory lock on a connection of its own.

    A connection whose lock state is unsure (a statement failed or was interrupted, or the
    unlock found no lock: the session was lost) is invalidated, never pooled with a lock.
    """
    connection = engine.connect()
    names = ", ".join(f":k{i}" for i in range(len(key)))
    values = {f"k{i}": k for i, k in enumerate(key)}

    def try_lock() -> bool:
        try:
            query = sa.text(f"SELECT pg_try_advisory_lock({names})")
            held = bool(connection.execute(query, values).scalar())
            connection.commit()  # no transaction left open while the lock is held
        except BaseException:
            connection.invalidate()
            raise
        return held

    def release(held: bool) -> None:
        try:
            if held:
                query = sa.text(f"SELECT pg_advisory_unlock({names})")
                if not connection.execute(query, values).scalar():
                    connection.invalidate()  # not held any more: the session was lost
                else:
                    connection.commit()
        except BaseException:
            connection.invalidate()
            raise
        finally:
            connection.close()

    return try_lock, release


# -- one run of an import batch at a time ------------------------------------------------------

#: The first int4 of the PostgreSQL advisory locks of import batches (the second: the batch).
_IMPORT_LOCKS = 0x67696D70  # "gimp"


#: How long a run of an import waits for its batch's lock before it is refused: another
#: process may hold it for a moment to tell whether a run is in progress (:func:`import_running`).
_IMPORT_LOCK_WAIT_S = 2.0


def _batch_lock(
    engine: Engine, batch_id: str, *, probe: bool = False
) -> tuple[Callable[[], bool], Callable[[bool], None]]:
    digest = hashlib.sha256(batch_id.encode("utf-8")).hexdigest()
    signed = int(digest[:8], 16) - (1 << 31)  # an int4
    return _process_lock(engine, f"import-{digest[:16]}", (_IMPORT_LOCKS, signed), probe=probe)


@contextmanager
def import_lock(
    engine: Engine, batch_id: str, source: str, *, then: str = "run it again to resume it"
) -> Iterator[None]:
    """Hold import batch ``batch_id``'s lock while it runs: one run of a batch at a time.

    Taken by an import for its whole run (storing and linking) and released when it ends,
    however it ends (the kernel or the server releases it for a process that dies): a batch
    not done whose lock is free has stopped (:func:`import_running`). SQLite: ``flock`` on
    ``<database>-import-<16 hex digits>.lock`` (one file a batch, left beside the store);
    PostgreSQL: a session advisory lock.

    ``then``: what the refusal tells the user to do once the other run has ended.

    Raises
    ------
    ImportBatchError
        The batch is being imported by another process or job (named, with ``source``).
    """
    try_lock, release = _batch_lock(engine, batch_id)
    held = False
    try:
        deadline = time.monotonic() + _IMPORT_LOCK_WAIT_S
        while not (held := try_lock()) and time.monotonic() < deadline:
            time.sleep(_LOCK_PAUSES[1])  # a probe holds it for a moment only
        if not held:
            raise ImportBatchError(
                f"import batch {batch_id!r} of {source} is running in another process or job: "
                f"one run of an import at a time; wait for it to end (or stop it), then {then}"
            )
        yield
    finally:
        release(held)


def import_running(engine: Engine, batch_id: str) -> bool:
    """Tell whether import batch ``batch_id`` is being run now (its lock is held)."""
    try_lock, release = _batch_lock(engine, batch_id, probe=True)
    held = False
    try:
        held = try_lock()
        return not held
    finally:
        release(held)


# -- problems reaching the store, in one line ---------------------------------------------------

#: What a PostgreSQL connection failure's text means → the line that names it.
_CONNECT_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.I), line)
    for pattern, line in (
        (
            r"password authentication failed for user",
            "wrong password for role {user} (check the password in the URL or PGPASSFILE)",
        ),
        (
            r"no password supplied|fe_sendauth",
            "role {user} needs a password and none was given (put it in PGPASSFILE, "
            "host:port:db:user:password)",
        ),
        (r'role "[^"]*" does not exist', "role {user} does not exist on {server}"),
        (
            r'database "[^"]*" does not exist',
            "database {database} does not exist on {server} (the DBA creates it: "
            "deploy/postgis-roles.sql)",
        ),
        (
            r"permission denied for database",
            "role {user} may not connect to database {database} (GRANT CONNECT)",
        ),
        (
            r"no pg_hba\.conf entry",
            "{server} refuses role {user} from this host (no pg_hba.conf entry)",
        ),
        (
            r"connection refused",
            "nothing answers at {server} (wrong port or host, or the server is not running)",
        ),
        (
            r"could not translate host name|name or service not known|"
            r"temporary failure in name resolution",
            "unknown host {host}",
        ),
        (r"timeout expired|timed out", "{server} did not answer in time"),
        (
            r"no such file or directory.*socket|socket.*no such file",
            "no PostgreSQL server socket at {server}",
        ),
    )
)


def _safe_url(url: str | sa.engine.URL) -> str:
    """Return the URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<unreadable store URL>"


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line:
            return re.sub(r"^(FATAL|ERROR):\s*", "", line)
    return text.strip()


def describe_store_error(exc: BaseException, url: str | sa.engine.URL | None) -> str | None:
    """Return one line naming why the store at ``url`` cannot be used, or None.

    Recognises the database driver's errors (wrapped by SQLAlchemy or not): connection
    failures (port, host, password, role, database), missing rights (``CREATE EXTENSION
    postgis``, tables in a schema), PostGIS not installed, and SQLite files that cannot be
    opened or written. The password never appears in the line.
    """
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    if isinstance(exc, sa.exc.DBAPIError) and orig is None:
        return None
    if url is None:  # an error raised after the store was opened, its URL unknown here
        parsed, where = make_url("postgresql://"), "store"
    else:
        parsed = make_url(url) if not isinstance(url, sa.engine.URL) else url
        where = f"store {_safe_url(parsed)}"
    if isinstance(orig, sqlite3.Error):
        text = str(orig)
        file = parsed.database or "?"
        if "unable to open database file" in text:
            return f"{where}: cannot open the SQLite file {file} (missing folder or no permission)"
        if "readonly" in text or "read-only" in text:
            return f"{where}: the SQLite file {file} is read-only for this user"
        if "not a database" in text:
            return f"{where}: {file} is not a SQLite database"
        return (
            f"{where}: {_first_line(text)}" if isinstance(orig, sqlite3.OperationalError) else None
        )
    module = type(orig).__module__
    if not module.startswith("psycopg"):
        return None
    user = parsed.username or ("(the OS user)" if url is not None else "(the store's role)")
    host = parsed.host or "localhost"
    server = f"{host}:{parsed.port or 5432}"
    database = parsed.database or user
    fields = {"user": user, "host": host, "server": server, "database": database}
    text = str(orig)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in ("42501", "3F000"):  # insufficient_privilege, invalid_schema_name
        line = _first_line(text)
        if "extension" in text:
            fix = (
                f"a superuser must run CREATE EXTENSION postgis in database {database} once "
                "(deploy/postgis-roles.sql)"
            )
        else:
            fix = (
                f"give role {user} a schema of its own: CREATE SCHEMA geozone AUTHORIZATION "
                f"{user}; ALTER ROLE {user} SET search_path = geozone, public "
                "(deploy/postgis-roles.sql)"
            )
        return f"{where}: role {user} lacks a right: {line}; {fix}"
    postgis_missing = sqlstate in ("0A000", "58P01") or "is not available" in text
    if postgis_missing and "postgis" in text.lower():
        return (
            f"{where}: PostGIS is not installed on {server} (install the server's PostGIS "
            "package, e.g. postgresql-16-postgis-3)"
        )
    for pattern, line in _CONNECT_PROBLEMS:
        if pattern.search(text):
            return f"{where}: {line.format(**fields)}"
    if sqlstate is None or sqlstate.startswith(("08", "28", "3D", "53", "57")):
        return f"{where}: {_first_line(text.split('failed: ')[-1])}"
    return None


@contextmanager
def store_access(url: str | sa.engine.URL) -> Iterator[None]:
    """Turn a failure to reach or use the store at ``url`` into :class:`StoreAccessError`."""
    try:
        yield
    except sa.exc.DBAPIError as exc:
        line = None if is_busy(exc) else describe_store_error(exc, url)
        if line is None:
            raise
        raise StoreAccessError(line) from None


# -- geozone db init ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreInit:
    """What :func:`init_store` found and did.

    Attributes
    ----------
    store
        The store URL, without its password.
    backend
        ``postgresql`` or ``sqlite``.
    server
        The database server's version (SQLite's library version).
    role
        The role connected as (PostgreSQL), else None.
    superuser
        Whether that role is a superuser (PostgreSQL), else None.
    schema
        Where the tables are created (``current_schema()``; ``main`` for SQLite).
    postgis
        The PostGIS version, None for SQLite.
    postgis_action
        ``present`` (already enabled), ``created`` (enabled now), or None (SQLite).
    revision_before, revision_after
        The schema's migration revision before and after (None: no tables yet).
    schema_action
        ``created``, ``migrated`` or ``up to date``.
    tables
        How many tables the store has in its schema after.
    """

    store: str
    backend: str
    server: str
    role: str | None
    superuser: bool | None
    schema: str
    postgis: str | None
    postgis_action: str | None
    revision_before: str | None
    revision_after: str | None
    schema_action: str
    tables: int

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dictionary."""
        return asdict(self)

    def summary(self) -> list[str]:
        """Return lines saying what was found and done."""
        lines = [f"store {self.store} ({self.backend} {self.server})"]
        if self.backend == "postgresql":
            su = "a superuser" if self.superuser else "not a superuser"
            lines.append(f"role {self.role} ({su}), tables in schema {self.schema}")
            lines.append(f"PostGIS {self.postgis}: {self.postgis_action}")
        before = self.revision_before or "none"
        if self.schema_action == "up to date":
            lines.append(f"schema up to date at revision {self.revision_after}")
        else:
            lines.append(f"schema {self.schema_action}: revision {before} -> {self.revision_after}")
        lines.append(f"{self.tables} tables")
        return lines


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def init_store(url: str, *, busy_timeout_s: float = 60.0) -> StoreInit:
    """Create or check the store at ``url``: PostGIS (PostgreSQL) and the schema's tables.

    PostGIS is enabled when missing (``CREATE EXTENSION postgis``: a superuser's right, or
    the database owner's on PostgreSQL 13+ when the extension is trusted, which PostGIS is
    not); then the migrations run (:func:`migrate`). Safe to run again: it then only checks.

    Raises
    ------
    StoreAccessError
        The store cannot be reached, or its role lacks a right (one line naming it).
    ConfigurationError
        The URL is not of a supported database.
    """
    engine = create_store_engine(url, busy_timeout_s=busy_timeout_s)
    try:
        with store_access(engine.url):
            with engine.connect() as connection:
                before = _revision(connection)
                backend = connection.dialect.name
                if backend == "postgresql":
                    server = str(connection.execute(sa.text("SHOW server_version")).scalar())
                    role, superuser = connection.execute(
                        sa.text(
                            "SELECT current_user, rolsuper FROM pg_roles "
                            "WHERE rolname = current_user"
                        )
                    ).one()
                    schema = connection.execute(sa.text("SELECT current_schema()")).scalar()
                    if schema is None:
                        raise StoreAccessError(
                            f"store {_safe_url(url)}: role {role} has no schema to create "
                            f"tables in (its search_path names none that exists); "
                            f"CREATE SCHEMA geozone AUTHORIZATION {role}; ALTER ROLE {role} "
                            "SET search_path = geozone, public (deploy/postgis-roles.sql)"
                        )
                    postgis = connection.execute(
                        sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                    ).scalar()
                    action: str | None = "present"
                    if postgis is None:
                        connection.rollback()  # the reads' transaction
                        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
                        connection.commit()
                        postgis = connection.execute(
                            sa.text("SELECT extversion FROM pg_extension WHERE extname = 'postgis'")
                        ).scalar()
                        action = "created"
                    connection.rollback()
                else:
                    server = sqlite3.sqlite_version
                    role, superuser, schema, postgis, action = None, None, "main", None, None
            migrate(engine)
            with engine.connect() as connection:
                after = _revision(connection)
                tables = len(sa.inspect(connection).get_table_names(schema=str(schema)))
    finally:
        engine.dispose()
    schema_action = "created" if before is None else "up to date" if before == after else "migrated"
    return StoreInit(
        store=_safe_url(url),
        backend=backend,
        server=server,
        role=role,
        superuser=superuser,
        schema=str(schema),
        postgis=postgis,
        postgis_action=action,
        revision_before=before,
        revision_after=after,
        schema_action=schema_action,
        tables=tables,
    )
