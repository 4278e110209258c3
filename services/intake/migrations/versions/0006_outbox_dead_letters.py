"""The outbox dead-letter table: events the broker can never take, with the reason (issue 14).

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

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Shape of shared.infra.outbox_sql.dead_letter_table; the payload stays in intake_outbox.
    op.create_table(
        "intake_outbox_dead_letters",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("message_key", sa.String(128), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("dead_lettered_at", _Instant, nullable=False),
        sa.Column("released_at", _Instant, nullable=True),
    )
    op.create_index("ix_intake_outbox_dead_letters_held", "intake_outbox_dead_letters",
                    ["message_key", "released_at"])


def downgrade() -> None:
    op.drop_index("ix_intake_outbox_dead_letters_held", "intake_outbox_dead_letters")
    op.drop_table("intake_outbox_dead_letters")
