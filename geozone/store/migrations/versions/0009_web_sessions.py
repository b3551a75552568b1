"""Browser sessions of the web service: who signed in at ``/login``, until when.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05

A session is held in the store (not in a process's memory), so every worker of the service
answers the same cookie. Only the SHA-256 of the session token is stored; the CSRF token
is the one a signed-in page sends back in ``X-CSRF-Token`` on every write. A session names
its key: revoking the key ends its sessions, and the key's role and scopes are read again
on each request.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create web_sessions."""
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("key_name", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_web_sessions"),
    )
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_table("web_sessions")
