"""The store's revision: a number every write to the incident store raises.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

The web service caches answers built from the store (a map's incident table, hotspots, the
border effect) under a marker of what they depend on. The number of incidents and the
context's assignment stamp miss the writes that change events and decisions without adding
an incident (an unlink, ``geozone incidents link``, the reports judged again after either):
each write transaction of the incident store raises ``store_revision.revision`` as its last
statement, in the same transaction, so a reader sees the new number with the new rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create store_revision with its one row."""
    op.create_table(
        "store_revision",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_store_revision"),
        sa.CheckConstraint("id = 1", name="ck_store_revision_one_row"),
    )
    op.execute("INSERT INTO store_revision (id, revision) VALUES (1, 0)")


def downgrade() -> None:
    """Drop store_revision."""
    op.drop_table("store_revision")
