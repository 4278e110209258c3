"""Webhook secrets encrypted at rest: the column widens to hold Fernet tokens and every stored
secret is sealed with the key of EVALUATOR_WEBHOOK_KEY_FILE (created 0600 when absent); the
downgrade opens them again and narrows the column back.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from services.evaluator.adapters.webhook_secrets import SecretBox
from shared.settings import EvaluatorSettings

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_webhook = sa.table("evaluator_webhook", sa.column("webhook_id", sa.String),
                    sa.column("secret", sa.String))


def _rewrite(change: Callable[[SecretBox, str], str]) -> None:
    rows = op.get_bind().execute(sa.select(_webhook.c.webhook_id, _webhook.c.secret)).all()
    if not rows:
        return  # no key file is made for a database without webhooks
    box = SecretBox(EvaluatorSettings().webhook_key_path())
    for webhook_id, secret in rows:
        op.get_bind().execute(_webhook.update().where(_webhook.c.webhook_id == webhook_id)
                              .values(secret=change(box, secret)))


def upgrade() -> None:
    with op.batch_alter_table("evaluator_webhook") as table:
        table.alter_column("secret", existing_type=sa.String(128), type_=sa.String(512),
                           existing_nullable=False)
    _rewrite(SecretBox.seal)


def downgrade() -> None:
    _rewrite(SecretBox.open)
    with op.batch_alter_table("evaluator_webhook") as table:
        table.alter_column("secret", existing_type=sa.String(512), type_=sa.String(128),
                           existing_nullable=False)
