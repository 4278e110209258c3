"""Intake tables: surrogate keys, receipts, outbox, re-identification log (append-only).

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

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Instant = sa.DateTime(timezone=True)

_PG_REFUSE = """
CREATE FUNCTION intake_reidentifications_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'intake_reidentifications is append-only';
END;
$$ LANGUAGE plpgsql
"""
_PG_TRIGGER = """
CREATE TRIGGER intake_reidentifications_append_only
BEFORE UPDATE OR DELETE ON intake_reidentifications
FOR EACH ROW EXECUTE FUNCTION intake_reidentifications_append_only()
"""
_SQLITE_TRIGGERS = [
    f"""
    CREATE TRIGGER intake_reidentifications_no_{verb.lower()}
    BEFORE {verb} ON intake_reidentifications
    BEGIN SELECT RAISE(ABORT, 'intake_reidentifications is append-only'); END
    """
    for verb in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    op.create_table(
        "intake_patients",
        sa.Column("patient_key", sa.String(64), primary_key=True),
        sa.Column("source_system", sa.String(200), nullable=False),
        sa.Column("source_patient_id", sa.String(200), nullable=False),
        sa.Column("created_at", _Instant, nullable=False),
        sa.UniqueConstraint("source_system", "source_patient_id",
                            name="uq_intake_patients_source"),
    )
    op.create_table(
        "intake_receipts",
        sa.Column("receipt_id", sa.Uuid(), primary_key=True),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("received_at", _Instant, nullable=False),
        sa.Column("patient_keys", sa.JSON(), nullable=False),
        sa.Column("event_ids", sa.JSON(), nullable=False),
    )
    op.create_table(
        "intake_receipt_keys",
        sa.Column("dedup_key", sa.String(300), primary_key=True),
        sa.Column("receipt_id", sa.Uuid(), sa.ForeignKey("intake_receipts.receipt_id"),
                  nullable=False),
    )
    op.create_table(
        "intake_outbox",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("message_key", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", _Instant, nullable=False),
        sa.Column("published_at", _Instant, nullable=True),
    )
    pending = sa.text("published_at IS NULL")
    op.create_index("ix_intake_outbox_pending", "intake_outbox", ["id"],
                    sqlite_where=pending, postgresql_where=pending)
    op.create_table(
        "intake_reidentifications",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("client", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("found", sa.Boolean(), nullable=False),
        sa.Column("at", _Instant, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_REFUSE)
        op.execute(_PG_TRIGGER)
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(trigger)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER intake_reidentifications_append_only ON intake_reidentifications")
        op.execute("DROP FUNCTION intake_reidentifications_append_only()")
    op.drop_table("intake_reidentifications")
    op.drop_index("ix_intake_outbox_pending", table_name="intake_outbox")
    op.drop_table("intake_outbox")
    op.drop_table("intake_receipt_keys")
    op.drop_table("intake_receipts")
    op.drop_table("intake_patients")
