"""Concurrent submissions on the real databases: one receipt per content, one key per patient."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.infra.sql_engine import make_engine
from tests.integration.intake.harness import FHIR, LAB, api_without_broker, migrate

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"


def observation(patient: str, n: int) -> bytes:
    resource = json.loads((FIXTURES / "observation_hemoglobin.json").read_text())
    resource["id"] = f"concurrent-{n}"
    resource["subject"]["reference"] = f"Patient/{patient}"
    return json.dumps(resource).encode()


async def count(database_url: str, table: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)
    finally:
        await engine.dispose()


async def test_the_same_submission_sent_concurrently_gets_one_receipt_and_one_event(
    database_url: str,
) -> None:
    await migrate(database_url)
    body = observation("same-1", 1)
    async with api_without_broker(database_url) as (client, _):
        responses = await asyncio.gather(*(
            client.post("/fhir", headers=LAB | FHIR, content=body) for _ in range(12)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["receipt_id"] for r in responses}) == 1
    assert await count(database_url, "intake_outbox") == 1


async def test_a_new_patient_posted_concurrently_gets_exactly_one_surrogate_key(
    database_url: str,
) -> None:
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        responses = await asyncio.gather(*(
            client.post("/fhir", headers=LAB | FHIR, content=observation("new-1", n))
            for n in range(12)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["patient_keys"][0] for r in responses}) == 1
    assert await count(database_url, "intake_patients") == 1
    assert await count(database_url, "intake_outbox") == 12


def two_patient_bundle(first: str, second: str, n: int) -> bytes:
    entries = []
    for patient in (first, second):
        url = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, patient)}"
        entries.append({"fullUrl": url, "resource": {"resourceType": "Patient", "id": patient}})
        resource = json.loads(observation(patient, n))
        resource["id"] = f"pair-{patient}-{n}"
        resource["subject"] = {"reference": url}
        entries.append({"fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, resource['id'])}",
                        "resource": resource})
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}).encode()


async def test_bundles_naming_the_same_patients_in_opposite_orders_do_not_deadlock(
    database_url: str,
) -> None:
    await migrate(database_url)
    bodies = [two_patient_bundle("pair-a", "pair-b", n) if n % 2 else
              two_patient_bundle("pair-b", "pair-a", n) for n in range(16)]
    async with api_without_broker(database_url) as (client, _):
        responses = await asyncio.gather(*(
            client.post("/fhir", headers=LAB | FHIR, content=body) for body in bodies))
    assert [r.status_code for r in responses] == [202] * 16
    assert await count(database_url, "intake_patients") == 2
    assert await count(database_url, "intake_outbox") == 32
