"""The admin entry points the CLI may call (``services.cli`` imports nothing else of intake).

``BulkIntake`` is the direct path of ``trialwatch import`` (``services/intake/bulk.py``).
``requeue_outbox`` refills a fresh broker from intake's outbox: every accepted update goes out
again, in order. ``outbox_dead_letters`` and ``resolve_outbox_dead_letter`` are what
``trialwatch outbox`` shows and does (``shared.infra.outbox_sql``: retry in place or drop,
always with a recorded reason).

The embedded broker (Tansu with ``memory://`` storage) forgets every record when it stops, so
events intake had already published (and marked published) may never have reached the
evaluator. ``trialwatch run`` calls this each time it starts a fresh broker, before intake
starts: every outbox row becomes pending again and the relay republishes them oldest first,
ahead of anything accepted later, so each patient's events keep their order. The evaluator
drops the ones it already applied by event id. Never needed with a durable broker (Apache
Kafka), whose log outlives a restart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.store import outbox_store
from services.intake.adapters.sql.tables import runtime_setting
from services.intake.bulk import BulkAnswer, BulkIntake
from shared.infra import outbox_admin
from shared.infra.outbox_sql import DeadLetterEntry, ReleaseAction, SqlOutboxStore
from shared.infra.runtime_settings import MAX_REQUEST_SIZE, RecordedSetting, recorded_setting
from shared.infra.sql_engine import make_sessionmaker

__all__ = ["BulkAnswer", "BulkIntake", "RecordedSetting", "outbox_dead_letters",
           "recorded_max_request_size", "requeue_outbox", "resolve_outbox_dead_letter"]


@asynccontextmanager
async def _store(database_url: str) -> AsyncIterator[SqlOutboxStore]:
    engine = make_intake_engine(database_url)
    try:
        yield outbox_store(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def requeue_outbox(database_url: str) -> int:
    """Mark every published outbox row pending again (not the rows an operator dropped);
    returns how many rows were requeued."""
    async with _store(database_url) as store:
        return await store.requeue()


async def outbox_dead_letters(
    database_url: str, *, include_resolved: bool = False
) -> list[DeadLetterEntry]:
    """Intake's outbox dead letters, oldest first (``shared.infra.outbox_admin``)."""
    return await outbox_admin.outbox_dead_letters(_store, database_url,
                                                  include_resolved=include_resolved)


async def resolve_outbox_dead_letter(
    database_url: str, dead_letter_id: int, action: ReleaseAction, *, reason: str, by: str,
    at: datetime, limit_bytes: int | None = None,
) -> DeadLetterEntry:
    """Retry or drop one dead letter with a recorded reason (``shared.infra.outbox_admin``);
    raises ``DeadLetterRefused``."""
    return await outbox_admin.resolve_outbox_dead_letter(
        _store, database_url, dead_letter_id, action, reason=reason, by=by, at=at,
        limit_bytes=limit_bytes)


async def recorded_max_request_size(database_url: str) -> RecordedSetting | None:
    """The KAFKA_MAX_REQUEST_SIZE intake last started with, as it recorded it in its database
    (``shared.infra.runtime_settings``); None when no start recorded one."""
    engine = make_intake_engine(database_url)
    try:
        return await recorded_setting(engine, runtime_setting, MAX_REQUEST_SIZE)
    finally:
        await engine.dispose()
