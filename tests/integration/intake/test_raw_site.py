"""The raw topic carries a site (issue 14 section 5): a message's ``trialwatch-site`` header,
allowed by ``INTAKE_RAW_SITES``, is stamped on its PatientUpdated; a site not allowed, or none
named where several are, goes to the raw dead letter with the reason and nothing is published.
On the real embedded broker, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts.events import DeadLetter
from shared.contracts.topics import INTAKE_RAW, dead_letter
from shared.settings import KafkaSettings
from tests.conftest import seek_to_end
from tests.integration.intake.harness import (
    migrate,
    running_intake,
    settings_for,
    wait_until,
    watch_patient_events,
)

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
HL7_TYPE = ("content-type", b"x-application/hl7-v2+er7")


async def test_a_raw_messages_site_header_is_stamped_when_allowed_and_dead_lettered_if_not(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    run = uuid.uuid4().hex[:10]
    sends = {  # source-system marker -> the trialwatch-site header (None: absent)
        f"raw-a-{run}": "A", f"raw-b-{run}": "B", f"raw-c-{run}": "C", f"raw-none-{run}": None}
    dlq = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers, group_id=None)
    await dlq.start()
    partitions = [TopicPartition(dead_letter(INTAKE_RAW), p)
                  for p in range(kafka_settings.partitions)]
    dlq.assign(partitions)
    await seek_to_end(dlq, partitions)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    letters: list[DeadLetter] = []
    try:
        settings = settings_for(database_url, raw_sites="A, B")
        async with watch_patient_events(kafka_settings) as seen, \
                running_intake(settings, kafka_settings):
            template = (FIXTURES / "oru_hemoglobin.hl7").read_bytes()
            for marker, site in sends.items():
                headers = [HL7_TYPE, ("source-system", marker.encode())]
                if site is not None:
                    headers.append(("trialwatch-site", site.encode()))
                await producer.send_and_wait(
                    INTAKE_RAW, template.replace(b"MSG0001", marker.encode()),
                    key=marker.encode(), headers=headers)
            refused = {f"raw-c-{run}", f"raw-none-{run}"}
            deadline = asyncio.get_running_loop().time() + 60
            while not refused <= {letter.key for letter in letters}:
                assert asyncio.get_running_loop().time() < deadline, "no dead letters"
                batch = await dlq.getmany(timeout_ms=500)
                letters += [DeadLetter.model_validate_json(r.value)
                            for records in batch.values() for r in records]
            await wait_until(lambda: {e.source for e in seen.events} >= {
                f"raw-a-{run}", f"raw-b-{run}"}, 30)
            await asyncio.sleep(1)  # anything the refused ones would wrongly publish
    finally:
        await producer.stop()
        await dlq.stop()
    stamped = {e.source: e.site for e in seen.events if e.source in sends}
    assert stamped == {f"raw-a-{run}": "A", f"raw-b-{run}": "B"}
    reasons = {letter.key: letter.reason for letter in letters if letter.key in sends}
    assert reasons == {f"raw-c-{run}": "403 site-not-allowed",
                       f"raw-none-{run}": "422 site-required"}
