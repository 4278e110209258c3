"""Reference ranges sent as text: one reader for HL7 v2 OBX-7 and FHIR referenceRange.text.

Found by the ``probe`` review (/work/notes/probe.md item 5): a range written other than a bare
``low-high``, ``<x``, ``<=x`` (``M: 10-50 F: 7-35``, ``7-35 (F) 10-50 (M)``, ``7-35 U/L`` in
OBX-7; ``Female: 7-35 U/L`` in referenceRange.text) was dropped with no note and the site's
default ULN (40 U/L for ALT) decided: the eligible vignette (a woman) with ALT 110 U/L and the
lab's female range 7-35 was ELIGIBLE on I6.2 (<= 3 x ULN: 110 <= 120) although 110 > 3 x 35.

Standards: HL7 v2.5.1 7.4.2.7 OBX-7 references range (ST): "lower limit-upper limit", "> lower
limit", "< upper limit", or text; FHIR R4 Observation.referenceRange.text ("text based
reference range in an observation") and appliesTo (the population a range is for; SNOMED CT
248152002 |Female|, 248153007 |Male|). The lab's own range, when sent, is what a "x ULN"
criterion means (DOMAIN guide); a range sent that cannot be read makes the criterion unknown
naming where it was sent, never the site default.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.decision import Decision, Outcome, Status
from tests.unit.test_real_feed_examples import (
    UCUM,
    Json,
    _add,
    _bundle,
    _observation,
    _oru,
    _patient,
    decide,
    outcome,
)

ALT = "I6.2"  # ALT <= 3 x ULN; the site default ULN for a woman is 40 U/L
WHEN = "2026-02-28T09:00:00Z"


def _obx(reference: str, value: str = "110", unit: str = "U/L") -> str:
    return _oru(
        "RR1",
        f"OBX|1|NM|1742-6^ALT^LN||{value}|{unit}|{reference}|H|||F|||20260228080000+0000",
    )


def _fhir_alt(text: str, value: float = 110) -> Json:
    return _observation(
        "alt-text", "1742-6", WHEN,
        valueQuantity={"value": value, "unit": "U/L", "system": UCUM, "code": "U/L"},
        referenceRange=[{"text": text}],
    )


def _reason(decision: Decision, criterion: str) -> str:
    result = next(r for r in decision.criteria if r.id == criterion)
    return f"{result.reason} {result.model_dump_json()}"


def _alt_evidence(decision: Decision) -> str:
    """What I6.2 says about the ALT result: never judged by the site default once a lab range
    was sent (AST and bilirubin, sent without a range, still are)."""
    result = next(r for r in decision.criteria if r.id == ALT)
    alt = next(e for e in result.evidence if e.code.endswith("|1742-6"))
    return alt.model_dump_json()


def _uln(decision: Decision) -> Any:
    result = next(r for r in decision.criteria if r.id == ALT)
    alt = next(e for e in result.evidence if e.code.endswith("|1742-6"))
    return alt.details.get("uln")


# --- read exactly: the lab's female ULN 35 decides (110 > 105) ---------------------------------

HL7_READ = [
    "M: 10-50 F: 7-35",
    "7-35 (F) 10-50 (M)",
    "7-35 U/L",
    "F: 7-35 U/L M: 10-50 U/L",
    "Female: 7-35; Male: 10-50",
    "0.12-0.58 ukat/L",  # a unit convertible to the result's: 0.58 ukat/L = 34.8 U/L
]


def test_the_vignette_with_alt_110_and_the_default_uln_is_eligible() -> None:
    # the baseline the lab's range must overturn: 110 <= 3 x 40 (site default for a woman)
    assert decide(_bundle(), _obx("")).status == Status.ELIGIBLE


@pytest.mark.parametrize("reference", HL7_READ)
def test_obx_7_text_is_read_and_the_lab_s_female_uln_decides(reference: str) -> None:
    decision = decide(_bundle(), _obx(reference))
    assert outcome(decision, ALT) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE
    assert _uln(decision) == pytest.approx(35 if "ukat" not in reference else 34.8)


@pytest.mark.parametrize("text", [*HL7_READ, "Female: 7-35 U/L"])
def test_fhir_reference_range_text_is_read_and_the_lab_s_female_uln_decides(text: str) -> None:
    decision = decide(_bundle(_add(_fhir_alt(text))))
    assert outcome(decision, ALT) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("text", [*HL7_READ, "<=35", "7-35", "Female: 7-35 U/L", "10-50 (M)"])
def test_the_same_text_is_read_the_same_in_obx_7_and_reference_range_text(text: str) -> None:
    hl7 = parse_hl7v2(_obx(text), source_system="lab")[0].facts[0]
    fhir_bundle = {"resourceType": "Bundle", "type": "collection",
                   "entry": [_patient_entry(), _fhir_alt(text)]}
    fhir = next(f for u in parse_fhir(fhir_bundle, source_system="ehr") for f in u.facts)

    def ranges(fact: Any) -> list[tuple[Any, ...]]:
        alternatives = fact.reference_ranges or (fact.reference_range,)
        return [(r.low, r.high, r.applies_to, r.unread is None) for r in alternatives]

    assert ranges(hl7) == ranges(fhir)


def _patient_entry() -> Json:
    bundle = _bundle()
    return next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


# --- sent but not read: I6.2 unknown naming where, never the default ---------------------------

NOT_READ = [
    "7-35 (adult)",  # a population the engine cannot check
    "Adult female: 7-35",
    "M: 10-50 M: 7-35",  # the same label twice: which is hers is ambiguous
    "M/F: 7-35",
    "7-35 mg/dL",  # a unit that is not ALT's
    "see lab manual",
    "M: 10-50 F: 7-35 ukat/L",  # unit written for one part only, not the result's
]


@pytest.mark.parametrize("reference", NOT_READ)
def test_obx_7_that_cannot_be_read_makes_the_alt_criterion_unknown_naming_obx_7(
    reference: str,
) -> None:
    fact = parse_hl7v2(_obx(reference), source_system="lab")[0].facts[0]
    assert fact.value_quantity is not None  # the value itself is read
    assert fact.reference_range is not None
    assert fact.reference_range.unread is not None
    assert fact.reference_range.unread.path == "OBX[1].7"
    decision = decide(_bundle(), _obx(reference))
    assert outcome(decision, ALT) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "OBX[1].7" in _reason(decision, ALT)
    assert "default table" not in _alt_evidence(decision)


@pytest.mark.parametrize("text", NOT_READ)
def test_reference_range_text_that_cannot_be_read_makes_it_unknown_naming_the_text(
    text: str,
) -> None:
    decision = decide(_bundle(_add(_fhir_alt(text))))
    assert outcome(decision, ALT) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "referenceRange[0].text" in _reason(decision, ALT)


def test_a_sex_specific_text_range_is_not_read_when_her_sex_is_unknown() -> None:
    def no_sex(bundle: Json) -> None:
        del _patient(bundle)["gender"]
        _add(_fhir_alt("M: 10-50 F: 7-35"))(bundle)

    decision = decide(_bundle(no_sex))
    assert outcome(decision, ALT) == Outcome.UNKNOWN
    assert "default table" not in _alt_evidence(decision)


def test_a_man_is_judged_against_the_male_part_of_obx_7() -> None:
    def man(bundle: Json) -> None:
        _patient(bundle)["gender"] = "male"

    message = _obx("M: 10-50 F: 7-35", value="140").replace("||19900101|F", "||19900101|M")
    decision = decide(_bundle(man), message)
    assert _uln(decision) == 50
    assert outcome(decision, ALT) == Outcome.PASS  # 140 <= 150


# --- a range not read that cannot be hers does not block the one that is ------------------------

MEANING = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
FEMALE = {"coding": [{"system": "http://snomed.info/sct", "code": "248152002"}]}
MALE = {"coding": [{"system": "http://snomed.info/sct", "code": "248153007"}]}


def _fhir_alt_ranges(ranges: list[Json]) -> Json:
    return _observation(
        "alt-ranges", "1742-6", WHEN,
        valueQuantity={"value": 110, "unit": "U/L", "system": UCUM, "code": "U/L"},
        referenceRange=ranges,
    )


def _high(value: float, **extra: Any) -> Json:
    return {"high": {"value": value, "unit": "U/L", "system": UCUM, "code": "U/L"}, **extra}


def test_an_unread_therapeutic_text_does_not_block_her_normal_range() -> None:
    therapeutic = {"text": "on treatment: see protocol",
                   "type": {"coding": [{"system": MEANING, "code": "therapeutic"}]}}
    decision = decide(_bundle(_add(_fhir_alt_ranges([_high(35), therapeutic]))))
    assert _uln(decision) == 35
    assert outcome(decision, ALT) == Outcome.FAIL


def test_an_unread_text_for_men_does_not_block_her_range() -> None:
    ranges = [{"text": "see lab manual", "appliesTo": [MALE]}, _high(35, appliesTo=[FEMALE])]
    decision = decide(_bundle(_add(_fhir_alt_ranges(ranges))))
    assert _uln(decision) == 35
    assert outcome(decision, ALT) == Outcome.FAIL


def test_an_unread_text_for_women_beside_a_read_range_for_men_is_unknown_for_her() -> None:
    ranges = [_high(50, appliesTo=[MALE]), {"text": "see lab manual", "appliesTo": [FEMALE]}]
    decision = decide(_bundle(_add(_fhir_alt_ranges(ranges))))
    assert outcome(decision, ALT) == Outcome.UNKNOWN
    assert "referenceRange[1].text" in _reason(decision, ALT)


# --- never silent: the receipt names a range sent but not read ---------------------------------

def test_a_range_not_read_is_a_receipt_warning_in_both_formats() -> None:
    from shared.clinical.fhir import fact_warnings

    hl7 = parse_hl7v2(_obx("7-35 (adult)"), source_system="lab")[0].facts[0]
    assert any(w.path == "OBX[1].7" for w in fact_warnings(hl7))
    fhir_bundle = {"resourceType": "Bundle", "type": "collection",
                   "entry": [_patient_entry(), _fhir_alt("7-35 (adult)")]}
    fhir = next(f for u in parse_fhir(fhir_bundle, source_system="ehr") for f in u.facts)
    assert any(w.path.endswith("referenceRange[0].text") for w in fact_warnings(fhir))


def test_a_range_read_is_no_warning() -> None:
    from shared.clinical.fhir import fact_warnings

    hl7 = parse_hl7v2(_obx("M: 10-50 F: 7-35"), source_system="lab")[0].facts[0]
    assert not any(w.path == "OBX[1].7" for w in fact_warnings(hl7))
