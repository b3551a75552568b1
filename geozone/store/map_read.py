"""One read of a cluster's stored incidents with their stored decisions, for its map.

The served cluster map draws every stored incident of a cluster with the decision stored for
it there (no judgement made again). :meth:`~geozone.store.sql.SqlIncidentStore.pages` reads
every column of the incidents and every cluster's decisions, page by page; a map needs a
dozen columns of one cluster. :func:`cluster_map_columns` reads exactly those in one join
driven by the ``incident_clusters`` index on ``cluster_id``, values as the driver gives them
(no per-value conversion), converted column by column afterwards.

It selects the rows ``IncidentQuery(cluster_id=...)`` selects (:func:`count` and
:meth:`pages` agree with it): the cluster's decision rows whose incident has a plausible
``occurred_at`` (:func:`geozone.store._query.plausible`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray

from geozone.store._query import plausible, raw_times
from geozone.store.base import IncidentQuery, IncidentStore
from geozone.vntime import VIETNAM_TZ

#: The incident columns a map reads.
MAP_INCIDENT_COLUMNS = (
    "id",
    "external_id",
    "occurred_at",
    "lon",
    "lat",
    "category",
    "synthetic",
    "detected_by",
    "event_id",
    "event_role",
)
#: The decision columns a map reads (the cluster's stored decision).
MAP_DECISION_COLUMNS = ("rule", "lead_unit", "explanation_vi", "explanation_en", "review")
#: The decision columns the served map's table draws: its sentences (the largest part of the
#: read, about half of it at 200,000 rows) are fetched by a popup one incident at a time,
#: and ``review`` is not drawn.
MAP_DRAWN_DECISION_COLUMNS = ("rule", "lead_unit")


def cluster_map_columns(
    store: IncidentStore,
    cluster_id: str,
    *,
    decision_columns: Sequence[str] = MAP_DECISION_COLUMNS,
) -> pd.DataFrame:
    """Return every stored incident of a cluster with its stored decision, columns only.

    Parameters
    ----------
    store
        The incident store (SQLite or PostgreSQL).
    cluster_id
        A placed cluster id (e.g. ``hoa-do-phuc-vi-vn2025``).
    decision_columns
        The decision columns read, of :data:`MAP_DECISION_COLUMNS` (the served map's table
        reads :data:`MAP_DRAWN_DECISION_COLUMNS`).

    Returns
    -------
    pandas.DataFrame
        One row per incident, in primary-key order: :data:`MAP_INCIDENT_COLUMNS` (``id``
        int64, ``occurred_at`` UTC ``datetime64``, ``lon``/``lat`` float64, ``synthetic``
        bool) and ``decision_columns`` (``review`` bool). Empty with these columns when none
        is stored.
    """
    from geozone.store.sql import SqlIncidentStore

    if not isinstance(store, SqlIncidentStore):  # pragma: no cover - the one backend
        raise TypeError(f"cluster_map_columns needs the SQL store, not {type(store).__name__}")
    unknown = set(decision_columns) - set(MAP_DECISION_COLUMNS)
    if unknown:
        raise ValueError(f"not decision columns of a map: {sorted(unknown)}")
    tables = store._tables
    t, c = tables["incidents"], tables["incident_clusters"]
    raw = sa.types.NullType()
    columns: list[sa.ColumnElement[Any]] = [
        sa.type_coerce(t.c[name], raw).label(name) for name in MAP_INCIDENT_COLUMNS
    ]
    columns += [sa.type_coerce(c.c[name], raw).label(name) for name in decision_columns]
    statement = (
        sa.select(*columns)
        .select_from(c.join(t, t.c.id == c.c.incident_id))
        .where(c.c.cluster_id == cluster_id, plausible(t))
    )
    rows = _driver_rows(store, statement)
    table = _row_table(rows, len(MAP_INCIDENT_COLUMNS) + len(decision_columns))
    # Its rows put in key order (the join has none).
    table = table[np.argsort(table[:, 0].astype(np.int64), kind="stable")]
    frame = _object_frame(table, [*MAP_INCIDENT_COLUMNS, *decision_columns])
    frame["occurred_at"] = raw_times(frame["occurred_at"], sqlite=store.dialect == "sqlite")
    frame["id"] = frame["id"].astype("int64")
    for name in ("lon", "lat"):
        frame[name] = frame[name].astype("float64")
    for name in ("synthetic", "review"):
        if name in frame:
            frame[name] = frame[name].fillna(False).astype(bool)
    return frame


def area_columns(
    store: IncidentStore, query: IncidentQuery, columns: Sequence[str]
) -> pd.DataFrame:
    """Return some columns of every incident ``query`` selects, in one read, in key order.

    What :meth:`~geozone.store.sql.SqlIncidentStore.pages` yields for ``query``, limited to
    ``columns`` (incident columns of :data:`geozone.store.base.RESULT_COLUMNS`, no geometry,
    no decisions), with the same dtypes (:func:`geozone.store._query.result_frame`'s
    conversions): a study's read of the incidents in its area, without the JSON columns and
    decisions a page carries (parsed per row: seconds at 200,000 rows).
    """
    from geozone.store._query import keyset_filters
    from geozone.store.sql import SqlIncidentStore

    if not isinstance(store, SqlIncidentStore):  # pragma: no cover - the one backend
        raise TypeError(f"area_columns needs the SQL store, not {type(store).__name__}")
    t = store._tables["incidents"]
    raw = sa.types.NullType()
    statement = (
        sa.select(*(sa.type_coerce(t.c[name], raw).label(name) for name in columns))
        .where(*keyset_filters(store._tables, store.dialect, query))
        .order_by(t.c.id)
    )
    table = _row_table(_driver_rows(store, statement), len(columns))
    frame = _object_frame(table, columns).infer_objects()
    return _converted(frame, sqlite=store.dialect == "sqlite")


def _converted(frame: pd.DataFrame, *, sqlite: bool) -> pd.DataFrame:
    """Give raw incident columns the dtypes of :func:`geozone.store._query.result_frame`."""
    for column in ("occurred_at", "detected_at", "assigned_at"):
        if column in frame:
            frame[column] = raw_times(frame[column], sqlite=sqlite).dt.tz_convert(VIETNAM_TZ)
    for column in ("lon", "lat"):
        if column in frame:
            frame[column] = frame[column].astype("float64")
    if "subjects" in frame:
        frame["subjects"] = frame["subjects"].astype("int64")
    for column in ("jointly_handled", "synthetic"):
        if column in frame:
            frame[column] = frame[column].astype(bool)
    return frame


def cluster_columns(
    store: IncidentStore,
    query: IncidentQuery,
    incident_columns: Sequence[str],
    decision_columns: Sequence[str],
) -> pd.DataFrame:
    """Return columns of every incident of one cluster ``query`` selects, with its decision.

    What merging the incidents and the decisions of :meth:`~geozone.store.sql.
    SqlIncidentStore.pages` for ``query`` (which names a ``cluster_id``) on ``external_id``
    gives, in one read of those columns (no other JSON column parsed, no decisions of other
    clusters): ``incident_columns`` (which hold ``external_id``) with the dtypes
    :func:`area_columns` gives, then ``decision_columns`` (``in_zone`` and ``review`` bool,
    JSON lists as lists), in key order.
    """
    from dataclasses import replace

    import orjson

    from geozone.store._query import keyset_filters
    from geozone.store.sql import SqlIncidentStore

    if not isinstance(store, SqlIncidentStore):  # pragma: no cover - the one backend
        raise TypeError(f"cluster_columns needs the SQL store, not {type(store).__name__}")
    if query.cluster_id is None:
        raise ValueError("cluster_columns reads one cluster: the query names none")
    t, c = store._tables["incidents"], store._tables["incident_clusters"]
    raw = sa.types.NullType()
    plain = replace(query, cluster_id=None)
    statement = (
        sa.select(
            *(sa.type_coerce(t.c[name], raw).label(name) for name in incident_columns),
            *(sa.type_coerce(c.c[name], raw).label(f"c_{name}") for name in decision_columns),
        )
        .select_from(c.join(t, t.c.id == c.c.incident_id))
        .where(
            c.c.cluster_id == query.cluster_id, *keyset_filters(store._tables, store.dialect, plain)
        )
        .order_by(t.c.id)
    )
    n = len(incident_columns)
    table = _row_table(_driver_rows(store, statement), n + len(decision_columns))
    incidents = _converted(
        _object_frame(table[:, :n], incident_columns).infer_objects(),
        sqlite=store.dialect == "sqlite",
    )
    decisions = _object_frame(table[:, n:], decision_columns).infer_objects()
    for name in ("in_zone", "review"):
        if name in decisions:
            decisions[name] = decisions[name].astype(bool)
    if "distance_m" in decisions:
        decisions["distance_m"] = decisions["distance_m"].astype("float64")
    for name in ("zone_units", "cooperating"):
        if name in decisions:
            decisions[name] = [
                orjson.loads(v) if isinstance(v, str | bytes) else v for v in decisions[name]
            ]
    return pd.concat([incidents, decisions], axis=1)


def _row_table(rows: list[Any], width: int) -> NDArray[np.object_]:
    """Return the driver's rows as one 2-D object array (one pass in C).

    A zip of 200,000 tuples into columns took 0.3 s.
    """
    table = np.empty((len(rows), width), dtype=object)
    if rows:
        table[:] = rows
    return table


def _object_frame(table: NDArray[np.object_], names: Sequence[str]) -> pd.DataFrame:
    """Return a frame of ``table``'s columns, left as object columns (no copy).

    No conversion here (slow at this size); the caller's ``infer_objects`` then gives
    numbers, booleans and text their dtypes, as ``DataFrame.from_records`` does.
    """
    return pd.DataFrame(
        {name: pd.Series(table[:, k], dtype=object, copy=False) for k, name in enumerate(names)}
    )


def _driver_rows(store: Any, statement: sa.Executable) -> list[Any]:
    """Run a read and return the driver's own rows (plain tuples).

    Every column is read raw (no result processors), so SQLAlchemy's row objects would only
    cost time (0.5 s at 200,000 rows).
    """
    with store._read() as connection:
        result = connection.execute(statement)
        cursor = result.cursor
        rows: list[Any] = cursor.fetchall() if cursor is not None else []
        result.close()
    return rows
