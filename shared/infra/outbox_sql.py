"""The SQL side of the outbox relay, for any service's outbox table, on SQLite and PostgreSQL.

A service describes its outbox table (``OutboxColumns``: which column is the order, the event
id, the key, the topic, the payload, the creation and publication times) and adds a dead-letter
table of the shape ``dead_letter_table`` makes (one migration). A dead-lettered row stays in the
outbox, unpublished: the dead-letter row says why, and while it is not released every row of
its key is left out of ``claim`` (held), so nothing of that key overtakes it.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infra.outbox import OutboxRow
from shared.infra.sqltypes import UtcDateTime

Turn = Callable[[], AbstractAsyncContextManager[object]]


def dead_letter_table(name: str, metadata: MetaData) -> Table:
    """The outbox dead-letter table ``name``: one row per dead-lettering of an outbox row
    (``message_id``), with its reason and when; ``released_at`` set once an operator let the
    row be tried again. No payload: it stays in the outbox."""
    return Table(
        name,
        metadata,
        Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
               autoincrement=True),
        Column("message_id", String(64), nullable=False),
        Column("message_key", String(128), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("reason", String(500), nullable=False),
        Column("dead_lettered_at", UtcDateTime(), nullable=False),
        Column("released_at", UtcDateTime(), nullable=True),
        Index(f"ix_{name}_held", "message_key", "released_at"),
    )


@dataclass(frozen=True)
class OutboxColumns:
    """Which columns of a service's outbox table play which part."""

    table: Table
    position: Column[Any]
    message_id: Column[Any]
    key: Column[Any]
    topic: Column[Any]
    payload: Column[Any]
    created_at: Column[Any]
    published_at: Column[Any]


@contextlib.asynccontextmanager
async def _free_turn() -> AsyncIterator[None]:
    yield


class SqlOutboxStore:
    """``OutboxStore`` over ``outbox`` and its ``dead_letters`` table.

    ``lock_rows``: claim in one transaction holding the rows (PostgreSQL ``FOR UPDATE SKIP
    LOCKED``; SQLite has one writer anyway) until the claim closes, so several processes relay
    without sending a row twice. Without it the rows are read, then marked in short separate
    transactions (one relaying replica, chosen by leadership). A writer's claim of its own
    rows (``rows=``) never holds locks while it publishes: nobody else takes rows younger than
    the grace, and holding SQLite's write lock across a broker round trip would stall every
    other writer. ``turn`` serialises writers (intake's SQLite write turns)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: OutboxColumns,
        dead_letters: Table, *, lock_rows: bool = False, turn: Turn | None = None,
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._dead = dead_letters
        self._lock_rows = lock_rows
        self._turn: Turn = turn or _free_turn

    def _ids(self, rows: Sequence[OutboxRow]) -> list[Any]:
        if isinstance(self._outbox.message_id.type, Uuid):
            return [uuid.UUID(r.message_id) for r in rows]
        return [r.message_id for r in rows]

    def _held(self) -> ColumnElement[bool]:
        dead = self._dead.c
        return exists().where(and_(dead.message_key == self._outbox.key,
                                   dead.released_at.is_(None)))

    def _pending(self) -> ColumnElement[bool]:
        return and_(self._outbox.published_at.is_(None), ~self._held())

    def claim(
        self, limit: int, *, older_than: datetime | None = None, key: str | None = None,
        rows: Sequence[OutboxRow] | None = None,
    ) -> AbstractAsyncContextManager[_SqlClaim]:
        return self._claim(limit, older_than, key, rows)

    @contextlib.asynccontextmanager
    async def _claim(
        self, limit: int, older_than: datetime | None, key: str | None,
        rows: Sequence[OutboxRow] | None,
    ) -> AsyncIterator[_SqlClaim]:
        o = self._outbox
        query = (select(o.position, o.message_id, o.key, o.topic, o.payload, o.created_at)
                 .where(self._pending()))
        if rows is not None:
            query = query.where(o.message_id.in_(self._ids(rows)))
        if older_than is not None:
            query = query.where(o.created_at < older_than)
        if key is not None:
            query = query.where(o.key == key)
        query = query.order_by(o.position).limit(limit)
        if self._lock_rows and rows is None:
            query = query.with_for_update(skip_locked=True, of=o.table)
            async with self._turn(), self._sessions.begin() as session:
                claim = _SqlClaim(self, _rows(await session.execute(query)), session)
                yield claim
            return
        async with self._turn(), self._sessions.begin() as session:
            found = _rows(await session.execute(query))
        yield _SqlClaim(self, found, None)

    @contextlib.asynccontextmanager
    async def _writing(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if session is not None:
            yield session
            return
        async with self._turn(), self._sessions.begin() as own:
            yield own

    async def _mark(self, session: AsyncSession | None, rows: Sequence[OutboxRow],
                    at: datetime) -> None:
        if not rows:
            return
        o = self._outbox
        async with self._writing(session) as writer:
            await writer.execute(update(o.table)
                                 .where(o.message_id.in_(self._ids(rows)))
                                 .values({o.published_at.key: at}))

    async def _dead_letter(self, session: AsyncSession | None, row: OutboxRow, reason: str,
                           at: datetime) -> None:
        async with self._writing(session) as writer:
            await writer.execute(insert(self._dead).values(
                message_id=row.message_id, message_key=row.key, topic=row.topic,
                reason=reason[:500], dead_lettered_at=at, released_at=None))

    async def pending_count(self, key: str | None = None) -> int:
        o = self._outbox
        query = select(func.count()).select_from(o.table).where(self._pending())
        if key is not None:
            query = query.where(o.key == key)
        async with self._sessions() as session:
            count = await session.scalar(query)
        return int(count or 0)

    async def held_count(self) -> int:
        """Unpublished rows of keys with an unreleased dead letter (the dead rows included)."""
        o = self._outbox
        async with self._sessions() as session:
            count = await session.scalar(select(func.count()).select_from(o.table)
                                         .where(o.published_at.is_(None), self._held()))
        return int(count or 0)

    async def dead_letters(self, *, unreleased_only: bool = True) -> list[dict[str, Any]]:
        """The dead letters, oldest first (for an operator)."""
        query = select(self._dead).order_by(self._dead.c.id)
        if unreleased_only:
            query = query.where(self._dead.c.released_at.is_(None))
        async with self._sessions() as session:
            return [dict(row._mapping) for row in await session.execute(query)]

    async def release(self, message_id: str, at: datetime) -> bool:
        async with self._turn(), self._sessions.begin() as session:
            result = await session.execute(
                update(self._dead)
                .where(self._dead.c.message_id == message_id, self._dead.c.released_at.is_(None))
                .values(released_at=at))
        return bool(getattr(result, "rowcount", 0))


class _SqlClaim:
    def __init__(self, store: SqlOutboxStore, rows: list[OutboxRow],
                 session: AsyncSession | None) -> None:
        self.rows = rows
        self._store = store
        self._session = session

    async def published(self, rows: Sequence[OutboxRow], at: datetime) -> None:
        await self._store._mark(self._session, rows, at)

    async def dead_lettered(self, row: OutboxRow, reason: str, at: datetime) -> None:
        await self._store._dead_letter(self._session, row, reason, at)


def _rows(result: Any) -> list[OutboxRow]:
    return [OutboxRow(position=r[0], message_id=str(r[1]), key=r[2], topic=r[3], payload=r[4],
                      created_at=r[5]) for r in result]
