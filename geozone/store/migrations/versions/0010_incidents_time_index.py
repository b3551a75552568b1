"""A spatial index with the detection time, for linking's bounded reads on SQLite.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Linking reads the stored reports within a box of space *and* detection time around the new
ones (:func:`geozone.store.events.reports_in`). The R*Tree of migration 0001 holds space
only: each box then scanned every report ever stored in its place and dropped those of other
times, so an import's reads grew with the store (and with the time a piece spans: a file not
ordered by time read its whole store per piece). SQLite gets a second R*Tree,
``incidents_rtree_time(id, minx, maxx, miny, maxy, mint, maxt)``, whose third dimension is
the detection time (``detected_at``, else ``occurred_at``) in days since 1970-01-01 UTC (a
time SQLite cannot read is held as the whole line, so that the exact comparisons that follow
the index decide). Triggers keep it in step with ``incidents`` as those of 0001 do.

PostgreSQL is left as it is (its GiST index and the ``occurred_at`` index).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The detection time of row ``{row}`` in days since 1970-01-01 UTC (NULL when unreadable).
DAYS = "(julianday(coalesce({row}.detected_at, {row}.occurred_at)) - 2440587.5)"
#: The values of one row of the index, for the row ``{row}`` of ``incidents``.
VALUES = (
    "{row}.id, {row}.lon, {row}.lon, {row}.lat, {row}.lat, "
    f"coalesce({DAYS}, -1e9), coalesce({DAYS}, 1e9)"
)
COLUMNS = "id, minx, maxx, miny, maxy, mint, maxt"
INSERT_TRIGGER = f"""CREATE TRIGGER incidents_rtree_time_insert AFTER INSERT ON incidents BEGIN
        INSERT INTO incidents_rtree_time ({COLUMNS}) SELECT {VALUES.format(row="new")};
    END"""

_SQLITE = (
    f"CREATE VIRTUAL TABLE incidents_rtree_time USING rtree({COLUMNS})",
    f"INSERT INTO incidents_rtree_time ({COLUMNS}) "
    f"SELECT {VALUES.format(row='incidents')} FROM incidents",
    INSERT_TRIGGER,
    f"""CREATE TRIGGER incidents_rtree_time_update
        AFTER UPDATE OF id, lon, lat, occurred_at, detected_at ON incidents BEGIN
        DELETE FROM incidents_rtree_time WHERE id = old.id;
        INSERT INTO incidents_rtree_time ({COLUMNS}) SELECT {VALUES.format(row="new")};
    END""",
    """CREATE TRIGGER incidents_rtree_time_delete AFTER DELETE ON incidents BEGIN
        DELETE FROM incidents_rtree_time WHERE id = old.id;
    END""",
)


def upgrade() -> None:
    """Create the R*Tree of space and detection time on SQLite, filled, with its triggers."""
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE:
            op.execute(statement)


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS incidents_rtree_time_{trigger}")
        op.execute("DROP TABLE IF EXISTS incidents_rtree_time")
