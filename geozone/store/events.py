"""The store's side of events: reports near others, event members, event columns, unlinks.

The SQL behind :mod:`geozone.incidents.events` on the tables of migration 0007 (the event
columns of ``incidents``, ``incident_unlinks``), for SQLite and PostGIS alike. Every read is
bounded: reports in boxes of space and time (the spatial index, then the indexed
``occurred_at``), the members of given events (indexed ``event_id``), the unlinks of given
reports.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from contextlib import closing, nullcontext
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.engine import Connection, Dialect

from geozone.incidents.schema import EARLIEST_TIME, latest_time
from geozone.store._ids import among, bound, chunks
from geozone.store._query import in_range, plausible, raw_times
from geozone.store._tables import (
    DETECTION_DAYS_SQL,
    PLACE_CELL_SQL,
    boxes_place_cells,
    build_metadata,
)
from geozone.store.base import EVENT_COLUMNS
from geozone.store.sql import SqlIncidentStore
from geozone.text import nfc
from geozone.vntime import VIETNAM_TZ

#: The incident fields linking reads (:mod:`geozone.incidents.linking`): not the
#: description, status, subjects or flags, which it never uses (a tenth of its reads' time).
LINK_FIELDS: tuple[str, ...] = (
    "external_id",
    "occurred_at",
    "detected_at",
    "lon",
    "lat",
    "category",
    "detected_by",
)
#: Columns of the frames this module reads: the incident fields linking reads, the event
#: columns and the cluster a report is linked within (``link_cluster``: its first cluster
#: whose border zone holds it, else its first cluster, else None).
REPORT_COLUMNS: tuple[str, ...] = (*LINK_FIELDS, *EVENT_COLUMNS, "link_cluster")


@cache
def _tables(dialect: str) -> Any:
    return build_metadata(dialect).tables


_TIMES = ("occurred_at", "detected_at")
#: The columns of the report frames whose type is inferred (the others are text).
_INFERRED = frozenset(("lon", "lat", "event_confidence"))


def _columns(t: sa.Table, *, named: bool = False) -> list[sa.ColumnElement[Any]]:
    """Return the columns of the report frames, times raw (see :func:`_frame`).

    Raw values skip SQLAlchemy's conversion of each value (a datetime built per time);
    :func:`_frame` converts whole columns at once. ``named``: the plausible
    range is bound as ``earliest`` and ``latest`` at each execution (a statement compiled
    once), else given now.
    """
    columns: list[sa.ColumnElement[Any]] = []
    for name in (*LINK_FIELDS, *EVENT_COLUMNS):
        if name in _TIMES:
            column = t.c[name]
            unread = sa.type_coerce(column, sa.types.NullType())
            plausible = (
                column.between(sa.bindparam("earliest"), sa.bindparam("latest"))
                if named
                else in_range(column)
            )
            columns.append(sa.case((plausible, unread), else_=sa.null()).label(name))
        else:
            columns.append(t.c[name])
    # The cluster a report is linked within (as link_clusters: its first cluster whose border
    # zone holds it, else its first), one primary-key seek per report.
    c = t.metadata.tables["incident_clusters"]
    first = (
        sa.select(c.c.cluster_id)
        .where(c.c.incident_id == t.c.id, c.c.cluster_id.is_not(None))
        .order_by(sa.case((c.c.in_zone == sa.true(), 0), else_=1), c.c.cluster_id)
        .limit(1)
        .correlate(t)
        .scalar_subquery()
    )
    columns.append(first.label("link_cluster"))
    return columns


def _frame(store: SqlIncidentStore, rows: list[Any]) -> pd.DataFrame:
    names = list(REPORT_COLUMNS)
    if rows:  # column by column: each column's type is inferred once, not per row
        columns = zip(*rows, strict=True)
        # Text stays Python objects: inferring pandas' str type cost 0.6 s per column of
        # 200,000 values (more than reading them); numbers are inferred.
        frame = pd.DataFrame(
            {
                name: list(values) if name in _INFERRED else pd.Series(values, dtype=object)
                for name, values in zip(names, columns, strict=True)
            }
        )
    else:
        frame = pd.DataFrame([], columns=names)
    frame = frame.drop_duplicates("external_id").reset_index(drop=True)
    for name in _TIMES:
        times = raw_times(frame[name], sqlite=store.dialect == "sqlite")
        frame[name] = times.dt.tz_convert(VIETNAM_TZ)
    frame["event_confidence"] = pd.to_numeric(frame["event_confidence"]).astype("float64")
    return frame


def reports_in(
    store: SqlIncidentStore,
    boxes: Iterable[tuple[float, float, float, float, datetime, datetime]],
    lag: timedelta = timedelta(0),
    skip: Iterable[int] = (),
) -> pd.DataFrame:
    """Return the stored reports in boxes of space and detection time.

    A report's detection time is ``detected_at``, else ``occurred_at``; it must lie in
    [start, end]. The read is bounded by the spatial index (on SQLite, the index of space and
    detection time of migration 0010: a box finds the reports of its times, not every report
    stored in its place) and by ``occurred_at`` from ``start - lag`` to ``end`` (a report
    occurs before it is detected).

    Parameters
    ----------
    boxes
        ``(minx, miny, maxx, maxy, start, end)`` each: a bounded query per box.
    lag
        The longest time from occurrence to detection a report may have and be found.
    skip
        Row ids of reports left out (the caller holds them: :func:`reports_at`); the index
        finds them, but their rows are not read.

    Returns
    -------
    pandas.DataFrame
        :data:`REPORT_COLUMNS`, each report once.
    """
    boxes = list(boxes)
    rows: list[Any] = []
    if boxes:
        columns = _box_columns(store.dialect, boxes, lag)
        with store.engine.connect() as connection:
            # The driver's cursor: plain tuples, no SQLAlchemy row per report.
            raw = connection.connection.driver_connection
            assert raw is not None
            with closing(raw.cursor()) as cursor:
                count = len(columns["cell"])
                rows += _in_boxes(cursor, store.engine.dialect, columns, count, skip)
    return _frame(store, rows)


def _in_boxes(
    cursor: Any, dialect: Dialect, columns: dict[str, list[Any]], boxes: int, skip: Iterable[int]
) -> list[Any]:
    """Run :func:`reports_in`'s query for ``boxes`` boxes (their bound ``columns``)."""
    rows: list[Any] = []
    fixed = _plausible_bounds(dialect.name) | {
        "skip": bound(dialect.name, [int(row) for row in skip])
    }
    empty = _empty_box(dialect.name)
    box_rows = list(zip(*(columns[name] for name in _BOX_NAMES), strict=True))
    empty_row = tuple(empty[name] for name in _BOX_NAMES)
    for first in range(0, boxes, _BOX_CHUNK):
        count = min(_BOX_CHUNK, boxes - first)
        # Padded to a power of two with boxes that find nothing: one statement per size,
        # compiled once. (A box repeated found its reports again, once per copy: up to
        # 1,023 copies of one box, half a million rows more read in an import of 200,000.)
        n = 1 << (count - 1).bit_length()
        sql, order, held = _in_boxes_sql(dialect, n)
        chunk = [*box_rows[first : first + count], *([empty_row] * (n - count))]
        values = held | fixed
        if order is not None:  # positional: the boxes' rows in order, then the rest
            rest = order[n * len(_BOX_NAMES) :]
            bound_values = (*chain.from_iterable(chunk), *(values[name] for name in rest))
            cursor.execute(sql, bound_values)
        else:
            for i, row in enumerate(chunk):
                values |= {f"{name}_{i}": v for name, v in zip(_BOX_NAMES, row, strict=True)}
            cursor.execute(sql, values)
        rows += cursor.fetchall()
    return rows


def _empty_box(dialect: str) -> dict[str, Any]:
    """Return the bound columns of a box that holds no report: its times end before they start.

    On SQLite its cell is no cell's key either, so the index finds nothing to compare.
    """
    start, end = _bind_times(dialect, [latest_time(), EARLIEST_TIME])
    return {
        **dict.fromkeys(("minx", "miny", "maxx", "maxy"), 0.0),
        "lo": start,
        "start": start,
        "end": end,
        "ts": 1.0,
        "te": 0.0,
        "cell": -1,
    }


def _plausible_bounds(dialect: str) -> dict[str, Any]:
    """Return the plausible range of times as bound by the statements of ``_columns(named=)``."""
    return {
        "earliest": _bind_times(dialect, [EARLIEST_TIME])[0],
        "latest": _bind_times(dialect, [latest_time()])[0],
    }


def _bind_times(dialect: str, times: Any) -> list[Any]:
    """Return times as the UTCDateTime type binds them (UTC text on SQLite), vectorised.

    ``times``: instants, or a timezone-aware ``DatetimeIndex`` (taken as it is: not made
    into a list of timestamps and parsed back, 0.15 s for a piece's 22,000 box rows).
    """
    if isinstance(times, pd.DatetimeIndex) and times.tz is not None:
        index = times.tz_convert("UTC")
    else:
        index = pd.DatetimeIndex(pd.to_datetime(list(times), utc=True))
    utc = index.as_unit("us")
    if dialect != "sqlite":
        return list(utc.to_pydatetime())
    text = np.datetime_as_string(utc.tz_localize(None).to_numpy(), unit="us")
    return [value.replace("T", " ") for value in text.tolist()]


def _box_columns(
    dialect: str,
    boxes: list[tuple[float, float, float, float, datetime, datetime]],
    lag: timedelta,
) -> dict[str, list[Any]]:
    """Return the bound values of each box column of :func:`reports_in`'s query.

    On SQLite a box is a row per 0.1° cell of the index of place and time it covers (the
    same box in each: the index finds the cell's reports of the box's times, the box's
    coordinates decide); on PostGIS a row per box (``cell`` unused).
    """
    minx, miny, maxx, maxy = (np.array([b[i] for b in boxes], dtype=float) for i in range(4))
    if dialect == "sqlite":
        box, cell = boxes_place_cells(minx, miny, maxx, maxy)
    else:
        box, cell = np.arange(len(boxes), dtype=np.intp), np.zeros(len(boxes), dtype=np.int64)
    starts = pd.DatetimeIndex(pd.to_datetime([b[4] for b in boxes], utc=True)).take(box)
    ends = pd.DatetimeIndex(pd.to_datetime([b[5] for b in boxes], utc=True)).take(box)
    day = pd.Timedelta(days=1)
    return {
        "minx": minx[box].tolist(),
        "miny": miny[box].tolist(),
        "maxx": maxx[box].tolist(),
        "maxy": maxy[box].tolist(),
        "lo": _bind_times(dialect, starts - lag),
        "start": _bind_times(dialect, starts),
        "end": _bind_times(dialect, ends),
        "ts": (np.asarray((starts - _EPOCH) / day, dtype=float) - _SLACK_DAYS).tolist(),
        "te": (np.asarray((ends - _EPOCH) / day, dtype=float) + _SLACK_DAYS).tolist(),
        "cell": cell.tolist(),
    }


#: Box rows per query of :func:`reports_in` (10 bound values each; SQLite allows 32,766).
_BOX_CHUNK = 2_000
#: The UNIX epoch, from which the index of place and time counts days (migration 0014).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Days the time index's query is widened by: SQLite's ``julianday`` counts whole
#: milliseconds, and the exact comparisons of the times decide.
_SLACK_DAYS = 1.0 / 1440.0
#: The SQL types of the box columns that are not times.
_BOX_TYPES: dict[str, Any] = {
    **dict.fromkeys(("minx", "miny", "maxx", "maxy", "ts", "te"), sa.Float),
    "cell": sa.Integer,
}


@cache
def _in_boxes_sql(dialect: Dialect, n: int) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """Return the SQL of :func:`reports_in`'s query for ``n`` boxes, compiled once.

    With the names of its positional parameters in order (None: the driver takes them by
    name) and the values the statement holds (a limit). SQLAlchemy does not cache a
    statement with a ``VALUES`` list, and compiling thousands of rows took longer than the
    query: the statement of one box is compiled and its row repeated (checked against the
    statement of two boxes compiled).
    """
    one, order, held = _compiled(dialect, 1)
    head, row, tail = _split_values(one)
    names = _BOX_NAMES
    rows = ", ".join(row if order is not None else _renamed(row, i) for i in range(n))
    sql = head + rows + tail
    if order is not None:
        rest = order[len(names) :]
        order = (*(f"{name}_{i}" for i in range(n) for name in names), *rest)
    if n == 2 and (sql, order) != _compiled(dialect, 2)[:2]:  # pragma: no cover
        raise AssertionError("the repeated VALUES row differs from SQLAlchemy's")
    return sql, order, held


def _compiled(dialect: Dialect, n: int) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    return _compiled_statement(dialect, _in_boxes_statement(dialect.name)(n))


def _compiled_statement(
    dialect: Dialect, statement: Any
) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """Return a statement's SQL, its positional parameters' names (None: by name), its values."""
    compiled = statement.compile(dialect=dialect)
    order = compiled.positiontup
    held = {k: v for k, v in compiled.params.items() if v is not None}
    return compiled.string, tuple(order) if order is not None else None, held


def _split_values(sql: str) -> tuple[str, str, str]:
    """Split the SQL of one box at its ``VALUES`` row: (before, the row, after)."""
    start = sql.index("(VALUES ") + len("(VALUES ")
    end = sql.index(")\n SELECT", start)
    return sql[:start], sql[start:end], sql[end:]


def _renamed(row: str, i: int) -> str:
    """Return a ``VALUES`` row of named parameters (``%(minx_0)s``) for box ``i``."""
    for name in _BOX_NAMES:
        row = row.replace(f"%({name}_0)s", f"%({name}_{i})s")
    return row


#: The bound columns of a box, in the order of the ``VALUES`` row.
_BOX_NAMES = ("minx", "miny", "maxx", "maxy", "lo", "start", "end", "ts", "te", "cell")


@cache
def _in_boxes_statement(dialect: str) -> Any:
    """Return a builder of the one query of :func:`reports_in` for ``n`` boxes.

    The boxes are a ``VALUES`` list joined with the spatial index (on SQLite the index of
    place and time, a row per cell of a box; the GiST index through ``&&`` on PostGIS), each
    box bounding ``occurred_at`` and the detection time of the reports it finds: one
    statement per chunk of boxes instead of one per box (a piece of 50,000 reports makes
    thousands of tiles).
    """
    tables = _tables(dialect)
    t = tables["incidents"]
    occurred: sa.ColumnElement[Any] = t.c.occurred_at
    if dialect == "sqlite":
        # Unary + hides the column from SQLite's planner, which would otherwise walk the
        # occurred_at index (the plausible range) and seek the place and time for every row.
        occurred = sa.literal_column("+incidents.occurred_at", type_=t.c.occurred_at.type)
    detected = sa.func.coalesce(t.c.detected_at, t.c.occurred_at)
    names = _BOX_NAMES

    @cache
    def build(n: int) -> Any:
        time_type = t.c.occurred_at.type
        data = [
            tuple(
                sa.bindparam(f"{name}_{i}", type_=_BOX_TYPES.get(name, time_type)) for name in names
            )
            for i in range(n)
        ]
        b = (
            sa.values(
                sa.column("minx", sa.Float),
                sa.column("miny", sa.Float),
                sa.column("maxx", sa.Float),
                sa.column("maxy", sa.Float),
                sa.column("lo", time_type),
                sa.column("start", time_type),
                sa.column("end", time_type),
                sa.column("ts", sa.Float),
                sa.column("te", sa.Float),
                sa.column("cell", sa.Integer),
                name="boxes",
            )
            .data(data)
            .cte("boxes")
        )
        if dialect == "sqlite":
            # The index of place and detection time (migration 0014): a box is a row per
            # 0.1° cell it covers, each the range of its times in the cell, not every report
            # ever stored there; the coordinates are compared in the index.
            joined = b.join(
                t,
                sa.and_(
                    sa.literal_column(PLACE_CELL_SQL) == b.c.cell,
                    sa.literal_column(DETECTION_DAYS_SQL).between(b.c.ts, b.c.te),
                ),
            )
            kept = ~among(t.c.id, dialect, "skip")
        else:
            envelope = sa.func.ST_MakeEnvelope(b.c.minx, b.c.miny, b.c.maxx, b.c.maxy, 4326)
            joined = b.join(t, t.c.geom.op("&&")(envelope))
            kept = ~among(t.c.id, dialect, "skip")
        return (
            sa.select(*_columns(t, named=True))
            .select_from(joined)
            .where(
                kept,
                # The plausible range (queries' plausible()), bound at each execution.
                occurred.between(sa.bindparam("earliest"), sa.bindparam("latest")),
                # Index boxes are single precision: compare the exact coordinates as well.
                t.c.lon.between(b.c.minx, b.c.maxx),
                t.c.lat.between(b.c.miny, b.c.maxy),
                occurred >= b.c.lo,
                occurred <= b.c.end,
                detected >= b.c.start,
                detected <= b.c.end,
            )
        )

    return build


def event_members(store: SqlIncidentStore, event_ids: Iterable[str]) -> pd.DataFrame:
    """Return every stored report of the events ``event_ids`` (:data:`REPORT_COLUMNS`)."""
    t = _tables(store.dialect)["incidents"]
    wanted = sorted({str(e) for e in event_ids if isinstance(e, str) and e})
    rows: list[Any] = []
    statement = sa.select(*_columns(t)).where(among(t.c.event_id, store.dialect, "ids"))
    with store.engine.connect() as connection:
        for chunk in chunks(wanted):
            rows += connection.execute(statement, {"ids": bound(store.dialect, chunk)}).all()
    return _frame(store, rows)


def reports_of(store: SqlIncidentStore, external_ids: Iterable[str]) -> pd.DataFrame:
    """Return the stored reports ``external_ids`` (as :func:`reports_at`; unknown: left out)."""
    return _by_key(store, "external_id", sorted({nfc(str(e)) for e in external_ids}))


def link_clusters(store: SqlIncidentStore, external_ids: Iterable[str]) -> dict[str, str]:
    """Return the cluster each report is linked within (reports of no cluster left out).

    A report's first cluster (by id) whose border zone holds it, else its first cluster.
    """
    tables = _tables(store.dialect)
    t, c = tables["incidents"], tables["incident_clusters"]
    wanted = sorted({str(e) for e in external_ids})
    found: dict[str, tuple[bool, str]] = {}
    statement = (
        sa.select(t.c.external_id, c.c.cluster_id, c.c.in_zone)
        .join(c, c.c.incident_id == t.c.id)
        .where(among(t.c.external_id, store.dialect, "ids"), c.c.cluster_id.is_not(None))
    )
    with store.engine.connect() as connection:
        for chunk in chunks(wanted):
            rows = connection.execute(statement, {"ids": bound(store.dialect, chunk)}).all()
            for external_id, cluster_id, in_zone in rows:
                key = (not bool(in_zone), str(cluster_id))
                if external_id not in found or key < found[external_id]:
                    found[external_id] = key
    return {e: key[1] for e, key in found.items()}


def save_events(store: SqlIncidentStore, events: pd.DataFrame) -> int:
    """Write the event columns of reports, in one transaction.

    Parameters
    ----------
    events
        ``external_id`` and :data:`~geozone.store.base.EVENT_COLUMNS`.

    Returns
    -------
    int
        Reports written.
    """
    if events.empty:
        return 0
    with store.write() as connection:
        return write_events(connection, store.dialect, events)


def write_events(connection: Connection, dialect: str, events: pd.DataFrame) -> int:
    """Write the event columns of reports in an open write transaction; return the reports.

    ``events`` as :func:`save_events` takes them.
    """
    mark = "?" if dialect == "sqlite" else "%s"
    params = list(
        zip(
            events["event_id"].astype(str).tolist(),
            events["event_role"].astype(str).tolist(),
            events["event_confidence"].astype(float).tolist(),
            events["external_id"].astype(str).tolist(),
            strict=True,
        )
    )
    # Driver-level executemany of plain tuples: no dict built and processed per row.
    statement = (
        f"UPDATE incidents SET event_id = {mark}, event_role = {mark}, "
        f"event_confidence = {mark} WHERE external_id = {mark}"
    )
    if params:
        connection.exec_driver_sql(statement, params)
    return len(params)


def _pair(a: str, b: str) -> tuple[str, str]:
    first, second = sorted((nfc(a), nfc(b)))
    return first, second


def add_unlink(
    store: SqlIncidentStore, a: str, b: str, *, by: str | None = None, note: str | None = None
) -> bool:
    """Keep that reports ``a`` and ``b`` are not one event; False when already kept."""
    table = _tables(store.dialect)["incident_unlinks"]
    first, second = _pair(a, b)
    with store.write() as connection:
        kept = connection.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(table.c.external_id_a == first, table.c.external_id_b == second)
        ).scalar_one()
        if kept:
            return False
        connection.execute(
            table.insert().values(
                external_id_a=first,
                external_id_b=second,
                unlinked_by=by,
                note=note,
                unlinked_at=datetime.now(UTC),
            )
        )
    return True


def unlinks_of(store: SqlIncidentStore, external_ids: Iterable[str]) -> set[tuple[str, str]]:
    """Return the unlinked pairs that involve any of ``external_ids``."""
    table = _tables(store.dialect)["incident_unlinks"]
    wanted = sorted({str(e) for e in external_ids})
    found: set[tuple[str, str]] = set()
    statement = sa.select(table.c.external_id_a, table.c.external_id_b).where(
        sa.or_(
            among(table.c.external_id_a, store.dialect, "ids"),
            among(table.c.external_id_b, store.dialect, "ids"),
        )
    )
    with store.engine.connect() as connection:
        if connection.execute(sa.select(table.c.external_id_a).limit(1)).first() is None:
            return found  # none kept (the usual case): no list to send
        for chunk in chunks(wanted):
            rows = connection.execute(statement, {"ids": bound(store.dialect, chunk)}).all()
            found.update((str(a), str(b)) for a, b in rows)
    return found


def _unlinked(t: sa.Table, column: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """Select ``column`` of the stored reports not linked into events yet (plausible ones)."""
    return sa.select(column).where(t.c.event_id.is_(None), plausible(t))


def unlinked_ids(store: SqlIncidentStore, limit: int) -> list[str]:
    """Return up to ``limit`` external ids of stored reports not linked yet, oldest first."""
    t = _tables(store.dialect)["incidents"]
    oldest = _unlinked(t, t.c.external_id).order_by(t.c.id).limit(limit)
    with store.engine.connect() as connection:
        return list(connection.execute(oldest).scalars())


def count_unlinked(store: SqlIncidentStore, cap: int) -> int:
    """Count the stored reports not linked into events yet, up to ``cap`` (one indexed read).

    Those :func:`unlinked_ids` gives: stored before events existed (migration 0007), or by a
    ``POST /incidents`` whose linking found another linker holding the store.
    """
    t = _tables(store.dialect)["incidents"]
    unlinked = _unlinked(t, t.c.id).limit(cap)
    with store.engine.connect() as connection:
        found = connection.execute(sa.select(sa.func.count()).select_from(unlinked.subquery()))
        return int(found.scalar() or 0)


def unfinished_batches(store: SqlIncidentStore) -> list[dict[str, Any]]:
    """Return the import batches not done, oldest first, each said running or stopped.

    An import stores each new report as its own event and links once every piece is
    stored: the reports of a batch that is not done may not be linked yet. ``running``:
    a run of the batch holds its lock now (:meth:`SqlIncidentStore.import_running`); else
    it stopped.
    """
    t = _tables(store.dialect)["import_batches"]
    statement = (
        sa.select(t.c.batch_id, t.c.source, t.c.rows_done, t.c.rows_total)
        .where(t.c.status == "running")
        .order_by(t.c.started_at, t.c.batch_id)
    )
    with store.engine.connect() as connection:
        batches = [dict(row._mapping) for row in connection.execute(statement)]
    return [batch | {"running": store.import_running(batch["batch_id"])} for batch in batches]


def batch_last_row(store: SqlIncidentStore, batch_id: str) -> int:
    """Return the largest row id of the reports import batch ``batch_id`` stored (0: none)."""
    t = _tables(store.dialect)["incidents"]
    statement = sa.select(sa.func.max(t.c.id)).where(t.c.batch_id == batch_id)
    with store.engine.connect() as connection:
        return int(connection.execute(statement).scalar() or 0)


def batch_linked(store: SqlIncidentStore, batch_id: str) -> int:
    """Return how many reports import batch ``batch_id`` stored are in an event of two or more."""
    t = _tables(store.dialect)["incidents"]
    statement = sa.select(sa.func.count()).where(
        t.c.batch_id == batch_id, t.c.event_role.in_(("lead", "cooperating"))
    )
    with store.engine.connect() as connection:
        return int(connection.execute(statement).scalar() or 0)


#: Rows fetched at a time by :func:`batch_rows_by_detection`.
_FETCH_ROWS = 100_000


def batch_rows_by_detection(
    store: SqlIncidentStore, batch_id: str, after: int, upto: int | None = None
) -> NDArray[np.int64]:
    """Return the row ids of the reports batch ``batch_id`` stored past row ``after``.

    Up to row ``upto`` (None: the last).

    In order of detection (``detected_at``, else ``occurred_at``; ties by row id), as
    int64: 8 bytes a report, the rest of each is read when it is linked
    (:func:`reports_at`). Gathered in one growing buffer, viewed as the array without a
    copy (parts joined at the end held twice that: 160 MB at 10 M reports).
    """
    mark = "?" if store.dialect == "sqlite" else "%s"
    bounds = (batch_id, int(after)) if upto is None else (batch_id, int(after), int(upto))
    sql = (
        f"SELECT id FROM incidents WHERE batch_id = {mark} AND id > {mark} "
        + ("" if upto is None else f"AND id <= {mark} ")
        + "ORDER BY coalesce(detected_at, occurred_at), id"
    )
    gathered = array("q")
    with store.engine.connect() as connection:
        # The driver's cursor: plain tuples, no SQLAlchemy row per report.
        raw = connection.connection.driver_connection
        assert raw is not None
        with closing(raw.cursor()) as cursor:
            cursor.execute(sql, bounds)
            while rows := cursor.fetchmany(_FETCH_ROWS):
                gathered.extend(r[0] for r in rows)
    if not gathered:
        return np.empty(0, dtype=np.int64)
    return np.frombuffer(gathered, dtype=np.int64)


def reports_at(store: SqlIncidentStore, rows: Sequence[int]) -> pd.DataFrame:
    """Return the stored reports at row ids ``rows`` (:data:`REPORT_COLUMNS`), indexed by row id.

    What :func:`geozone.incidents.events.link_new` links: its read of the reports near them
    skips these rows (each stored report is read once).
    """
    return _by_key(store, "id", [int(r) for r in rows])


def batch_reports(
    store: SqlIncidentStore, batch_id: str, after: int, upto: int, given: pd.DataFrame
) -> pd.DataFrame:
    """Return the reports batch ``batch_id`` stored in rows (``after``, ``upto``].

    As :func:`reports_at` reads them.

    ``given``: the :data:`LINK_FIELDS` of rows as the caller handed them to the store (an
    import's piece, still in hand); linking never changes these. Only what may have changed
    since is read: the event columns and each report's link cluster, by two scans of a range
    of row ids (~0.25 s for 50,000 reports on SQLite, where finding their rows in order of
    detection, reading every column and parsing the times took ~0.37 s). A row of the range
    that ``given`` lacks is read whole.
    """
    tables = _tables(store.dialect)
    t, c = tables["incidents"], tables["incident_clusters"]
    reports = sa.select(t.c.id, t.c.external_id, *(t.c[name] for name in EVENT_COLUMNS)).where(
        t.c.batch_id == batch_id, t.c.id > after, t.c.id <= upto
    )
    firsts = sa.select(c.c.incident_id, c.c.cluster_id, c.c.in_zone).where(
        c.c.incident_id > after, c.c.incident_id <= upto, c.c.cluster_id.is_not(None)
    )
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with closing(raw.cursor()) as cursor:
            stored = _fetched(cursor, store.engine.dialect, reports)
            placed = _fetched(cursor, store.engine.dialect, firsts)
    names = ["row_id", "external_id", *EVENT_COLUMNS]
    events = pd.DataFrame(
        {name: pd.Series(values, dtype=object) for name, values in zip(names, stored, strict=True)}
        if stored
        else {name: pd.Series([], dtype=object) for name in names}
    )
    at = pd.Index(given["external_id"].astype(object)).get_indexer(events["external_id"])
    held = events[at >= 0]
    frame: pd.DataFrame = given.reindex(columns=list(LINK_FIELDS)).iloc[at[at >= 0]]
    frame = frame.reset_index(drop=True)
    for name in _TIMES:  # as the store keeps them (µs) and reads give them
        utc = pd.to_datetime(frame[name], utc=True).dt.as_unit("us")
        frame[name] = utc.dt.tz_convert(VIETNAM_TZ)
    for name in ("external_id", "category", "detected_by"):
        text = frame[name].astype(object)
        frame[name] = pd.Series(text.where(text.notna(), None), index=frame.index, dtype=object)
    clusters = _first_clusters(placed).reindex(held["row_id"])
    for name, values in (
        *((name, held[name]) for name in EVENT_COLUMNS),
        ("link_cluster", clusters),
    ):
        values = values.where(values.notna(), None)
        frame[name] = pd.Series(values.to_numpy(dtype=object), index=frame.index, dtype=object)
    frame["event_confidence"] = pd.to_numeric(frame["event_confidence"]).astype("float64")
    frame.index = pd.Index(held["row_id"].astype("int64"), name="row_id")
    unheld = events["row_id"][at < 0].astype("int64").tolist()
    if unheld:
        frame = pd.concat([frame, reports_at(store, unheld)])
    return frame


def _fetched(cursor: Any, dialect: Dialect, statement: Any) -> list[tuple[Any, ...]]:
    """Run ``statement`` on a driver ``cursor``; return its columns (empty: no row)."""
    sql, order, held = _compiled_statement(dialect, statement)
    cursor.execute(sql, tuple(held[name] for name in order) if order else held)
    rows = cursor.fetchall()
    return list(zip(*rows, strict=True)) if rows else []


def _first_clusters(placed: list[tuple[Any, ...]]) -> pd.Series:
    """Return each report's link cluster (as the read's subquery) from its cluster rows."""
    if not placed:
        return pd.Series([], dtype=object)
    rows = pd.DataFrame(
        {
            "row_id": np.asarray(placed[0], dtype=np.int64),
            "cluster_id": pd.Series(placed[1], dtype=object),
            "outside": ~np.asarray(placed[2], dtype=bool),
        }
    )
    rows = rows.sort_values(["row_id", "outside", "cluster_id"], kind="stable")
    first = rows.drop_duplicates("row_id")
    ids = first["cluster_id"].to_numpy(dtype=object)
    return pd.Series(ids, index=first["row_id"].to_numpy(), dtype=object)


def _by_key(store: SqlIncidentStore, key: str, values: list[Any]) -> pd.DataFrame:
    """Return the stored reports whose column ``key`` is among ``values``, indexed by row id.

    Through the driver's cursor, as :func:`reports_in` (a SQLAlchemy row per report took
    0.4 s for 50,000 reports, the query itself 0.15 s).
    """
    dialect = store.engine.dialect
    sql, order, held = _by_key_sql(dialect, key)
    values_bound = held | _plausible_bounds(dialect.name)
    found: list[Any] = []
    with store.engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        with closing(raw.cursor()) as cursor:
            for chunk in chunks(values):
                given = values_bound | {"ids": bound(dialect.name, chunk)}
                cursor.execute(sql, tuple(given[name] for name in order) if order else given)
                found += cursor.fetchall()
    frame = _frame(store, [row[1:] for row in found])  # external ids are unique
    frame.index = pd.Index([row[0] for row in found], dtype="int64", name="row_id")
    return frame


@cache
def _by_key_sql(dialect: Dialect, key: str) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
    """Return the SQL of :func:`_by_key`'s query, compiled once (see :func:`_compiled`)."""
    t = _tables(dialect.name)["incidents"]
    statement = sa.select(t.c.id, *_columns(t, named=True)).where(
        among(t.c[key], dialect.name, "ids")
    )
    return _compiled_statement(dialect, statement)


def lead_detectors(store: SqlIncidentStore, external_ids: Iterable[str]) -> dict[str, str]:
    """Return, for each cooperating report among ``external_ids``, its event's first detector.

    The detecting member of the event's lead report (the earliest detection), by the
    cooperating report's external id; leads, single reports and reports not linked yet are
    left out.
    """
    return {report: detector for report, (_, detector) in event_leads(store, external_ids).items()}


def event_leads(
    store: SqlIncidentStore, external_ids: Iterable[str], *, within: Connection | None = None
) -> dict[str, tuple[str, str]]:
    """Return, for each cooperating report among ``external_ids``, its event's lead report.

    (the lead report's external id, its detecting member) by the cooperating report's
    external id, as :func:`lead_detectors` chooses them. ``within``: read in that open
    transaction (its own writes seen).
    """
    t = _tables(store.dialect)["incidents"]
    lead = t.alias("lead")
    wanted = sorted({nfc(str(e)) for e in external_ids})
    found: dict[str, tuple[str, str]] = {}
    statement = (
        sa.select(t.c.external_id, lead.c.external_id, lead.c.detected_by)
        .join(lead, lead.c.event_id == t.c.event_id)
        .where(
            among(t.c.external_id, store.dialect, "ids"),
            t.c.event_role == "cooperating",
            lead.c.event_role == "lead",
            lead.c.detected_by.is_not(None),
        )
    )
    with store.engine.connect() if within is None else nullcontext(within) as connection:
        for chunk in chunks(wanted):
            rows = connection.execute(statement, {"ids": bound(store.dialect, chunk)}).all()
            found.update((str(e), (str(a), str(d))) for e, a, d in rows)
    return found


__all__ = [
    "LINK_FIELDS",
    "REPORT_COLUMNS",
    "add_unlink",
    "batch_last_row",
    "batch_rows_by_detection",
    "event_leads",
    "event_members",
    "lead_detectors",
    "link_clusters",
    "reports_at",
    "reports_in",
    "reports_of",
    "save_events",
    "unfinished_batches",
    "unlinked_ids",
    "unlinks_of",
    "write_events",
]
