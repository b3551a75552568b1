"""Scopes of API keys: the units, clusters or provinces a key may read.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05

A key without a row here reads the whole country (the Ministry's analysts); a key with rows
reads only what they cover (``unit:CODE``, ``cluster:ID``, ``province:CODE``, see
``api.scopes``), and is refused on every route that does not honour scopes yet.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create api_key_scopes."""
    op.create_table(
        "api_key_scopes",
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("key_name", "scope", name="pk_api_key_scopes"),
    )


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("api_key_scopes")
