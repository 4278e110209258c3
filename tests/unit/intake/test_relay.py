from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from services.intake.adapters.relay import OutboxRelay, RelayRoundFailed
from services.intake.adapters.sql.store import PendingEvent
from tests.unit.intake.fakes import FakeOutbox


def rows(*keys: str) -> list[PendingEvent]:
    return [PendingEvent(i + 1, "patient.events.v1", key, f'{{"n": {i + 1}}}')
            for i, key in enumerate(keys)]


def clock() -> datetime:
    return datetime(2026, 11, 25, tzinfo=UTC)


async def test_events_are_published_in_outbox_order_per_patient_and_marked_published() -> None:
    outbox = FakeOutbox(rows("a", "b", "a", "c", "a", "b"))
    sent: list[tuple[str, int]] = []

    async def publish(row: PendingEvent) -> None:
        await asyncio.sleep(0.001 * (row.id % 3))
        sent.append((row.message_key, row.id))

    published = await OutboxRelay(outbox, publish, clock).relay_once()
    assert published == 6
    assert sorted(outbox.published) == [1, 2, 3, 4, 5, 6]
    for key in "abc":
        ids = [i for k, i in sent if k == key]
        assert ids == sorted(ids)


async def test_a_failed_publish_holds_back_that_patients_later_events_but_not_others() -> None:
    outbox = FakeOutbox(rows("a", "b", "a", "b"))
    attempts: list[int] = []

    async def publish(row: PendingEvent) -> None:
        attempts.append(row.id)
        if row.id == 1:
            raise ConnectionError("broker away")

    relay = OutboxRelay(outbox, publish, clock)
    try:
        await relay.relay_once()
        raise AssertionError("the round should report the failure")
    except RelayRoundFailed:
        pass
    assert 3 not in attempts  # patient a's second event waits for its first
    assert sorted(outbox.published) == [2, 4]


async def test_the_relay_retries_until_the_broker_returns_and_loses_nothing() -> None:
    outbox = FakeOutbox(rows("a", "a", "b"))
    broker_up = asyncio.Event()
    delivered: list[int] = []

    async def publish(row: PendingEvent) -> None:
        if not broker_up.is_set():
            raise ConnectionError("broker away")
        delivered.append(row.id)

    relay = OutboxRelay(outbox, publish, clock, poll_interval_s=0.01, max_backoff_s=0.05)
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.2)
    assert delivered == []
    broker_up.set()
    for _ in range(100):
        if len(outbox.published) == 3:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert sorted(outbox.published) == [1, 2, 3]
    assert [i for i in delivered if i in (1, 2)] == [1, 2]
    assert len(delivered) == 3
