"""The decision outbox: events are stored with the state change, published after the commit.

A crash between commit and publish leaves rows unpublished; the redelivered patient event (or
the relay loop) publishes them with the same ids, so consumers see at-least-once, never a
different decision for the same input. A crash after publishing but before marking the rows
published would make them go out a second time; orphans are therefore checked against their
topics first (``published_scan``). Consumers still drop duplicates by id: without Kafka
transactions no producer can promise exactly-once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql.dialects import insert_ignoring_duplicates
from services.evaluator.adapters.sql.tables import outbox
from services.evaluator.core.clock import Clock
from shared.contracts.events import DecisionMade, EligibilityAlert, PatientSnapshot
from shared.contracts.topics import ALERTS, DECISIONS
from shared.infra.clock import utc_now

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    message_id: str
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime | None = None


def message_of(event: DecisionMade | EligibilityAlert | PatientSnapshot) -> OutboxMessage:
    """The outbox row of a decision or an input snapshot (``eligibility.decisions.v1``) or an
    alert (``eligibility.alerts.v1``), keyed by patient so each patient's events stay in
    order."""
    topic = ALERTS if isinstance(event, EligibilityAlert) else DECISIONS
    return OutboxMessage(message_id=str(event.event_id), topic=topic, key=event.patient_key,
                         payload=event.model_dump(mode="json"))


def messages_of(events: Sequence[DecisionMade | EligibilityAlert | PatientSnapshot],
                ) -> list[OutboxMessage]:
    """``message_of`` each event. The snapshot a screening's decisions share travels once, as
    its own ``PatientSnapshot``, so it is dumped once per screening, not per trial."""
    return [message_of(e) for e in events]


AlreadyPublished = Callable[[Sequence[OutboxMessage]], Awaitable[set[str]]]


class Publisher(Protocol):
    """Sends one event to a topic, returning once the broker has it durably."""

    async def publish(self, payload: dict[str, Any], topic: str, *, key: bytes) -> Any: ...


async def stage(session: AsyncSession, messages: Sequence[OutboxMessage], now: datetime) -> None:
    await insert_ignoring_duplicates(
        session,
        outbox,
        [
            {"message_id": m.message_id, "topic": m.topic, "key": m.key, "payload": m.payload,
             "created_at": now, "published_at": None}
            for m in messages
        ],
    )


async def unpublished(
    session: AsyncSession, *, key: str | None = None, older_than: datetime | None = None,
    limit: int = 500, lock: bool = False,
) -> list[OutboxMessage]:
    """``lock`` takes the rows (PostgreSQL, skipping ones another process holds) until commit."""
    query = select(outbox).where(outbox.c.published_at.is_(None))
    if key is not None:
        query = query.where(outbox.c.key == key)
    if older_than is not None:
        query = query.where(outbox.c.created_at < older_than)
    query = query.order_by(outbox.c.seq).limit(limit)
    if lock:
        query = query.with_for_update(skip_locked=True)
    rows = await session.execute(query)
    return [OutboxMessage(r.message_id, r.topic, r.key, r.payload, r.created_at) for r in rows]


class OutboxSender:
    """Publishes staged events. ``grace`` is how long a row may stay unpublished before anyone
    but its writer publishes it: the writer marks rows within milliseconds of its commit, so
    only rows an interrupted writer left behind are published by the relay or a redelivery."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher,
        clock: Clock = utc_now, grace: timedelta = timedelta(seconds=5),
        already_published: AlreadyPublished | None = None,
    ) -> None:
        self._sessions = sessions
        self._publisher = publisher
        self._clock = clock
        self._grace = grace
        self._already_published = already_published

    async def send(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        """Publish, then mark published. One patient's events go out in outbox order (consumers
        rely on it); different patients' events go out concurrently."""
        if not messages:
            return
        await self._publish(messages)
        async with self._sessions.begin() as session:
            await _mark(session, messages, now)

    async def _publish(self, messages: Sequence[OutboxMessage]) -> None:
        by_key: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            by_key.setdefault(message.key, []).append(message)
        await asyncio.gather(*(self._publish_in_order(group) for group in by_key.values()))

    async def _publish_in_order(self, messages: list[OutboxMessage]) -> None:
        for message in messages:
            await self._publisher.publish(message.payload, message.topic, key=message.key.encode())

    async def settle_key(self, key: str) -> int:
        """For a redelivered event: make sure what its first attempt staged is published before
        its offset is committed. Rows younger than ``grace`` belong to a writer that may still be
        publishing them (another process, before a rebalance): wait for it; older ones are
        orphans: publish them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._grace.total_seconds() + 0.5
        while True:
            async with self._sessions.begin() as session:
                older = self._clock() - self._grace
                pending = await unpublished(session, key=key, older_than=older, lock=True)
                await self._publish_orphans(pending)
                await _mark(session, pending, self._clock())
                remaining = await unpublished(session, key=key, limit=1)
            if not remaining or loop.time() > deadline:
                return len(pending)
            await asyncio.sleep(0.1)

    async def relay(self, limit: int = 500, *, grace: timedelta | None = None) -> int:
        """Publish rows nobody else is about to publish: ones written by the amendment command,
        or left behind by a crash. Locked rows are skipped, so processes never both send one."""
        async with self._sessions.begin() as session:
            older = self._clock() - (self._grace if grace is None else grace)
            pending = await unpublished(session, older_than=older, limit=limit, lock=True)
            await self._publish_orphans(pending)
            await _mark(session, pending, self._clock())
        return len(pending)

    async def publish_backlog(self, batch: int = 1000) -> int:
        """Publish every unpublished row, oldest first, however young: what a crashed earlier
        run left behind, or the whole outbox after a refill of a fresh broker. Called before
        the consumer starts, so decisions made from new events queue behind the backlog and
        each patient's decisions reach the topic in the order they were made."""
        total = 0
        while sent := await self.relay(limit=batch, grace=timedelta(0)):
            total += sent
        return total

    async def _publish_orphans(self, pending: Sequence[OutboxMessage]) -> None:
        """Rows nobody marked: skip those an interrupted writer did publish before it died."""
        if not pending:
            return
        done = await self._already_published(pending) if self._already_published else set()
        if done:
            log.info("orphaned outbox rows were already published", skipped=len(done),
                     republished=len(pending) - len(done))
        await self._publish([m for m in pending if m.message_id not in done])


async def _mark(session: AsyncSession, messages: Sequence[OutboxMessage], now: datetime) -> None:
    if messages:
        await session.execute(
            update(outbox)
            .where(outbox.c.message_id.in_([m.message_id for m in messages]))
            .values(published_at=now)
        )
