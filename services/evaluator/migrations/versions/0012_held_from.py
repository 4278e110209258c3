"""Alerts after intake's hold (issue 14): while a pair's standing decision is intake's hold
(engine version ``intake-hold``), ``evaluator_trial_status.held_from`` keeps the status the pair
stood at before the hold, so the release alerts only when the patient crossed the eligible line
relative to what the coordinator was told (docs/evaluator.md). Nullable: NULL for every other
decision, and for a hold on a pair that had no status; a row held before this migration reads
as held from no status (the release then alerts an eligible patient once more, as before).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluator_trial_status") as batch:
        batch.add_column(sa.Column("held_from", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluator_trial_status") as batch:
        batch.drop_column("held_from")
