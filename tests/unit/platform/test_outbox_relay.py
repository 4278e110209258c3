"""The one outbox relay on an in-memory store: per-key order, transient failures retried, and a
row the broker can never take dead-lettered with the same key's later rows held behind it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from shared.infra.outbox import OutboxRelay, OutboxRow, RelayOptions, RelayRoundFailed


def clock() -> datetime:
    return datetime(2026, 11, 25, tzinfo=UTC)


class FakeClaim:
    def __init__(self, store: FakeStore, rows: list[OutboxRow]) -> None:
        self.rows = rows
        self._store = store

    async def published(self, rows: Sequence[OutboxRow], at: datetime) -> None:
        self._store.published += [r.position for r in rows]

    async def dead_lettered(self, row: OutboxRow, reason: str, at: datetime) -> None:
        self._store.dead[row.message_id] = reason


class FakeStore:
    def __init__(self, *keys: str) -> None:
        self.rows = [OutboxRow(i + 1, f"m{i + 1}", key, "patient.events.v1", {"n": i + 1})
                     for i, key in enumerate(keys)]
        self.published: list[int] = []
        self.dead: dict[str, str] = {}
        self.released: set[str] = set()

    def _held_keys(self) -> set[str]:
        return {r.key for r in self.rows if r.message_id in self.dead
                and r.message_id not in self.released}

    def _pending(self) -> list[OutboxRow]:
        held = self._held_keys()
        return [r for r in self.rows if r.position not in self.published and r.key not in held]

    @contextlib.asynccontextmanager
    async def claim(self, limit: int, *, older_than: object = None, key: str | None = None,
                    rows: Sequence[OutboxRow] | None = None) -> AsyncIterator[FakeClaim]:
        chosen = [r for r in self._pending() if key is None or r.key == key]
        if rows is not None:
            chosen = [r for r in chosen if r in rows]
        yield FakeClaim(self, chosen[:limit])

    async def pending_count(self, key: str | None = None) -> int:
        return sum(key is None or r.key == key for r in self._pending())

    async def held_count(self) -> int:
        held = self._held_keys()
        return sum(r.key in held and r.position not in self.published for r in self.rows)

    async def release(self, message_id: str, at: datetime) -> bool:
        self.released.add(message_id)
        del self.dead[message_id]
        return True


async def test_rows_are_published_in_outbox_order_per_key_and_marked_published() -> None:
    store = FakeStore("a", "b", "a", "c", "a", "b")
    sent: list[tuple[str, int]] = []

    async def publish(row: OutboxRow) -> None:
        await asyncio.sleep(0.001 * (row.position % 3))
        sent.append((row.key, row.position))

    assert await OutboxRelay("test", store, publish, clock).relay_once() == 6
    assert sorted(store.published) == [1, 2, 3, 4, 5, 6]
    for key in "abc":
        positions = [p for k, p in sent if k == key]
        assert positions == sorted(positions)


async def test_a_transient_failure_holds_back_that_keys_later_rows_this_round_only() -> None:
    store = FakeStore("a", "b", "a", "b")
    attempts: list[int] = []

    async def publish(row: OutboxRow) -> None:
        attempts.append(row.position)
        if row.position == 1:
            raise KafkaConnectionError("broker away")

    with pytest.raises(RelayRoundFailed):
        await OutboxRelay("test", store, publish, clock).relay_once()
    assert 3 not in attempts  # a's second row waits for its first
    assert sorted(store.published) == [2, 4]
    assert store.dead == {}  # transient: still pending, tried again next round


async def test_the_relay_retries_until_the_broker_returns_and_loses_nothing() -> None:
    store = FakeStore("a", "a", "b")
    broker_up = asyncio.Event()
    delivered: list[int] = []

    async def publish(row: OutboxRow) -> None:
        if not broker_up.is_set():
            raise KafkaConnectionError("broker away")
        delivered.append(row.position)

    relay = OutboxRelay("test", store, publish, clock,
                        RelayOptions(poll_interval_s=0.01, max_backoff_s=0.05))
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.2)
    assert delivered == []
    broker_up.set()
    for _ in range(200):
        if len(store.published) == 3:
            break
        await asyncio.sleep(0.02)
    task.cancel()
    assert sorted(store.published) == [1, 2, 3]
    assert [p for p in delivered if p in (1, 2)] == [1, 2]


async def test_an_unpublishable_row_is_dead_lettered_and_its_keys_later_rows_are_held() -> None:
    store = FakeStore("a", "a", "b", "a")
    attempts: list[int] = []

    async def publish(row: OutboxRow) -> None:
        attempts.append(row.position)
        if row.position == 2:
            raise MessageSizeTooLargeError("The message is 2097252 bytes when serialized")

    relay = OutboxRelay("test", store, publish, clock)
    assert await relay.relay_once() == 2
    assert await relay.relay_once() == 0
    assert attempts.count(2) == 1  # never tried again by itself
    assert 4 not in attempts  # held behind the dead letter, never sent ahead of it
    assert sorted(store.published) == [1, 3]
    assert store.dead["m2"].startswith("MessageSizeTooLargeError")
    assert "2097252" not in store.dead["m2"]  # nothing quoted from the error or the payload
    assert await store.held_count() == 2


async def test_a_value_that_cannot_be_serialized_is_dead_lettered_not_retried() -> None:
    store = FakeStore("a")

    async def publish(row: OutboxRow) -> None:
        raise ValueError("Out of range float values are not JSON compliant")

    assert await OutboxRelay("test", store, publish, clock).relay_once() == 0
    assert list(store.dead) == ["m1"]


async def test_writer_first_publishes_its_own_rows_and_raises_a_transient_failure() -> None:
    store = FakeStore("a", "b")
    up = {"broker": False}

    async def publish(row: OutboxRow) -> None:
        if not up["broker"]:
            raise KafkaConnectionError("broker away")

    relay = OutboxRelay("test", store, publish, clock)
    with pytest.raises(KafkaConnectionError):  # the writer's own transient set decides
        await relay.publish_now(store.rows[:1])
    up["broker"] = True
    assert await relay.publish_now(store.rows[:1]) == 1
    assert store.published == [1]


async def test_the_backlog_goes_on_past_a_round_whose_rows_were_all_dead_lettered() -> None:
    store = FakeStore("a", "a", "b", "c")

    async def publish(row: OutboxRow) -> None:
        if row.position == 1:
            raise MessageSizeTooLargeError("too large")

    relay = OutboxRelay("test", store, publish, clock, RelayOptions(batch_size=2))
    # round 1 claims a's two rows: the first is dead, the second held, none acknowledged
    assert await relay.publish_backlog() == 2
    assert sorted(store.published) == [3, 4]
    assert list(store.dead) == ["m1"]


async def test_settle_key_publishes_that_keys_leftovers_only_and_raises_a_transient_error_itself(
) -> None:
    store = FakeStore("a", "b", "a")
    up = {"broker": False}

    async def publish(row: OutboxRow) -> None:
        if not up["broker"]:
            raise KafkaConnectionError("broker away")

    relay = OutboxRelay("test", store, publish, clock)
    with pytest.raises(KafkaConnectionError):  # the handler's transient set decides
        await relay.settle_key("a")
    up["broker"] = True
    assert await relay.settle_key("a") == 2
    assert sorted(store.published) == [1, 3]
    assert await store.pending_count() == 1  # b's row is not this redelivery's business


async def test_a_writers_rows_of_a_held_key_stay_pending_behind_the_dead_letter() -> None:
    store = FakeStore("a", "a", "b")

    async def publish(row: OutboxRow) -> None:
        if row.position == 1:
            raise MessageSizeTooLargeError("too large")

    relay = OutboxRelay("test", store, publish, clock)
    assert await relay.publish_now(store.rows[:1]) == 0  # dead-lettered, not raised
    assert await relay.publish_now(store.rows[1:]) == 1  # only b's row goes out
    assert store.published == [3]
    assert await store.held_count() == 2


# --- rows sent at once (RelayOptions.publish_batch) ----------------------------------------


async def test_a_batch_round_sends_every_row_in_one_call_in_outbox_order_and_marks_them() -> None:
    store = FakeStore("a", "b", "a", "c", "a", "b")
    calls: list[list[int]] = []

    async def publish(row: OutboxRow) -> None:
        raise AssertionError("the one-row path is not used when nothing failed")

    async def publish_batch(rows: Sequence[OutboxRow]) -> list[BaseException | None]:
        calls.append([r.position for r in rows])
        return [None] * len(rows)

    relay = OutboxRelay("test", store, publish, clock, RelayOptions(publish_batch=publish_batch))
    assert await relay.relay_once() == 6
    assert len(calls) == 1
    for key in "abc":  # each key's rows in outbox order within the one call
        positions = [p for p in calls[0] if store.rows[p - 1].key == key]
        assert positions == sorted(positions)
    assert sorted(store.published) == [1, 2, 3, 4, 5, 6]


async def test_a_batch_transient_failure_counts_nothing_of_that_key_from_there_on() -> None:
    store = FakeStore("a", "b", "a", "b")

    async def publish(row: OutboxRow) -> None:
        raise AssertionError("not used")

    async def publish_batch(rows: Sequence[OutboxRow]) -> list[BaseException | None]:
        # a's first row failed; a sender that broke its contract and acknowledged a's second
        # row anyway must still not get it marked (it would overtake on the retry)
        return [KafkaConnectionError("away") if r.position == 1 else None for r in rows]

    relay = OutboxRelay("test", store, publish, clock, RelayOptions(publish_batch=publish_batch))
    with pytest.raises(RelayRoundFailed):
        await relay.relay_once()
    assert sorted(store.published) == [2, 4]
    assert store.dead == {}


async def test_a_batch_refused_as_a_whole_is_sent_row_by_row_and_only_the_culprit_dead() -> None:
    from shared.infra.outbox import SendAlone

    store = FakeStore("a", "b", "a", "b")  # positions 1..4; row 3 (a) is too large
    alone: list[int] = []

    async def publish(row: OutboxRow) -> None:
        alone.append(row.position)
        if row.position == 3:
            raise MessageSizeTooLargeError("too large")

    async def publish_batch(rows: Sequence[OutboxRow]) -> list[BaseException | None]:
        # b's rows went in their own batch; a's two rows shared one the broker refused
        return [SendAlone("RecordListTooLargeError") if r.key == "a" else None for r in rows]

    relay = OutboxRelay("test", store, publish, clock, RelayOptions(publish_batch=publish_batch))
    assert await relay.relay_once() == 3
    assert alone == [1, 3]
    assert sorted(store.published) == [1, 2, 4]
    assert set(store.dead) == {"m3"}
    assert "MessageSizeTooLargeError" in store.dead["m3"]


async def test_a_batch_row_refused_alone_is_dead_lettered_and_its_key_held() -> None:
    store = FakeStore("a", "a", "b")

    async def publish(row: OutboxRow) -> None:
        raise AssertionError("not used")

    async def publish_batch(rows: Sequence[OutboxRow]) -> list[BaseException | None]:
        return [MessageSizeTooLargeError("too large") if r.position == 1
                else MessageSizeTooLargeError("too large") if r.key == "a" else None
                for r in rows]

    relay = OutboxRelay("test", store, publish, clock, RelayOptions(publish_batch=publish_batch))
    assert await relay.relay_once() == 1
    assert store.published == [3]
    assert set(store.dead) == {"m1"}  # only the first: the second is held behind it
    assert await store.held_count() == 2


@pytest.mark.parametrize("turns_before_cancel", range(6))
async def test_a_relay_cancelled_just_as_a_commit_wakes_it_stops(turns_before_cancel: int) -> None:
    """The shutdown hang of intake (lifespan waiting forever on its cancelled relay): a commit
    woke the idle relay and the cancellation arrived in the same few loop turns. Python 3.11's
    ``asyncio.wait_for`` then returned the wake-up and dropped the cancellation (CPython
    gh-86296, fixed only in 3.12's rewrite over ``asyncio.timeout``), so the relay went on
    polling for ever while ``running`` waited for it. Each turn count below places the
    cancellation at a different step of the wake-up; the relay must end in every one."""
    relay = OutboxRelay("test", FakeStore(), lambda row: asyncio.sleep(0), clock,
                        RelayOptions(poll_interval_s=30.0, linger_s=0.0))
    task = asyncio.create_task(relay.run())
    await asyncio.sleep(0.05)  # idle, waiting to be woken
    relay.wake()
    for _ in range(turns_before_cancel):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    assert task in done, "the cancelled relay is still running"
    assert task.cancelled()
