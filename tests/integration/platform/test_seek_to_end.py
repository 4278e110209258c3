"""The tests' ``seek_to_end`` positions a consumer at the real end of a partition of the real
broker: the bundled Tansu 0.6.0 answers ListOffsets "latest" with the base offset of the last
record batch plus one, so a consumer positioned by aiokafka's ``seek_to_end`` alone read the
rest of a batch of several records as new (another test's records, on session-wide topics)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts.topics import ALERTS
from shared.settings import KafkaSettings
from tests.conftest import seek_to_end

pytestmark = pytest.mark.integration


async def test_a_consumer_at_the_end_reads_only_what_is_published_after(
    kafka_settings: KafkaSettings,
) -> None:
    key = uuid.uuid4().hex.encode()  # one key, one partition: the three old records one batch
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers,
                                acks="all", linger_ms=200)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers,
                                group_id=None, enable_auto_commit=False)
    await producer.start()
    await consumer.start()
    try:
        sent = [await producer.send(ALERTS, b"old %d" % i, key=key) for i in range(3)]
        written = await asyncio.gather(*sent)
        partition = TopicPartition(ALERTS, written[0].partition)
        consumer.assign([partition])
        ends = await seek_to_end(consumer, [partition])
        assert ends[partition] == written[-1].offset + 1
        await producer.send_and_wait(ALERTS, b"new", key=key)
        read: list[bytes] = []
        async with asyncio.timeout(20):
            while not read:
                batches = await consumer.getmany(partition, timeout_ms=500)
                read += [r.value for r in batches.get(partition, [])]
    finally:
        await consumer.stop()
        await producer.stop()
    assert read == [b"new"]
