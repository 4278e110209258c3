"""The evaluator's admin entry points: what ``trialwatch`` (services/cli) may call.

The CLI goes through this module only, never through the evaluator's tables or adapters, so
the evaluator can change its storage without touching the CLI.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import Connection, Row, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.evaluator.adapters.criteria_engine import default_screener
from services.evaluator.adapters.outbox import outbox_store
from services.evaluator.adapters.sql.amendments import (
    UnknownTrialVersion,
    activate_and_rescreen,
    stop_screening,
)
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.reference_tables import tables_by_hash
from services.evaluator.adapters.sql.refill import requeue_outbox
from services.evaluator.adapters.sql.tables import (
    active_trial,
    registry_change,
    runtime_setting,
    trial_version,
)
from services.evaluator.adapters.sql.trial_registry import (
    RegistryRefused,
    active_trial_versions,
    add_version,
    text_by_hash,
)
from services.evaluator.adapters.trial_text import trial_name
from services.evaluator.adapters.webhook_secrets import (
    MissingKeyFile,
    SecretBox,
    load_or_create_key,
    read_keys,
    reseal_stored,
    sealed_with_older_keys,
    write_keys,
)
from shared.infra import outbox_admin
from shared.infra.clock import utc_now
from shared.infra.migrations import alembic_config
from shared.infra.outbox_sql import DeadLetterEntry, ReleaseAction, SqlOutboxStore
from shared.infra.runtime_settings import MAX_REQUEST_SIZE, RecordedSetting, recorded_setting
from shared.infra.sql_engine import existing_database, make_engine, make_sessionmaker

__all__ = [
    "KeyRotation",
    "KeysStillInUse",
    "MissingKeyFile",
    "RegistryOverview",
    "RegistryRefused",
    "UnknownTrialVersion",
    "activate_and_rescreen",
    "active_trial_versions",
    "add_version",
    "default_screener",
    "ensure_webhook_key",
    "immediate_sqlite_transactions",
    "outbox_dead_letters",
    "recorded_max_request_size",
    "registry_overview",
    "requeue_outbox",
    "resolve_outbox_dead_letter",
    "retire_webhook_keys",
    "rotate_webhook_key",
    "stop_screening",
    "tables_by_hash",
    "text_by_hash",
    "trial_name",
    "utc_now",
]


@dataclass(frozen=True, slots=True)
class RegistryOverview:
    """The registry as ``trialwatch trials list`` shows it: each trial's state row by trial id,
    every stored version (by trial, then when added), and the 20 newest changes."""

    states: dict[str, Row[Any]]
    versions: list[Row[Any]]
    changes: list[Row[Any]]


async def registry_overview(session: AsyncSession) -> RegistryOverview:
    states = {r.trial_id: r for r in await session.execute(select(active_trial))}
    versions = (await session.execute(
        select(trial_version).order_by(trial_version.c.trial_id,
                                       trial_version.c.added_at))).all()
    changes = (await session.execute(
        select(registry_change).order_by(registry_change.c.seq.desc()).limit(20))).all()
    return RegistryOverview(states, list(versions), list(changes))


# Webhook key rotation (issue 14 section 5): adapters/webhook_secrets.py says how.


@dataclass(frozen=True, slots=True)
class KeyRotation:
    """What a rotation or retirement did: keys now in ``key_file`` (newest first), secrets
    re-sealed under the newest, the webhook ids no key opens (left as they are), and whether the
    database was at the newest schema (False: only the key file was written; ``trialwatch
    migrate`` seals the stored secrets with the newest key)."""

    key_file: Path
    keys: int
    resealed: int
    unreadable: list[str] = field(default_factory=list)
    migrated: bool = True


class KeysStillInUse(RuntimeError):
    """Retiring the older keys would leave these webhooks' secrets unreadable."""


def ensure_webhook_key(key_file: Path) -> None:
    """Create the webhook key file (0600, one key) when absent; leave it as it is otherwise."""
    load_or_create_key(key_file)


async def rotate_webhook_key(database_url: str, key_file: Path) -> KeyRotation:
    """Put a new Fernet key first in ``key_file`` (created when absent; the older keys kept
    after it), then re-seal every stored webhook secret under it in one transaction. The key
    file is written first, so a running evaluator (which reads it again when it changes) opens
    both the old and the re-sealed tokens throughout. Raises ``MissingDatabase`` for a SQLite
    file that does not exist, ValueError for a malformed key file."""
    existing_database(database_url, "EVALUATOR_DATABASE_URL")
    await asyncio.to_thread(_add_key, key_file)
    return await _reseal(database_url, key_file)


def _add_key(key_file: Path) -> None:
    try:
        older = read_keys(key_file)
    except MissingKeyFile:
        older = []
    write_keys(key_file, [Fernet.generate_key(), *older])


async def retire_webhook_keys(database_url: str, key_file: Path) -> KeyRotation:
    """Re-seal every stored secret under the newest key again (one registered meanwhile under
    an older key moves too), check that the newest key alone opens every secret any key opens,
    then keep only the newest key in ``key_file``. Raises ``KeysStillInUse`` (nothing removed)
    when some secret still needs an older key, ``MissingKeyFile`` when there is no key file."""
    existing_database(database_url, "EVALUATOR_DATABASE_URL")
    keys = await asyncio.to_thread(read_keys, key_file)
    box = SecretBox(key_file, create=False)
    engine = make_engine(database_url)
    try:
        if not await _at_head(engine, database_url):
            raise KeysStillInUse("the evaluator database is not migrated to the newest schema: "
                                 "run `trialwatch migrate` first")
        async with engine.begin() as connection:
            done = await reseal_stored(connection, box)
            waiting = await sealed_with_older_keys(connection, box)
        if waiting:
            raise KeysStillInUse(f"{len(waiting)} webhook secret(s) open only with an older "
                                 f"key: {', '.join(waiting[:5])}")
    finally:
        await engine.dispose()
    await asyncio.to_thread(write_keys, key_file, keys[:1])
    return KeyRotation(key_file, 1, done.resealed, done.unreadable)


async def _reseal(database_url: str, key_file: Path) -> KeyRotation:
    box = SecretBox(key_file, create=False)
    engine = make_engine(database_url)
    try:
        if not await _at_head(engine, database_url):
            return KeyRotation(key_file, box.key_count, 0, migrated=False)
        async with engine.begin() as connection:
            done = await reseal_stored(connection, box)
    finally:
        await engine.dispose()
    return KeyRotation(key_file, box.key_count, done.resealed, done.unreadable)


async def _at_head(engine: AsyncEngine, database_url: str) -> bool:
    head = ScriptDirectory.from_config(alembic_config("evaluator", database_url)).get_current_head()

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(
            # the evaluator's own version table (shared/infra/alembic_env.py)
            connection, opts={"version_table": "alembic_version_evaluator"}
        ).get_current_revision()

    async with engine.connect() as connection:
        return bool(await connection.run_sync(current) == head)



@asynccontextmanager
async def _outbox(database_url: str) -> AsyncIterator[SqlOutboxStore]:
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    try:
        yield outbox_store(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def outbox_dead_letters(
    database_url: str, *, include_resolved: bool = False
) -> list[DeadLetterEntry]:
    """The evaluator's outbox dead letters, oldest first (``shared.infra.outbox_admin``)."""
    return await outbox_admin.outbox_dead_letters(_outbox, database_url,
                                                  include_resolved=include_resolved)


async def resolve_outbox_dead_letter(
    database_url: str, dead_letter_id: int, action: ReleaseAction, *, reason: str, by: str,
    at: datetime, limit_bytes: int | None = None,
) -> DeadLetterEntry:
    """Retry or drop one dead letter with a recorded reason (``shared.infra.outbox_admin``);
    raises ``DeadLetterRefused``."""
    return await outbox_admin.resolve_outbox_dead_letter(
        _outbox, database_url, dead_letter_id, action, reason=reason, by=by, at=at,
        limit_bytes=limit_bytes)


async def recorded_max_request_size(database_url: str) -> RecordedSetting | None:
    """The KAFKA_MAX_REQUEST_SIZE the evaluator last started with, as it recorded it in its
    database (``shared.infra.runtime_settings``); None when no start recorded one."""
    engine = make_engine(database_url)
    try:
        return await recorded_setting(engine, runtime_setting, MAX_REQUEST_SIZE)
    finally:
        await engine.dispose()
