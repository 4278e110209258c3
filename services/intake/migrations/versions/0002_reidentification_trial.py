"""Re-identification log: the trial the coordinator acted for (checked against the token's claims).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN is not UPDATE: the append-only triggers allow it on both databases.
    op.add_column("intake_reidentifications", sa.Column("trial", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_reidentifications") as batch:
        batch.drop_column("trial")
