"""The settings intake runs with, recorded at each start (``intake_runtime_setting``, one row per
name: ``shared.infra.runtime_settings``), so ``trialwatch outbox release`` checks a retry against
the running service's KAFKA_MAX_REQUEST_SIZE rather than its own environment's (issue 14).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "intake_runtime_setting",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("intake_runtime_setting")
