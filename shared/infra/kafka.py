"""Broker construction and topic administration, identical for Tansu and Apache Kafka."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from shared.contracts.topics import ALL_TOPICS
from shared.settings import KafkaSettings


def make_broker(settings: KafkaSettings, client_id: str) -> KafkaBroker:
    # acks="all": a publish returns only once the record is durable on the broker.
    return KafkaBroker(
        settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        request_timeout_ms=settings.request_timeout_ms,
        allow_auto_create_topics=False,
        graceful_timeout=10.0,
        logger=None,
    )


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet, with the configured partition count.

    Idempotent: running it again (or from several processes at once) creates nothing twice.
    Returns the names it created.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t not in existing]
        if not wanted:
            return []
        new = [NewTopic(t, settings.partitions, settings.replication_factor) for t in wanted]
        # Created concurrently by another process: that is the goal, not an error.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        return wanted
    finally:
        await admin.close()
