"""Audit records keep the evaluator's Ed25519 signature of the decision (key id and value),
hashed into the chain when present, so ``audit verify`` can check it again. Nullable: records
chained before decisions were signed keep their hashes.

Added with ADD COLUMN, not a table rebuild: the append-only triggers stay in place.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_record", sa.Column("signed_by", sa.String(16), nullable=True))
    op.add_column("audit_record", sa.Column("signature", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_record", "signature")
    op.drop_column("audit_record", "signed_by")
