"""The messaging kit against the real broker: declared subscriptions consume, a failing handler
gets its record again (nothing is committed before the handler returns), and the raw
dead-letter topic is created with its retention."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import channels, topics
from shared.contracts.channels import DeadLetterPolicy, Subscription
from shared.infra.kafka import describe_topic_configs, ensure_topics, make_broker
from shared.infra.messaging import running, subscribe
from shared.settings import KafkaSettings
from tests.conftest import unique_group

pytestmark = pytest.mark.integration


def _subscription(topic: str, delivery: Any) -> Subscription:
    return Subscription(name=f"test consumes {topic}", topic=topic, model=bytes, service="test",
                        group=unique_group(), delivery=delivery,
                        dead_letter=DeadLetterPolicy(topics.dead_letter(topic)),
                        summary="test")


async def test_the_raw_dead_letter_topic_is_created_with_its_declared_retention(
    kafka_settings: KafkaSettings,
) -> None:
    raw = channels.INTAKE_RAW.dead_letter
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        configs = await describe_topic_configs(admin, [raw.topic])
    finally:
        await admin.close()
    assert configs[raw.topic]["retention.ms"] == str(raw.retention_ms)
    assert configs[raw.topic]["cleanup.policy"] == "delete"


async def test_a_record_whose_handler_failed_is_delivered_again_then_consumed_once(
    kafka_settings: KafkaSettings,
) -> None:
    topic = f"kit-single-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    seen: list[tuple[bytes, str | None]] = []
    done = asyncio.Event()

    async def handle(record: Any, headers: Mapping[str, str]) -> None:
        seen.append((record.value, headers.get("source-system")))
        if len(seen) == 1:
            raise ConnectionError("database away")  # transient: must come back
        done.set()

    broker = make_broker(kafka_settings, client_id="kit-test")
    subscribe(broker, kafka_settings, _subscription(topic, "single"), handle)
    async with running(broker, service="test"):
        await broker.publish(b"submission", topic, key=b"pt_1",
                             headers={"source-system": "lab-a"})
        await asyncio.wait_for(done.wait(), 30)
    assert seen == [(b"submission", "lab-a"), (b"submission", "lab-a")]


async def test_a_batch_subscription_hands_the_records_of_one_poll_in_partition_order(
    kafka_settings: KafkaSettings,
) -> None:
    topic = f"kit-batch-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    values: list[bytes] = []
    done = asyncio.Event()

    async def handle(records: tuple[Any, ...]) -> None:
        values.extend(record.value for record in records)
        if len(values) >= 5:
            done.set()

    broker = make_broker(kafka_settings, client_id="kit-test")
    subscribe(broker, kafka_settings, _subscription(topic, "batch"), handle, max_records=50,
              fetch_max_wait_ms=20)
    async with running(broker, service="test"):
        for n in range(5):
            await broker.publish(f"event {n}".encode(), topic, key=b"pt_1")
        await asyncio.wait_for(done.wait(), 30)
    assert values == [f"event {n}".encode() for n in range(5)]
