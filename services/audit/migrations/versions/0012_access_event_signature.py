"""A re-identification in the access log keeps what ``audit verify`` needs to check intake's
signature again: ``audit_access`` gains ``event`` (the canonical JSON of the signed
``PatientReidentified`` as received, without its ``signature``), ``signed_by`` (the key id) and
``signature`` (base64 Ed25519). ``audit verify`` re-checks each against intake's keys
(AUDIT_INTAKE_KEYS) and holds the entry's columns against the signed event
(``services.audit.core.access_chain.ReidentificationCheck``).

NULL on the auditors' own queries and on re-identifications appended before this revision
(unsigned legacy, accepted by verify only before the first signed one). Added with ADD COLUMN,
not a table rebuild: the append-only triggers stay (SQLite and PostgreSQL alike).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "audit_access"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("event", sa.Text(), nullable=True))
    op.add_column(TABLE, sa.Column("signed_by", sa.String(16), nullable=True))
    op.add_column(TABLE, sa.Column("signature", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column(TABLE, "signature")
    op.drop_column(TABLE, "signed_by")
    op.drop_column(TABLE, "event")
