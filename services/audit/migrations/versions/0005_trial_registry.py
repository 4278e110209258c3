"""Audit records name the trial text they were decided with (its registry content hash) and
the trial-registry change that caused them (who, when, action, hash), both hashed into the
chain when present. Nullable: records chained before keep their hashes.

Added with ADD COLUMN, not a table rebuild: the append-only triggers stay in place.

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


def upgrade() -> None:
    op.add_column("audit_record", sa.Column("trial_content_hash", sa.String(71), nullable=True))
    op.add_column("audit_record", sa.Column("registry_change", sa.Text, nullable=True))


def downgrade() -> None:
    # SQLite >= 3.35 drops a column in place (no rebuild, triggers kept)
    op.drop_column("audit_record", "registry_change")
    op.drop_column("audit_record", "trial_content_hash")
