"""Coordinator app: the latest decision per patient and trial, status history, alerts with
their acknowledgement, and coordinator actions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)
SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("evaluator_trial_status") as table:
        table.add_column(sa.Column("decision", sa.JSON, nullable=True))
    op.create_table(
        "evaluator_status_change",
        sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("trial_version", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False, unique=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_status", sa.String(16), nullable=True),
        sa.Column("as_of", INSTANT, nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
    )
    op.create_index("ix_evaluator_status_change_pair", "evaluator_status_change",
                    ["patient_key", "trial_id", "seq"])
    op.create_table(
        "evaluator_alert",
        sa.Column("alert_id", sa.String(36), primary_key=True),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("headline", sa.Text, nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("as_of", INSTANT, nullable=False),
        sa.Column("acknowledged_at", INSTANT, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
    )
    op.create_index("ix_evaluator_alert_trial", "evaluator_alert", ["trial_id", "as_of"])
    op.create_table(
        "evaluator_coordinator_action",
        sa.Column("action_id", sa.String(36), primary_key=True),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("alert_id", sa.String(36), nullable=True),
        sa.Column("taken_by", sa.String(128), nullable=False),
        sa.Column("taken_at", INSTANT, nullable=False),
    )
    op.create_index("ix_evaluator_coordinator_action_pair", "evaluator_coordinator_action",
                    ["patient_key", "trial_id", "taken_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluator_coordinator_action_pair", "evaluator_coordinator_action")
    op.drop_table("evaluator_coordinator_action")
    op.drop_index("ix_evaluator_alert_trial", "evaluator_alert")
    op.drop_table("evaluator_alert")
    op.drop_index("ix_evaluator_status_change_pair", "evaluator_status_change")
    op.drop_table("evaluator_status_change")
    with op.batch_alter_table("evaluator_trial_status") as table:
        table.drop_column("decision")
