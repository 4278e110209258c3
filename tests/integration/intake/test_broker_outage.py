"""The outbox in action: with the broker stopped, intake keeps accepting; when a broker returns
on the same address, every accepted update is published exactly once, in per-patient order.

The returning broker is a new, empty in-memory Tansu on the same port, so every event found
on it after the outage was published by the relay after the outage: counting by event id on
that broker is an honest count (nothing can be inherited from before the stop).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.events import PatientUpdated
from shared.contracts.topics import PATIENT_EVENTS
from shared.infra.embedded_broker import EmbeddedBroker
from shared.infra.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.integration.intake.harness import FHIR, LAB, migrate, running_intake, settings_for

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
PATIENTS = 10
UPDATES_PER_PATIENT = 10


def observation(patient: int, sequence: int) -> bytes:
    resource = copy.deepcopy(json.loads((FIXTURES / "observation_hemoglobin.json").read_text()))
    resource["id"] = f"hb-{patient}-{sequence}"
    resource["subject"]["reference"] = f"Patient/outage-{patient}"
    resource["effectiveDateTime"] = f"2026-11-{1 + sequence:02d}T08:00:00Z"
    resource["valueQuantity"]["value"] = 10 + sequence / 10
    return json.dumps(resource).encode()


async def start_broker(broker: EmbeddedBroker, kafka: KafkaSettings) -> None:
    await asyncio.to_thread(broker.start)
    await ensure_topics(kafka)


async def events_on(kafka: KafkaSettings, expected: int, timeout_s: float) -> list[PatientUpdated]:
    """Everything on the patient topic, read from the beginning until ``expected`` are seen
    and then a little longer, so a duplicate published late is still counted."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(PATIENT_EVENTS, p)
                      for p in sorted(consumer.partitions_for_topic(PATIENT_EVENTS) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        events: list[PatientUpdated] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        settle_until: float | None = None
        while loop.time() < (settle_until or deadline):
            batch = await consumer.getmany(timeout_ms=200)
            events += [PatientUpdated.model_validate_json(record.value)
                       for records in batch.values() for record in records]
            if settle_until is None and len(events) >= expected:
                settle_until = loop.time() + 2.0
        return events
    finally:
        await consumer.stop()


async def test_updates_accepted_while_the_broker_is_down_are_published_once_in_order_after(
    database_url: str,
) -> None:
    await migrate(database_url)
    broker = EmbeddedBroker()
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=3000)
    await start_broker(broker, kafka)
    settings = settings_for(database_url, relay_max_backoff_s=0.5)
    try:
        async with running_intake(settings, kafka) as intake:
            await asyncio.to_thread(broker.stop)
            receipts = []
            for sequence in range(UPDATES_PER_PATIENT):
                for patient in range(PATIENTS):
                    response = await intake.post("/fhir", headers=LAB | FHIR,
                                                 content=observation(patient, sequence))
                    assert response.status_code == 202, response.text
                    receipts.append(response.json())
            ready = await intake.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["broker"].startswith("failing")

            returned = EmbeddedBroker(port=broker.port)
            broker = returned
            await start_broker(returned, kafka)
            events = await events_on(kafka, expected=PATIENTS * UPDATES_PER_PATIENT,
                                     timeout_s=90)
    finally:
        await asyncio.to_thread(broker.stop)

    accepted = [event_id for receipt in receipts for event_id in receipt["event_ids"]]
    assert len(accepted) == len(set(accepted)) == PATIENTS * UPDATES_PER_PATIENT
    published = Counter(str(event.event_id) for event in events)
    assert set(published) == set(accepted)
    assert set(published.values()) == {1}, "an event was published more than once"

    accepted_order: dict[str, list[str]] = defaultdict(list)
    for receipt in receipts:
        accepted_order[receipt["patient_keys"][0]] += receipt["event_ids"]
    published_order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        published_order[event.patient_key].append(str(event.event_id))
    assert published_order == accepted_order


async def test_intake_started_without_a_broker_accepts_and_publishes_once_one_appears(
    database_url: str,
) -> None:
    await migrate(database_url)
    broker = EmbeddedBroker()  # its port is chosen, nothing listens on it yet
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=3000)
    settings = settings_for(database_url, relay_max_backoff_s=0.5)
    try:
        async with running_intake(settings, kafka) as intake:
            response = await intake.post("/fhir", headers=LAB | FHIR,
                                         content=observation(patient=99, sequence=1))
            assert response.status_code == 202
            assert (await intake.get("/readyz")).status_code == 503
            await start_broker(broker, kafka)
            events = await events_on(kafka, expected=1, timeout_s=60)
            assert [str(e.event_id) for e in events] == response.json()["event_ids"]
    finally:
        await asyncio.to_thread(broker.stop)
