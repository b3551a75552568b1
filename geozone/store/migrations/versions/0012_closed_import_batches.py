"""Import batches may be closed: an abandoned unfinished import, linked once and set aside.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

An import stopped before it finished leaves its batch ``running``: every output says so and
every ``geozone incidents link`` links it again, until the same file is imported again with
the same options. A batch that will never be finished (the file was imported again with a
corrected CRS, which is another batch) is closed by ``geozone incidents batches --close``:
its reports are linked once and its status becomes ``closed`` (importing the same file again
reopens it). The status CHECK constraint allows the new value.

SQLite cannot alter a CHECK constraint and ``incidents`` references the table: it is made
again with the same definition but the constraint (read from ``sqlite_master``), with the
foreign keys deferred to the end of the migration's transaction: dropping the old table
counts the incidents that reference it as violations, and copying the batches back into the
new table of the same name resolves them.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_import_batches_status"
_BEFORE = "status IN ('running', 'done')"
_AFTER = "status IN ('running', 'done', 'closed')"


def upgrade() -> None:
    """Allow the status ``closed``."""
    _status_check(_BEFORE, _AFTER)


def downgrade() -> None:
    """Allow ``running`` and ``done`` only: closed batches are running (not done) again."""
    op.execute("UPDATE import_batches SET status = 'running' WHERE status = 'closed'")
    _status_check(_AFTER, _BEFORE)


def _status_check(before: str, after: str) -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_remake(before, after)
        return
    op.drop_constraint(_NAME, "import_batches", type_="check")
    op.create_check_constraint(_NAME, "import_batches", after)


def _sqlite_remake(before: str, after: str) -> None:
    """Make ``import_batches`` again with its status check ``after`` (rows kept)."""
    bind = op.get_bind()
    ddl = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'import_batches'"
    ).scalar_one()
    if before not in ddl:
        raise RuntimeError(f"import_batches: the status check is not {before!r}: {ddl}")
    # Until the transaction commits: the incidents referencing the dropped table are counted
    # as violations, and resolved as the batches are copied back.
    op.execute("PRAGMA defer_foreign_keys = ON")
    op.execute("CREATE TEMPORARY TABLE import_batches_0012 AS SELECT * FROM import_batches")
    op.execute("DROP TABLE import_batches")
    op.execute(ddl.replace(before, after))
    op.execute("INSERT INTO import_batches SELECT * FROM import_batches_0012")
    op.execute("DROP TABLE import_batches_0012")
