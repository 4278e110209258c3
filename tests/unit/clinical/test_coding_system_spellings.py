"""Coding-system spellings real feeds use (notes/probe.md item 1), each decided per its standard.

- HL7 v2.5.1 OBX-3 (CWE, 2A.3.13): CWE-3 is a table 0396 name; LOINC's is ``LN``. ``LOINC`` and
  ``LNC`` (the UMLS source abbreviation) are not table 0396 values but are how public sample
  ORU^R01 messages and senders write LOINC (``shared/clinical/coding_systems.yaml``, with each
  spelling's source): read as LOINC with a note at ``OBX[n].3.3``. A CWE-3 left empty, or a name
  neither table 0396 nor that table holds, is not read as any standard code: noted at its path.
- FHIR R4 Coding.system is a uri; terminologies-systems: "the URI SHALL be used" (LOINC's is
  http://loinc.org). A bare name (``LOINC``, ``RxNorm``) is refused at ``...coding[n].system``
  naming the URI, as other misspellings of it (https, OID, trailing slash) already are.

Through the engine: NCT06920433, the eligible vignette as of 2026-03-01T09:00Z.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
Json = dict[str, Any]


def _bundle() -> Json:
    return copy.deepcopy(json.loads(VIGNETTE.read_text(encoding="utf-8")))


def _oru(*obx: str) -> str:
    return "\r".join([
        "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|M1|P|2.5.1",
        "PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|F",
        "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000",
        *obx]) + "\r"


def _decide(message: str) -> Decision:
    updates = parse_fhir(_bundle(), source_system="test-ehr")
    updates += parse_hl7v2(message, source_system="test-lab")
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)


def _criterion(decision: Decision, criterion: str) -> Any:
    return next(result for result in decision.criteria if result.id == criterion)


def _notes(message: str) -> list[tuple[str, str]]:
    return [(note.path, note.reason)
            for update in parse_hl7v2(message, source_system="test-lab")
            for fact in update.facts for note in fact.notes]


@pytest.mark.parametrize("system", ["LOINC", "LNC"])
def test_hl7v2_loinc_written_out_is_read_as_loinc_with_a_note(system: str) -> None:
    # hemoglobin 5.0 g/dL (50 g/L) fails I6.1 (>= 60 g/L); before: no note, the older
    # hemoglobin 110 g/L decided and the patient was eligible
    message = _oru(f"OBX|1|NM|718-7^Hemoglobin^{system}|1|5.0|g/dL|13.5-17.5|LL|||F|||"
                   "20260228080000+0000")
    decision = _decide(message)
    assert _criterion(decision, "I6.1").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE
    [(_path, reason)] = [n for n in _notes(message) if n[0] == "OBX[1].3.3"]
    assert f"{system!r} is not a v2.5.1 table 0396 value" in reason
    assert "read as LOINC" in reason


@pytest.mark.parametrize(("identifier", "said"), [
    ("718-7^Hemoglobin", "no coding system"),
    ("718-7^Hemoglobin^", "no coding system"),
    ("718-7^Hemoglobin^LOINC2", "'LOINC2' is not a v2.5.1 table 0396 value"),
])
def test_hl7v2_a_code_with_no_or_an_unknown_coding_system_is_not_read_as_loinc_and_is_named(
    identifier: str, said: str
) -> None:
    message = _oru(f"OBX|1|NM|{identifier}|1|5.0|g/dL|13.5-17.5|LL|||F|||20260228080000+0000")
    notes = [n for n in _notes(message) if n[0] == "OBX[1].3.3"]
    assert len(notes) == 1
    assert said in notes[0][1]
    assert "not read as LOINC" in notes[0][1]


def test_hl7v2_ln_is_read_without_a_note() -> None:
    message = _oru("OBX|1|NM|718-7^Hemoglobin^LN|1|5.0|g/dL|13.5-17.5|LL|||F|||"
                   "20260228080000+0000")
    assert not [n for n in _notes(message) if n[0].startswith("OBX[1].3")]
    assert _decide(message).status is Status.INELIGIBLE


@pytest.mark.parametrize(("system", "uri"), [
    ("LOINC", "http://loinc.org"),
    ("loinc", "http://loinc.org"),
])
def test_fhir_a_bare_system_name_is_refused_naming_the_uri(system: str, uri: str) -> None:
    bundle = _bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:hb-new", "resource": {
        "resourceType": "Observation", "id": "hb-new", "status": "final",
        "code": {"coding": [{"system": system, "code": "718-7"}]},
        "subject": {"reference": "Patient/vignette"},
        "effectiveDateTime": "2026-02-28T09:00:00Z",
        "valueQuantity": {"value": 50, "unit": "g/L", "system": "http://unitsofmeasure.org",
                          "code": "g/L"}}})
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(bundle, source_system="test-ehr")
    text = str(refused.value)
    assert ".code.coding[0].system" in text
    assert uri in text


def test_fhir_rxnorm_written_out_is_refused_naming_the_uri() -> None:
    bundle = _bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:a1", "resource": {
        "resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{"system": "RxNorm", "code": "121191"}]},
        "effectiveDateTime": "2026-02-20T09:00:00Z"}})
    with pytest.raises(InvalidInput) as refused:
        parse_fhir(bundle, source_system="test-ehr")
    assert "http://www.nlm.nih.gov/research/umls/rxnorm" in str(refused.value)


def test_fhir_a_system_that_is_no_uri_and_no_known_name_is_noted_at_its_path() -> None:
    from shared.clinical.fhir import normalise_fhir
    bundle = _bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:hb-x", "resource": {
        "resourceType": "Observation", "id": "hb-x", "status": "final",
        "code": {"coding": [{"system": "LABCODES", "code": "718-7"}]},
        "subject": {"reference": "Patient/vignette"},
        "effectiveDateTime": "2026-02-28T09:00:00Z",
        "valueQuantity": {"value": 50, "unit": "g/L", "system": "http://unitsofmeasure.org",
                          "code": "g/L"}}})
    result = normalise_fhir(bundle, source_system="test-ehr")
    warnings = [w for entry in result.entries for w in entry.warnings]
    [note] = [w for w in warnings if w.path.endswith(".code.coding[0].system")]
    assert "'LABCODES' is not an absolute URI" in note.reason
