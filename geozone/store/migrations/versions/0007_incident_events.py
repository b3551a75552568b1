"""Events: reports of one event by two members linked, and the pairs unlinked by hand.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05

Every incident carries the event it belongs to (``event_id``, shared by the reports linked
as one event; a report alone is its own event), its role in it (``lead``: the earliest
detection; ``cooperating``; ``single``) and the event's confidence (its weakest link; 1 for
a single report). They are derived on import (:mod:`geozone.incidents.events`), never
supplied by users, so they are store columns and not fields of an incident. NULL: not
linked yet (rows stored before this migration until they are linked again).

``incident_unlinks`` keeps the pairs a planner or analyst unlinked (by external id, the
smaller first): they are never linked again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the event columns to incidents and create incident_unlinks."""
    op.add_column("incidents", sa.Column("event_id", sa.String(136)))
    op.add_column("incidents", sa.Column("event_role", sa.String(16)))
    op.add_column("incidents", sa.Column("event_confidence", sa.Double))
    op.create_index("ix_incidents_event_id", "incidents", ["event_id"])
    op.create_table(
        "incident_unlinks",
        sa.Column("external_id_a", sa.String(128), nullable=False),
        sa.Column("external_id_b", sa.String(128), nullable=False),
        sa.Column("unlinked_by", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("unlinked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("external_id_a", "external_id_b", name="pk_incident_unlinks"),
        sa.CheckConstraint("external_id_a < external_id_b", name="ck_incident_unlinks_order"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("incident_unlinks")
    op.drop_index("ix_incidents_event_id", table_name="incidents")
    for name in ("event_confidence", "event_role", "event_id"):
        # SQLite (3.35+) drops a column in place; a batch copy would lose the R*Tree triggers.
        op.execute(f"ALTER TABLE incidents DROP COLUMN {name}")
