"""The real inputs in ../shared/data, through the HTTP API onto the real databases:
24 Synthea bundles accepted; the 5 real HL7 v2 ORU messages accepted or refused with reasons."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from shared.contracts.topics import PATIENT_EVENTS, REIDENTIFICATIONS
from shared.infra.sql_engine import make_engine
from tests.conftest import handout_data
from tests.integration.intake.harness import (
    COORDINATOR,
    FHIR,
    HL7,
    LAB,
    api_without_broker,
    migrate,
)

pytestmark = pytest.mark.integration


async def outbox_payloads(database_url: str, topic: str | None = None) -> list[str]:
    """Every staged payload in order, or only those for ``topic``."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT topic, payload FROM intake_outbox ORDER BY id"))
            return [row.payload for row in rows if topic is None or row.topic == topic]
    finally:
        await engine.dispose()


async def test_every_synthea_bundle_is_accepted_and_its_event_carries_no_name_or_identifier(
    database_url: str,
) -> None:
    bundles = sorted(handout_data("fhir-synthea").glob("*.json"))
    assert len(bundles) == 24
    await migrate(database_url)
    identifying: list[set[str]] = []
    async with api_without_broker(database_url) as (client, _):
        for path in bundles:
            body = path.read_bytes()
            response = await client.post("/fhir", headers=LAB | FHIR, content=body)
            assert response.status_code == 202, (path.name, response.text[:500])
            receipt = response.json()
            assert len(receipt["patient_keys"]) == 1
            assert len(receipt["event_ids"]) == 1
            patient = next(e["resource"] for e in json.loads(body)["entry"]
                           if e["resource"]["resourceType"] == "Patient")
            source_ids = {patient["id"], *(i["value"] for i in patient.get("identifier", ()))}
            found = await client.post(
                f"/patients/{receipt['patient_keys'][0]}/reidentify", headers=COORDINATOR,
                json={"trial": "NCT06920433", "reason": "pre-screening call"})
            assert found.json()["source_patient_id"] in source_ids
            identifying.append({*source_ids, patient["name"][0]["family"],
                                *patient["name"][0]["given"], patient["address"][0]["line"][0]})
    payloads = await outbox_payloads(database_url, PATIENT_EVENTS)
    assert len(payloads) == 24
    for payload, secrets in zip(payloads, identifying, strict=True):
        leaked = [value for value in secrets if value in payload]
        assert leaked == []
    # each re-identification above is staged for audit's access log: who, key, reason, outcome
    # (c3b97bc), never the identifiers it revealed
    reidentifications = await outbox_payloads(database_url, REIDENTIFICATIONS)
    assert len(reidentifications) == 24
    for payload, secrets in zip(reidentifications, identifying, strict=True):
        assert [value for value in secrets if value in payload] == []


async def test_real_hl7_messages_are_accepted_or_refused_with_a_path_and_reason(
    database_url: str,
) -> None:
    messages = sorted(handout_data("hl7v2").glob("*.hl7"))
    assert len(messages) == 5
    await migrate(database_url)
    outcomes: dict[str, int] = {}
    # four of the five are sent as MSH-11 T (training, HL7 v2.5.1 table 0103): read here as a
    # test deployment reads a test feed, with INTAKE_HL7V2_PROCESSING_IDS=P,T (by default they
    # are refused at MSH.11: the test below)
    async with api_without_broker(database_url, hl7v2_processing_ids="P,T") as (client, _):
        for path in messages:
            response = await client.post("/hl7v2", headers=LAB | HL7, content=path.read_bytes())
            outcomes[path.name] = response.status_code
            assert response.status_code in (202, 422), (path.name, response.text[:500])
            if response.status_code == 422:
                problem = response.json()
                assert problem["errors"]
                assert all(e["path"].startswith(("OBX[", "PID[1].30")) and e["reason"]
                           for e in problem["errors"])
            else:
                assert len(response.json()["event_ids"]) == 1
            if path.name == "LRI_2.0-NG_CBC_Typ_Message.hl7":
                assert response.status_code == 422
                assert any("g/mL" in e["reason"] for e in response.json()["errors"])
            if path.name.startswith("LAB-ORU"):
                # PID-30 'NO' is no code of HL7 table 0136 (Y/N, v2.5.1 3.4.2.30): refused
                assert response.status_code == 422
                assert any(e["path"] == "PID[1].30" and "0136" in e["reason"]
                           for e in response.json()["errors"])
    assert outcomes["ORU-R01-RMGEAD.hl7"] == 202, outcomes
    assert sum(status == 202 for status in outcomes.values()) == 1, outcomes
    payloads = await outbox_payloads(database_url)
    assert not any("DUCK" in payload or "10006579" in payload for payload in payloads)


async def test_by_default_the_real_training_messages_are_refused_at_msh_11(
    database_url: str,
) -> None:
    """INTAKE_HL7V2_PROCESSING_IDS unset (P): the handout's T messages never reach a record."""
    folder = handout_data("hl7v2")
    training = ("LAB-ORU-1.hl7", "LAB-ORU-2.hl7", "LRI_2.0-NG_CBC_Typ_Message.hl7",
                "ORU-R01-01.hl7")  # MSH-11 T; ORU-R01-RMGEAD.hl7 is sent as P
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        for path in (folder / name for name in training):
            response = await client.post("/hl7v2", headers=LAB | HL7, content=path.read_bytes())
            assert response.status_code == 422, (path.name, response.text[:500])
            assert [e["path"] for e in response.json()["errors"]] == ["MSH.11"], path.name
    assert await outbox_payloads(database_url) == []
