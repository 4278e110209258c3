from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts.topics import ALL_TOPICS
from shared.infra.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.conftest import unique_group

pytestmark = pytest.mark.integration


async def test_topics_are_created_with_the_configured_partitions_and_only_once(
    kafka_settings: KafkaSettings,
) -> None:
    assert await ensure_topics(kafka_settings) == []  # the fixture already created them
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(ALL_TOPICS))
    finally:
        await admin.close()
    partitions = {t["topic"]: len(t["partitions"]) for t in described}
    assert partitions == dict.fromkeys(ALL_TOPICS, kafka_settings.partitions)


async def test_a_keyed_record_round_trips_through_the_real_broker(
    kafka_settings: KafkaSettings,
) -> None:
    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"pt_1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka_settings.bootstrap_servers,
        group_id=unique_group(), auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=kafka_settings.session_timeout_ms,
        heartbeat_interval_ms=kafka_settings.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka_settings.rebalance_timeout_ms,
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"pt_1", b"hello")
