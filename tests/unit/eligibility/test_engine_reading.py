"""How the engine reads what the normaliser keeps (issue 9 kinds 5, 7, 9, 11 and 12).

Each case is the eligible vignette with one entry added or changed, as a FHIR R4 Bundle (or
the vignette plus an HL7 v2.5.1 ORU^R01 for the same patient), through the one normaliser.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shared.clinical.facts import Demographics, PatientFacts, ReadingNote, ReceivedValue
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.context import round_to, significant_figures
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import DECEASED_ID, evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    LOINC,
    POSITIVE,
    RXNORM,
    SNOMED,
    TW,
    PatientBuilder,
    ago,
    eligible_patient,
    iso,
)

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
UCUM = "http://unitsofmeasure.org"
FEMALE = {"coding": [{"system": SNOMED, "code": "248152002", "display": "Female"}]}
MALE = {"coding": [{"system": SNOMED, "code": "248153007", "display": "Male"}]}


def _facts(builder: PatientBuilder, *messages: str) -> PatientFacts:
    updates = parse_fhir(builder.bundle(), source_system="ehr")
    for message in messages:
        updates += parse_hl7v2(message, source_system="lab")
    return facts_from_updates(updates)


def _decide(builder: PatientBuilder, *messages: str) -> Decision:
    return evaluate(TRIAL, _facts(builder, *messages), AS_OF)


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


def _oru(*obx: str) -> str:
    return (
        "\r".join(
            [
                "MSH|^~\\&|LAB|CITY-LAB|TW|TW|20260228100000+0000||ORU^R01^ORU_R01|M-1|P|2.5.1",
                "PID|1||vignette^^^EHR^MR||Doe^Jane||19900510|F",
                "OBR|1|ORD-9|FIL-9|24323-8^CMP^LN|||20260228080000+0000",
                *obx,
            ]
        )
        + "\r"
    )


def _alt(builder: PatientBuilder, value: float, ranges: list[dict[str, Any]]) -> PatientBuilder:
    builder.without(LOINC, "1742-6").lab("1742-6", value, "U/L", days=2)
    builder.resources[-1]["referenceRange"] = ranges
    return builder


def _high(value: float, **extra: Any) -> dict[str, Any]:
    return {"high": {"value": value, "unit": "U/L", "system": UCUM, "code": "U/L"}, **extra}


# Kind 5: FHIR R4 Observation.referenceRange repeats for different populations (appliesTo, age).


def test_a_woman_s_alt_is_judged_against_the_range_that_applies_to_women() -> None:
    ranges = [_high(45, appliesTo=[MALE]), _high(34, appliesTo=[FEMALE])]
    i62 = _criterion(_decide(_alt(eligible_patient(), 120, ranges)), "I6.2")
    assert i62.outcome is Outcome.FAIL
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 34
    assert alt.details["uln_source"] == "result reference range for female (of 2 sent)"
    assert "<= 3 x ULN 34 U/L = 102" in (alt.note or "")


def test_a_man_s_alt_is_judged_against_the_range_that_applies_to_men() -> None:
    ranges = [_high(45, appliesTo=[MALE]), _high(34, appliesTo=[FEMALE])]
    man = eligible_patient()
    man.patient["gender"] = "male"
    i62 = _criterion(_decide(_alt(man, 120, ranges)), "I6.2")
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 45
    assert i62.outcome is Outcome.PASS  # 120 <= 135


def test_an_age_specific_range_is_chosen_by_the_patient_s_age() -> None:
    years = {"system": UCUM, "code": "a", "unit": "years"}
    ranges = [
        _high(25, age={"low": {"value": 0, **years}, "high": {"value": 17, **years}}),
        _high(34, age={"low": {"value": 18, **years}, "high": {"value": 120, **years}}),
    ]
    i62 = _criterion(_decide(_alt(eligible_patient(), 90, ranges)), "I6.2")
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 34
    assert i62.outcome is Outcome.PASS  # 90 <= 102
    # the limit is written first and the ULN beside it: a coordinator read "<= 3 x ULN (34
    # U/L ...)" as a limit of 34
    assert "meets <= 102 U/L (3 x ULN 34 U/L, " in i62.reason


def test_the_site_default_is_used_only_when_no_range_sent_applies_and_the_decision_says_so() -> (
    None
):
    i62 = _criterion(_decide(_alt(eligible_patient(), 120, [_high(45, appliesTo=[MALE])])), "I6.2")
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert str(alt.details["uln_source"]).startswith("default table")
    assert "none of the 1 reference ranges sent applies (female, age 35)" in str(
        alt.details["uln_source"]
    )


def test_a_therapeutic_range_is_not_a_limit_of_normal() -> None:
    meaning = "http://terminology.hl7.org/CodeSystem/referencerange-meaning"
    ranges = [
        _high(200, type={"coding": [{"system": meaning, "code": "therapeutic"}]}),
        _high(34, type={"coding": [{"system": meaning, "code": "normal"}]}),
    ]
    i62 = _criterion(_decide(_alt(eligible_patient(), 120, ranges)), "I6.2")
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 34
    assert i62.outcome is Outcome.FAIL


def test_a_range_sent_as_text_only_is_read_like_obx_7() -> None:
    i62 = _criterion(_decide(_alt(eligible_patient(), 120, [{"text": "7-35 U/L"}])), "I6.2")
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 35
    assert i62.outcome is Outcome.FAIL  # 120 > 105


def test_an_hl7_v2_obx_7_range_sets_the_upper_limit() -> None:
    """HL7 v2.5.1 7.4.2.7 OBX-7 references range: one range, for this patient."""
    builder = eligible_patient().without(LOINC, "1742-6")
    message = _oru("OBX|1|NM|1742-6^ALT^LN||120|U/L|7-35|H|||F|||20260228080000+0000")
    i62 = _criterion(_decide(builder, message), "I6.2")
    assert i62.outcome is Outcome.FAIL
    alt = next(e for e in i62.evidence if e.code == f"{LOINC}|1742-6")
    assert alt.details["uln"] == 35
    assert alt.details["uln_source"] == "result reference range"


# Kind 9: a number is judged by its number; the interpretation flag decides only with none.

_N = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
            "code": "N",
        }
    ]
}


def test_a_cd19_percentage_flagged_normal_is_positive_by_its_number() -> None:
    builder = eligible_patient().without(LOINC, "8117-4").lab("8117-4", 6.3, "%", days=5)
    builder.resources[-1]["interpretation"] = [_N]
    i5 = _criterion(_decide(builder), "I5")
    assert i5.outcome is Outcome.PASS
    assert any(e.note == "read as positive" for e in i5.evidence)


def test_an_hl7_v2_cd19_percentage_flagged_n_is_positive_by_its_number() -> None:
    builder = eligible_patient().without(LOINC, "8117-4")
    message = _oru(
        "OBX|1|NM|8117-4^CD19 cells/100 cells^LN||6.3|%|5-25|N|||F|||20260228080000+0000"
    )
    assert _criterion(_decide(builder, message), "I5").outcome is Outcome.PASS


def test_a_flag_decides_only_when_there_is_no_number() -> None:
    builder = eligible_patient().without(LOINC, "8117-4")
    builder.observation(LOINC, "8117-4", ago(5))
    builder.resources[-1]["interpretation"] = [
        {"coding": [{"system": _N["coding"][0]["system"], "code": "POS"}]}
    ]
    i5 = _criterion(_decide(builder), "I5")
    assert i5.outcome is Outcome.PASS


# Kind 11: positive evidence decides; administrations are doses; beta-hCG 21198-7.


def _without_childbearing_potential() -> PatientBuilder:
    builder = eligible_patient()
    builder.without(TW, "childbearing-potential")
    return builder


def test_a_positive_hcg_excludes_a_woman_whose_childbearing_potential_is_not_documented() -> None:
    builder = _without_childbearing_potential()
    builder.observation(LOINC, "2106-3", ago(1), coded=POSITIVE)
    decision = _decide(builder)
    assert _criterion(decision, "E12").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


def test_a_quantitative_serum_beta_hcg_above_the_cut_off_is_positive() -> None:
    builder = _without_childbearing_potential()
    builder.lab("21198-7", 250, "[IU]/L", days=1)
    assert _criterion(_decide(builder), "E12").outcome is Outcome.FAIL


def test_an_hl7_v2_quantitative_beta_hcg_below_the_cut_off_is_negative() -> None:
    builder = eligible_patient().without(LOINC, "2106-3")
    message = _oru("OBX|1|NM|21198-7^HCG beta^LN||2|[IU]/L|<5|N|||F|||20260228080000+0000")
    decision = _decide(builder, message)
    assert _criterion(decision, "I8").outcome is Outcome.PASS
    assert _criterion(decision, "E12").outcome is Outcome.PASS


def test_a_negative_hcg_without_documented_potential_does_not_exclude() -> None:
    """Positive evidence decides alone; a negative test and no plan to conceive exclude nothing."""
    decision = _decide(_without_childbearing_potential())
    assert _criterion(decision, "E12").outcome is Outcome.PASS


def _administration(code: str, days: float) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": f"ma-{code}-{days}",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "subject": {"reference": "Patient/vignette"},
        "effectiveDateTime": iso(ago(days)),
    }


def test_an_administration_is_the_dose_itself_so_its_washout_runs_from_it() -> None:
    builder = eligible_patient()
    builder.resources.append(_administration("6851", 30))  # methotrexate, 5 x 10 h long over
    e11 = _criterion(_decide(builder), "E11")
    assert e11.outcome is Outcome.PASS
    assert "stop date" not in " ".join(e11.missing)
    assert "methotrexate last 2026-01-30T09:00:00Z: washout ended" in e11.reason


def test_an_administration_within_the_washout_excludes() -> None:
    builder = eligible_patient()
    builder.resources.append(_administration("6851", 1))  # 24 h ago < 5 x 10 h
    assert _criterion(_decide(builder), "E11").outcome is Outcome.FAIL


def test_an_administration_not_done_is_no_exposure() -> None:
    builder = eligible_patient()
    builder.resources.append({**_administration("6851", 1), "status": "not-done"})
    assert _criterion(_decide(builder), "E11").outcome is Outcome.PASS


# Kind 7 (engine side): a deceased patient is never eligible, and the decision says why.


def test_a_deceased_patient_is_ineligible_and_the_decision_says_why() -> None:
    builder = eligible_patient()
    builder.patient["deceasedDateTime"] = iso(ago(1))
    decision = _decide(builder)
    assert decision.status is Status.INELIGIBLE
    first = decision.criteria[0]
    assert first.id == DECEASED_ID
    assert first.outcome is Outcome.FAIL
    assert "deceased" in first.reason
    # the trial's own criteria are still all shown
    assert len(decision.criteria) == len(TRIAL.criteria) + 1


def test_hl7_v2_results_of_a_patient_recorded_deceased_do_not_make_them_eligible() -> None:
    facts = _facts(
        eligible_patient().without(LOINC, "777-3"),
        _oru("OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000"),
    )
    assert evaluate(TRIAL, facts, AS_OF).status is Status.ELIGIBLE
    dead = facts.model_copy(
        update={"demographics": facts.demographics.model_copy(update={"deceased": True})}
    )
    assert evaluate(TRIAL, dead, AS_OF).status is Status.INELIGIBLE
    alive = facts.model_copy(
        update={
            "demographics": Demographics(**{**facts.demographics.model_dump(), "deceased": False})
        }
    )
    assert evaluate(TRIAL, alive, AS_OF).status is Status.ELIGIBLE


# Kind 12: evidence as received, beside the canonical value at the received precision.


def test_significant_figures_are_counted_as_written() -> None:
    assert [significant_figures(t) for t in ("44.4", "0.90", "180", "<10", "1:320")] == [
        3,
        2,
        3,
        2,
        None,
    ]
    assert round_to(0.502262443438914, 3) == 0.502


def test_evidence_shows_the_value_as_received_beside_the_canonical_at_its_precision() -> None:
    facts = _facts(eligible_patient())
    creatinine = next(f for f in facts.facts if f.codes[0].code == "2160-0")
    sent = creatinine.model_copy(
        update={
            "value_quantity": creatinine.value_quantity.model_copy(  # type: ignore[union-attr]
                update={"value": 79.6 / 88.4}
            ),
            "received": ReceivedValue(value="79.6", unit="umol/L"),
        }
    )
    patient = facts.model_copy(
        update={"facts": tuple(sent if f is creatinine else f for f in facts.facts)}
    )
    i63 = _criterion(evaluate(TRIAL, patient, AS_OF), "I6.3")
    cited = next(e for e in i63.evidence if e.fact_id == creatinine.fact_id)
    assert cited.value == 0.900
    assert cited.unit == "mg/dL"
    assert cited.details["received_value"] == "79.6"
    assert cited.details["received_unit"] == "umol/L"


def test_a_finding_shows_the_canonical_value_at_the_received_precision_and_the_sent_text() -> None:
    facts = _facts(eligible_patient())
    hemoglobin = next(f for f in facts.facts if f.codes[0].code == "718-7")
    sent = hemoglobin.model_copy(update={"received": ReceivedValue(value="11.0", unit="g/dL")})
    patient = facts.model_copy(
        update={"facts": tuple(sent if f is hemoglobin else f for f in facts.facts)}
    )
    i61 = _criterion(evaluate(TRIAL, patient, AS_OF), "I6.1")
    assert "hemoglobin 110 g/L (sent as 11.0 g/dL) on 2026-02-26T09:00:00Z meets" in i61.reason


def test_evidence_without_a_received_value_is_as_before() -> None:
    decision = _decide(eligible_patient())
    platelets = next(e for e in _criterion(decision, "I6.1").evidence if e.code == f"{LOINC}|777-3")
    assert platelets.value == 180
    assert "received_value" not in platelets.details


def test_a_received_value_equal_to_the_canonical_one_adds_nothing() -> None:
    facts = _facts(eligible_patient())
    platelets = next(f for f in facts.facts if f.codes[0].code == "777-3")
    same = platelets.model_copy(update={"received": ReceivedValue(value="180", unit="10*9/L")})
    patient = facts.model_copy(
        update={"facts": tuple(same if f is platelets else f for f in facts.facts)}
    )
    cited = next(
        e
        for e in _criterion(evaluate(TRIAL, patient, AS_OF), "I6.1").evidence
        if e.fact_id == platelets.fact_id
    )
    assert "received_value" not in cited.details
    assert AS_OF - timedelta(days=3) == cited.effective


def test_evidence_shows_the_elements_read_with_a_warning() -> None:
    facts = _facts(eligible_patient())
    platelets = next(f for f in facts.facts if f.codes[0].code == "777-3")
    noted = platelets.model_copy(
        update={
            "notes": (
                ReadingNote(
                    path="Bundle.entry[12].resource.valueQuantity.unit",
                    reason="'K/uL' read as 10*3/uL through the site alias table",
                ),
            )
        }
    )
    patient = facts.model_copy(
        update={"facts": tuple(noted if f is platelets else f for f in facts.facts)}
    )
    cited = next(
        e
        for e in _criterion(evaluate(TRIAL, patient, AS_OF), "I6.1").evidence
        if e.fact_id == platelets.fact_id
    )
    assert cited.details["reading_notes"] == (
        "Bundle.entry[12].resource.valueQuantity.unit:"
        " 'K/uL' read as 10*3/uL through the site alias table"
    )


def test_an_hl7_v2_result_in_another_unit_is_shown_as_sent_beside_the_canonical_value() -> None:
    """HL7 v2.5.1 OBX-5/OBX-6 as sent (the normaliser's ``received``), the canonical value at
    the sent precision: 11.0 g/dL -> 110 g/L; 79.6 umol/L creatinine -> 0.900 mg/dL."""
    builder = eligible_patient().without(LOINC, "718-7").without(LOINC, "2160-0")
    message = _oru(
        "OBX|1|NM|718-7^Hemoglobin^LN||11.0|g/dL|12.0-16.0|L|||F|||20260228080000+0000",
        "OBX|2|NM|2160-0^Creatinine^LN||79.6|umol/L|45-90|N|||F|||20260228080000+0000",
    )
    decision = _decide(builder, message)
    i61 = _criterion(decision, "I6.1")
    assert "hemoglobin 110 g/L (sent as 11.0 g/dL)" in i61.reason
    hb = next(e for e in i61.evidence if e.code == f"{LOINC}|718-7")
    assert (hb.value, hb.unit) == (110, "g/L")
    assert (hb.details["received_value"], hb.details["received_unit"]) == ("11.0", "g/dL")
    i63 = _criterion(decision, "I6.3")
    assert "SCr 0.900 mg/dL (sent as 79.6 umol/L)" in i63.reason
    scr = next(e for e in i63.evidence if e.code == f"{LOINC}|2160-0")
    assert scr.value == 0.900
    assert scr.details["received_value"] == "79.6"


def test_a_sex_specific_clause_says_in_the_protocols_terms_that_it_is_not_this_patients() -> None:
    """I8's clause for "male subjects with partners of childbearing potential" does not apply
    to a woman, its clause for "female subjects of childbearing potential" not to a man: the
    reason says which part does not apply and why, not "applies to male only"."""
    male = eligible_patient()
    male.patient["gender"] = "male"
    i8 = _criterion(_decide(male), "I8")
    assert "the part for female patients does not apply: recorded sex male" in i8.reason
    female = _criterion(_decide(eligible_patient()), "I8")
    assert "the part for male patients does not apply: recorded sex female" in female.reason
    assert "applies to" not in i8.reason + female.reason
