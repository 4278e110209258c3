from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.core.accept import Submission, accept
from services.intake.core.media import MediaType
from services.intake.core.refusals import InvalidClinicalInput
from shared.contracts.events import PatientMerged, PatientUpdated
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

FHIR = MediaType("fhir-r4", "utf-8")
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def clock() -> Any:
    return NOW


def submit(resource: dict[str, Any]) -> Submission:
    return Submission(body=json.dumps(resource).encode(), media=FHIR, client="ehr",
                      received_at=NOW)


def patient(pid: str, mrn: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": "female",
            "identifier": [{"type": MR, "system": "urn:mrn", "value": mrn}]} | extra


def platelets(oid: str, reference: str) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "subject": {"reference": reference}, "effectiveDateTime": "2026-11-28T09:00:00Z",
            "valueQuantity": {"value": 180, "system": "http://unitsofmeasure.org",
                              "code": "10*9/L"}}


async def keys(uow: FakeUnitOfWork, resource: dict[str, Any]) -> tuple[str, ...]:
    return (await accept(submit(resource), uow, clock)).receipt.patient_keys


async def test_a_reference_after_the_patient_resource_is_keyed_like_the_patient() -> None:
    uow = FakeUnitOfWork()
    first = await accept(submit(patient("p-j1", "MRN-J1")), uow, clock)
    later = await accept(submit(platelets("o1", "Patient/p-j1")), uow, clock)
    assert later.receipt.patient_keys == first.receipt.patient_keys
    assert all(isinstance(event, PatientUpdated) for _, event in uow.committed.outbox)


async def test_a_replaced_record_is_merged_and_published_before_any_other_event() -> None:
    uow = FakeUnitOfWork()
    [old] = await keys(uow, platelets("o1", "Patient/p-old"))
    [new] = await keys(uow, patient("p-new", "MRN-N"))
    link = [{"type": "replaced-by", "other": {"reference": "Patient/p-new"}}]
    result = await accept(submit(patient("p-old", "MRN-O", active=False, link=link)), uow, clock)
    [(_, merge)] = uow.committed.outbox[2:]
    assert isinstance(merge, PatientMerged)
    assert (merge.patient_key, merge.merged_key, merge.reason) == (new, old, "source-merge")
    assert result.receipt.event_ids == (merge.event_id,)
    again = await accept(submit(platelets("o2", "Patient/p-old")), uow, clock)
    assert again.receipt.patient_keys == (new,)


async def test_the_receipt_says_a_unit_was_read_through_the_alias_table() -> None:
    uow = FakeUnitOfWork()
    observation = platelets("o-k", "Patient/p-k")
    observation["valueQuantity"] = {"value": 12, "unit": "K/uL"}
    result = await accept(submit(observation), uow, clock)
    [warning] = [w for w in result.receipt.warnings if w.path.endswith("valueQuantity.unit")]
    assert "'K/uL' is not UCUM; read as '10*3/uL' through the unit alias table" in warning.reason


async def test_an_hl7_receipt_says_a_unit_was_read_through_the_alias_table() -> None:
    message = "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01|MSG-K|P|2.5.1",
        "PID|1||MRN-K^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1||F-1|58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||12|K/uL|150-400|LL|||F|||20261128080000+0000",
    ])
    submission = Submission(body=message.encode(), media=MediaType("hl7v2", "utf-8"),
                            client="lab", received_at=NOW)
    result = await accept(submission, FakeUnitOfWork(), clock)
    assert any(w.path == "OBX[1].6" and "'K/uL' is not UCUM" in w.reason
               for w in result.receipt.warnings), result.receipt.warnings


# docs/intake.md: a FHIR Patient is keyed by its identifier typed MR (FHIR R4
# Patient.identifier, Identifier.type from HL7 v2 table 0203 "MR") or else Patient.id. A
# Patient with an untyped identifier and no id has neither: it is refused at its own FHIR path,
# saying which, not at an internal "patient[0]" with "no patient identifier".
async def test_a_patient_with_only_an_untyped_identifier_is_refused_at_its_fhir_path() -> None:
    untyped = {"resourceType": "Patient",
               "identifier": [{"system": "urn:trialwatch:demo:mrn", "value": "demo-1"}]}
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0d1f0d6e-5b3c-4a8e-9a43-2f7a3f1f1a01", "resource": untyped},
        {"fullUrl": "urn:uuid:0d1f0d6e-5b3c-4a8e-9a43-2f7a3f1f1a02",
         "resource": platelets("o1", "urn:uuid:0d1f0d6e-5b3c-4a8e-9a43-2f7a3f1f1a01")}]}
    with pytest.raises(InvalidClinicalInput) as caught:
        await accept(submit(bundle), FakeUnitOfWork(), clock)
    found = [(p.path, p.reason) for p in caught.value.problems]
    assert found[0] == ("Bundle.entry[0].resource.identifier", (
        "no identifier typed MR (Identifier.type, HL7 v2 table 0203) and no Patient.id:"
        " TrialWatch keys a Patient by its medical record number, else its id (docs/intake.md),"
        " so its facts cannot be attributed")), found
    assert [p for p, _ in found[1:]] == ["Bundle.entry[1].resource.subject.reference"], found
