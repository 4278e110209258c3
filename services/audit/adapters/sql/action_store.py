"""Coordinator actions on SQL: the ``ActionStore`` port's adapter (SQLite and PostgreSQL), and
the actions' read side for ``audit verify`` and the checkpoint writer.

The actions are hash-chained (``core.action_chain``). Appends are serialised like the access
log's (``access_log``): the in-process write lock shared with the chain writer (SQLite has one
writer at a time) and, on PostgreSQL, a transaction-scoped advisory lock of their own, so two
audit processes cannot fork the chain. The unique ``chain_seq`` and ``prev_hash`` make a fork
impossible even if both were bypassed: the losing insert fails and the append reads the head
again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.audit.adapters.sql.tables import coordinator_actions
from services.audit.core.access_chain import AccessHead
from services.audit.core.action_chain import link_action

ACTION_LOCK_KEY = 0x7472_6961_6C61_6374  # "trialact": the advisory lock of the actions' chain
APPEND_RETRIES = 5


class SqlActionStore:
    """``ActionStore`` (append, chained), ``ActionReader`` and ``ActionHead`` on SQL."""

    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        # Shared with the chain writer and the access log: SQLite has one writer at a time.
        self._write_lock = write_lock or asyncio.Lock()

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append the actions not stored yet (by action id), each linked to the newest, in
        one transaction. Raises ``IntegrityError`` only when another writer kept taking the
        head ``APPEND_RETRIES`` times; other database errors as raised."""
        for attempt in range(APPEND_RETRIES):
            try:
                async with self._write_lock, self._engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                                 {"key": ACTION_LOCK_KEY})
                    ids = [str(row["action_id"]) for row in rows]
                    stored = set((await connection.execute(
                        select(coordinator_actions.c.action_id)
                        .where(coordinator_actions.c.action_id.in_(ids)))).scalars())
                    head = await _head(connection)
                    for row in rows:
                        if str(row["action_id"]) in stored:
                            continue
                        stored.add(str(row["action_id"]))
                        linked = link_action(row, head)
                        await connection.execute(insert(coordinator_actions).values(**linked))
                        head = (int(linked["chain_seq"]), str(linked["entry_hash"]))
                return
            except IntegrityError:
                if attempt == APPEND_RETRIES - 1:
                    raise

    async def head(self) -> AccessHead | None:
        """The newest chained action (``chain_seq``, ``entry_hash``) and the number of actions
        up to it, unchained legacy ones included (None: no chained action yet)."""
        async with self._engine.begin() as connection:
            head = await _head(connection)
            if head is None:
                return None
            column = coordinator_actions.c.chain_seq
            entries = (await connection.execute(
                select(func.count()).select_from(coordinator_actions)
                .where(column.is_(None) | (column <= head[0])))).scalar_one()
        return AccessHead(head[0], head[1], int(entries))

    async def action_batches(self, batch_size: int = 2000,
                             ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every action (column name -> value, as stored): unchained legacy ones first (by
        ``recorded_at``, then action id), then the chained ones by ``chain_seq``, keyset-
        paginated."""
        table = coordinator_actions
        async with self._engine.connect() as connection:
            legacy = [dict(row) for row in (await connection.execute(
                select(table).where(table.c.chain_seq.is_(None))
                .order_by(table.c.recorded_at, table.c.action_id))).mappings()]
        if legacy:
            yield legacy
        after = 0
        while True:
            async with self._engine.connect() as connection:
                rows = [dict(row) for row in (await connection.execute(
                    select(table).where(table.c.chain_seq > after)
                    .order_by(table.c.chain_seq).limit(batch_size))).mappings()]
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = int(rows[-1]["chain_seq"])


async def _head(connection: AsyncConnection) -> tuple[int, str] | None:
    """The newest chained action's ``chain_seq`` and ``entry_hash`` (None: none yet)."""
    newest = (await connection.execute(
        select(coordinator_actions.c.chain_seq, coordinator_actions.c.entry_hash)
        .where(coordinator_actions.c.chain_seq.is_not(None))
        .order_by(coordinator_actions.c.chain_seq.desc()).limit(1))).first()
    return None if newest is None else (int(newest.chain_seq), str(newest.entry_hash))
