"""The incident store on SQLite (embedded default) and on PostgreSQL + PostGIS.

One class, :class:`SqlIncidentStore`, written in SQLAlchemy Core; the two databases differ in
three places only:

- the spatial index: SQLite keeps a B-tree index on expressions of each row, its 0.1° cell
  and detection time, then its coordinates (``ix_incidents_place_time``, migration 0014; an
  R*Tree before, 0001-0013); PostGIS has a generated ``geom geometry(Point, 4326)`` column
  with a GiST index. A bbox query reads the box's cells, or uses ``geom && ST_MakeEnvelope``;
  both then compare the exact coordinates, so points on the box's edge are inside;
- the bulk insert (:mod:`geozone.store._bulk`): ``executemany`` of prepared tuples on
  SQLite; ``COPY`` into a temporary table, then one ``INSERT … SELECT`` on PostgreSQL;
- locking (:mod:`geozone.store._engine`): SQLite runs in WAL mode with a busy timeout and
  opens every writing transaction with ``BEGIN IMMEDIATE``, so concurrent writer processes
  queue instead of failing; PostgreSQL relies on row locks (and an advisory lock around
  migrations); linkers of events take one lock between processes (:meth:`linking`: a file
  lock beside a SQLite database, an advisory lock on PostgreSQL), as each writes events
  from what it read around its reports, and a run of an import batch holds that batch's
  lock (:meth:`import_lock`; :meth:`import_running` tells whether a run is in progress).

The schema is created and upgraded by the Alembic migrations in ``migrations/`` (see
:func:`migrate`); the tables that queries are built from (:func:`build_metadata`, in
:mod:`geozone.store._tables`) describe it and must match it. Frames are checked before they
are written (:mod:`geozone.store._prepare`). This module is the backend's public face: the
engine, migration and table helpers are importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, cast

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine

from geozone.clusters.model import Confirmation
from geozone.errors import (
    ImportBatchError,
    InvalidParameterError,
    StoreBusyError,
    StoreError,
    UnknownIncidentError,
)
from geozone.incidents.schema import time_range_text
from geozone.store._bulk import (
    insert_clusters_postgres,
    insert_clusters_sqlite,
    insert_postgres,
    insert_postgres_ids,
    insert_sqlite,
    insert_sqlite_indexed,
    lay_clusters_sqlite,
    lay_incidents_sqlite,
    update_units_sqlite,
)
from geozone.store._engine import (
    MIGRATIONS_DIR,
    WRITE,
    WRITE_WAIT,
    alembic_config,
    create_store_engine,
    import_lock,
    import_running,
    is_busy,
    linking_lock,
    migrate,
    store_exists,
    write_wait,
)
from geozone.store._ids import among, bound
from geozone.store._ids import chunks as id_chunks
from geozone.store._prepare import canonical_checked, prepare_assignments, prepare_incidents
from geozone.store._query import (
    filters,
    keyset_filters,
    plausible,
    result_columns,
    result_frame,
    sound,
    time_or_null,
)
from geozone.store._tables import UTCDateTime, build_metadata
from geozone.store.base import (
    CLUSTER_COLUMNS,
    EVENT_COLUMNS,
    INCIDENT_COLUMNS,
    MAX_QUERY_LIMIT,
    PAGE_ROWS,
    UNIT_COLUMNS,
    AddResult,
    IncidentPage,
    IncidentQuery,
    IncidentStore,
    is_among,
)
from geozone.text import nfc, nfc_all

__all__ = [
    "MIGRATIONS_DIR",
    "WRITE_WAIT",
    "SqlIncidentStore",
    "UTCDateTime",
    "alembic_config",
    "build_metadata",
    "closable_batch",
    "create_store_engine",
    "is_busy",
    "migrate",
    "store_exists",
    "write_wait",
]

#: Most bound parameters in one IN (...) list (SQLite allows 32,766).
_IN_CHUNK = 5_000


def closable_batch(record: dict[str, Any] | None, batch_id: str) -> dict[str, Any]:
    """Return the record of batch ``batch_id`` if it may be closed (it is running).

    Raises
    ------
    ImportBatchError
        No batch has the id, or it is not running (done, or closed already): named.
    """
    if record is None:
        raise ImportBatchError(f"no import batch {batch_id!r}")
    if record["status"] != "running":
        raise ImportBatchError(
            f"import batch {batch_id!r} is {record['status']}: only an unfinished (running) "
            "batch is closed"
        )
    return record


def _chunks(values: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _decision_frame(rows: Sequence[tuple[Any, ...]]) -> pd.DataFrame:
    """Return decision rows (``external_id`` and :data:`CLUSTER_COLUMNS`) with their dtypes."""
    frame = pd.DataFrame.from_records(list(rows), columns=["external_id", *CLUSTER_COLUMNS])
    frame["in_zone"] = frame["in_zone"].astype(bool)
    frame["review"] = frame["review"].astype(bool)
    frame["distance_m"] = frame["distance_m"].astype("float64")
    return frame


#: Raises the store's revision (migration 0013), the last statement of each write transaction.
_RAISE_REVISION = "UPDATE store_revision SET revision = revision + 1 WHERE id = 1"
_READ_REVISION = "SELECT revision FROM store_revision WHERE id = 1"


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
        self._writer = engine.execution_options(**{WRITE: True})

    def __repr__(self) -> str:
        return f"SqlIncidentStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- transactions ------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """Open a write transaction; a lock held too long by another writer is StoreBusyError.

        Its last statement raises the store's revision (:meth:`revision`), in the
        transaction: the row is locked only while the transaction commits.
        """
        try:
            with self._writer.begin() as connection:
                wait = WRITE_WAIT.get()
                if wait is not None and self.dialect == "postgresql":
                    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'")
                yield connection
                connection.exec_driver_sql(_RAISE_REVISION)
        except sa.exc.DBAPIError as exc:
            if is_busy(exc):
                raise StoreBusyError(
                    "the store is busy: another writer held it too long; nothing of this "
                    "call was stored"
                ) from exc
            raise

    def linking(
        self, *, on_wait: Callable[[], None] | None = None, now: bool = False
    ) -> AbstractContextManager[None]:
        """Hold the store's linking lock: one linker of events at a time, across processes.

        Re-entrant within a thread; waits as :func:`write_wait` allows, calling ``on_wait``
        once if it has to wait (:func:`geozone.store._engine.linking_lock`); with ``now``, takes
        it now or raises.

        Raises
        ------
        StoreBusyError
            Another linker held the lock past the wait.
        """
        return linking_lock(self.engine, on_wait=on_wait, now=now)

    def import_lock(
        self, batch_id: str, source: str, *, then: str = "run it again to resume it"
    ) -> AbstractContextManager[None]:
        """Hold import batch ``batch_id``'s lock for a run of it (one run at a time).

        ``then``: what a refusal tells the user to do once the other run has ended.

        Raises
        ------
        ImportBatchError
            Another process or job is running the batch (:func:`geozone.store._engine.import_lock`).
        """
        return import_lock(self.engine, batch_id, source, then=then)

    def import_running(self, batch_id: str) -> bool:
        """Tell whether a run of import batch ``batch_id`` holds its lock now."""
        return import_running(self.engine, batch_id)

    def write(self) -> AbstractContextManager[Connection]:
        """Open a write transaction of the store (for the store's modules, e.g. events).

        As the store's own writes: ``BEGIN IMMEDIATE`` on SQLite, the wait of
        :func:`write_wait`, :class:`~geozone.errors.StoreBusyError` when another writer
        held the store too long, and the store's revision raised at commit.
        """
        return self._write()

    def revision(self) -> int:
        """Return the store's revision: a number every write transaction raises.

        What a cache of answers built from the store keys them by, with the context: it
        changes with every write, including those that change events or decisions without
        adding an incident (an unlink, linking, reports judged again).
        """
        with self.engine.connect() as connection:
            value = connection.exec_driver_sql(_READ_REVISION).scalar()
        return int(value or 0)

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
                if batch_id is not None:
                    self._advance_batch(connection, batch_id, consumed, inserted, len(incidents))
        except sa.exc.DBAPIError as exc:
            raise self._store_error(exc, batch_id, consumed) from exc
        duplicates = len(incidents) - inserted
        return AddResult(inserted=inserted, duplicates=duplicates)

    def _advance_batch(
        self, connection: Connection, batch_id: str, consumed: int, inserted: int, given: int
    ) -> None:
        """Advance a running batch's progress by a stored chunk (in its transaction)."""
        batches = self._batches
        connection.execute(
            batches.update()
            .where(batches.c.batch_id == batch_id)
            .values(
                rows_done=batches.c.rows_done + consumed,
                rows_inserted=batches.c.rows_inserted + inserted,
                rows_duplicate=batches.c.rows_duplicate + (given - inserted),
                updated_at=datetime.now(UTC),
            )
        )

    @staticmethod
    def _store_error(exc: sa.exc.DBAPIError, batch_id: str | None, consumed: int) -> StoreError:
        """Return the error of a failed store of incidents (nothing of it was stored)."""
        if "ck_import_batches_progress" in str(exc.orig):
            return ImportBatchError(
                f"batch {batch_id!r}: {consumed} more rows would pass its declared "
                "rows_total; nothing of this call was stored"
            )
        return StoreError(
            f"the incidents could not be stored, nothing of this call was: {exc.orig}"
        )

    def _bulk_insert(self, connection: Connection, prepared: pd.DataFrame) -> int:
        if self.dialect == "sqlite":
            return insert_sqlite(connection, lay_incidents_sqlite(prepared))
        return insert_postgres(connection, prepared)

    def get(self, external_id: str) -> dict[str, Any] | None:
        """Return one incident with its assignment and cluster rows, or None.

        See :meth:`geozone.store.base.IncidentStore.get`.
        """
        incidents, clusters = self._incidents, self._clusters
        times = ("occurred_at", "detected_at")
        columns = [
            time_or_null(incidents, c.name) if c.name in times else c
            for c in result_columns(incidents)
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
        record.update((name, values[name]) for name in EVENT_COLUMNS)
        record["clusters"] = [r._asdict() for r in cluster_rows]
        record["problems"] = [
            f"{name}: the stored value {values[f'raw_{name}']!r} is outside the plausible range "
            f"({time_range_text()}); the incident is left out of queries and assignment until "
            "it is corrected"
            for name in times
            if values[name] is None and values[f"raw_{name}"] is not None
        ]
        return record

    def get_many(
        self, external_ids: Sequence[str], *, within: Connection | None = None
    ) -> pd.DataFrame:
        """Return the incident fields of many incidents (unknown ids are left out).

        See :meth:`geozone.store.base.IncidentStore.get_many`. ``within``: read in that
        open transaction (its own writes seen), not in a read transaction of its own.
        """
        incidents = self._incidents
        wanted = [nfc(i) for i in external_ids]
        frames = []
        columns = [
            time_or_null(incidents, name)
            if name in ("occurred_at", "detected_at")
            else incidents.c[name]
            for name in INCIDENT_COLUMNS
        ]
        with self._read() if within is None else nullcontext(within) as connection:
            for chunk in _chunks(wanted):  # stay below bind-parameter limits
                rows = connection.execute(
                    sa.select(*columns).where(incidents.c.external_id.in_(chunk))
                ).all()
                frames.append(pd.DataFrame(rows, columns=list(INCIDENT_COLUMNS)))
        return (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=list(INCIDENT_COLUMNS))
        )

    # -- times outside the plausible range ---------------------------------------------------
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
        outside = sa.not_(sound(t))
        with self._read() as connection:
            total = connection.execute(sa.select(sa.func.count()).where(outside)).scalar_one()
            ids = connection.execute(
                sa.select(t.c.external_id).where(outside).order_by(t.c.id).limit(limit)
            ).scalars()
            return int(total), list(ids)

    # -- queries -----------------------------------------------------------------------------
    def _where(self, query: IncidentQuery) -> list[sa.ColumnElement[bool]]:
        """Return the conditions of the incidents ``query`` selects."""
        return filters(self._tables, self.dialect, query)

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
            sa.select(*result_columns(t, raw=True))
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
        return result_frame(rows, sqlite=self.dialect == "sqlite"), n_total

    def set_periods(self, query: IncidentQuery) -> pd.DataFrame:
        """Return the boundary sets that judged the incidents ``query`` selects, and when.

        One row per set (``set_id``): the first and the last ``occurred_at`` (UTC) of its
        matched incidents, for a notice said before a long read (an export) whose rows are
        not in hand (:func:`~geozone.assignment.points.snapshot_notices`). Incidents not
        assigned yet are left out.
        """
        t = self._incidents
        statement = (
            sa.select(t.c.set_id, sa.func.min(t.c.occurred_at), sa.func.max(t.c.occurred_at))
            .where(*self._where(query), t.c.set_id.is_not(None))
            .group_by(t.c.set_id)
        )
        with self._read() as connection:
            rows = connection.execute(statement).all()
        frame = pd.DataFrame(rows, columns=["set_id", "first", "last"])
        for name in ("first", "last"):
            frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame

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
        return _decision_frame([tuple(row) for row in rows])

    def pages(self, query: IncidentQuery, *, page_rows: int = PAGE_ROWS) -> Iterator[IncidentPage]:
        """Yield every incident ``query`` selects with its decisions, in primary-key order.

        See :meth:`geozone.store.base.IncidentStore.pages`.
        """
        if isinstance(page_rows, bool) or not 1 <= page_rows <= MAX_QUERY_LIMIT:
            raise InvalidParameterError(
                f"page_rows {page_rows!r} must be between 1 and {MAX_QUERY_LIMIT:,}"
            )
        t, c = self._incidents, self._clusters
        where = keyset_filters(self._tables, self.dialect, query)
        total = self.count(query)
        done = 0
        last: int | None = None
        while True:
            keyset = [*where] if last is None else [*where, t.c.id > last]
            page = (
                sa.select(t.c.id, *result_columns(t, raw=True))
                .where(*keyset)
                .order_by(t.c.id)
                .limit(page_rows)
            )
            with self._read() as connection:  # the page and its decisions in one snapshot
                rows = connection.execute(page).all()
                if not rows:
                    return
                # The key range of the page: over the walk each decision row is read once.
                decided = (
                    sa.select(c.c.incident_id, *(c.c[name] for name in CLUSTER_COLUMNS))
                    .where(c.c.incident_id.between(rows[0][0], rows[-1][0]))
                    .order_by(c.c.incident_id, c.c.cluster_id)
                )
                decisions = connection.execute(decided).all()
            external = {row[0]: row[1] for row in rows}
            incidents = result_frame(
                [tuple(row)[1:] for row in rows], sqlite=self.dialect == "sqlite"
            )
            done += len(rows)
            yield IncidentPage(
                incidents=incidents,
                decisions=_decision_frame(
                    [
                        (external[d[0]], *tuple(d)[1:])
                        for d in decisions  # the cluster's only, when one is named
                        if d[0] in external and query.cluster_id in (None, d[1])
                    ]
                ),
                total=max(total, done),
                done=done,
            )
            if len(rows) < page_rows:
                return
            last = int(rows[-1][0])

    def count(self, query: IncidentQuery) -> int:
        """Return how many incidents match ``query``."""
        t = self._incidents
        with self._read() as connection:
            result = connection.execute(
                sa.select(sa.func.count()).select_from(t).where(*self._where(query))
            )
            return int(result.scalar_one())

    # -- assignments -------------------------------------------------------------------------
    def save_assignments(
        self,
        units: pd.DataFrame,
        clusters: pd.DataFrame,
        *,
        stamp: str,
        within: Connection | None = None,
    ) -> int:
        """Replace the assignment of the incidents in ``units``, atomically.

        See :meth:`geozone.store.base.IncidentStore.save_assignments`. ``within``: written in
        that open write transaction (:meth:`write`), with what else it writes.
        """
        if not stamp or len(stamp) > 128:
            raise InvalidParameterError(f"stamp {stamp!r} must be 1 to 128 characters")
        unit_frame, cluster_frame = prepare_assignments(units, clusters)
        if unit_frame.empty:
            return 0
        external_ids: list[str] = unit_frame["external_id"].tolist()
        now = datetime.now(UTC)
        t = self._incidents
        with self._write() if within is None else nullcontext(within) as connection:
            ids: dict[str, int] = {}
            statement = sa.select(t.c.external_id, t.c.id).where(
                among(t.c.external_id, self.dialect, "ids")
            )
            for chunk in id_chunks(external_ids):
                found = connection.execute(statement, {"ids": bound(self.dialect, chunk)})
                ids.update((e, i) for e, i in found)
            missing = [e for e in external_ids if e not in ids]
            if missing:
                raise UnknownIncidentError(
                    f"{len(missing)} incident(s) of the assignment are not stored: "
                    f"{', '.join(map(repr, missing[:5]))}{', …' if len(missing) > 5 else ''}"
                )
            self._write_assignments(connection, unit_frame, cluster_frame, ids, stamp, now)
        return len(external_ids)

    def _write_assignments(
        self,
        connection: Connection,
        unit_frame: pd.DataFrame,
        cluster_frame: pd.DataFrame,
        ids: dict[str, int],
        stamp: str,
        now: datetime,
        *,
        units_written: bool = False,
    ) -> None:
        """Write prepared assignments of stored incidents (``ids``: their row ids).

        ``units_written``: the incidents were just inserted with their units
        (:meth:`add_judged`), so only their cluster rows are written.
        """
        c = self._clusters
        if not units_written:  # fresh rows have their units, and no decisions to replace
            self._write_units(connection, unit_frame, ids, stamp, now)
            delete = c.delete().where(among(c.c.incident_id, self.dialect, "ids"))
            for chunk in id_chunks(ids.values()):
                connection.execute(delete, {"ids": bound(self.dialect, chunk)})
        if cluster_frame.empty:
            return
        if self.dialect == "sqlite":
            insert_clusters_sqlite(connection, lay_clusters_sqlite(cluster_frame), ids)
        else:
            rows = cluster_frame.assign(incident_id=cluster_frame["external_id"].map(ids)).drop(
                columns="external_id"
            )
            if units_written:  # fresh rows: one COPY
                insert_clusters_postgres(connection, rows)
            else:
                records = cast(
                    list[dict[str, Any]],
                    rows.astype(object).where(rows.notna(), None).to_dict("records"),
                )
                connection.execute(c.insert(), records)

    def _write_units(
        self,
        connection: Connection,
        unit_frame: pd.DataFrame,
        ids: dict[str, int],
        stamp: str,
        now: datetime,
    ) -> None:
        """Set stored incidents' unit assignment (``ids``: their row ids), stamped."""
        if self.dialect == "sqlite":
            row_ids = unit_frame["external_id"].map(ids)
            update_units_sqlite(connection, unit_frame, row_ids, stamp, now)
            return
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
        t = self._incidents
        connection.execute(t.update().where(t.c.id == sa.bindparam("p_id")).values(values), params)

    def add_judged(
        self,
        incidents: pd.DataFrame,
        units: pd.DataFrame,
        clusters: pd.DataFrame,
        batch_id: str | None = None,
        *,
        stamp: str,
        source_rows: int | None = None,
        single: bool = False,
        checked: bool = False,
    ) -> tuple[AddResult, list[str]]:
        """Store incidents with their assignment, in one transaction; skip stored ids.

        :meth:`add_incidents` and :meth:`save_assignments` of the rows it inserted, at once:
        an import's piece is judged before it is stored, so its rows are written once,
        inserted with their units (SQLite: ``executemany``; PostGIS: ``COPY`` then one
        ``INSERT … SELECT``, the cluster rows likewise), and a failure leaves neither the
        rows nor their decisions.

        Parameters
        ----------
        incidents
            As for :meth:`add_incidents`.
        units, clusters
            As for :meth:`save_assignments`: the assignment of every row of ``incidents``.
        batch_id, source_rows
            As for :meth:`add_incidents`.
        stamp
            What the assignment was computed from (:meth:`save_assignments`).
        single
            Insert each incident as its own event (``event_id`` ``ev-`` and its id, role
            ``single``, confidence 1: what linking writes for a report linked with none),
            for a caller that links them next (an import): linking then writes only the
            reports it links, not every new report. Else the event columns are left empty
            (not linked yet).
        checked
            The rows are a reader's validated rows
            (:func:`~geozone.incidents.io.validate_incidents`, ids unique) and ``units`` and
            ``clusters`` the engine's assignment of them (:func:`~geozone.assignment.assign`):
            they are laid out for the store, not checked again (an import checks its rows
            once). Else every frame is checked as by :meth:`add_incidents` and
            :meth:`save_assignments`.

        Returns
        -------
        tuple of AddResult and list of str
            Rows inserted and skipped, and the external ids inserted (in input order).

        Raises
        ------
        IncidentDataError
            A frame is invalid (nothing is stored).
        InvalidParameterError
            The stamp is invalid, or a row of ``incidents`` lacks its assignment.
        """
        if not stamp or len(stamp) > 128:
            raise InvalidParameterError(f"stamp {stamp!r} must be 1 to 128 characters")
        if checked:
            prepared, unit_frame, cluster_frame = canonical_checked(incidents, units, clusters)
        else:
            prepared, _repeated = prepare_incidents(incidents)
            unit_frame, cluster_frame = prepare_assignments(units, clusters)
        consumed = len(incidents) if source_rows is None else source_rows
        if consumed < len(incidents):
            raise InvalidParameterError(
                f"source_rows {consumed} is less than the {len(incidents)} rows given"
            )
        position = pd.Index(unit_frame["external_id"]).get_indexer(prepared["external_id"])
        if (position < 0).any():
            lacking = prepared["external_id"][position < 0].tolist()
            raise InvalidParameterError(
                f"{len(lacking)} incident(s) lack their assignment: "
                f"{', '.join(map(repr, lacking[:5]))}{', …' if len(lacking) > 5 else ''}"
            )
        unit_frame = unit_frame.iloc[position].reset_index(drop=True)  # in the rows' order
        prepared["batch_id"] = batch_id
        now = datetime.now(UTC)
        laid_incidents = laid_clusters = None
        if self.dialect == "sqlite":  # laid out before the write lock is taken
            laid_incidents = lay_incidents_sqlite(prepared, unit_frame, stamp, now, single=single)
            laid_clusters = lay_clusters_sqlite(cluster_frame)
        try:
            with self._write() as connection:
                if batch_id is not None:
                    self._running_batch(connection, batch_id)
                if not len(prepared):
                    ids: dict[str, int] = {}
                elif laid_incidents is not None and laid_clusters is not None:
                    ids = insert_sqlite_indexed(connection, laid_incidents)
                    insert_clusters_sqlite(connection, laid_clusters, ids)
                else:
                    ids = insert_postgres_ids(
                        connection, prepared, unit_frame, stamp, now, single=single
                    )
                    ours = is_among(cluster_frame["external_id"], ids)
                    self._write_assignments(
                        connection,
                        unit_frame,
                        cluster_frame[ours],
                        ids,
                        stamp,
                        now,
                        units_written=True,
                    )
                inserted = len(ids)
                if batch_id is not None:
                    self._advance_batch(connection, batch_id, consumed, inserted, len(incidents))
        except sa.exc.DBAPIError as exc:
            raise self._store_error(exc, batch_id, consumed) from exc
        order = prepared["external_id"].astype(object).to_numpy()
        if len(ids) < len(order):
            order = order[is_among(prepared["external_id"], ids)]
        return AddResult(inserted=inserted, duplicates=len(incidents) - inserted), order.tolist()

    def known_ids(self, external_ids: Sequence[str]) -> set[str]:
        """Return those of ``external_ids`` that are stored (NFC), by one query per 100,000."""
        t = self._incidents
        statement = sa.select(t.c.external_id).where(among(t.c.external_id, self.dialect, "ids"))
        found: set[str] = set()
        with self._read() as connection:
            for chunk in id_chunks(nfc_all([str(i) for i in external_ids])):
                found.update(
                    connection.execute(statement, {"ids": bound(self.dialect, chunk)}).scalars()
                )
        return found

    def stored_by(self, batch_id: str, external_ids: Sequence[str]) -> list[str]:
        """Return those of ``external_ids`` that import batch ``batch_id`` stored.

        See :meth:`geozone.store.base.IncidentStore.stored_by`.
        """
        t = self._incidents
        found: set[str] = set()
        wanted = [nfc(i) for i in external_ids]
        with self._read() as connection:
            for chunk in _chunks(wanted):
                rows = connection.execute(
                    sa.select(t.c.external_id)
                    .where(t.c.external_id.in_(chunk))
                    .where(t.c.batch_id == batch_id)
                )
                found.update(rows.scalars())
        return [i for i in wanted if i in found]

    def stale_ids(self, stamp: str, limit: int | None = None) -> list[str]:
        """Return external ids never assigned or assigned with another stamp, oldest first."""
        t = self._incidents
        # Found through the index on assigned_with (a stamp before or after this one, or
        # none), not by a scan in id order: the service asks on every request whether any
        # is stale, and usually none is (0.19 s -> 0.1 ms at 420,000 rows on SQLite).
        stale = sa.select(t.c.id).where(
            sa.or_(
                t.c.assigned_with.is_(None), t.c.assigned_with < stamp, t.c.assigned_with > stamp
            )
        )
        statement = (
            sa.select(t.c.external_id).where(t.c.id.in_(stale)).where(plausible(t)).order_by(t.c.id)
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
            if record["status"] == "closed":  # imported again: resumed where it stopped
                record = self._reopen_batch(connection, batch_id, now)
        return record

    def _reopen_batch(self, connection: Connection, batch_id: str, now: datetime) -> dict[str, Any]:
        """Set a closed batch running again (in the caller's transaction); return it."""
        connection.execute(
            self._batches.update()
            .where(self._batches.c.batch_id == batch_id, self._batches.c.status == "closed")
            .values(status="running", updated_at=now, finished_at=None)
        )
        record = self._batch_row(connection, batch_id)
        assert record is not None
        return record

    def batches(self) -> list[dict[str, Any]]:
        """Return every import batch (without its rejected rows), oldest first."""
        t = self._batches
        columns = [c for c in t.c if c.name != "rejects"]
        statement = sa.select(*columns).order_by(t.c.started_at, t.c.batch_id)
        with self._read() as connection:
            return [row._asdict() for row in connection.execute(statement)]

    def close_batch(self, batch_id: str) -> dict[str, Any]:
        """Mark an unfinished (running) batch closed: not done, set aside; return it.

        Its stored rows are kept; :func:`geozone.store.events.unfinished_batches` no longer
        lists it, and :meth:`begin_batch` of the same batch (the same file imported again
        with the same options) sets it running again.

        Raises
        ------
        ImportBatchError
            The batch is unknown, or not running (done, or closed already).
        """
        now = datetime.now(UTC)
        with self._write() as connection:
            record = closable_batch(self._batch_row(connection, batch_id), batch_id)
            connection.execute(
                self._batches.update()
                .where(self._batches.c.batch_id == batch_id)
                .values(
                    status="closed",
                    rows_stored=record["rows_inserted"],
                    updated_at=now,
                    finished_at=now,
                )
            )
            closed = self._batch_row(connection, batch_id)
        assert closed is not None
        return closed

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
