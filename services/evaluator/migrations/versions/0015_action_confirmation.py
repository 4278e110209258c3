"""The enrolment confirmation in the evaluator's own action table: a confirmed enrolment of a
patient TrialWatch had not found eligible (commit 0261512d) carried ``confirmed_against``
{decision_id, status, failing, unknown} only in its signed ``CoordinatorActed`` event (what
audit keeps); ``evaluator_coordinator_action.confirmed_against`` now keeps the same JSON, so
the patient page's action history says what the investigator overrode. Nullable: NULL on every
other action, and on an enrolment recorded before this migration (its event still holds it).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("evaluator_coordinator_action") as batch:
        batch.add_column(sa.Column("confirmed_against", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evaluator_coordinator_action") as batch:
        batch.drop_column("confirmed_against")
