"""Intake's holds on a patient's updates (patient.holds.v1, issue 14): while one is in effect
every decision of the patient is undetermined and no alert is raised.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluator_patient_hold",
        sa.Column("hold_id", sa.String(36), primary_key=True),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("released", sa.Boolean(), nullable=False),
        sa.Column("awaiting_event_id", sa.String(36), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_evaluator_patient_hold_patient_key", "evaluator_patient_hold",
                    ["patient_key"])


def downgrade() -> None:
    op.drop_index("ix_evaluator_patient_hold_patient_key", "evaluator_patient_hold")
    op.drop_table("evaluator_patient_hold")
