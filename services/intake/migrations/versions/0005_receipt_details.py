"""Receipts say per entry what was accepted, refused or read with warnings (issue 9).

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
    # JSON {"entries": [...], "warnings": [...]}; NULL for receipts issued before this revision
    op.add_column("intake_receipts", sa.Column("details", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_receipts") as batch:
        batch.drop_column("details")
