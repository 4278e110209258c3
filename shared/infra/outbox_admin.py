"""What ``trialwatch outbox`` does to any service's outbox dead letters, written once: each
service's admin.py passes how to open its ``SqlOutboxStore`` on a database URL (its engine,
its tables, its notices) and keeps its own public entry points over these."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from shared.infra.outbox_sql import DeadLetterEntry, ReleaseAction, SqlOutboxStore

OpenStore = Callable[[str], AbstractAsyncContextManager[SqlOutboxStore]]
"""Opens the service's outbox store on a database URL, and disposes of its engine on exit."""


async def outbox_dead_letters(
    open_store: OpenStore, database_url: str, *, include_resolved: bool = False,
) -> list[DeadLetterEntry]:
    """The outbox dead letters, oldest first (``SqlOutboxStore.report``)."""
    async with open_store(database_url) as store:
        return await store.report(include_resolved=include_resolved)


async def resolve_outbox_dead_letter(
    open_store: OpenStore, database_url: str, dead_letter_id: int, action: ReleaseAction, *,
    reason: str, by: str, at: datetime, limit_bytes: int | None = None,
) -> DeadLetterEntry:
    """Retry or drop one dead letter with a recorded reason (``SqlOutboxStore.resolve``);
    raises ``DeadLetterRefused``."""
    async with open_store(database_url) as store:
        return await store.resolve(dead_letter_id, action, reason=reason, by=by, at=at,
                                   limit_bytes=limit_bytes)
