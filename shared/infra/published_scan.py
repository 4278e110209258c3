"""Which orphaned outbox rows are already on their topic (the outbox relay's
``already_published`` check in writer-first mode, ``shared.infra.outbox``).

A process that dies after publishing a batch but before marking its rows published leaves
rows that look unpublished. Before anyone publishes such an orphan, this reads its topics from
shortly before the row was written up to the current end, and reports the ids already there,
so a crash does not put the same decision on the wire twice. Only ids actually read from the
topic are reported: a scan that cannot finish raises (and the caller retries), it never
guesses "published".
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.infra.outbox import OutboxRow
from shared.settings import KafkaSettings

# Covers clock differences between the writer that stamped the row and the broker.
MARGIN = timedelta(seconds=30)


class PublishedScan:
    """``await scan(rows)``: the ids of ``rows`` found on their topics (rows carry the event id
    as ``event_id`` in their JSON value and their key as the record key). Raises when the scan
    cannot finish within ``timeout_s``; an empty set when a row's staging time is unknown."""

    def __init__(self, kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
        self._kafka = kafka
        self._timeout_s = timeout_s

    async def __call__(self, messages: Sequence[OutboxRow]) -> set[str]:
        stamped = [m.created_at for m in messages if m.created_at is not None]
        if not messages or len(stamped) < len(messages):
            return set()
        since_ms = int((min(stamped) - MARGIN).timestamp() * 1000)
        wanted = {m.message_id for m in messages}
        keys = {m.key.encode() for m in messages}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._kafka.bootstrap_servers, group_id=None,
            enable_auto_commit=False, fetch_max_wait_ms=20,
            request_timeout_ms=self._kafka.request_timeout_ms,
        )
        await consumer.start()
        try:
            async with asyncio.timeout(self._timeout_s):
                return await self._scan(consumer, {m.topic for m in messages}, since_ms,
                                        keys, wanted)
        finally:
            await consumer.stop()

    @staticmethod
    async def _scan(
        consumer: AIOKafkaConsumer, topics: set[str], since_ms: int, keys: set[bytes],
        wanted: set[str],
    ) -> set[str]:
        await consumer.topics()  # refreshes metadata, so partitions are known
        partitions = [TopicPartition(topic, p) for topic in sorted(topics)
                      for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        starts = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        remaining: dict[TopicPartition, int] = {}
        for tp in partitions:
            start = starts.get(tp)
            if start is not None and start.offset < ends[tp]:
                consumer.seek(tp, start.offset)
                remaining[tp] = ends[tp]
        found: set[str] = set()
        while remaining:
            batches = await consumer.getmany(*remaining, timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.key in keys and record.value:
                        event_id = json.loads(record.value).get("event_id")
                        if event_id in wanted:
                            found.add(event_id)
            for tp, end in list(remaining.items()):
                if await consumer.position(tp) >= end:
                    del remaining[tp]
        return found
