"""A site's code crosswalk (``CLINICAL_LOCAL_CODES_FILE``): local codes read as LOINC/SNOMED CT.

HL7 v2.5.1 2A.3.13 CWE: CWE-3 names the coding system of CWE-1; table 0396 ``L`` and ``99zzz``
are local systems whose codes mean only what the sender's own code list says. FHIR R4 Coding:
"system: the identification of the code system that defines the meaning of the symbol in the
code". So ``PLT^Platelets^L`` is never read as LOINC 777-3 by its text; it is read as 777-3 only
through an entry the site wrote, which names who mapped it and why, and the fact says so.

Before: a newer platelet count sent as ``PLT^Platelets^L`` was read by no criterion, so the
older LOINC-coded platelet count decided NCT06920433 I6.1 (platelets >= 20 x 10^9/L) and the
vignette patient was eligible while her newest count (12 x 10^9/L) excludes her.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.local_codes import (
    loinc_check_digit,
    parse_crosswalk,
    site_crosswalk,
    use_site_crosswalk,
)
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.infra.local_codes import LocalCodesFileError, install_site_local_codes
from shared.settings import ClinicalSettings
from tests.unit.eligibility.fhir_builder import AS_OF, SNOMED, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
LOINC = "http://loinc.org"
LAB_CODES = "https://lab.example-hospital.org/fhir/CodeSystem/result-codes"
EHR_PROBLEMS = "https://ehr.example-hospital.org/fhir/CodeSystem/problems"

CROSSWALK = f"""
codes:
  - source: CITY-LAB
    system: L
    code: PLT
    loinc: "777-3"
    by: "A. Chen, laboratory informatics"
    why: "CITY-LAB test catalogue 2026-01: PLT is the automated blood platelet count"
  - system: {LAB_CODES}
    code: HGB
    loinc: "718-7"
    by: "A. Chen, laboratory informatics"
    why: "lab CodeSystem result-codes v3: HGB is blood hemoglobin mass concentration"
  - system: {EHR_PROBLEMS}
    code: CHF-1
    snomed: "84114007"
    by: "R. Osei, clinical terminology"
    why: "EHR problem list code CHF-1 'Heart failure' (problem dictionary 2025-09)"
"""


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    use_site_crosswalk({})


def _install(text: str = CROSSWALK) -> None:
    use_site_crosswalk(parse_crosswalk(text, "site-codes.yaml"))


def _oru(obx3: str, value: str = "12", unit: str = "10*3/uL", sender: str = "CITY-LAB") -> str:
    """An ORU^R01 as a hospital lab sends a platelet count it codes only in its own system."""
    return "\r".join([
        f"MSH|^~\\&|LIS|{sender}|TW|TW|20260301060000+0000||ORU^R01^ORU_R01|MSG-77|P|2.5.1",
        "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F",
        "OBR|1|ORD-7|FIL-7|58410-2^CBC panel^LN|||20260301050000+0000",
        f"OBX|1|NM|{obx3}||{value}|{unit}|150-400|L|||F|||20260301050000+0000",
    ]) + "\r"


def _patient_with(extra: PatientFacts) -> PatientFacts:
    base = facts_from_updates(parse_fhir(eligible_patient().bundle(), source_system="ehr"))
    return base.model_copy(update={"facts": (*base.facts, *extra.facts)})


def test_the_loinc_check_digit_is_the_mod_10_of_the_loinc_users_guide() -> None:
    assert loinc_check_digit("777") == 3
    assert loinc_check_digit("718") == 7
    assert loinc_check_digit("2160") == 0
    assert loinc_check_digit("58410") == 2


def test_a_local_obx3_is_read_as_the_loinc_code_the_crosswalk_names_with_a_note() -> None:
    _install()
    [update] = parse_hl7v2(_oru("PLT^Platelets^L"))
    [fact] = update.facts
    assert ("http://loinc.org", "777-3") in {(c.system, c.code) for c in fact.codes}
    assert ("L", "PLT") in {(c.system, c.code) for c in fact.codes}  # as sent, kept
    # the LOINC code decides the unit catalogue: 12 10*3/uL is 12 10*9/L
    assert fact.value_quantity is not None
    assert fact.value_quantity.unit == "10*9/L"
    assert float(fact.value_quantity.value) == 12.0
    [note] = [n for n in fact.notes if n.path == "OBX[1].3"]
    assert "site code crosswalk" in note.reason
    assert "CLINICAL_LOCAL_CODES_FILE" in note.reason
    assert "A. Chen" in note.reason
    assert "777-3" in note.reason


def test_without_an_entry_the_text_of_a_local_code_is_never_read_as_loinc() -> None:
    [update] = parse_hl7v2(_oru("PLT^Platelets^L"))
    [fact] = update.facts
    assert {c.system for c in fact.codes} == {"L"}
    assert not [n for n in fact.notes if "crosswalk" in n.reason]


def test_an_entry_for_one_sender_does_not_map_another_senders_code() -> None:
    """``L`` means something only at its sender: OTHER-LAB's PLT may be anything."""
    _install()
    [update] = parse_hl7v2(_oru("PLT^Platelets^L", sender="OTHER-LAB"))
    assert {c.system for c in update.facts[0].codes} == {"L"}


def test_the_fact_identity_keeps_the_codes_as_sent() -> None:
    """A correction sent after the crosswalk changed still replaces the result it corrects."""
    before = parse_hl7v2(_oru("PLT^Platelets^L"))[0].facts[0].fact_id
    _install()
    after = parse_hl7v2(_oru("PLT^Platelets^L"))[0].facts[0].fact_id
    assert before == after


def test_a_sender_coding_loinc_itself_is_read_as_sent() -> None:
    _install()
    [update] = parse_hl7v2(_oru("PLT^Platelets^L^26515-7^Platelets^LN"))
    [fact] = update.facts
    loincs = {c.code for c in fact.codes if c.system == "http://loinc.org"}
    assert loincs == {"26515-7"}
    [note] = [n for n in fact.notes if n.path == "OBX[1].3"]
    assert "the sender's coding is read" in note.reason


def _fhir_observation(code: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {
            "resourceType": "Patient", "id": "p1",
            "identifier": [{"type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "urn:example:mrn", "value": "MRN-1"}]}},
        {"fullUrl": "urn:uuid:2", "resource": {
            "resourceType": "Observation", "id": "hb-1", "status": "final", "code": code,
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2026-02-28T08:00:00+00:00",
            "valueQuantity": {"value": 10.1, "unit": "g/dL",
                              "system": "http://unitsofmeasure.org", "code": "g/dL"}}},
    ]}


def test_a_fhir_observation_coded_only_in_the_labs_system_is_mapped() -> None:
    _install()
    bundle = _fhir_observation({"coding": [{"system": LAB_CODES, "code": "HGB"}],
                                "text": "Hemoglobin"})
    [update] = parse_fhir(bundle, source_system="any-sender")
    [fact] = update.facts
    assert ("http://loinc.org", "718-7") in {(c.system, c.code) for c in fact.codes}
    assert fact.value_quantity is not None
    assert fact.value_quantity.unit == "g/L"  # the hemoglobin catalogue's canonical unit
    [note] = [n for n in fact.notes if "crosswalk" in n.reason]
    assert note.path == "Bundle.entry[1].resource.code"


def test_a_fhir_condition_coded_only_in_the_ehrs_system_is_read_as_its_snomed_code() -> None:
    """E4 excludes active heart failure: the EHR's own problem code CHF-1, mapped to SNOMED
    CT 84114007, now reaches it (before the crosswalk: no criterion read CHF-1 and E4 passed;
    since 2314c9d an active condition coded in no system the value sets use makes E4 unknown,
    naming it, rather than pass)."""
    builder = eligible_patient().condition(EHR_PROBLEMS, "CHF-1", onset_days=100)
    unmapped = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    before = evaluate(TRIAL, unmapped, AS_OF)
    e4 = next(c for c in before.criteria if c.id == "E4")
    assert e4.outcome is Outcome.UNKNOWN
    assert "CHF-1" in " ".join(e4.missing)
    _install()
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    [condition] = [f for f in patient.facts if any(c.code == "CHF-1" for c in f.codes)]
    assert (SNOMED, "84114007") in {(c.system, c.code) for c in condition.codes}
    assert any("crosswalk" in n.reason for n in condition.notes)
    decision = evaluate(TRIAL, patient, AS_OF)
    assert next(c for c in decision.criteria if c.id == "E4").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


def test_a_newer_local_platelet_count_decides_through_the_crosswalk_not_an_older_loinc_one(
) -> None:
    local = facts_from_updates(parse_hl7v2(_oru("PLT^Platelets^L")))
    before = evaluate(TRIAL, _patient_with(local), AS_OF)
    assert next(c for c in before.criteria if c.id == "I6.1").outcome is Outcome.PASS
    assert before.status is Status.ELIGIBLE  # the silent loss: the older count decided
    _install()
    mapped = facts_from_updates(parse_hl7v2(_oru("PLT^Platelets^L")))
    decision = evaluate(TRIAL, _patient_with(mapped), AS_OF)
    i6_1 = next(c for c in decision.criteria if c.id == "I6.1")
    assert i6_1.outcome is Outcome.FAIL, i6_1.reason
    assert decision.status is Status.INELIGIBLE


@pytest.mark.parametrize(("entry", "named"), [
    ("  - {source: CITY-LAB, system: L, code: PLT, loinc: '777-4', by: x, why: y}",
     r"codes\[0\] \(L\|PLT\).*check digit.*777-3"),
    ("  - {system: L, code: PLT, loinc: '777-3', by: x, why: y}",
     r"codes\[0\] \(L\|PLT\).*'source' is required"),
    ("  - {source: CITY-LAB, system: L, code: PLT, loinc: '777-3', why: y}",
     r"codes\[0\] \(L\|PLT\).*'by' is required"),
    ("  - {source: CITY-LAB, system: L, code: PLT, loinc: '777-3', snomed: '84114007',"
     " by: x, why: y}", r"exactly one of 'loinc' or 'snomed'"),
    ("  - {system: 'http://loinc.org', code: 777-3, loinc: '26515-7', by: x, why: y}",
     r"standard code system"),
    ("  - {source: A, system: L, code: X, snomed: '84114017', by: x, why: y}",
     r"not a concept identifier"),
    ("  - {source: A, system: L, code: X, loinc: '777-3', by: x, why: y}\n"
     "  - {source: A, system: L, code: X, loinc: '718-7', by: x, why: y}",
     r"codes\[1\] \(L\|X\).*mapped twice"),
])
def test_a_wrong_crosswalk_entry_is_refused_naming_it(entry: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_crosswalk(f"codes:\n{entry}\n", "site-codes.yaml")


def test_the_file_named_by_the_setting_is_installed_and_a_wrong_one_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "codes.yaml"
    site.write_text(CROSSWALK, "utf-8")
    monkeypatch.setenv("CLINICAL_LOCAL_CODES_FILE", str(site))
    install_site_local_codes()
    assert {e.code for e in site_crosswalk()} == {"PLT", "HGB", "CHF-1"}
    with pytest.raises(LocalCodesFileError, match=r"missing\.yaml"):
        install_site_local_codes(ClinicalSettings(local_codes_file=tmp_path / "missing.yaml"))
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("codes:\n  - {system: L, code: PLT, loinc: '777-3', by: x, why: y}\n")
    with pytest.raises(LocalCodesFileError, match=r"wrong\.yaml: codes\[0\] \(L\|PLT\)"):
        install_site_local_codes(ClinicalSettings(local_codes_file=wrong))


def test_the_data_dictionary_publishes_the_installed_crosswalk() -> None:
    from shared.clinical.local_codes import crosswalk_markdown

    assert "No site entries" in "\n".join(crosswalk_markdown())
    _install()
    text = "\n".join(crosswalk_markdown())
    assert "| CITY-LAB | `L` | `PLT` | LOINC `777-3` | A. Chen" in text
