"""Orphaned outbox rows: published once, even when the writer died after publishing them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from services.evaluator.adapters.outbox import EvaluatorOutbox, OutboxMessage, stage
from shared.contracts.topics import DECISIONS
from shared.infra.clock import utc_now
from shared.infra.published_scan import PublishedScan
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import collect, migrate, until

pytestmark = pytest.mark.integration


class ProducerPublisher:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def publish(self, payload: dict[str, Any], topic: str, *, key: bytes) -> None:
        await self._producer.send_and_wait(topic, json.dumps(payload).encode(), key=key)


def _message(patient: str) -> OutboxMessage:
    message_id = str(uuid.uuid4())
    return OutboxMessage(message_id, DECISIONS, patient,
                         {"event_id": message_id, "patient_key": patient})


async def test_the_relay_skips_orphans_their_dead_writer_published_and_sends_the_others(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    published_before_crash, never_published = _message(patient), _message(patient)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        async with collect(kafka_settings, [patient]) as seen:
            async with sessions.begin() as session:
                await stage(session, [published_before_crash, never_published],
                            datetime.now(UTC) - timedelta(seconds=10))
            publisher = ProducerPublisher(producer)
            await publisher.publish(published_before_crash.payload, DECISIONS,
                                    key=patient.encode())
            sender = EvaluatorOutbox(sessions, publisher, utc_now,
                                     already_published=PublishedScan(kafka_settings))
            assert await sender.relay.relay_once() == 2  # one marked (already out), one sent
            assert await until(lambda: len(seen.raw) >= 2, 10)
            await until(lambda: False, 1.5)
            ids = [m["event_id"] for m in seen.raw]
        assert await sender.store.pending_count() == 0
    finally:
        await producer.stop()
        await engine.dispose()

    assert sorted(ids) == sorted([published_before_crash.message_id,
                                  never_published.message_id])

