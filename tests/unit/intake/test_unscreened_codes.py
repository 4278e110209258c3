"""The 202 receipt names each result, condition or medication no active trial's criteria read.

A lab sends ``PLT^Platelets^L`` (HL7 v2.5.1 2A.3.13 CWE; table 0396 ``L``: a local coding
system) or a FHIR R4 Observation coded only in its own CodeSystem: it is accepted and
published, but no criterion reads it, so an older LOINC-coded result decides in its place.
Before, the receipt said nothing about it (its warnings were empty); now it says, at the
element that codes it (``OBX[2].3``, ``Bundle.entry[1].resource.code``), that the fact is not
screened by any criterion and how to have it read (the site code crosswalk,
``CLINICAL_LOCAL_CODES_FILE``). Intake's core on fakes (a fake ``ScreenedCodes``), the real
adapter on the shipped trials, and the HTTP app on fakes.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.trial_codes import TrialFileCodes
from services.intake.core.accept import Submission, accept
from services.intake.core.media import MediaType
from services.intake.core.receipts import Note
from shared.clinical.facts import ClinicalFact, Coding, FactKind, ReadingNote
from shared.infra.auth import Principal, Role, TokenRegistry
from shared.settings import IntakeSettings
from tests.unit.intake.conftest import NOW
from tests.unit.intake.fakes import FakeUnitOfWork

FHIR = MediaType("fhir-r4", "utf-8")
HL7 = MediaType("hl7v2", "utf-8")
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LAB_CODES = "https://lab.example-hospital.org/fhir/CodeSystem/result-codes"
MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


class FakeScreenedCodes:
    """Reads LOINC 777-3 (platelets), SNOMED CT 84114007 (heart failure), RxNorm 5640."""

    READ = frozenset({(LOINC, "777-3"), (SNOMED, "84114007"), (RXNORM, "5640")})

    def reads(self, kind: FactKind, codes: tuple[Coding, ...]) -> bool:
        return any((c.system, c.code) in self.READ for c in codes)

    def drugs_disagree(self, fact: ClinicalFact) -> ReadingNote | None:
        return None  # no medication here names two drugs (see test_drug_codings_receipt.py)


def _oru() -> bytes:
    return "\r".join([
        "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01|M-9|P|2.5.1",
        "PID|1||MRN-9^^^CITY^MR||Roe^Jane||19900412|F",
        "OBR|1|ORD-9|FIL-9|58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
        "OBX|2|NM|PLT^Platelets^L||45|10*3/uL|150-400|L|||F|||20261128083000+0000",
    ]).encode()


def _bundle() -> bytes:
    def entry(resource: dict[str, Any]) -> dict[str, Any]:
        return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    subject = {"reference": "Patient/p-9"}
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        entry({"resourceType": "Patient", "id": "p-9", "gender": "female",
               "identifier": [{"type": MR, "system": "urn:mrn", "value": "MRN-9"}]}),
        entry({"resourceType": "Observation", "id": "hb-9", "status": "final",
               "code": {"coding": [{"system": LAB_CODES, "code": "HGB"}], "text": "Hemoglobin"},
               "subject": subject, "effectiveDateTime": "2026-11-28T08:00:00Z",
               "valueQuantity": {"value": 9.1, "unit": "g/dL",
                                 "system": "http://unitsofmeasure.org", "code": "g/dL"}}),
        entry({"resourceType": "Condition", "id": "c-9", "subject": subject,
               "clinicalStatus": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                   "code": "active"}]},
               "code": {"coding": [{"system": "https://ehr.example.org/problems",
                                    "code": "CHF-1"}]},
               "onsetDateTime": "2026-01-10"}),
        entry({"resourceType": "Condition", "id": "c-10", "subject": subject,
               "clinicalStatus": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                   "code": "active"}]},
               "code": {"coding": [{"system": SNOMED, "code": "84114007"}]},
               "onsetDateTime": "2026-01-10"}),
        entry({"resourceType": "MedicationStatement", "id": "m-9", "status": "active",
               "subject": subject, "effectiveDateTime": "2026-11-01",
               "medicationCodeableConcept": {"coding": [{"system": RXNORM,
                                                         "code": "1191"}]}}),
    ]}).encode()


async def _receipt_warnings(body: bytes, media: MediaType) -> tuple[Note, ...]:
    submission = Submission(body=body, media=media, client="CITY-LAB", received_at=NOW)
    acceptance = await accept(submission, FakeUnitOfWork(), lambda: NOW,
                              screened=FakeScreenedCodes())
    return acceptance.receipt.warnings


async def test_an_hl7_result_coded_only_locally_is_named_at_its_obx3() -> None:
    warnings = await _receipt_warnings(_oru(), HL7)
    [note] = [n for n in warnings if "not screened by any criterion" in n.reason]
    assert note.path == "OBX[2].3"
    assert "L|PLT" in note.reason
    assert "CLINICAL_LOCAL_CODES_FILE" in note.reason
    assert not [n for n in warnings if n.path == "OBX[1].3"]  # LOINC 777-3 is read


async def test_the_hl7_segment_entry_carries_the_warning_too() -> None:
    submission = Submission(body=_oru(), media=HL7, client="CITY-LAB", received_at=NOW)
    receipt = (await accept(submission, FakeUnitOfWork(), lambda: NOW,
                            screened=FakeScreenedCodes())).receipt
    entries = {e.path: e for e in receipt.entries}
    assert any(n.path == "OBX[2].3" for n in entries["OBX[2]"].warnings)
    assert not any("not screened" in n.reason for n in entries["OBX[1]"].warnings)


async def test_fhir_results_conditions_and_medications_no_criterion_reads_are_named() -> None:
    warnings = await _receipt_warnings(_bundle(), FHIR)
    unscreened = {n.path: n.reason for n in warnings if "not screened" in n.reason}
    assert set(unscreened) == {
        "Bundle.entry[1].resource.code",                       # lab-local hemoglobin
        "Bundle.entry[2].resource.code",                       # EHR-local problem code
        "Bundle.entry[4].resource.medicationCodeableConcept",  # RxNorm 1191 (aspirin)
    }
    assert unscreened["Bundle.entry[1].resource.code"].startswith("result accepted")
    assert unscreened["Bundle.entry[2].resource.code"].startswith("condition accepted")
    assert "RxNorm" in unscreened["Bundle.entry[4].resource.medicationCodeableConcept"]


async def test_without_the_port_the_receipt_is_unchanged() -> None:
    submission = Submission(body=_oru(), media=HL7, client="CITY-LAB", received_at=NOW)
    receipt = (await accept(submission, FakeUnitOfWork(), lambda: NOW)).receipt
    assert not [n for n in receipt.warnings if "not screened" in n.reason]


def test_the_shipped_trials_read_loinc_platelets_and_snomed_heart_failure_only() -> None:
    codes = TrialFileCodes()
    assert "NCT06920433" in codes.trial_ids
    assert codes.reads(FactKind.OBSERVATION, (Coding(system=LOINC, code="777-3"),))
    assert codes.reads(FactKind.CONDITION, (Coding(system=SNOMED, code="84114007"),))
    # an ICD-10-CM code family (epilepsy G40*, NCT06920433 E3) is read as the engine reads it
    assert codes.reads(FactKind.CONDITION,
                       (Coding(system="http://hl7.org/fhir/sid/icd-10-cm", code="G40.909"),))
    assert not codes.reads(FactKind.OBSERVATION, (Coding(system="L", code="PLT"),))
    cholesterol = Coding(system=LOINC, code="2093-3")
    assert not codes.reads(FactKind.OBSERVATION, (cholesterol,))
    # a score's input (body height 8302-2, Cockcroft-Gault in NCT06920433 I5) is read
    assert codes.reads(FactKind.OBSERVATION, (Coding(system=LOINC, code="8302-2"),))


@pytest.fixture
async def client() -> Any:
    app = create_api()
    app.state.tokens = TokenRegistry({"lab-token": Principal("CITY-LAB", Role.LAB_SYSTEM)})
    app.state.intake = IntakeRuntime(IntakeSettings(max_body_bytes=100_000), FakeUnitOfWork(),
                                     lambda: NOW, lambda: None, screened=TrialFileCodes())
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
        yield http


async def test_the_http_receipt_names_the_local_obx_against_the_shipped_trials(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/hl7v2", content=_oru(), headers={
        "Authorization": "Bearer lab-token", "Content-Type": "x-application/hl7-v2+er7"})
    assert response.status_code == 202, response.text
    receipt = response.json()
    paths = [w["path"] for w in receipt["warnings"] if "not screened" in w["reason"]]
    assert paths == ["OBX[2].3"]


async def test_the_warning_carries_the_codes_it_names_for_a_bulk_summary() -> None:
    # trialwatch import counts unscreened codes per system|code from the receipts it gets
    # (over HTTP and direct): the codes are given as data beside the sentence
    warnings = await _receipt_warnings(_oru(), HL7)
    [note] = [n for n in warnings if "not screened by any criterion" in n.reason]
    assert note.codes == ("L|PLT",)
    assert all(not n.codes for n in warnings if n is not note)


async def test_the_http_receipt_gives_the_unscreened_codes_as_data(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/hl7v2", content=_oru(), headers={
        "Authorization": "Bearer lab-token", "Content-Type": "x-application/hl7-v2+er7"})
    receipt = response.json()
    [warning] = [w for w in receipt["warnings"] if "not screened" in w["reason"]]
    assert warning["codes"] == ["L|PLT"]
    [entry] = [e for e in receipt["entries"] if e["path"] == "OBX[2]"]
    assert [w["codes"] for w in entry["warnings"] if "not screened" in w["reason"]] == [
        ["L|PLT"]]


def _allergies() -> bytes:
    def allergy(resource_id: str, category: str, system: str, code: str) -> dict[str, Any]:
        # Synthea's AllergyIntolerance shape (``patient``, category and criticality as codes)
        return {"fullUrl": f"urn:uuid:{resource_id}", "resource": {
            "resourceType": "AllergyIntolerance", "id": resource_id,
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "code": "active"}]},
            "type": "allergy", "category": [category], "criticality": "high",
            "code": {"coding": [{"system": system, "code": code}]},
            "patient": {"reference": "Patient/p-9"}, "recordedDate": "2019-05-02"}}
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p-9", "resource": {
            "resourceType": "Patient", "id": "p-9", "gender": "female",
            "identifier": [{"type": MR, "system": "urn:mrn", "value": "MRN-9"}]}},
        allergy("ai-drug", "medication", RXNORM, "7980"),
        allergy("ai-food", "food", SNOMED, "300913006"),
    ]}).encode()


async def test_a_drug_allergy_is_screened_by_e1_and_a_food_allergy_is_named() -> None:
    # NCT06920433 2025-11-14.5 E1 reads FHIR R4 AllergyIntolerance of category medication (by
    # its category, never its substance code); no criterion reads a food allergy
    submission = Submission(body=_allergies(), media=FHIR, client="EHR", received_at=NOW)
    receipt = (await accept(submission, FakeUnitOfWork(), lambda: NOW,
                            screened=TrialFileCodes())).receipt
    unscreened = [n for n in receipt.warnings if "not screened" in n.reason]
    assert len(unscreened) == 1, unscreened
    assert "category food" in unscreened[0].reason
    assert "ai-food" in unscreened[0].path or unscreened[0].path.startswith("Bundle.entry[2]")
    assert [str(e.outcome) for e in receipt.entries if e.path != "Bundle.entry[0]"] == [
        "accepted", "accepted"]
