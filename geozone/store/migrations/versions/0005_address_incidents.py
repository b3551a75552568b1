"""Incidents located by their address only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05

An incident file may give an address instead of coordinates. Such incidents keep every
incident field but the point, the address as written, the unit chain their address gives on
their date (at the level it reaches: ward, district or province), what could not be read,
the candidate units of a split ward, and the review decisions of the clusters they concern
(rule ``address_only``: no border-zone decision from an address), as
:mod:`geozone.address.store` describes. They stay out of ``incidents``, whose every reader
needs a point.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create address_incidents and its indexes."""
    op.create_table(
        "address_incidents",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("detected_at", _TIME),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("detected_by", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subjects", sa.Integer, nullable=False),
        sa.Column("jointly_handled", sa.Boolean, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("synthetic", sa.Boolean, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("batch_id", sa.String(128)),
        sa.Column("set_id", sa.String(64)),
        sa.Column("unit_code", sa.String(64)),
        sa.Column("ward_code", sa.String(64)),
        sa.Column("district_code", sa.String(64)),
        sa.Column("province_code", sa.String(64)),
        sa.Column("address_level", sa.String(64)),
        sa.Column("address_problem", sa.Text),
        sa.Column("candidates", _JSON),
        sa.Column("decisions", _JSON, nullable=False),
        sa.Column("resolved_at", _TIME, nullable=False),
        sa.UniqueConstraint("external_id", name="uq_address_incidents_external_id"),
    )
    op.create_index("ix_address_incidents_occurred_at", "address_incidents", ["occurred_at"])
    op.create_index("ix_address_incidents_unit_code", "address_incidents", ["unit_code"])
    op.create_index("ix_address_incidents_province_code", "address_incidents", ["province_code"])
    op.create_index("ix_address_incidents_batch_id", "address_incidents", ["batch_id"])


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_table("address_incidents")
