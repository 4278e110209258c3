"""Audit records keep the patient's site (``DecisionMade.site``), hashed into the chain and
signed by the evaluator when present, so a site-scoped auditor token sees only its sites'
records (docs/audit.md "Site scope"). Nullable: records chained before decisions carried a site
keep their hashes, and are visible to unscoped auditors only.

Added with ADD COLUMN, not a table rebuild: the append-only triggers stay in place.

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
    op.add_column("audit_record", sa.Column("site", sa.String(64), nullable=True))
    op.create_index("ix_audit_record_site", "audit_record", ["site"])


def downgrade() -> None:
    op.drop_index("ix_audit_record_site", "audit_record")
    op.drop_column("audit_record", "site")
