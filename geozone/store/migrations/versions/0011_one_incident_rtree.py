"""One R*Tree of incidents on SQLite: the index of space and detection time serves boxes too.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

SQLite kept two R*Trees of ``incidents``: space (``incidents_rtree``, migration 0001) and
space with the detection time (``incidents_rtree_time``, migration 0010). The second holds
every row the first holds, with the same box, and a box of space alone is a query on its
first two dimensions (each row's time is a range in the third, never excluded). Every
insert wrote both: filling an R*Tree costs about 7 µs a row (1.5 s of an import of 200,000
rows, per tree), so the space-only tree is dropped with its triggers and the bounding-box
queries read the other (:func:`geozone.store._query.filters`). PostgreSQL is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Migration 0001's R*Tree and triggers, made again (filled) by :func:`downgrade`.
_SQLITE_RTREE = (
    "CREATE VIRTUAL TABLE incidents_rtree USING rtree(id, minx, maxx, miny, maxy)",
    "INSERT INTO incidents_rtree (id, minx, maxx, miny, maxy) "
    "SELECT id, lon, lon, lat, lat FROM incidents",
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
    """Drop the space-only R*Tree and its triggers on SQLite."""
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS incidents_rtree_{trigger}")
        op.execute("DROP TABLE IF EXISTS incidents_rtree")


def downgrade() -> None:
    """Make the space-only R*Tree again, filled from ``incidents``, with its triggers."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_RTREE:
            op.execute(statement)
