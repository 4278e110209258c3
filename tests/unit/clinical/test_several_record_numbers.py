"""A patient sent with several medical record numbers that differ is refused, not filed under
the first one (probe round 5, open case 1).

HL7 v2.5.1 3.4.2.3: PID-3 (patient identifier list, CX) repeats, one repetition per identifier;
CX-4 is its assigning authority and CX-5 its identifier type (table 0203: ``MR`` medical record
number). FHIR R4 Patient.identifier repeats the same way (Identifier.system, Identifier.type
v2-0203 ``MR``). A message from an HIE or a reference lab carries the MRN of each facility it
knows: ``X-1^^^OTHER^MR~vignette^^^TEST-EHR^MR``. TrialWatch keys a patient by one MR value;
before this, the first MR-typed repetition was taken, so the result was filed under ``X-1``
with no link to her record, her newer low platelet count never reached her, and the older
count of 180 kept her ELIGIBLE with no trace. Which of two record numbers is this site's is
not in the message: refused at the identifier list, naming both values' authorities. The same
number sent twice (two authorities spelling one MRN) is one number and is read.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.test_real_feed_examples import _problems

MR = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]}


def _oru(pid_3: str) -> str:
    return "\r".join([
        "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|C-1|P|2.5.1",
        f"PID|1||{pid_3}||Doe^Jane||19900101|F",
        "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||8|10*9/L|150-400||||F|||20260228080000+0000",
    ]) + "\r"


@pytest.mark.parametrize("pid_3", [
    "X-1^^^OTHER^MR~vignette^^^TEST-EHR^MR",
    "vignette^^^TEST-EHR^MR~X-1^^^OTHER^MR",
    "X-1^^^OTHER&1.2.3&ISO^MR~vignette^^^TEST-EHR&1.2.4&ISO^MR",
])
def test_a_pid_3_with_two_different_medical_record_numbers_is_refused_at_pid_3(
    pid_3: str,
) -> None:
    problems = _problems(lambda: parse_hl7v2(_oru(pid_3), source_system="test-lab"))
    assert any(p.startswith("PID[1].3") and "medical record number" in p
               and "X-1" not in p and "vignette" not in p for p in problems), problems


@pytest.mark.parametrize("pid_3", [
    "vignette^^^TEST-EHR^MR",
    "vignette^^^TEST-EHR^MR~vignette^^^TEST-EHR&1.2.4&ISO^MR",  # one number, two spellings
    "vignette^^^TEST-EHR^MR~123-45-6789^^^SSA^SS",  # one MRN beside a non-MR identifier
])
def test_one_medical_record_number_is_read(pid_3: str) -> None:
    [update] = parse_hl7v2(_oru(pid_3), source_system="test-lab")
    assert update.source_patient_id == "vignette"


def _fhir(*identifiers: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:p", "resource": {
            "resourceType": "Patient", "id": "p", "identifier": list(identifiers),
            "birthDate": "1990-01-01", "gender": "female"}},
    ]}


def test_a_fhir_patient_with_two_different_mr_identifiers_is_refused_at_identifier() -> None:
    problems = _problems(lambda: parse_fhir(_fhir(
        {"type": MR, "system": "urn:oid:1.2.3", "value": "X-1"},
        {"type": MR, "system": "urn:oid:1.2.4", "value": "vignette"},
    ), source_system="test-ehr"))
    assert any(p.startswith("Bundle.entry[0].resource.identifier") and "medical record number" in p
               for p in problems), problems


def test_a_fhir_patient_with_one_mr_identifier_beside_others_is_read() -> None:
    [update] = parse_fhir(_fhir(
        {"type": MR, "system": "urn:oid:1.2.4", "value": "vignette"},
        {"type": MR, "system": "http://hospital.example/mrn", "value": "vignette"},
        {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"},
    ), source_system="test-ehr")
    assert update.source_patient_id == "vignette"
