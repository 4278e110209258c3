"""A one-row table the readiness probe writes, so /readyz fails when the database cannot
take writes (read-only, disk full) instead of staying ready while every write fails.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.settings import AuditSettings

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLE = "audit_write_probe"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("probed_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # The service's role has SELECT/INSERT only on the audit tables; the probe row is
        # replaced, so it needs DELETE here (and only here).
        role = _quoted(AuditSettings().app_role)
        if _role_exists(AuditSettings().app_role):
            op.execute(f"GRANT SELECT, INSERT, DELETE ON {TABLE} TO {role}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql" and _role_exists(AuditSettings().app_role):
        op.execute(f"REVOKE ALL ON {TABLE} FROM {_quoted(AuditSettings().app_role)}")
    op.drop_table(TABLE)


def _role_exists(name: str) -> bool:
    query = sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name")
    return op.get_bind().execute(query, {"name": name}).scalar() is not None


def _quoted(name: str) -> str:
    return str(op.get_bind().dialect.identifier_preparer.quote_identifier(name))
