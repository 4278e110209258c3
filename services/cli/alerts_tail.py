"""Print coordinator alerts from ``eligibility.alerts.v1`` as they arrive (for ``run``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.topics import ALERTS
from shared.settings import KafkaSettings


def format_alert(alert: dict[str, object]) -> str:
    trial = alert.get("trial") or {}
    assert isinstance(trial, dict)
    reasons = alert.get("reasons") or []
    headline = {"newly-eligible": "NEWLY ELIGIBLE", "no-longer-eligible": "NO LONGER ELIGIBLE"}
    text = (f"ALERT {headline.get(str(alert.get('alert')), alert.get('alert'))}: "
            f"patient {alert.get('patient_key')} for {trial.get('id')} v{trial.get('version')}")
    if isinstance(reasons, list) and reasons:
        first = str(reasons[0])
        text += f" ({first[:117]}...)" if len(first) > 120 else f" ({first})"
    return text


async def tail_alerts(kafka: KafkaSettings, print_line: Callable[[str], None]) -> None:
    """Every alert of this broker's life, once each, in partition order.

    No consumer group: the terminal is a reader, not a member. A group with no committed
    offsets could be rebalanced and re-read (or skip) alerts; manual assignment cannot.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await _partitions(consumer, ALERTS)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async for record in consumer:
            try:
                print_line(format_alert(json.loads(record.value or b"{}")))
            except (ValueError, AssertionError):
                print_line(f"ALERT (unreadable message at offset {record.offset})")
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, n) for n in sorted(numbers)]
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.1)
