"""Webhook secrets encrypted at rest: the column widens to hold Fernet tokens and every stored
secret is sealed with the newest key of EVALUATOR_WEBHOOK_KEY_FILE; the downgrade opens them again
and narrows the column back.

A database holding webhooks needs the key file the evaluator uses: when it is absent the
migration stops with ``MissingKeyFile`` naming the setting, instead of sealing under a new key
the evaluator would not have (``trialwatch run`` creates the key in its data dir first; by hand,
``trialwatch webhooks rotate-key`` creates one).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from services.evaluator.adapters.webhook_secrets import MissingKeyFile, SecretBox
from shared.settings import EvaluatorSettings

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_webhook = sa.table("evaluator_webhook", sa.column("webhook_id", sa.String),
                    sa.column("secret", sa.String))


def _box() -> SecretBox | None:
    """The evaluator's key box when webhooks are stored (None: no rows, no key needed). Checked
    before any schema change: on SQLite a failed batch alteration is not rolled back."""
    count = op.get_bind().execute(sa.select(sa.func.count()).select_from(_webhook)).scalar_one()
    if not count:
        return None  # no key file is made for a database without webhooks
    path = EvaluatorSettings().webhook_key_path()
    if not path.exists():
        raise MissingKeyFile(
            f"the evaluator database holds {count} webhook secret(s) and there is no webhook "
            f"key file at {path}: set EVALUATOR_WEBHOOK_KEY_FILE to the key file the evaluator "
            "uses (trialwatch run keeps it as evaluator-webhook-key in its data dir), or create "
            "one with `trialwatch webhooks rotate-key` if it never had one")
    return SecretBox(path, create=False)


def _rewrite(box: SecretBox | None, change: Callable[[SecretBox, str], str]) -> None:
    if box is None:
        return
    rows = op.get_bind().execute(sa.select(_webhook.c.webhook_id, _webhook.c.secret)).all()
    for webhook_id, secret in rows:
        op.get_bind().execute(_webhook.update().where(_webhook.c.webhook_id == webhook_id)
                              .values(secret=change(box, secret)))


def upgrade() -> None:
    box = _box()
    with op.batch_alter_table("evaluator_webhook") as table:
        table.alter_column("secret", existing_type=sa.String(128), type_=sa.String(512),
                           existing_nullable=False)
    _rewrite(box, SecretBox.seal)


def downgrade() -> None:
    _rewrite(_box(), SecretBox.open)
    with op.batch_alter_table("evaluator_webhook") as table:
        table.alter_column("secret", existing_type=sa.String(512), type_=sa.String(128),
                           existing_nullable=False)
