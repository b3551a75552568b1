"""Incident store: import batches, incidents with assignment, cluster rows, spatial index.

Revision ID: 0001
Revises:
Create Date: 2025-11-22

SQLite gets an R*Tree virtual table ``incidents_rtree(id, minx, maxx, miny, maxy)`` kept in
step with ``incidents`` by triggers (so in the inserting transaction); PostgreSQL gets the
PostGIS extension and a generated ``geom geometry(Point, 4326)`` column with a GiST index.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)

_SQLITE_RTREE = (
    "CREATE VIRTUAL TABLE incidents_rtree USING rtree(id, minx, maxx, miny, maxy)",
    """CREATE TRIGGER incidents_rtree_insert AFTER INSERT ON incidents BEGIN
        INSERT INTO incidents_rtree (id, minx, maxx, miny, maxy)
        VALUES (new.id, new.lon, new.lon, new.lat, new.lat);
    END""",
    """CREATE TRIGGER incidents_rtree_update AFTER UPDATE OF id, lon, lat ON incidents BEGIN
        DELETE FROM incidents_rtree WHERE id = old.id;
        INSERT INTO incidents_rtree (id, minx, maxx, miny, maxy)
        VALUES (new.id, new.lon, new.lon, new.lat, new.lat);
    END""",
    """CREATE TRIGGER incidents_rtree_delete AFTER DELETE ON incidents BEGIN
        DELETE FROM incidents_rtree WHERE id = old.id;
    END""",
)


def upgrade() -> None:
    """Create the tables, their indexes and the dialect's spatial index."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "import_batches",
        sa.Column("batch_id", sa.String(128), primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("rows_total", sa.Integer, nullable=False),
        sa.Column("rows_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_inserted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_duplicate", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rows_stored", sa.Integer),
        sa.Column("rows_rejected", sa.Integer),
        sa.Column("rejects", _JSON),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME),
        sa.CheckConstraint(
            "rows_done >= 0 AND rows_done <= rows_total", name="ck_import_batches_progress"
        ),
        sa.CheckConstraint("status IN ('running', 'done')", name="ck_import_batches_status"),
    )
    op.create_table(
        "incidents",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("detected_at", _TIME),
        sa.Column("lon", sa.Double, nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("detected_by", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("subjects", sa.Integer, nullable=False, server_default="0"),
        sa.Column("jointly_handled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("synthetic", sa.Boolean, nullable=False, server_default=sa.false()),
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
        sa.Column("assigned_at", _TIME),
        sa.UniqueConstraint("external_id", name="uq_incidents_external_id"),
        sa.CheckConstraint("lon BETWEEN -180 AND 180", name="ck_incidents_lon"),
        sa.CheckConstraint("lat BETWEEN -90 AND 90", name="ck_incidents_lat"),
        sa.CheckConstraint("status IN ('open', 'solved')", name="ck_incidents_status"),
        sa.CheckConstraint("subjects >= 0", name="ck_incidents_subjects"),
        sa.CheckConstraint(
            "detected_at IS NULL OR detected_at >= occurred_at", name="ck_incidents_detected"
        ),
    )
    op.create_index("ix_incidents_occurred_at", "incidents", ["occurred_at"])
    op.create_index("ix_incidents_category", "incidents", ["category", "occurred_at"])
    for column in ("unit_code", "ward_code", "district_code", "province_code"):
        op.create_index(f"ix_incidents_{column}", "incidents", [column])
    op.create_index("ix_incidents_assigned_with", "incidents", ["assigned_with"])
    op.create_index("ix_incidents_batch_id", "incidents", ["batch_id"])
    op.create_table(
        "incident_clusters",
        sa.Column(
            "incident_id",
            _ID,
            sa.ForeignKey("incidents.id", ondelete="CASCADE", name="fk_incident_clusters_incident"),
            nullable=False,
        ),
        sa.Column("cluster_id", sa.String(64), nullable=False),
        sa.Column("member_code", sa.String(64)),
        sa.Column("in_zone", sa.Boolean, nullable=False),
        sa.Column("zone_kind", sa.String(32)),
        sa.Column("zone_units", _JSON, nullable=False),
        sa.Column("distance_m", sa.Double),
        sa.Column("boundary_with", sa.String(64)),
        sa.Column("lead_unit", sa.String(64)),
        sa.Column("cooperating", _JSON, nullable=False),
        sa.Column("rule", sa.String(64)),
        sa.Column("review", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("explanation_vi", sa.Text, nullable=False, server_default=""),
        sa.Column("explanation_en", sa.Text, nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("incident_id", "cluster_id", name="pk_incident_clusters"),
    )
    op.create_index(
        "ix_incident_clusters_cluster_id", "incident_clusters", ["cluster_id", "in_zone"]
    )
    if dialect == "sqlite":
        for statement in _SQLITE_RTREE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(
            "ALTER TABLE incidents ADD COLUMN geom geometry(Point, 4326) "
            "GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED"
        )
        op.create_index("ix_incidents_geom", "incidents", ["geom"], postgresql_using="gist")


def downgrade() -> None:
    """Drop everything :func:`upgrade` created (the PostGIS extension stays)."""
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS incidents_rtree_{trigger}")
        op.execute("DROP TABLE IF EXISTS incidents_rtree")
    op.drop_table("incident_clusters")
    op.drop_table("incidents")
    op.drop_table("import_batches")
