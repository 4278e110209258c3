"""The decision outbox: events are stored with the state change, published after the commit.

A crash between commit and publish leaves rows unpublished; the redelivered patient event (or
the relay loop) publishes them with the same ids, so consumers see at-least-once, never a
different decision for the same input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.db import insert_ignoring_duplicates
from services.evaluator.tables import outbox


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    message_id: str
    topic: str
    key: str
    payload: dict[str, Any]


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
    limit: int = 500,
) -> list[OutboxMessage]:
    query = select(outbox).where(outbox.c.published_at.is_(None))
    if key is not None:
        query = query.where(outbox.c.key == key)
    if older_than is not None:
        query = query.where(outbox.c.created_at < older_than)
    rows = await session.execute(query.order_by(outbox.c.seq).limit(limit))
    return [OutboxMessage(r.message_id, r.topic, r.key, r.payload) for r in rows]


class OutboxSender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher) -> None:
        self._sessions = sessions
        self._publisher = publisher

    async def send(self, messages: Sequence[OutboxMessage], now: datetime) -> None:
        """Publish, then mark published. One patient's events go out in outbox order (consumers
        rely on it); different patients' events go out concurrently."""
        if not messages:
            return
        by_key: dict[str, list[OutboxMessage]] = {}
        for message in messages:
            by_key.setdefault(message.key, []).append(message)
        await asyncio.gather(*(self._publish_in_order(group) for group in by_key.values()))
        async with self._sessions.begin() as session:
            await session.execute(
                update(outbox)
                .where(outbox.c.message_id.in_([m.message_id for m in messages]))
                .values(published_at=now)
            )

    async def _publish_in_order(self, messages: list[OutboxMessage]) -> None:
        for message in messages:
            await self._publisher.publish(message.payload, message.topic, key=message.key.encode())

    async def flush_key(self, key: str, now: datetime) -> int:
        """Publish what an earlier attempt for this patient committed but did not publish."""
        async with self._sessions() as session:
            pending = await unpublished(session, key=key)
        await self.send(pending, now)
        return len(pending)

    async def relay(self, now: datetime, grace: timedelta = timedelta(seconds=2)) -> int:
        """Publish rows nobody else is about to publish: ones written by the amendment command,
        or left behind by a crash. ``grace`` keeps it off rows the consumer is publishing now."""
        async with self._sessions() as session:
            pending = await unpublished(session, older_than=now - grace)
        await self.send(pending, now)
        return len(pending)
