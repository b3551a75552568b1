"""Patrol zones and drawn border zones as PostGIS geometry columns (QGIS sees them).

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-05

On PostgreSQL + PostGIS, ``patrol_zones.geom`` and ``cluster_confirmations.zone_geom`` are
``geometry(MultiPolygon, 4326)`` columns generated from the stored text (the zone's GeoJSON,
the drawn border zone's WKT), each with a GiST index: a GIS connected to the database (QGIS
lists ``geometry_columns``) sees them as layers, and they follow every write without a
change to the writers. The text columns stay the record (SQLite keeps only those).

This revision touches nothing another one does: when a revision 0007 exists it only has to
come before it (``down_revision = "0007"``).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, geometry column, expression of the stored text, index name)
_COLUMNS = (
    (
        "patrol_zones",
        "geom",
        "ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(geometry), 4326))",
        "ix_patrol_zones_geom",
    ),
    (
        "cluster_confirmations",
        "zone_geom",
        "ST_Multi(ST_GeomFromText(zone, 4326))",
        "ix_cluster_confirmations_zone_geom",
    ),
)


def upgrade() -> None:
    """Add the generated geometry columns and their GiST indexes (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, expression, index in _COLUMNS:
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {column} geometry(MultiPolygon, 4326) "
            f"GENERATED ALWAYS AS ({expression}) STORED"
        )
        op.create_index(index, table, [column], postgresql_using="gist")


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, _expression, index in _COLUMNS:
        op.drop_index(index, table_name=table)
        op.drop_column(table, column)
