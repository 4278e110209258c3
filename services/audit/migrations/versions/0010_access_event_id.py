"""The access log keeps the id of the event an entry arrived as (``audit_access.event_id``,
unique): re-identifications that intake publishes (``PatientReidentified``) are appended to the
chained access log once each, however often the broker redelivers them. NULL on the auditors'
own queries and on every entry before this revision. The id is also inside the hashed query.

Added with ADD COLUMN and a unique index, not a table rebuild: the append-only triggers stay.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_access", sa.Column("event_id", sa.String(36), nullable=True))
    op.create_index("ux_audit_access_event_id", "audit_access", ["event_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_audit_access_event_id", "audit_access")
    op.drop_column("audit_access", "event_id")
