"""The outbox dead-letter table: decisions, snapshots and alerts the broker can never take,
with the reason (issue 14; the evaluator moves onto the one outbox relay, shared.infra.outbox).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Shape of shared.infra.outbox_sql.dead_letter_table; the payload stays in evaluator_outbox.
    op.create_table(
        "evaluator_outbox_dead_letters",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("message_key", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("dead_lettered_at", _Instant, nullable=False),
        sa.Column("released_at", _Instant, nullable=True),
    )
    op.create_index("ix_evaluator_outbox_dead_letters_held", "evaluator_outbox_dead_letters",
                    ["message_key", "released_at"])


def downgrade() -> None:
    op.drop_index("ix_evaluator_outbox_dead_letters_held", "evaluator_outbox_dead_letters")
    op.drop_table("evaluator_outbox_dead_letters")
