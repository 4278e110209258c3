"""One patient, one surrogate key, on the real databases: every name a source gives a patient
leads to the same key, and a record merged away at the source is merged into its survivor."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import select

from services.intake.adapters.sql.tables import outbox
from shared.contracts.events import PatientEvent, PatientMerged, PatientUpdated
from shared.infra.sql_engine import make_engine
from tests.integration.intake.harness import (
    COORDINATOR,
    FHIR,
    HL7,
    LAB,
    api_without_broker,
    migrate,
)

pytestmark = pytest.mark.integration
LOINC = "http://loinc.org"
MRN_SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}
EVENT: TypeAdapter[PatientUpdated | PatientMerged] = TypeAdapter(PatientEvent)


def patient(pid: str, mrn: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female",
            "identifier": [{"type": MR, "system": MRN_SYSTEM, "value": mrn}]} | extra


def platelets(oid: str, subject: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation", "id": oid, "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "777-3"}]},
        "subject": subject, "effectiveDateTime": "2026-11-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L", "system": "http://unitsofmeasure.org",
                          "code": "10*9/L"},
    }


def oru(mrn: str, control_id: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|LIS|lab-system|TW|TW|20261128090000+0000||ORU^R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|||58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    ])


async def post(client: httpx.AsyncClient, body: dict[str, Any] | str) -> list[str]:
    if isinstance(body, str):
        response = await client.post("/hl7v2", headers=LAB | HL7, content=body.encode())
    else:
        response = await client.post("/fhir", headers=LAB | FHIR, content=json.dumps(body))
    assert response.status_code == 202, response.text
    keys: list[str] = response.json()["patient_keys"]
    return keys


async def events(database_url: str) -> list[PatientUpdated | PatientMerged]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(outbox.c.payload).order_by(outbox.c.id))
            return [EVENT.validate_json(row.payload) for row in rows]
    finally:
        await engine.dispose()


async def test_a_reference_posted_after_the_patient_resource_maps_to_the_same_key(
    database_url: str,
) -> None:
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        [first] = await post(client, patient("p-j1", "MRN-J1"))
        [relative] = await post(client, platelets("o1", {"reference": "Patient/p-j1"}))
        [absolute] = await post(client, platelets(
            "o2", {"reference": "https://ehr.example.org/fhir/Patient/p-j1"}))
        [logical] = await post(client, platelets(
            "o3", {"identifier": {"system": MRN_SYSTEM, "value": "MRN-J1"}}))
    assert relative == absolute == logical == first
    assert not [e for e in await events(database_url) if isinstance(e, PatientMerged)]


async def test_names_of_one_patient_first_seen_apart_are_merged_into_the_oldest_key(
    database_url: str,
) -> None:
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        [by_reference] = await post(client, platelets("o1", {"reference": "Patient/p-k"}))
        [by_mrn] = await post(client, oru("MRN-K", "MSG-1"))
        assert by_reference != by_mrn
        # the Patient resource says p-k is MRN-K: the same patient, known under two keys
        [together] = await post(client, patient("p-k", "MRN-K"))
        [later] = await post(client, oru("MRN-K", "MSG-2"))
    assert together == later == by_reference
    [merge] = [e for e in await events(database_url) if isinstance(e, PatientMerged)]
    assert (merge.patient_key, merge.merged_key, merge.reason) == (
        by_reference, by_mrn, "same-patient")


async def test_a_fhir_record_replaced_by_another_is_merged_and_its_data_follows_the_survivor(
    database_url: str,
) -> None:
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        [old] = await post(client, platelets("o1", {"reference": "Patient/p-old"}))
        [new] = await post(client, patient("p-new", "MRN-NEW"))
        replaced = patient("p-old", "MRN-OLD", active=False,
                           link=[{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}])
        await post(client, replaced)
        [late] = await post(client, platelets("o2", {"reference": "Patient/p-old"}))
    assert late == new != old
    published = await events(database_url)
    [merge] = [e for e in published if isinstance(e, PatientMerged)]
    assert (merge.patient_key, merge.merged_key, merge.reason) == (new, old, "source-merge")
    # the merged-away record "must no longer be used": its demographics are not published
    assert not [e for e in published
                if isinstance(e, PatientUpdated) and e.correlation_id == merge.correlation_id]
    text = " ".join(e.model_dump_json() for e in published)
    assert "p-old" not in text
    assert "MRN-OLD" not in text


async def test_an_hl7_a40_merge_sends_the_prior_mrns_data_to_the_surviving_patient(
    database_url: str,
) -> None:
    await migrate(database_url)
    async with api_without_broker(database_url) as (client, _):
        [old] = await post(client, oru("MRN-0007", "MSG-1"))
        [new] = await post(client, oru("MRN-0042", "MSG-2"))
        merge_message = "\r".join([
            "MSH|^~\\&|ADT|lab-system|TW|TW|20261128100000+0000||ADT^A40^ADT_A39|MSG-3|P|2.5.1",
            "EVN|A40|20261128100000+0000",
            "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F",
            "MRG|MRN-0007^^^CITY^MR",
        ])
        keys = await post(client, merge_message)
        [late] = await post(client, oru("MRN-0007", "MSG-4"))
    assert set(keys) == {new}
    assert late == new
    [merge] = [e for e in await events(database_url) if isinstance(e, PatientMerged)]
    assert (merge.patient_key, merge.merged_key) == (new, old)


async def test_with_the_sites_mrn_authority_set_an_hie_message_is_filed_under_the_sites_number(
    database_url: str,
) -> None:
    """INTAKE_MRN_ASSIGNING_AUTHORITY (shared.clinical.record_numbers): an HIE-relayed PID-3
    carrying another facility's MRN beside this site's (HL7 v2.5.1 3.4.2.3, CX-4/CX-5 MR) is
    filed under this site's number, through the real API and database; the receipt names the
    other authority, never a number. Unset, the same message is refused at PID[1].3."""
    await migrate(database_url)
    hie = oru("X-1^^^OTHER^MR~MRN-H1", "HIE-1")  # PID-3 X-1^^^OTHER^MR~MRN-H1^^^CITY^MR
    async with api_without_broker(database_url) as (client, _):
        refused = await client.post("/hl7v2", headers=LAB | HL7, content=hie.encode())
        assert refused.status_code == 422, refused.text
        assert [e["path"] for e in refused.json()["errors"]] == ["PID[1].3"]
    async with api_without_broker(database_url, mrn_assigning_authority="CITY") as (client, _):
        [own] = await post(client, oru("MRN-H1", "OWN-1"))
        response = await client.post("/hl7v2", headers=LAB | HL7, content=hie.encode())
        assert response.status_code == 202, response.text
        receipt = response.json()
        assert receipt["patient_keys"] == [own]
        [pid] = [e for e in receipt["entries"] if e["path"] == "PID[1]"]
        [note] = pid["warnings"]
        assert note in receipt["warnings"]  # the receipt's own warnings name it too
        assert note["path"] == "PID[1].3"
        assert "OTHER" in note["reason"]
        assert "X-1" not in response.text
        assert "MRN-H1" not in response.text
    assert "X-1" not in json.dumps([e.model_dump(mode="json") for e in await events(database_url)])


async def test_with_the_sites_mrn_authority_set_reidentification_names_only_the_sites_number(
    database_url: str,
) -> None:
    """Minimum necessary: a FHIR Patient relayed with another facility's MR beside this site's
    (FHIR R4 Patient.identifier, Identifier.system) is re-identified by this site's number
    only; the other stays a name references can use, never a record number shown."""
    await migrate(database_url)
    hie = {"resourceType": "Patient", "id": "p-hie", "gender": "female", "identifier": [
        {"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"},
        {"type": MR, "system": MRN_SYSTEM, "value": "MRN-HIE"}]}
    async with api_without_broker(database_url, mrn_assigning_authority=MRN_SYSTEM) as (
            client, _):
        [key] = await post(client, hie)
        found = await client.post(f"/patients/{key}/reidentify", headers=COORDINATOR,
                                  json={"trial": "NCT06920433", "reason": "pre-screening call"})
        assert found.status_code == 200, found.text
        body = found.json()
        assert body["source_patient_id"] == "MRN-HIE"
        assert [(i["system"], i["value"]) for i in body["identifiers"]] == [
            (MRN_SYSTEM, "MRN-HIE")]
        [same] = await post(client, platelets(
            "o-hie", {"identifier": {"system": "urn:oid:1.2.3", "value": "X-1"}}))
        assert same == key
