"""The site of each surrogate key: the ``sites`` claim of the lab token that last submitted
about it (deploy/SECURITY.md "Site scope"); re-identification and look-up are scoped by it.
Existing keys have no site (visible to tokens without a ``sites`` claim only).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("intake_patients") as batch:
        batch.add_column(sa.Column("site", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intake_patients") as batch:
        batch.drop_column("site")
