"""The store's tables as the migrations create them; the incident columns from the field table.

:func:`build_metadata` describes the tables that queries are built from. The migrations in
``migrations/`` create the schema (they are its history and stay as written); a test checks
that the two agree (Alembic's ``compare_metadata``). The columns of an incident (type, width,
nullability) and its CHECK constraints on ranges and allowed values are derived from
:data:`geozone.incidents.fields.INCIDENT_FIELDS`, so that a change of a field that the
migrations do not follow shows up in that test.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from geoalchemy2 import Geometry
from numpy.typing import NDArray
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect

from geozone.errors import InvalidParameterError
from geozone.incidents.fields import INCIDENT_FIELDS, IncidentField
from geozone.vntime import VIETNAM_TZ


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


#: SQLite's index of place and detection time (migration 0014), named for query hints.
PLACE_TIME_INDEX = "ix_incidents_place_time"
#: Cells of :data:`PLACE_TIME_INDEX` per degree of longitude and of latitude.
PLACE_CELLS_PER_DEGREE = 10
#: The key of a report's 0.1° cell, the first column of :data:`PLACE_TIME_INDEX`. SQLite
#: uses an index on an expression only for a query that spells it alike: queries take it
#: from here (migration 0014 keeps its own copy, as written; a test checks they agree).
PLACE_CELL_SQL = (
    "(CAST((incidents.lon + 180) * 10 AS INTEGER) * 10000"
    " + CAST((incidents.lat + 90) * 10 AS INTEGER))"
)
#: A report's detection time (``detected_at``, else ``occurred_at``) in days since
#: 1970-01-01 UTC, the second column of :data:`PLACE_TIME_INDEX`.
DETECTION_DAYS_SQL = (
    "(julianday(coalesce(incidents.detected_at, incidents.occurred_at)) - 2440587.5)"
)


def _cell_spans(
    minx: NDArray[np.float64],
    miny: NDArray[np.float64],
    maxx: NDArray[np.float64],
    maxy: NDArray[np.float64],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Return each box's first cell column and row and its numbers of columns and rows.

    As SQLite's CAST works out a point's key: the double's product, truncated towards zero.
    """
    k = float(PLACE_CELLS_PER_DEGREE)
    x0, x1 = (np.trunc((np.asarray(v, float) + 180) * k).astype(np.int64) for v in (minx, maxx))
    y0, y1 = (np.trunc((np.asarray(v, float) + 90) * k).astype(np.int64) for v in (miny, maxy))
    return x0, y0, np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)


def count_place_cells(minx: float, miny: float, maxx: float, maxy: float) -> int:
    """Return how many keys :func:`place_cells` returns for a box, without making them."""
    _, _, nx, ny = _cell_spans(*(np.array([v], dtype=float) for v in (minx, miny, maxx, maxy)))
    return int(nx[0]) * int(ny[0])


def place_cells(minx: float, miny: float, maxx: float, maxy: float) -> list[int]:
    """Return the keys of :data:`PLACE_CELL_SQL` of every cell a point of a box may lie in.

    Worked out as SQLite works out a point's key (doubles, truncated towards zero), which
    never decreases as a coordinate grows: a point in the box has one of these keys.
    """
    boxes = (np.array([value], dtype=float) for value in (minx, miny, maxx, maxy))
    keys: list[int] = boxes_place_cells(*boxes)[1].tolist()
    return keys


def boxes_place_cells(
    minx: NDArray[np.float64],
    miny: NDArray[np.float64],
    maxx: NDArray[np.float64],
    maxy: NDArray[np.float64],
) -> tuple[NDArray[np.intp], NDArray[np.int64]]:
    """Return :func:`place_cells` of many boxes at once, vectorised.

    Returns
    -------
    tuple of two arrays
        The box of each key (its position in the arrays given), and the key: the boxes in
        order, each box's keys in the order :func:`place_cells` gives them.
    """
    x0, y0, nx, ny = _cell_spans(minx, miny, maxx, maxy)
    counts = nx * ny
    box = np.repeat(np.arange(len(counts), dtype=np.intp), counts)
    step = np.arange(len(box), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = ny[box]
    keys = (x0[box] + step // rows) * 10_000 + y0[box] + step % rows
    return box, keys


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
        sa.CheckConstraint(
            "status IN ('running', 'done', 'closed')", name="ck_import_batches_status"
        ),
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
        *(incident_column(spec) for spec in INCIDENT_FIELDS),
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
        *event_columns(),
        sa.UniqueConstraint("external_id", name="uq_incidents_external_id"),
        *incident_checks(),
        sa.Index("ix_incidents_occurred_at", "occurred_at"),
        sa.Index("ix_incidents_category", "category", "occurred_at"),
        sa.Index("ix_incidents_unit_code", "unit_code"),
        sa.Index("ix_incidents_ward_code", "ward_code"),
        sa.Index("ix_incidents_district_code", "district_code"),
        sa.Index("ix_incidents_province_code", "province_code"),
        sa.Index("ix_incidents_assigned_with", "assigned_with"),
        sa.Index("ix_incidents_batch_id", "batch_id"),
        sa.Index("ix_incidents_event_id", "event_id"),  # migration 0007
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
    sa.Table(  # migration 0013: raised by every write transaction (caches' marker)
        "store_revision",
        metadata,
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_revision"),
        sa.CheckConstraint("id = 1", name="ck_store_revision_one_row"),
    )
    sa.Table(  # migration 0007
        "incident_unlinks",
        metadata,
        sa.Column("external_id_a", sa.String(128), nullable=False),
        sa.Column("external_id_b", sa.String(128), nullable=False),
        sa.Column("unlinked_by", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("unlinked_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("external_id_a", "external_id_b", name="pk_incident_unlinks"),
        sa.CheckConstraint("external_id_a < external_id_b", name="ck_incident_unlinks_order"),
    )
    drawn = (
        generated_zone("zone_geom", "zone", "ix_cluster_confirmations_zone_geom")
        if dialect == "postgresql"
        else []
    )
    sa.Table(  # migration 0004; its PostGIS geometry: 0008
        "cluster_confirmations",
        metadata,
        sa.Column("cluster_id", sa.String(120), primary_key=True),
        sa.Column("from_date", sa.Date, nullable=False),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("zone", sa.Text),
        sa.Column("confirmed_at", UTCDateTime(), nullable=False),
        *drawn,
    )
    return metadata


def event_columns() -> list[sa.Column[Any]]:
    """Return the event columns of ``incidents`` (migration 0007).

    Derived on import by :mod:`geozone.incidents.events`, never supplied by users: store
    columns, not fields of an incident (see :data:`geozone.store.base.EVENT_COLUMNS`).
    """
    return [
        sa.Column("event_id", sa.String(136)),
        sa.Column("event_role", sa.String(16)),
        sa.Column("event_confidence", sa.Double),
    ]


def generated_zone(name: str, source: str, index: str) -> list[sa.Column[Any] | sa.Index]:
    """Return a PostGIS zone column generated from a text column, and its GiST index.

    ``geometry(MultiPolygon, 4326)``, from GeoJSON text (a patrol zone's ``geometry``) or
    WKT (a drawn border zone's ``zone``), as migration 0008 creates it.
    """
    parse = (
        f"ST_SetSRID(ST_GeomFromGeoJSON({source}), 4326)"
        if source == "geometry"
        else f"ST_GeomFromText({source}, 4326)"
    )
    return [
        sa.Column(
            name,
            Geometry("MULTIPOLYGON", srid=4326, spatial_index=False),
            sa.Computed(f"ST_Multi({parse})", persisted=True),
        ),
        sa.Index(index, name, postgresql_using="gist"),
    ]


def _column_type(spec: IncidentField) -> sa.types.TypeEngine[Any]:
    """Return the SQLAlchemy type of a field's store column."""
    kind = spec.store.type
    if kind == "string":
        return sa.String(spec.width)
    types: dict[str, sa.types.TypeEngine[Any]] = {
        "text": sa.Text(),
        "time": UTCDateTime(),
        "double": sa.Double(),
        "integer": sa.Integer(),
        "boolean": sa.Boolean(),
    }
    return types[kind]


def incident_column(spec: IncidentField) -> sa.Column[Any]:
    """Return the column of the ``incidents`` table that stores a field."""
    return sa.Column(spec.name, _column_type(spec), nullable=spec.nullable)


def incident_checks() -> Iterator[sa.CheckConstraint]:
    """Yield the CHECK constraints of the ``incidents`` table that the fields imply.

    As migration 0001 wrote them: coordinates within their range, a choice among its
    values, a count not below its lower bound (the upper bound is checked on the write
    path only), then a time not before the one it follows. Each is named after the
    field's first word (``ck_incidents_detected``).
    """
    for spec in INCIDENT_FIELDS:
        if spec.kind == "coordinate":
            low, high = spec.bounds
            yield _check(spec, f"{spec.name} BETWEEN {low:g} AND {high:g}")
        elif spec.kind == "choice":
            yield _check(spec, f"{spec.name} IN ({', '.join(repr(c) for c in spec.choices)})")
        elif spec.kind == "count":
            yield _check(spec, f"{spec.name} >= {spec.bounds[0]:g}")
    for spec in INCIDENT_FIELDS:
        if spec.after is not None:
            yield _check(spec, f"{spec.name} IS NULL OR {spec.name} >= {spec.after}")


def _check(spec: IncidentField, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=f"ck_incidents_{spec.name.split('_')[0]}")
