"""Intake on the real broker and real databases: POST -> outbox -> relay -> patient.events.v1."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text

from shared.clinical.ids import fact_id
from shared.contracts.events import DeadLetter
from shared.contracts.topics import INTAKE_RAW, dead_letter
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import seek_to_end
from tests.integration.intake.harness import (
    COORDINATOR,
    FHIR,
    HL7,
    LAB,
    migrate,
    running_intake,
    settings_for,
    wait_until,
    watch_patient_events,
)

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"


async def test_a_posted_observation_is_published_once_keyed_by_its_surrogate_key(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    body = (FIXTURES / "observation_hemoglobin.json").read_bytes()
    async with watch_patient_events(kafka_settings) as seen, \
            running_intake(settings_for(database_url), kafka_settings) as intake:
        response = await intake.post("/fhir", headers=LAB | FHIR, content=body)
        assert response.status_code == 202
        receipt = response.json()
        await wait_until(lambda: seen.for_patients(receipt["patient_keys"]))
        again = await intake.post("/fhir", headers=LAB | FHIR, content=body)
        assert again.json() == receipt
        await asyncio.sleep(0.5)
    [event] = seen.for_patients(receipt["patient_keys"])
    assert str(event.event_id) == receipt["event_ids"][0]
    assert seen.keys[seen.events.index(event)] == receipt["patient_keys"][0].encode()
    assert "example-1" not in event.model_dump_json()


async def test_the_outbox_row_is_marked_published_after_the_broker_acknowledged(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        response = await intake.post("/hl7v2", headers=LAB | HL7,
                                     content=(FIXTURES / "oru_hemoglobin.hl7").read_bytes())
        assert response.status_code == 202
        engine = make_engine(database_url)
        try:
            async def published() -> bool:
                async with engine.connect() as connection:
                    pending = await connection.scalar(text(
                        "SELECT count(*) FROM intake_outbox WHERE published_at IS NULL"))
                    return pending == 0

            for _ in range(200):
                if await published():
                    break
                await asyncio.sleep(0.05)
            assert await published()
        finally:
            await engine.dispose()
        ready = await intake.get("/readyz")
        assert ready.json() == {"ready": True, "checks": {
            "database": "ok", "database-writes": "ok", "broker": "ok"}}


async def test_reidentification_is_logged_and_the_log_is_append_only(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        posted = await intake.post("/fhir", headers=LAB | FHIR,
                                   content=(FIXTURES / "bundle_lupus_history.json").read_bytes())
        key = posted.json()["patient_keys"][0]
        found = await intake.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                  json={"trial": "NCT06920433", "reason": "pre-screening call"})
        assert found.json()["source_patient_id"] == "MRN-LUPUS-7"
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT patient_key, client, trial, found FROM intake_reidentifications"))).all()
            assert [tuple(r) for r in rows] == [
                (key, "coordinator-client", "NCT06920433", True)]
        with pytest.raises(Exception, match="append-only"):
            async with engine.begin() as connection:
                await connection.execute(text("DELETE FROM intake_reidentifications"))
    finally:
        await engine.dispose()


async def test_reidentification_names_the_identifier_system_as_received(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """FHIR R4 Identifier.system is the namespace of Identifier.value (its assigning
    authority's URI): re-identification returns it exactly as sent with the identifier, and
    every other identifier with its own system; a value sent without a system has none."""
    await migrate(database_url)
    patient = {"resourceType": "Patient", "id": "sys-7", "gender": "female",
               "birthDate": "1990-02-01", "identifier": [
                   {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                         "code": "MR"}]},
                    "system": "urn:oid:1.2.250.1.71.4.2.7", "value": "MRN-SYS-7",
                    "assigner": {"display": "CHU Exemple"}},
                   {"system": "https://ins.example.fr/nir", "value": "2900299123456"}]}
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        posted = await intake.post("/fhir", headers=LAB | FHIR, content=json.dumps(patient))
        assert posted.status_code == 202, posted.text
        key = posted.json()["patient_keys"][0]
        found = (await intake.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                   json={"trial": "NCT06920433", "reason": "pre-screening"}))
        body = found.json()
        assert body["source_patient_id"] == "MRN-SYS-7"
        assert body["identifier_system"] == "urn:oid:1.2.250.1.71.4.2.7"
        # minimum necessary: the medical record number only, never the national number
        assert {(i["system"], i["value"]) for i in body["identifiers"]} == {
            ("urn:oid:1.2.250.1.71.4.2.7", "MRN-SYS-7")}

        bare = {"resourceType": "Patient", "id": "bare-7", "gender": "male",
                "identifier": [{"type": patient["identifier"][0]["type"],  # type: ignore[index]
                                "value": "MRN-BARE-7"}]}
        posted = await intake.post("/fhir", headers=LAB | FHIR, content=json.dumps(bare))
        key = posted.json()["patient_keys"][0]
        body = (await intake.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                  json={"trial": "NCT06920433", "reason": "pre-screening"})).json()
        assert body["source_patient_id"] == "MRN-BARE-7"
        assert body["identifier_system"] is None, "no system was sent: none is claimed"
        assert body["identifiers"] == []


async def test_reidentification_names_the_hl7_v2_assigning_authority_as_the_system(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """HL7 v2.5.1 PID-3 is CX; CX-4 (assigning authority, HD 2.A.33) with an ISO universal id is
    the identifier's namespace, returned as ``urn:oid:<id>`` as a FHIR Identifier.system is."""
    await migrate(database_url)
    message = "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|CX4-1|P|2.5.1",
        "PID|1||MRN-CX4-7^^^CHU&1.2.250.1.71.4.2.7&ISO^MR||Roe^Jane||19900412|F",
        "OBR|1|ORD-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128073000+0000",
    ]) + "\r"
    hl7 = {"Content-Type": "x-application/hl7-v2+er7"}
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        posted = await intake.post("/hl7v2", headers=LAB | hl7, content=message.encode())
        assert posted.status_code == 202, posted.text
        key = posted.json()["patient_keys"][0]
        body = (await intake.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                  json={"trial": "NCT06920433", "reason": "pre-screening"})).json()
        assert body["source_patient_id"] == "MRN-CX4-7"
        assert body["identifier_system"] == "urn:oid:1.2.250.1.71.4.2.7"
        assert body["identifiers"] == [
            {"system": "urn:oid:1.2.250.1.71.4.2.7", "value": "MRN-CX4-7"}]


def _typed(code: str, system: str, value: str) -> dict[str, object]:
    return {"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                 "code": code}]}, "system": system, "value": value}


async def test_reidentifying_a_synthea_patient_names_its_record_number_issuer_and_nothing_else(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """A Synthea Patient sends its UUID twice (under the Synthea system and, typed MR, under
    the hospital's) and SS, DL and PPN identifiers. Re-identification answers with the MR-typed
    identifier's system (FHIR R4 Identifier.system) and only that identifier: a coordinator
    finds the patient in the EHR by the record number; the SSN, driver's licence and passport
    numbers are never revealed (minimum necessary)."""
    await migrate(database_url)
    uuid = "42ba9929-3ab7-44fd-8f64-401c936fd769"
    patient = {"resourceType": "Patient", "id": "39cc9d76-synthea", "gender": "male",
               "birthDate": "1961-05-04", "identifier": [
                   {"system": "https://github.com/synthetichealth/synthea", "value": uuid},
                   _typed("MR", "http://hospital.smarthealthit.org", uuid),
                   _typed("SS", "http://hl7.org/fhir/sid/us-ssn", "999-12-8616"),
                   _typed("DL", "urn:oid:2.16.840.1.113883.4.3.25", "S99916156"),
                   _typed("PPN", "http://standardhealthrecord.org/fhir/StructureDefinition/"
                                 "passportNumber", "X70808941X")]}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:39cc9d76-synthea", "resource": patient,
         "request": {"method": "POST", "url": "Patient"}}]}
    async with running_intake(settings_for(database_url), kafka_settings) as intake:
        posted = await intake.post("/fhir", headers=LAB | FHIR, content=json.dumps(bundle))
        assert posted.status_code == 202, posted.text
        key = posted.json()["patient_keys"][0]
        found = await intake.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                  json={"trial": "NCT06920433", "reason": "pre-screening"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["source_patient_id"] == uuid
        assert body["identifier_system"] == "http://hospital.smarthealthit.org"
        assert [(i["system"], i["value"]) for i in body["identifiers"]] == [
            ("http://hospital.smarthealthit.org", uuid)]
        for secret in ("999-12-8616", "S99916156", "X70808941X"):
            assert secret not in found.text


async def test_raw_topic_messages_are_accepted_like_posts_and_refusals_dead_lettered(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    marker = f"raw-{id(database_url)}-{asyncio.get_running_loop().time()}"
    dlq = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers, group_id=None)
    await dlq.start()
    dlq_partitions = [TopicPartition(dead_letter(INTAKE_RAW), p)
                      for p in range(kafka_settings.partitions)]
    dlq.assign(dlq_partitions)
    await seek_to_end(dlq, dlq_partitions)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        async with watch_patient_events(kafka_settings) as seen, \
                running_intake(settings_for(database_url), kafka_settings):
            good = (FIXTURES / "oru_hemoglobin.hl7").read_bytes().replace(
                b"MSG0001", marker.encode())
            await producer.send_and_wait(INTAKE_RAW, good, key=marker.encode(), headers=[
                ("content-type", b"x-application/hl7-v2+er7"), ("source-system", marker.encode())])
            await producer.send_and_wait(INTAKE_RAW, b"{not json", key=marker.encode(),
                                         headers=[("content-type", b"application/json")])
            await wait_until(lambda: any(e.source == marker for e in seen.events), 30)
            letters: list[DeadLetter] = []
            deadline = asyncio.get_running_loop().time() + 30
            while not any(letter.key == marker for letter in letters):
                assert asyncio.get_running_loop().time() < deadline, "no dead letter"
                batch = await dlq.getmany(timeout_ms=500)
                letters += [DeadLetter.model_validate_json(r.value)
                            for records in batch.values() for r in records]
    finally:
        await producer.stop()
        await dlq.stop()
    [letter] = [letter for letter in letters if letter.key == marker]
    assert letter.reason.startswith("400")
    assert letter.payload == "{not json"
    assert json.loads(letter.model_dump_json())["service"] == "intake"


async def test_a_raw_message_in_a_charset_that_is_no_text_encoding_is_dead_lettered_not_retried(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    """Issue 14 section 2: ``charset=base64`` gave a 500 over HTTP and, on the raw topic, was
    taken for a transient failure: its partition was retried for ever. On the real broker: a
    record naming a charset that is no text encoding (RFC 2046 4.1.2: the charset of a text
    media type is a character set) is dead-lettered 415 at once, and the record behind it on
    the same partition (same key) is read and published."""
    await migrate(database_url)
    marker = f"charset-{id(database_url)}-{asyncio.get_running_loop().time()}"
    dlq = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers, group_id=None)
    await dlq.start()
    dlq_partitions = [TopicPartition(dead_letter(INTAKE_RAW), p)
                      for p in range(kafka_settings.partitions)]
    dlq.assign(dlq_partitions)
    await seek_to_end(dlq, dlq_partitions)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        async with watch_patient_events(kafka_settings) as seen, \
                running_intake(settings_for(database_url), kafka_settings):
            await producer.send_and_wait(
                INTAKE_RAW, (FIXTURES / "observation_hemoglobin.json").read_bytes(),
                key=marker.encode(), headers=[
                    ("content-type", b"application/fhir+json; charset=base64"),
                    ("source-system", marker.encode())])
            behind = (FIXTURES / "oru_hemoglobin.hl7").read_bytes().replace(
                b"MSG0001", marker.encode())
            await producer.send_and_wait(INTAKE_RAW, behind, key=marker.encode(), headers=[
                ("content-type", b"x-application/hl7-v2+er7"), ("source-system", marker.encode())])
            await wait_until(lambda: any(e.source == marker for e in seen.events), 60)
            letters: list[DeadLetter] = []
            deadline = asyncio.get_running_loop().time() + 30
            while not any(letter.key == marker for letter in letters):
                assert asyncio.get_running_loop().time() < deadline, "no dead letter"
                batch = await dlq.getmany(timeout_ms=500)
                letters += [DeadLetter.model_validate_json(r.value)
                            for records in batch.values() for r in records]
    finally:
        await producer.stop()
        await dlq.stop()
    [letter] = [letter for letter in letters if letter.key == marker]
    assert letter.reason.startswith("415"), letter.reason


async def test_a_batch_with_a_refused_entry_publishes_the_rest_and_its_receipt_is_kept_whole(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    bundle = json.loads((FIXTURES / "bundle_patient_observation.json").read_text("utf-8"))
    bundle["type"] = "batch"
    bad = json.loads(json.dumps(bundle["entry"][1]))
    bad["fullUrl"] = "urn:uuid:6f1c4a7e-0000-4000-8000-0000000000ff"
    bad["resource"]["id"] = "hb-bad"
    bad["resource"]["valueQuantity"].update(unit="g/mL", code="g/mL")
    text_value = json.loads(json.dumps(bundle["entry"][1]))
    text_value["fullUrl"] = "urn:uuid:6f1c4a7e-0000-4000-8000-0000000000fe"
    text_value["resource"]["id"] = "plt-text"
    text_value["resource"]["code"] = {"coding": [{"system": "http://loinc.org", "code": "777-3"}]}
    del text_value["resource"]["valueQuantity"]
    text_value["resource"]["valueString"] = "<<10"
    bundle["entry"] += [bad, text_value]
    async with watch_patient_events(kafka_settings) as seen, \
            running_intake(settings_for(database_url), kafka_settings) as intake:
        response = await intake.post("/fhir", headers=LAB | FHIR, content=json.dumps(bundle))
        assert response.status_code == 202, response.text
        receipt = response.json()
        assert [e["outcome"] for e in receipt["entries"]] == [
            "accepted", "accepted", "refused", "accepted"]
        assert receipt["warnings"] == [{"path": "Bundle.entry[3].resource.valueString",
                                        "reason": "value '<<10' is not a number"}]
        stored = await intake.get(f"/receipts/{receipt['receipt_id']}", headers=LAB)
        assert stored.json() == receipt
        await wait_until(lambda: seen.for_patients(receipt["patient_keys"]))
    [event] = seen.for_patients(receipt["patient_keys"])
    facts = {fact.provenance.resource: fact for fact in event.facts}
    # the sender's resource ids do not leave intake: each is named by its hash (issue 14)
    sender = event.facts[0].provenance.source_system
    hidden = {name: "Observation/" + fact_id(sender, name)
              for name in ("Observation/hb-1", "Observation/plt-text")}
    assert set(facts) == set(hidden.values())
    unread = facts[hidden["Observation/plt-text"]].unread
    assert unread is not None
    assert unread.reason == "value [value not quoted] is not a number", "issue 14: no excerpt"
