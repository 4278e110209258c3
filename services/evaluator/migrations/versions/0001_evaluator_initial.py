"""Evaluator initial schema: patient state, idempotency, outbox, status, timers, webhooks.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

INSTANT = sa.DateTime(timezone=True)
SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evaluator_patient_state",
        sa.Column("patient_key", sa.String(128), primary_key=True),
        sa.Column("state_version", sa.Integer, nullable=False),
        sa.Column("demographics", sa.JSON, nullable=False),
        sa.Column("last_as_of", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
    )
    op.create_table(
        "evaluator_patient_fact",
        sa.Column("patient_key", sa.String(128), primary_key=True),
        sa.Column("fact_id", sa.String(200), primary_key=True),
        sa.Column("fact", sa.JSON, nullable=False),
        sa.Column("effective_start", INSTANT, nullable=True),
        sa.Column("received_at", INSTANT, nullable=True),
    )
    op.create_table(
        "evaluator_processed_event",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("state_version", sa.Integer, nullable=False),
        sa.Column("processed_at", INSTANT, nullable=False),
    )
    op.create_table(
        "evaluator_active_trial",
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("activated_at", INSTANT, nullable=False),
    )
    op.create_table(
        "evaluator_outbox",
        sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("published_at", INSTANT, nullable=True),
    )
    op.create_index("ix_evaluator_outbox_unpublished", "evaluator_outbox", ["published_at", "seq"])
    op.create_table(
        "evaluator_trial_status",
        sa.Column("patient_key", sa.String(128), primary_key=True),
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("trial_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=False),
        sa.Column("state_version", sa.Integer, nullable=False),
        sa.Column("as_of", INSTANT, nullable=False),
        sa.Column("unknown_criteria", sa.Integer, nullable=False),
        sa.Column("missing", sa.JSON, nullable=False),
    )
    op.create_index("ix_evaluator_trial_status_worklist", "evaluator_trial_status",
                    ["trial_id", "status", "unknown_criteria"])
    op.create_table(
        "evaluator_review_timer",
        sa.Column("patient_key", sa.String(128), primary_key=True),
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("due_at", INSTANT, nullable=False),
    )
    op.create_index("ix_evaluator_review_timer_due", "evaluator_review_timer", ["due_at"])
    op.create_table(
        "evaluator_webhook",
        sa.Column("webhook_id", sa.String(36), primary_key=True),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
    )
    op.create_index("ix_evaluator_webhook_trial_id", "evaluator_webhook", ["trial_id"])
    op.create_table(
        "evaluator_webhook_delivery",
        sa.Column("delivery_id", sa.String(36), primary_key=True),
        sa.Column("webhook_id", sa.String(36), nullable=False),
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", INSTANT, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("delivered_at", INSTANT, nullable=True),
    )
    op.create_index("ix_evaluator_webhook_delivery_webhook_id", "evaluator_webhook_delivery",
                    ["webhook_id"])
    op.create_index("ix_evaluator_webhook_delivery_due", "evaluator_webhook_delivery",
                    ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluator_webhook_delivery_due", "evaluator_webhook_delivery")
    op.drop_index("ix_evaluator_webhook_delivery_webhook_id", "evaluator_webhook_delivery")
    op.drop_table("evaluator_webhook_delivery")
    op.drop_index("ix_evaluator_webhook_trial_id", "evaluator_webhook")
    op.drop_table("evaluator_webhook")
    op.drop_index("ix_evaluator_review_timer_due", "evaluator_review_timer")
    op.drop_table("evaluator_review_timer")
    op.drop_index("ix_evaluator_trial_status_worklist", "evaluator_trial_status")
    op.drop_table("evaluator_trial_status")
    op.drop_index("ix_evaluator_outbox_unpublished", "evaluator_outbox")
    op.drop_table("evaluator_outbox")
    op.drop_table("evaluator_active_trial")
    op.drop_table("evaluator_processed_event")
    op.drop_table("evaluator_patient_fact")
    op.drop_table("evaluator_patient_state")
