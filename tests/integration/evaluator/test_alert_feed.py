"""The live alert feed starts at the end of the alerts topic, on the real broker: an alert
published before the feed is live never reaches a coordinator's stream as if it were new.

The bundled broker (Tansu 0.6.0, memory storage) answers ListOffsets "latest" with the base
offset of a partition's last record batch plus one, not with its end: when that batch holds
several alerts (an outbox backlog published at once), a consumer reset to "latest" reads the
rest of the batch. The feed used to trust it, and a coordinator's stream showed another
patient's alert of minutes ago as live (CI: test_coordinator_api, 'pk-d59ca9d5012b' delivered
instead of the patient just made eligible)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from services.evaluator.adapters.alert_stream import AlertStream, feed_from_topic
from shared.contracts.events import EligibilityAlert
from shared.contracts.topics import ALERTS
from shared.eligibility.decision import Status
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import until
from tests.unit.evaluator.fakes import TEST_TRIAL

pytestmark = pytest.mark.integration


def _alert(patient_key: str) -> EligibilityAlert:
    now = datetime.now(UTC)
    return EligibilityAlert(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="test",
        patient_key=patient_key, correlation_id=uuid.uuid4(), alert="newly-eligible",
        trial=TEST_TRIAL, decision_id=uuid.uuid4(), status=Status.ELIGIBLE)


async def test_alerts_published_before_the_feed_is_live_are_never_streamed(
    kafka_settings: KafkaSettings,
) -> None:
    key = f"pk-{uuid.uuid4().hex[:12]}"  # one key: one partition, so one record batch
    old = [_alert(key) for _ in range(3)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers,
                                acks="all", linger_ms=200)
    await producer.start()
    try:
        sent = [await producer.send(ALERTS, a.model_dump_json().encode(), key=key.encode())
                for a in old]  # queued together: sent as one batch of three records
        written = await asyncio.gather(*sent)
        assert [m.offset for m in written] == list(range(written[0].offset,
                                                         written[0].offset + 3))
        stream = AlertStream()
        received: list[EligibilityAlert] = []
        async with stream.subscribe() as queue:
            feed = asyncio.create_task(feed_from_topic(stream, kafka_settings))
            try:
                assert await until(lambda: stream.live, 30), "the feed never became live"
                new = _alert(key)
                await producer.send_and_wait(ALERTS, new.model_dump_json().encode(),
                                             key=key.encode())

                async def drain() -> None:
                    while True:
                        received.append(await queue.get())

                reader = asyncio.create_task(drain())
                assert await until(lambda: any(a.event_id == new.event_id for a in received),
                                   20), "the alert published once live was not streamed"
                await asyncio.sleep(0.5)  # anything else the feed would wrongly stream
                reader.cancel()
            finally:
                feed.cancel()
                await asyncio.gather(feed, return_exceptions=True)
    finally:
        await producer.stop()
    assert [a.event_id for a in received] == [new.event_id]
