"""Trial registry: stored trial versions (text + content hash), registry changes (who, when,
hash; the re-screen job an activation starts), and the registry state of each active trial.

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

INSTANT = sa.DateTime(timezone=True)
SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "evaluator_trial_version",
        sa.Column("trial_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(64), primary_key=True),
        sa.Column("content_hash", sa.String(71), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", INSTANT, nullable=False),
        sa.Column("ever_active", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "evaluator_registry_change",
        sa.Column("seq", SEQUENCE, primary_key=True, autoincrement=True),
        sa.Column("change_id", sa.String(36), nullable=False, unique=True),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("trial_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("content_hash", sa.String(71), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("rescreen_total", sa.Integer, nullable=True),
        sa.Column("rescreen_done", sa.Integer, nullable=True),
        sa.Column("rescreen_after_key", sa.String(128), nullable=True),
        sa.Column("rescreen_lease_until", INSTANT, nullable=True),
        sa.Column("completed_at", INSTANT, nullable=True),
    )
    with op.batch_alter_table("evaluator_active_trial") as batch:
        batch.add_column(sa.Column("state", sa.String(16), nullable=False,
                                   server_default="active"))
        batch.add_column(sa.Column("content_hash", sa.String(71), nullable=True))
        batch.add_column(sa.Column("change_id", sa.String(36), nullable=True))
    # A stored version that was ever active is kept forever and never altered: decisions name
    # it, and `audit replay` re-reads it. Enforced in the database, not only in the code.
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("""
            CREATE FUNCTION evaluator_trial_version_immutable() RETURNS trigger AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'a stored trial version is kept forever';
              END IF;
              IF OLD.text <> NEW.text OR OLD.content_hash <> NEW.content_hash
                 OR (OLD.ever_active AND NOT NEW.ever_active) THEN
                RAISE EXCEPTION 'a stored trial version is immutable';
              END IF;
              RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER evaluator_trial_version_immutable
            BEFORE UPDATE OR DELETE ON evaluator_trial_version
            FOR EACH ROW EXECUTE FUNCTION evaluator_trial_version_immutable()""")
    else:
        op.execute("""
            CREATE TRIGGER evaluator_trial_version_no_delete
            BEFORE DELETE ON evaluator_trial_version
            BEGIN SELECT RAISE(ABORT, 'a stored trial version is kept forever'); END""")
        op.execute("""
            CREATE TRIGGER evaluator_trial_version_no_rewrite
            BEFORE UPDATE ON evaluator_trial_version
            WHEN OLD.text <> NEW.text OR OLD.content_hash <> NEW.content_hash
                 OR (OLD.ever_active AND NOT NEW.ever_active)
            BEGIN SELECT RAISE(ABORT, 'a stored trial version is immutable'); END""")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER evaluator_trial_version_immutable ON evaluator_trial_version")
        op.execute("DROP FUNCTION evaluator_trial_version_immutable()")
    else:
        op.execute("DROP TRIGGER evaluator_trial_version_no_delete")
        op.execute("DROP TRIGGER evaluator_trial_version_no_rewrite")
    with op.batch_alter_table("evaluator_active_trial") as batch:
        batch.drop_column("change_id")
        batch.drop_column("content_hash")
        batch.drop_column("state")
    op.drop_table("evaluator_registry_change")
    op.drop_table("evaluator_trial_version")
