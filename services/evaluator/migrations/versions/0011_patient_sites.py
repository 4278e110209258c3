"""Site scope (deploy/SECURITY.md "Site scope"): the patient's site with its screening state,
the site of each alert, and the sites a webhook was registered for. All nullable: rows written
before have no site (visible to coordinators without a ``sites`` claim only) and a webhook
without sites receives every site's alerts, as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluator_patient_state") as batch:
        batch.add_column(sa.Column("site", sa.String(64), nullable=True))
    with op.batch_alter_table("evaluator_alert") as batch:
        batch.add_column(sa.Column("site", sa.String(64), nullable=True))
    with op.batch_alter_table("evaluator_webhook") as batch:
        batch.add_column(sa.Column("sites", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluator_webhook") as batch:
        batch.drop_column("sites")
    with op.batch_alter_table("evaluator_alert") as batch:
        batch.drop_column("site")
    with op.batch_alter_table("evaluator_patient_state") as batch:
        batch.drop_column("site")
