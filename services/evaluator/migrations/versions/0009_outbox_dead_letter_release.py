"""How an operator resolved an outbox dead letter: retry or drop, with the reason and who
(``trialwatch outbox release``; shared.infra.outbox_sql).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLE = "evaluator_outbox_dead_letters"


def upgrade() -> None:
    # a dead letter released before this migration was tried again in its place: a retry
    with op.batch_alter_table(TABLE) as batch:
        batch.add_column(sa.Column("release_action", sa.String(8), nullable=True))
        batch.add_column(sa.Column("release_reason", sa.String(500), nullable=True))
        batch.add_column(sa.Column("released_by", sa.String(128), nullable=True))
    op.execute(sa.text(f"UPDATE {TABLE} SET release_action = 'retry' "
                       "WHERE released_at IS NOT NULL"))


def downgrade() -> None:
    # a dropped row keeps published_at (it stays out of the relay); its record goes with the
    # columns
    with op.batch_alter_table(TABLE) as batch:
        batch.drop_column("released_by")
        batch.drop_column("release_reason")
        batch.drop_column("release_action")
