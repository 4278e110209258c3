"""Reference tables as data: each set of shared reference tables (concepts, half-lives, default
limits, RxNorm products and names, scores) the evaluator screened with, stored once by its
content hash (``shared.eligibility.reference_tables.tables_hash``), so ``trialwatch audit
replay`` compiles an old decision against the tables it was made with, not today's. A stored
set is never changed or deleted (triggers, as for trial versions in 0004).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluator_reference_tables",
        sa.Column("content_hash", sa.String(71), primary_key=True),
        sa.Column("texts", sa.Text, nullable=False),
        sa.Column("versions", sa.String(400), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION evaluator_reference_tables_immutable() RETURNS trigger AS $$
            BEGIN
              RAISE EXCEPTION 'stored reference tables are immutable and kept forever';
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER evaluator_reference_tables_immutable
            BEFORE UPDATE OR DELETE ON evaluator_reference_tables
            FOR EACH ROW EXECUTE FUNCTION evaluator_reference_tables_immutable()""")
    else:
        op.execute("""
            CREATE TRIGGER evaluator_reference_tables_no_delete
            BEFORE DELETE ON evaluator_reference_tables
            BEGIN SELECT RAISE(ABORT, 'stored reference tables are kept forever'); END""")
        op.execute("""
            CREATE TRIGGER evaluator_reference_tables_no_rewrite
            BEFORE UPDATE ON evaluator_reference_tables
            BEGIN SELECT RAISE(ABORT, 'stored reference tables are immutable'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER evaluator_reference_tables_immutable "
                   "ON evaluator_reference_tables")
        op.execute("DROP FUNCTION evaluator_reference_tables_immutable()")
    else:
        op.execute("DROP TRIGGER evaluator_reference_tables_no_delete")
        op.execute("DROP TRIGGER evaluator_reference_tables_no_rewrite")
    op.drop_table("evaluator_reference_tables")
