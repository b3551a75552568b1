"""SQL of the store's reads: the filters of a query, the result columns, the result frame.

Pure SQLAlchemy expressions over the tables of :func:`geozone.store._tables.build_metadata`,
used by :class:`geozone.store.sql.SqlIncidentStore`. A stored time outside the plausible
range never breaks a reader: queries leave out incidents whose ``occurred_at`` is outside
it, and read such a ``detected_at`` as NULL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import geopandas as gpd
import pandas as pd
import sqlalchemy as sa

from geozone.incidents.schema import EARLIEST_TIME, latest_time
from geozone.store._tables import (
    PLACE_CELL_SQL,
    UTCDateTime,
    count_place_cells,
    place_cells,
)
from geozone.store.base import RESULT_COLUMNS, IncidentQuery
from geozone.vntime import VIETNAM_TZ

#: The most 0.1° cells a bounding box is read through SQLite's index of place and time by
#: (5° by 5°); a larger box reads the table, its coordinates compared row by row.
MAX_BOX_CELLS = 2_500


def in_range(column: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    """Tell where a stored time lies in the plausible range (NULL is not in it).

    SQLite compares the stored UTC text with the bound's text (both sort as times; any
    other text, such as year 0000, falls outside); PostgreSQL compares instants.
    """
    return column.between(EARLIEST_TIME, latest_time())


def plausible(incidents: sa.Table) -> sa.ColumnElement[bool]:
    """Tell which incidents have a plausible ``occurred_at`` (the rows queries return).

    A range on the indexed column, so it costs a query little; an implausible
    ``detected_at`` is read as NULL instead (see :func:`result_columns`).
    """
    return in_range(incidents.c.occurred_at)


def sound(incidents: sa.Table) -> sa.ColumnElement[bool]:
    """Tell which incidents have both stored times plausible (the others are quarantined)."""
    t = incidents
    detected_ok = sa.or_(t.c.detected_at.is_(None), in_range(t.c.detected_at))
    return sa.and_(in_range(t.c.occurred_at), detected_ok)


def time_or_null(incidents: sa.Table, name: str) -> sa.ColumnElement[Any]:
    """Read a time column safely: NULL where the stored value is outside the range."""
    column = incidents.c[name]
    return sa.case((in_range(column), column), else_=sa.null()).label(name)


def result_columns(incidents: sa.Table, *, raw: bool = False) -> list[sa.ColumnElement[Any]]:
    """Return the result columns; ``raw``: times and flags as the driver gives them.

    Raw values skip SQLAlchemy's per-value conversion, so that :func:`result_frame` converts
    whole columns at once.
    """
    columns: list[sa.ColumnElement[Any]] = []
    for name in RESULT_COLUMNS:
        column = incidents.c[name]
        if raw and name == "detected_at":  # NULL when outside the plausible range
            unread = sa.type_coerce(column, sa.types.NullType())
            columns.append(sa.case((in_range(column), unread)).label(name))
        elif raw and isinstance(column.type, UTCDateTime | sa.Boolean):
            columns.append(sa.type_coerce(column, sa.types.NullType()).label(name))
        else:
            columns.append(column)
    return columns


def filters(
    tables: Mapping[str, sa.Table], dialect: str, query: IncidentQuery
) -> list[sa.ColumnElement[bool]]:
    """Return the conditions (combined with AND) of the incidents ``query`` selects."""
    t, c = tables["incidents"], tables["incident_clusters"]
    where: list[sa.ColumnElement[bool]] = [plausible(t)]
    if query.bbox is not None:
        where += _in_box(tables, dialect, query.bbox)
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
    if query.units is not None:
        held = _in_units(t, query.units)
        if query.detectors:
            held = sa.or_(held, _detected_by(t, query.detectors))
        where.append(held)
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


def keyset_filters(
    tables: Mapping[str, sa.Table], dialect: str, query: IncidentQuery
) -> list[sa.ColumnElement[bool]]:
    """Return the conditions of :func:`filters` for a walk in primary-key order (``pages``).

    A page is ``id > last ORDER BY id LIMIT n``: it must follow the primary key, so that each
    row is read once over the whole walk, whatever the filters. Cluster membership is a
    correlated ``EXISTS`` (a primary-key lookup per row of ``incident_clusters``) rather than
    a list of ids built again for every page, and the bbox compares the coordinates only.
    On SQLite the conditions are one expression no index serves: its planner would otherwise
    take the ``occurred_at`` index (every query bounds the time) and sort each page.
    """
    t, c = tables["incidents"], tables["incident_clusters"]
    plain = replace(query, bbox=None, cluster_id=None, in_border_zone=None)
    where = filters(tables, dialect, plain)
    if query.bbox is not None:
        minx, miny, maxx, maxy = query.bbox
        where += [t.c.lon.between(minx, maxx), t.c.lat.between(miny, maxy)]
    if query.cluster_id is not None or query.in_border_zone is not None:
        rows = sa.select(sa.literal(1)).select_from(c).where(c.c.incident_id == t.c.id)
        if query.cluster_id is not None:
            rows = rows.where(c.c.cluster_id == query.cluster_id)
            if query.in_border_zone is not None:
                rows = rows.where(c.c.in_zone == query.in_border_zone)
            where.append(rows.exists())
        else:
            zoned = rows.where(c.c.in_zone == sa.true()).exists()
            where.append(zoned if query.in_border_zone else sa.not_(zoned))
    if dialect == "sqlite":
        return [sa.func.coalesce(sa.and_(*where), sa.false(), type_=sa.Boolean)]
    return where


def _in_box(
    tables: Mapping[str, sa.Table], dialect: str, bbox: tuple[float, float, float, float]
) -> list[sa.ColumnElement[bool]]:
    """Conditions of the points in ``bbox`` (edges inside): the spatial index, then exactly."""
    t = tables["incidents"]
    minx, miny, maxx, maxy = bbox
    if dialect == "sqlite":
        # The index of place and detection time (migration 0014): the box's 0.1° cells,
        # every time of each. A box of more cells than that reads the table instead.
        if count_place_cells(minx, miny, maxx, maxy) > MAX_BOX_CELLS:  # counted, not made
            return [t.c.lon.between(minx, maxx), t.c.lat.between(miny, maxy)]
        indexed = sa.literal_column(PLACE_CELL_SQL).in_(place_cells(minx, miny, maxx, maxy))
    else:
        envelope = sa.func.ST_MakeEnvelope(minx, miny, maxx, maxy, 4326)
        indexed = t.c.geom.op("&&")(envelope)
    # The index finds cells (PostGIS: single-precision boxes): the coordinates decide.
    return [indexed, t.c.lon.between(minx, maxx), t.c.lat.between(miny, maxy)]


def raw_times(values: pd.Series, *, sqlite: bool) -> pd.Series:
    """Return times read raw (UTC text on SQLite, aware datetimes from psycopg) as UTC, µs.

    A whole column is parsed at once (SQLAlchemy's type would build a datetime per value).
    """
    if sqlite:
        times = pd.to_datetime(values, utc=True, format="%Y-%m-%d %H:%M:%S.%f")
    else:
        times = pd.to_datetime(values, utc=True)
    return times.dt.as_unit("us")


def result_frame(rows: Sequence[Sequence[Any]], *, sqlite: bool) -> gpd.GeoDataFrame:
    """Assemble the query result frame with its dtypes (also when empty), column by column.

    Times arrive raw: UTC text on SQLite, aware datetimes from psycopg.
    """
    frame = pd.DataFrame.from_records(
        [tuple(r) for r in rows], columns=list(RESULT_COLUMNS), coerce_float=False
    )
    for column in ("occurred_at", "detected_at", "assigned_at"):
        frame[column] = raw_times(frame[column], sqlite=sqlite).dt.tz_convert(VIETNAM_TZ)
    frame["lon"] = frame["lon"].astype("float64")
    frame["lat"] = frame["lat"].astype("float64")
    frame["subjects"] = frame["subjects"].astype("int64")
    frame["event_confidence"] = pd.to_numeric(frame["event_confidence"]).astype("float64")
    for column in ("jointly_handled", "synthetic"):
        frame[column] = frame[column].astype(bool)
    frame["on_boundary"] = frame["on_boundary"].astype("boolean")
    geometry = gpd.points_from_xy(frame["lon"], frame["lat"], crs=4326)
    return gpd.GeoDataFrame(frame, geometry=geometry, crs=4326)


def _detected_by(t: sa.Table, detectors: tuple[tuple[str, str], ...]) -> sa.ColumnElement[bool]:
    """Incidents judged in one of the sets and detected by one of that set's names."""
    by_set: dict[str, set[str]] = {}
    for set_id, name in detectors:
        by_set.setdefault(set_id, set()).add(name)
    return sa.or_(
        sa.false(),
        *(
            sa.and_(t.c.set_id == set_id, t.c.detected_by.in_(sorted(names)))
            for set_id, names in sorted(by_set.items())
        ),
    )


def _in_units(t: sa.Table, units: tuple[tuple[str, str], ...]) -> sa.ColumnElement[bool]:
    """Incidents assigned in one of the sets with a code among that set's (a key's scope)."""
    by_set: dict[str, set[str]] = {}
    for set_id, code in units:
        by_set.setdefault(set_id, set()).add(code)
    if not by_set:
        return sa.false()
    codes = ("unit_code", "ward_code", "district_code", "province_code")
    return sa.or_(
        *(
            sa.and_(t.c.set_id == set_id, sa.or_(*(t.c[c].in_(sorted(found)) for c in codes)))
            for set_id, found in sorted(by_set.items())
        )
    )
