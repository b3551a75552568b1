"""Clusters defined through the web service by planners.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

One row per cluster a planner created with ``POST /clusters`` (the committed clusters in
``data/clusters/*.toml`` are not stored here): the validated definition as JSON (the
:class:`geozone.clusters.model.Cluster` model dumped in JSON mode), when and by which key it was
created and last updated.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create cluster_definitions."""
    op.create_table(
        "cluster_definitions",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("definition", _JSON, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(64)),
        sa.Column("updated_by", sa.String(64)),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("cluster_definitions")
