"""The one outbox relay against the real broker, on SQLite and PostgreSQL: a row the broker can
never take is dead-lettered with its reason and never tried again by itself; the same patient's
later rows are held behind it (never sent out of order), every other patient keeps flowing."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.infra.clock import utc_now
from shared.infra.kafka import ensure_topics, make_broker
from shared.infra.outbox import DEAD_LETTERS, OutboxRelay, OutboxRow, RelayOptions
from shared.infra.outbox_sql import OutboxColumns, SqlOutboxStore, dead_letter_table
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.infra.sqltypes import UtcDateTime
from shared.settings import KafkaSettings
from tests.conftest import unique_group

pytestmark = pytest.mark.integration

metadata = MetaData()
outbox = Table(
    "test_outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("topic", String(200), nullable=False),
    Column("message_key", String(64), nullable=False),
    Column("payload", Text(), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("published_at", UtcDateTime(), nullable=True),
)
dead_letters = dead_letter_table("test_outbox_dead_letters", metadata)
COLUMNS = OutboxColumns(outbox, outbox.c.id, outbox.c.event_id, outbox.c.message_key,
                        outbox.c.topic, outbox.c.payload, outbox.c.created_at,
                        outbox.c.published_at)
TOO_LARGE = "x" * (2 * 1024 * 1024)  # twice aiokafka's default max_request_size (1 MiB)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _stage(sessions: async_sessionmaker[AsyncSession], topic: str,
                 rows: list[tuple[str, str]], created_at: datetime | None = None) -> list[str]:
    """Stage (patient key, note) rows in order; returns their event ids."""
    ids = [str(uuid.uuid4()) for _ in rows]
    async with sessions.begin() as session:
        for event_id, (key, note) in zip(ids, rows, strict=True):
            await session.execute(insert(outbox).values(
                event_id=event_id, topic=topic, message_key=key,
                payload=json.dumps({"note": note}), created_at=created_at or utc_now()))
    return ids


async def _read(kafka: KafkaSettings, topic: str, expected: int) -> list[tuple[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, group_id=unique_group(),
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms)
    await consumer.start()
    seen: list[tuple[str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [(r.key.decode(), json.loads(r.value)["note"][:10]) for r in records]
        # nothing more arrives than expected
        for records in (await consumer.getmany(timeout_ms=1500)).values():
            seen += [(r.key.decode(), json.loads(r.value)["note"][:10]) for r in records]
    finally:
        await consumer.stop()
    return seen


async def _unpublished(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(select(outbox.c.payload).where(
            outbox.c.published_at.is_(None)).order_by(outbox.c.id))
    return [json.loads(payload)["note"][:10] for (payload,) in rows]


async def test_an_unpublishable_row_is_dead_lettered_once_and_holds_only_its_patients_later_rows(
    sessions: async_sessionmaker[AsyncSession], kafka_settings: KafkaSettings,
) -> None:
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    ids = await _stage(sessions, topic, [("pt_a", "a1"), ("pt_a", TOO_LARGE), ("pt_a", "a3"),
                                         ("pt_b", "b1")])
    broker = make_broker(kafka_settings, client_id="relay-test")
    attempts: list[str] = []

    async def publish(row: OutboxRow) -> None:
        attempts.append(row.message_id)
        await broker.publish(json.loads(row.payload), row.topic, key=row.key.encode())

    store = SqlOutboxStore(sessions, COLUMNS, dead_letters)
    relay = OutboxRelay("test", store, publish, utc_now)
    dead_before = DEAD_LETTERS.labels("test", topic)._value.get()
    await broker.connect()
    try:
        assert await relay.relay_once() == 2
        assert await relay.relay_once() == 0  # the dead row is not tried again by itself
    finally:
        await broker.stop()

    assert sorted(attempts) == sorted([ids[0], ids[1], ids[3]])
    assert attempts.index(ids[0]) < attempts.index(ids[1])
    assert ids[2] not in attempts  # held: never sent ahead of the dead-lettered row
    assert sorted(await _read(kafka_settings, topic, 2)) == [("pt_a", "a1"), ("pt_b", "b1")]
    [letter] = await store.dead_letters()
    assert (letter["message_id"], letter["message_key"]) == (ids[1], "pt_a")
    assert letter["reason"].startswith("MessageSizeTooLargeError: larger than the producer's")
    assert "xxxx" not in letter["reason"]
    assert await _unpublished(sessions) == ["x" * 10, "a3"]
    assert await store.pending_count() == 0
    assert await store.held_count() == 2
    assert DEAD_LETTERS.labels("test", topic)._value.get() == dead_before + 1


async def test_a_released_dead_letter_is_tried_again_in_its_place_before_the_rows_held_behind_it(
    sessions: async_sessionmaker[AsyncSession], kafka_settings: KafkaSettings,
) -> None:
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    ids = await _stage(sessions, topic, [("pt_a", TOO_LARGE), ("pt_a", "a2")])
    small = make_broker(kafka_settings, client_id="relay-test")  # max_request_size 1 MiB
    # the operator's fix: a producer whose limit fits the row
    large = KafkaBroker(kafka_settings.bootstrap_servers, max_request_size=4 * 1024 * 1024,
                        acks="all", logger=None)
    producer = {"now": small}
    attempts: list[str] = []

    async def publish(row: OutboxRow) -> None:
        attempts.append(row.message_id)
        await producer["now"].publish(json.loads(row.payload), row.topic, key=row.key.encode())

    store = SqlOutboxStore(sessions, COLUMNS, dead_letters)
    relay = OutboxRelay("test", store, publish, utc_now)
    await small.connect()
    await large.connect()
    try:
        assert await relay.relay_once() == 0
        assert attempts == [ids[0]]
        producer["now"] = large
        assert await store.release(ids[0], utc_now())
        assert await relay.relay_once() == 2
    finally:
        await small.stop()
        await large.stop()
    assert attempts == [ids[0], ids[0], ids[1]]
    assert await _read(kafka_settings, topic, 2) == [("pt_a", "x" * 10), ("pt_a", "a2")]
    assert await store.dead_letters() == []
    assert await store.held_count() == 0


async def test_writer_first_rows_young_rows_belong_to_their_writer_and_orphans_already_sent_are_not_resent(  # noqa: E501
    sessions: async_sessionmaker[AsyncSession], kafka_settings: KafkaSettings,
) -> None:
    topic = f"relay-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    old = datetime.now(UTC) - timedelta(minutes=1)
    orphans = await _stage(sessions, topic, [("pt_a", "o1"), ("pt_a", "o2")], created_at=old)
    young = await _stage(sessions, topic, [("pt_b", "y1")])
    broker = make_broker(kafka_settings, client_id="relay-test")
    sent: list[str] = []

    async def publish(row: OutboxRow) -> None:
        sent.append(row.message_id)
        await broker.publish(json.loads(row.payload), row.topic, key=row.key.encode())

    async def already_published(rows: object) -> set[str]:
        return {orphans[0]}  # the interrupted writer got o1 out before it died

    store = SqlOutboxStore(sessions, COLUMNS, dead_letters, lock_rows=True)
    relay = OutboxRelay("test", store, publish, utc_now,
                        RelayOptions(grace=timedelta(seconds=5),
                                     already_published=already_published))
    await broker.connect()
    try:
        assert await relay.relay_once() == 2  # o1 (already out: marked) and o2 (sent)
        assert sent == [orphans[1]]
        [row] = [OutboxRow(0, young[0], "pt_b", topic, json.dumps({"note": "y1"}))]
        assert await relay.publish_now([row]) == 1
    finally:
        await broker.stop()
    assert sent == [orphans[1], young[0]]
    assert await _unpublished(sessions) == []
