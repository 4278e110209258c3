"""Coordinator app sessions stored server-side, so a restart no longer signs everyone out.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "evaluator_ui_session",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("token_sealed", sa.Text, nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
    )
    op.create_index("ix_evaluator_ui_session_expiry", "evaluator_ui_session", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluator_ui_session_expiry", "evaluator_ui_session")
    op.drop_table("evaluator_ui_session")
