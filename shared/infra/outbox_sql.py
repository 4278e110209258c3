"""The SQL side of the outbox relay, for any service's outbox table, on SQLite and PostgreSQL.

A service describes its outbox table (``OutboxColumns``: which column is the order, the event
id, the key, the topic, the payload, the creation and publication times) and adds a dead-letter
table of the shape ``dead_letter_table`` makes (one migration). A dead-lettered row stays in the
outbox, unpublished: the dead-letter row says why, and while it is not released every row of
its key is left out of ``claim`` (held), so nothing of that key overtakes it.

What an operator can do with a dead letter (``trialwatch outbox``, through each service's
admin.py; ``report`` lists them, ``resolve`` records the decision with who and why):

- **retry**: the row is tried again in its place, after the change that lets it through (a
  larger ``KAFKA_MAX_REQUEST_SIZE`` in the service's environment and a restart). Refused while
  a row dead-lettered for its size is still larger than the limit given, so a retry is never a
  blind loop; should the broker still refuse it, it is dead-lettered again (a new entry).
- **drop**: the row is never published. Its outbox row is marked as gone (``published_at`` set
  to the drop time: it left the outbox, and its dead letter says it was dropped, never sent),
  the refill of a fresh broker leaves it out (``requeue``), and the rows held behind it flow.
  Recorded with the reason and who dropped it; nothing is dropped silently.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import (
    Column,
    ColumnElement,
    Index,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infra.outbox import OutboxRow
from shared.infra.sqltypes import BigId, UtcDateTime

Turn = Callable[[], AbstractAsyncContextManager[object]]


def dead_letter_table(name: str, metadata: MetaData) -> Table:
    """The outbox dead-letter table ``name``: one row per dead-lettering of an outbox row
    (``message_id``), with its reason and when; ``released_at`` set once an operator resolved
    it, with ``release_action`` (``retry``: tried again in its place; ``drop``: never
    published), ``release_reason`` and ``released_by``. No payload: it stays in the outbox."""
    return Table(
        name,
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False),
        Column("message_key", String(128), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("reason", String(500), nullable=False),
        Column("dead_lettered_at", UtcDateTime(), nullable=False),
        Column("released_at", UtcDateTime(), nullable=True),
        Column("release_action", String(8), nullable=True),
        Column("release_reason", String(500), nullable=True),
        Column("released_by", String(128), nullable=True),
        Index(f"ix_{name}_held", "message_key", "released_at"),
    )


ReleaseAction = Literal["retry", "drop"]
# What a record needs beyond its value (key, headers, batch framing, a signature added at
# publish time): the same allowance intake's publish limit makes.
RECORD_FRAMING_BYTES = 1024
_SIZE_REASONS = ("MessageSizeTooLargeError", "RecordTooLargeError", "RecordListTooLargeError")


@dataclass(frozen=True, slots=True)
class DeadLetterEntry:
    """One dead letter as an operator sees it: ``id`` (what ``resolve`` takes), the row's event
    id, its key (a surrogate patient key, never an identifier), topic, reason, the stored
    value's size in bytes, when it was dead-lettered, how many unpublished rows of its key wait
    behind it, and how it was resolved (all None while it holds its key)."""

    id: int
    message_id: str
    key: str
    topic: str
    reason: str
    size_bytes: int | None
    dead_lettered_at: datetime
    held_behind: int
    released_at: datetime | None = None
    release_action: str | None = None
    release_reason: str | None = None
    released_by: str | None = None


class DeadLetterRefused(Exception):
    """``resolve`` refused: no such dead letter, already resolved, or a retry that cannot fit."""


class DeadLetterNotices(Protocol):
    """What a service stages in the very transaction that dead-letters a row of a key, or
    resolves that dead letter (intake: ``PatientUpdatesHeld`` / ``PatientUpdatesReleased``, so
    the evaluator knows a patient's updates are held). ``session`` is that transaction; what it
    writes commits, or not, with the dead letter. ``letter_id`` is the dead letter's id."""

    async def held(self, session: AsyncSession, letter_id: int, row: OutboxRow, reason: str,
                   at: datetime) -> None: ...

    async def released(self, session: AsyncSession, letter_id: int, key: str,
                       action: ReleaseAction, at: datetime) -> None: ...


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
    other writer. ``turn`` serialises writers (intake's SQLite write turns).

    ``notices``: what the service stages with a dead letter and its resolution (in the same
    transaction). ``never_held``: topics whose rows are never held behind a dead letter of
    their key (the notices announcing the hold: they must get out while the key is held)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: OutboxColumns,
        dead_letters: Table, *, lock_rows: bool = False, turn: Turn | None = None,
        notices: DeadLetterNotices | None = None, never_held: Collection[str] = (),
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._dead = dead_letters
        self._lock_rows = lock_rows
        self._turn: Turn = turn or _free_turn
        self._notices = notices
        self._never_held = tuple(never_held)

    def _ids(self, rows: Sequence[OutboxRow]) -> list[Any]:
        return [self._id(r.message_id) for r in rows]

    def _id(self, message_id: str) -> Any:
        """An event id as the outbox column holds it (a ``Uuid`` column takes a UUID)."""
        if isinstance(self._outbox.message_id.type, Uuid):
            return uuid.UUID(message_id)
        return message_id

    def _held(self) -> ColumnElement[bool]:
        dead = self._dead.c
        return exists().where(and_(dead.message_key == self._outbox.key,
                                   dead.released_at.is_(None)))

    def _pending(self) -> ColumnElement[bool]:
        if self._never_held:
            return and_(self._outbox.published_at.is_(None),
                        or_(self._outbox.topic.in_(self._never_held), ~self._held()))
        return and_(self._outbox.published_at.is_(None), ~self._held())

    def _holdable(self) -> ColumnElement[bool]:
        """Rows a dead letter of their key holds (all but the ``never_held`` topics)."""
        if self._never_held:
            return self._outbox.topic.not_in(self._never_held)
        return true()

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
        if rows is not None:
            # a writer's own rows: which of them are still pending (not held, not sent by
            # anyone yet), in outbox order; their values are the writer's, not read back
            given = {r.message_id: r for r in rows}
            mine = (select(o.position, o.message_id, o.created_at)
                    .where(self._pending(), o.message_id.in_(self._ids(rows)))
                    .order_by(o.position).limit(limit))
            async with self._turn(), self._sessions.begin() as session:
                found = [replace(given[str(message_id)], position=position, created_at=created)
                         for position, message_id, created in await session.execute(mine)]
            yield _SqlClaim(self, found, None)
            return
        query = (select(o.position, o.message_id, o.key, o.topic, o.payload, o.created_at)
                 .where(self._pending()))
        if older_than is not None:
            query = query.where(o.created_at < older_than)
        if key is not None:
            query = query.where(o.key == key)
        query = query.order_by(o.position).limit(limit)
        if self._lock_rows:
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
            letter_id = (await writer.execute(insert(self._dead).values(
                message_id=row.message_id, message_key=row.key, topic=row.topic,
                reason=reason[:500], dead_lettered_at=at, released_at=None)
                .returning(self._dead.c.id))).scalar_one()
            if self._notices is not None:
                await self._notices.held(writer, int(letter_id), row, reason[:500], at)

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
                                         .where(o.published_at.is_(None), self._held(),
                                                self._holdable()))
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
            letters = list(await session.execute(
                update(self._dead)
                .where(self._dead.c.message_id == message_id, self._dead.c.released_at.is_(None))
                .values(released_at=at, release_action="retry")
                .returning(self._dead.c.id, self._dead.c.message_key)))
            if self._notices is not None:
                for letter_id, key in letters:
                    await self._notices.released(session, int(letter_id), key, "retry", at)
        return bool(letters)

    async def report(self, *, include_resolved: bool = False) -> list[DeadLetterEntry]:
        """The dead letters, oldest first, each with its size and the rows held behind it."""
        query = select(self._dead).order_by(self._dead.c.id)
        if not include_resolved:
            query = query.where(self._dead.c.released_at.is_(None))
        async with self._sessions() as session:
            letters = list(await session.execute(query))
            return [await self._entry(session, letter) for letter in letters]

    async def _entry(self, session: AsyncSession, letter: Any) -> DeadLetterEntry:
        o = self._outbox
        found = (await session.execute(
            select(o.position, o.payload)
            .where(o.message_id == self._id(letter.message_id)))).first()
        behind = select(func.count()).select_from(o.table).where(
            o.key == letter.message_key, o.published_at.is_(None),
            o.message_id != self._id(letter.message_id), self._holdable())
        if found is not None:
            behind = behind.where(o.position > found[0])
        held = int(await session.scalar(behind) or 0) if letter.released_at is None else 0
        return DeadLetterEntry(
            id=int(letter.id), message_id=letter.message_id, key=letter.message_key,
            topic=letter.topic, reason=letter.reason,
            size_bytes=None if found is None else _stored_size(found[1]),
            dead_lettered_at=letter.dead_lettered_at, held_behind=held,
            released_at=letter.released_at, release_action=letter.release_action,
            release_reason=letter.release_reason, released_by=letter.released_by)

    async def resolve(
        self, dead_letter_id: int, action: ReleaseAction, *, reason: str, by: str,
        at: datetime, limit_bytes: int | None = None,
    ) -> DeadLetterEntry:
        """Record an operator's decision on dead letter ``dead_letter_id`` (see the module
        docstring for ``retry`` and ``drop``); returns the entry as it was before. Raises
        ``DeadLetterRefused``: unknown id, already resolved, an empty reason, or a retry of a
        row dead-lettered for its size whose stored value plus framing is still larger than
        ``limit_bytes`` (the producer limit the service will run with)."""
        if not reason.strip():
            raise DeadLetterRefused("a reason is required: it is kept with the dead letter")
        dead, o = self._dead, self._outbox
        async with self._turn(), self._sessions.begin() as session:
            letter = (await session.execute(
                select(dead).where(dead.c.id == dead_letter_id))).first()
            if letter is None:
                raise DeadLetterRefused(f"no dead letter #{dead_letter_id}")
            if letter.released_at is not None:
                raise DeadLetterRefused(
                    f"dead letter #{dead_letter_id} was already resolved "
                    f"({letter.release_action} at {letter.released_at.isoformat()})")
            entry = await self._entry(session, letter)
            if (action == "retry" and limit_bytes is not None and entry.size_bytes is not None
                    and letter.reason.startswith(_SIZE_REASONS)
                    and entry.size_bytes + RECORD_FRAMING_BYTES > limit_bytes):
                raise DeadLetterRefused(
                    f"dead letter #{dead_letter_id} is {entry.size_bytes:,} bytes (+ "
                    f"{RECORD_FRAMING_BYTES:,} framing), more than the limit of "
                    f"{limit_bytes:,} (KAFKA_MAX_REQUEST_SIZE): a retry would be refused "
                    "again; raise the limit (and restart the service) or drop it")
            await session.execute(
                update(dead).where(dead.c.id == dead_letter_id, dead.c.released_at.is_(None))
                .values(released_at=at, release_action=action, release_reason=reason[:500],
                        released_by=by[:128]))
            if action == "drop":
                await session.execute(
                    update(o.table).where(o.message_id == self._id(letter.message_id),
                                          o.published_at.is_(None))
                    .values({o.published_at.key: at}))
            if self._notices is not None:
                await self._notices.released(session, dead_letter_id, letter.message_key,
                                             action, at)
        return entry

    async def requeue(self) -> int:
        """Refill of a fresh broker: every published row becomes pending again, except rows an
        operator dropped (they were never published and stay out). Returns how many."""
        o, dead = self._outbox, self._dead
        async with self._turn(), self._sessions.begin() as session:
            dropped = [self._id(m) for m in await session.scalars(
                select(dead.c.message_id).where(dead.c.release_action == "drop"))]
            query = update(o.table).where(o.published_at.is_not(None))
            if dropped:
                query = query.where(o.message_id.not_in(dropped))
            result = await session.execute(query.values({o.published_at.key: None}))
        return int(getattr(result, "rowcount", 0) or 0)


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


def _stored_size(payload: Any) -> int:
    """Bytes of the stored value as JSON (text as stored; a JSON column compactly encoded)."""
    if isinstance(payload, bytes):
        return len(payload)
    if isinstance(payload, str):
        return len(payload.encode())
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def _rows(result: Any) -> list[OutboxRow]:
    return [OutboxRow(position=r[0], message_id=str(r[1]), key=r[2], topic=r[3], payload=r[4],
                      created_at=r[5]) for r in result]
