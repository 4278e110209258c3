"""Records merged away into another patient (PatientMerged).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluator_patient_merge",
        sa.Column("merged_key", sa.String(128), primary_key=True),
        sa.Column("surviving_key", sa.String(128), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("merged_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("evaluator_patient_merge")
