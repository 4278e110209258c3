"""Nothing accepted is unpublishable (issue 14 item 2), on the real embedded broker: an input
whose event would pass the producer's limit (aiokafka max_request_size, 1 MiB by default) is
refused with 413 naming the patient and the limit; one just below it is accepted and published.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.integration.intake.harness import (
    FHIR,
    LAB,
    migrate,
    running_intake,
    settings_for,
    wait_until,
    watch_patient_events,
)

pytestmark = pytest.mark.integration


def history(patient: str, results: int) -> bytes:
    """A collection Bundle of ``results`` hemoglobin Observations of one patient, as a lab
    sends a backlog: one entry per result, each with its own id and time."""
    entries = [{"resource": {
        "resourceType": "Observation", "id": f"{patient}-hb-{i}", "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T08:{i % 60:02d}:00Z",
        "valueQuantity": {"value": 12.9, "unit": "g/dL", "system": "http://unitsofmeasure.org",
                          "code": "g/dL"},
    }} for i in range(results)]
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": entries}).encode()


async def outbox_rows_over(database_url: str, size: int) -> int:
    """Outbox rows whose payload is longer than ``size`` characters.

    Only this test's own submissions are that large: intake's raw-ingest consumer joins with a
    new group and may accept the small HL7 v2 messages other tests left on the shared broker's
    raw topic at any moment, so a count of every row is not this test's to assert (CI at
    cecc1ce saw 2 such rows)."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(
                text("SELECT count(*) FROM intake_outbox WHERE length(payload) > :size"),
                {"size": size}) or 0)
    finally:
        await engine.dispose()


async def test_an_event_past_the_producer_limit_is_refused_and_one_below_it_is_published(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    assert kafka_settings.max_request_size == 1_048_576  # aiokafka's default, read from settings
    async with watch_patient_events(kafka_settings) as seen, \
            running_intake(settings_for(database_url), kafka_settings) as intake:
        refused = await intake.post("/fhir", headers=LAB | FHIR, content=history("big", 1800))
        assert refused.status_code == 413, refused.text
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["type"].endswith("/event-too-large")
        [error] = problem["errors"]
        assert error["path"] == "patient[0]"
        assert "at most 1048576 bytes" in error["reason"]
        assert await outbox_rows_over(database_url, 100_000) == 0  # nothing of the refused one

        accepted = await intake.post("/fhir", headers=LAB | FHIR, content=history("near", 1400))
        assert accepted.status_code == 202, accepted.text
        [key] = accepted.json()["patient_keys"]
        await wait_until(lambda: seen.for_patients([key]), timeout_s=60)
    [event] = seen.for_patients([key])
    assert len(event.facts) == 1400
    assert len(event.model_dump_json()) > 900_000  # close to the limit, and still published
