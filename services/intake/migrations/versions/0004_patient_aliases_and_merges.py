"""Patient names at a source (aliases) and merges of surrogate keys.

Every identifier already keyed becomes the first alias of its key, so lookups need only the
alias table from now on.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "intake_patient_aliases",
        sa.Column("source_system", sa.String(200), primary_key=True),
        sa.Column("alias", sa.String(300), primary_key=True),
        sa.Column("patient_key", sa.String(64), nullable=False),
        sa.Column("created_at", _Instant, nullable=False),
    )
    op.create_index("ix_intake_patient_aliases_patient_key", "intake_patient_aliases",
                    ["patient_key"])
    op.create_table(
        "intake_patient_merges",
        sa.Column("merged_key", sa.String(64), primary_key=True),
        sa.Column("surviving_key", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("merged_at", _Instant, nullable=False),
    )
    op.execute(
        "INSERT INTO intake_patient_aliases (source_system, alias, patient_key, created_at)"
        " SELECT source_system, source_patient_id, patient_key, created_at FROM intake_patients"
    )


def downgrade() -> None:
    op.drop_table("intake_patient_merges")
    op.drop_index("ix_intake_patient_aliases_patient_key", "intake_patient_aliases")
    op.drop_table("intake_patient_aliases")
