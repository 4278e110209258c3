"""The access log is hash-chained: ``audit_access`` gains ``prev_hash`` and ``entry_hash``
(``services.audit.core.access_chain``), each unique so two writers cannot fork the log.

Nullable: entries written before this revision stay as they are, unchained legacy that
``audit verify`` counts but cannot protect; the first entry after it links to the genesis hash.
Added with ADD COLUMN and unique indexes, not a table rebuild: the append-only triggers stay.

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


def upgrade() -> None:
    op.add_column("audit_access", sa.Column("prev_hash", sa.String(71), nullable=True))
    op.add_column("audit_access", sa.Column("entry_hash", sa.String(71), nullable=True))
    op.create_index("ux_audit_access_prev_hash", "audit_access", ["prev_hash"], unique=True)
    op.create_index("ux_audit_access_entry_hash", "audit_access", ["entry_hash"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_access_entry_hash", table_name="audit_access")
    op.drop_index("ux_audit_access_prev_hash", table_name="audit_access")
    op.drop_column("audit_access", "entry_hash")
    op.drop_column("audit_access", "prev_hash")
