"""Audit tables: the hash-chained decision record, content-addressed snapshots, access log.

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
HASH = sa.String(71)
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_snapshot",
        sa.Column("snapshot_hash", HASH, primary_key=True),
        sa.Column("snapshot", sa.Text, nullable=False),
        sa.Column("stored_at", INSTANT, nullable=False),
    )
    op.create_table(
        "audit_record",
        sa.Column("sequence", SERIAL, primary_key=True, autoincrement=False),
        sa.Column("record_hash", HASH, nullable=False, unique=True),
        sa.Column("prev_hash", HASH, nullable=False, unique=True),
        sa.Column("decision_id", sa.Uuid, nullable=False, unique=True),
        sa.Column("event_id", sa.Uuid, nullable=False),
        sa.Column("causation_id", sa.Uuid, nullable=True),
        sa.Column("correlation_id", sa.Uuid, nullable=False),
        sa.Column("patient_key", sa.String(128), nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("trial_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("previous_status", sa.String(16), nullable=True),
        sa.Column("state_version", sa.BigInteger, nullable=False),
        sa.Column("evaluator_version", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(64), nullable=False),
        sa.Column("as_of", INSTANT, nullable=False),
        sa.Column("decided_at", INSTANT, nullable=False),
        sa.Column("recorded_at", INSTANT, nullable=False),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("snapshot_hash", HASH, sa.ForeignKey("audit_snapshot.snapshot_hash"),
                  nullable=False),
    )
    op.create_index("ix_audit_record_patient_trial_as_of", "audit_record",
                    ["patient_key", "trial_id", "as_of"])
    op.create_index("ix_audit_record_trial_version", "audit_record", ["trial_id", "trial_version"])
    op.create_index("ix_audit_record_decided_at", "audit_record", ["decided_at"])
    op.create_index("ix_audit_record_status", "audit_record", ["status"])
    op.create_table(
        "audit_access",
        sa.Column("id", SERIAL, primary_key=True, autoincrement=True),
        sa.Column("accessed_at", INSTANT, nullable=False),
        sa.Column("client", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("result_count", sa.Integer, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("audit_access")
    op.drop_index("ix_audit_record_status", "audit_record")
    op.drop_index("ix_audit_record_decided_at", "audit_record")
    op.drop_index("ix_audit_record_trial_version", "audit_record")
    op.drop_index("ix_audit_record_patient_trial_as_of", "audit_record")
    op.drop_table("audit_record")
    op.drop_table("audit_snapshot")
