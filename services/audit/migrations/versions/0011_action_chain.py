"""Coordinator actions are hash-chained: ``audit_coordinator_action`` gains ``chain_seq``,
``prev_hash`` and ``entry_hash`` (``services.audit.core.action_chain``), each unique so two
writers cannot fork the chain.

Nullable: actions stored before this revision stay as they are, unchained legacy that ``audit
verify`` still checks against the evaluator signature kept in their stored event; the first
action after it is chain position 1, linked to the genesis hash. Added with ADD COLUMN and
unique indexes, not a table rebuild: the append-only triggers stay.

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

TABLE = "audit_coordinator_action"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("chain_seq", sa.BigInteger(), nullable=True))
    op.add_column(TABLE, sa.Column("prev_hash", sa.String(71), nullable=True))
    op.add_column(TABLE, sa.Column("entry_hash", sa.String(71), nullable=True))
    op.create_index("ux_audit_action_chain_seq", TABLE, ["chain_seq"], unique=True)
    op.create_index("ux_audit_action_prev_hash", TABLE, ["prev_hash"], unique=True)
    op.create_index("ux_audit_action_entry_hash", TABLE, ["entry_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_action_entry_hash", table_name=TABLE)
    op.drop_index("ux_audit_action_prev_hash", table_name=TABLE)
    op.drop_index("ux_audit_action_chain_seq", table_name=TABLE)
    op.drop_column(TABLE, "entry_hash")
    op.drop_column(TABLE, "prev_hash")
    op.drop_column(TABLE, "chain_seq")
