"""Coordinator actions (``coordinator.actions.v1``): kept append-only beside the decisions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.settings import AuditSettings

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLE = "audit_coordinator_action"
REJECT_FUNCTION = "audit_reject_change"  # created by 0002


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("action_id", sa.String(36), primary_key=True),
        sa.Column("patient_key", sa.String(128), nullable=False, index=True),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("alert_id", sa.String(36), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.JSON, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE TRIGGER {TABLE}_append_only BEFORE UPDATE OR DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION {REJECT_FUNCTION}()")
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {REJECT_FUNCTION}()")
        role = op.get_bind().dialect.identifier_preparer.quote_identifier(
            AuditSettings().app_role)
        exists = op.get_bind().execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                                       {"n": AuditSettings().app_role}).scalar()
        if exists:
            op.execute(f"GRANT SELECT, INSERT ON {TABLE} TO {role}")
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {TABLE} FROM PUBLIC")
    else:
        for operation in ("update", "delete"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{operation} BEFORE {operation.upper()} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {operation} rejected'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_append_only ON {TABLE}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_truncate ON {TABLE}")
    op.drop_index(f"ix_{TABLE}_patient_key", TABLE)
    op.drop_table(TABLE)
