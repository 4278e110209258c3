"""Who looked at the audit trail: every auditor query, appended before its answer is sent.

The access log is hash-chained (``core.access_chain``): each entry links to the one before.
Appends are serialised like the decision chain's (``chain_store``): the in-process write lock
shared with the chain writer (SQLite has one writer at a time) and, on PostgreSQL, a
transaction-scoped advisory lock of its own, so two audit processes cannot fork the log. The
unique ``prev_hash`` makes a fork impossible even if both were bypassed: the losing insert fails
and the append reads the head again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.audit import metrics
from services.audit.adapters.sql.tables import access_log
from services.audit.core.access_chain import AccessHead, link_access_entry
from services.audit.core.ports import SignedEvent
from shared.hashing import canonical_json
from shared.infra.auth import Principal

ACCESS_LOCK_KEY = 0x7472_6961_6C61_6363  # "trialacc": the advisory lock of the access log
APPEND_RETRIES = 5


class AccessLog:
    """The ``AccessLogReader`` port's adapter, and the append side used by the HTTP routes."""

    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime],
                 write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        self._clock = clock
        # Shared with the chain writer: SQLite has one writer at a time.
        self._write_lock = write_lock or asyncio.Lock()

    async def record(self, principal: Principal, action: str, query: dict[str, Any],
                     result_count: int | None = None) -> None:
        """Append one entry linked to the newest. Raises ``IntegrityError`` only when another
        writer kept taking the head ``APPEND_RETRIES`` times; other database errors as raised."""
        metrics.AUDITOR_QUERIES.labels(action=action).inc()
        await self._append(principal.client, principal.role.value, action, query, result_count)

    async def record_once(self, event_id: str, *, client: str, role: str, action: str,
                          query: dict[str, Any], result_count: int | None,
                          signed: SignedEvent | None = None) -> bool:
        """Append an entry that arrived as event ``event_id`` (a re-identification from
        intake), unless one of that event is there already (a redelivery); True when appended.
        The id is kept in ``event_id`` (unique) and is part of the hashed ``query``;
        ``signed`` (the event as signed, its signature) in ``event`` (canonical JSON),
        ``signed_by`` and ``signature``, for ``audit verify`` to check again."""
        extra: dict[str, Any] = {}
        if signed is not None:
            extra = {"event": canonical_json(signed.content).decode(),
                     "signed_by": signed.signature.key_id,
                     "signature": signed.signature.value}
        appended = await self._append(client, role, action, query, result_count, event_id,
                                      extra)
        if appended:
            metrics.AUDITOR_QUERIES.labels(action=action).inc()
        return appended

    async def _append(self, client: str, role: str, action: str, query: dict[str, Any],
                      result_count: int | None, event_id: str | None = None,
                      extra: dict[str, Any] | None = None) -> bool:
        fields = {"accessed_at": self._clock(), "client": client[:128], "role": role[:32],
                  "action": action, "query": canonical_json(query).decode(),
                  "result_count": result_count, "event_id": event_id}
        for attempt in range(APPEND_RETRIES):
            try:
                async with self._write_lock, self._engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                                 {"key": ACCESS_LOCK_KEY})
                    if event_id is not None and await connection.scalar(
                            select(access_log.c.id).where(access_log.c.event_id == event_id)):
                        return False
                    entry = link_access_entry(fields, await _head_hash(connection))
                    await connection.execute(insert(access_log).values(**entry, **(extra or {})))
                return True
            except IntegrityError:
                if attempt == APPEND_RETRIES - 1:
                    raise
        return False

    async def head(self) -> AccessHead | None:
        """The newest chained entry and the number of entries up to it, read in one
        transaction (appends are serialised, so ids commit in order)."""
        async with self._engine.begin() as connection:
            newest = (await connection.execute(
                select(access_log.c.id, access_log.c.entry_hash)
                .where(access_log.c.entry_hash.is_not(None))
                .order_by(access_log.c.id.desc()).limit(1))).first()
            if newest is None:
                return None
            entries = (await connection.execute(
                select(func.count()).select_from(access_log)
                .where(access_log.c.id <= newest.id))).scalar_one()
        return AccessHead(int(newest.id), str(newest.entry_hash), int(entries))

    async def page(self, after: int | None, limit: int) -> list[dict[str, Any]]:
        query = select(access_log).order_by(access_log.c.id).limit(limit)
        if after is not None:
            query = query.where(access_log.c.id > after)
        async with self._engine.connect() as connection:
            return [dict(row) for row in (await connection.execute(query)).mappings()]

    async def entry_batches(self, batch_size: int = 2000,
                            ) -> AsyncIterator[list[dict[str, Any]]]:
        """Keyset-paginated by ``id``: one short read per batch."""
        after: int | None = None
        while True:
            rows = await self.page(after, batch_size)
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1]["id"]


async def _head_hash(connection: AsyncConnection) -> str | None:
    """The newest entry's hash (None: empty, or the newest is an unchained legacy entry)."""
    return (await connection.execute(
        select(access_log.c.entry_hash).order_by(access_log.c.id.desc()).limit(1))).scalar()
