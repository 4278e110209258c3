"""What intake's core does with the issue-9/12 readings: kept on the facts it publishes, and
named in the receipt's warnings (a result not obtained, a deletion, a dose kept unread).

Inputs as senders build them: an HL7 v2 ORU^R01 with OBX-11 X and one with D (v2.5.1 table
0085), a FHIR R4 Observation with dataAbsentReason, a MedicationRequest with a free-text sig
and one with a structured dose (FHIR R4 Dosage), a FHIR date without a time.
"""

from __future__ import annotations

import json

from services.intake.core.media import MediaType
from services.intake.core.normalise import normalise
from tests.unit.intake.conftest import NOW

FHIR = MediaType("fhir-r4", "utf-8")
HL7 = MediaType("hl7v2", "utf-8")
UCUM = "http://unitsofmeasure.org"
MSH = "MSH|^~\\&|LIS|CITY-LAB|TW|TW|20261128090000+0000||ORU^R01^ORU_R01|{id}|P|2.5.1"
PID = "PID|1||MRN-7^^^CITY^MR||Roe^Jane||19900412|F"
OBR = "OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000"


def _hl7(obx: str, control: str) -> bytes:
    return "\r".join([MSH.format(id=control), PID, OBR, obx, ""]).encode()


def _paths(body: bytes, media: MediaType) -> list[str]:
    return [w.path for w in normalise(body, media, source_system="s", received_at=NOW).warnings]


def test_an_obx_whose_result_could_not_be_obtained_is_published_unread_and_named() -> None:
    body = _hl7("OBX|1||777-3^Platelets^LN||||||||X|||20261128073000+0000", "M-X")
    read = normalise(body, HL7, source_system="lab", received_at=NOW)
    (fact,) = read.updates[0].facts
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].11"
    assert "OBX[1].11" in [w.path for w in read.warnings]


def test_a_deletion_is_named_in_the_receipt() -> None:
    body = _hl7("OBX|1||777-3^Platelets^LN||||||||D|||20261128073000+0000", "M-D")
    read = normalise(body, HL7, source_system="lab", received_at=NOW)
    note = next(w for w in read.warnings if w.path == "OBX[1].11")
    assert "deletes the OBX record" in note.reason


def test_a_data_absent_reason_is_published_unread_and_named() -> None:
    observation = {
        "resourceType": "Observation", "id": "o1", "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": "2026-11-28T07:30:00Z",
        "dataAbsentReason": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
            "code": "error"}]},
    }
    assert "Observation.dataAbsentReason" in _paths(json.dumps(observation).encode(), FHIR)


def test_dose_and_day_bounds_travel_on_the_published_facts() -> None:
    request = {
        "resourceType": "MedicationRequest", "id": "r1", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-11-20",
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640",
            "display": "predniSONE"}]},
        "dosageInstruction": [{
            "text": "60 mg daily",
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {
                "value": 60, "unit": "mg", "system": UCUM, "code": "mg"}}],
        }],
    }
    read = normalise(json.dumps(request).encode(), FHIR, source_system="ehr", received_at=NOW)
    (fact,) = read.updates[0].facts
    assert fact.dose is not None
    assert fact.dose.quantity is not None
    assert (fact.dose.quantity.value, fact.dose.quantity.unit) == (60.0, "mg/d")
    assert fact.time_bounds is not None  # authoredOn sent without a time of day
    assert fact.codes[0].display is None  # free text still stays in intake


def test_a_free_text_sig_is_named_in_the_receipt_and_the_order_still_published() -> None:
    request = {
        "resourceType": "MedicationRequest", "id": "r2", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "authoredOn": "2026-11-20T09:00:00Z",
        "medicationCodeableConcept": {"coding": [{
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]},
        "dosageInstruction": [{"text": "take 3 tabs every morning"}],
    }
    read = normalise(json.dumps(request).encode(), FHIR, source_system="ehr", received_at=NOW)
    (fact,) = read.updates[0].facts
    assert fact.dose is not None
    assert fact.dose.quantity is None
    assert "MedicationRequest.dosageInstruction[0].text" in [w.path for w in read.warnings]
    assert "3 tabs" not in json.dumps([w.reason for w in read.warnings])
