"""Planners' confirmations of carried clusters.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

A cluster carried into the 2025 units (``<id>-vn2025``) is a proposal, or lapsed when its
original had ended before the reform, until a planner confirms that it applies from a date
(``geozone clusters confirm``, ``POST /clusters/{id}/confirm``). One row per carried cluster:
the first day it applies, who confirmed it, when, a note, and the border zone a planner drew
instead of the derived one (WKT, EPSG:4326), if any.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create cluster_confirmations."""
    op.create_table(
        "cluster_confirmations",
        sa.Column("cluster_id", sa.String(120), primary_key=True),
        sa.Column("from_date", sa.Date, nullable=False),
        sa.Column("confirmed_by", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("zone", sa.Text),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("cluster_confirmations")
