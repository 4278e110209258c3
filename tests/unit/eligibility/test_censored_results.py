"""A result reported only as a bound ("<20", ">1000") is judged as a bound, never as its number.

A platelet count of "<20" must not meet "platelets >= 20"; an hCG of "<50 IU/L" is not
readable against a 5 IU/L cut-off.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
)
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.context import Context, Trace
from shared.eligibility.decision import CriterionResult, Outcome, Status
from shared.eligibility.durations import parse_duration
from shared.eligibility.engine import build_index, evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.logic import Truth
from shared.eligibility.reading import read_result
from shared.eligibility.scores.common import lab_state
from shared.eligibility.scores.eular_acr_2019 import eular_acr_2019
from tests.unit.eligibility.fhir_builder import AS_OF, TW, ago, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
PLATELETS = "777-3"
CREATININE = "2160-0"


def _with_bound(code: str, value: float, unit: str, comparator: str) -> dict[str, Any]:
    builder = eligible_patient().without("http://loinc.org", code)
    builder.lab(code, value, unit)
    builder.resources[-1]["valueQuantity"]["comparator"] = comparator
    return builder.bundle()


def _with_platelets(value: float, comparator: str) -> dict[str, Any]:
    return _with_bound(PLATELETS, value, "10*9/L", comparator)


def _criterion(bundle: dict[str, Any], criterion_id: str) -> tuple[Status, CriterionResult]:
    patient = facts_from_updates(parse_fhir(bundle, source_system="t"))
    decision = evaluate(TRIAL, patient, AS_OF)
    return decision.status, next(c for c in decision.criteria if c.id == criterion_id)


def _i61(bundle: dict[str, Any]) -> tuple[Status, CriterionResult]:
    return _criterion(bundle, "I6.1")


def test_platelets_reported_below_a_bound_over_the_threshold_leave_I6_1_unknown() -> None:
    status, i61 = _i61(_with_platelets(50, "<"))
    assert i61.outcome is Outcome.UNKNOWN
    assert i61.missing == ("platelet count as a measured value, not the bound <50 10*9/L",)
    assert status is Status.UNDETERMINED


def test_platelets_reported_below_the_threshold_itself_fail_I6_1() -> None:
    status, i61 = _i61(_with_platelets(20, "<"))
    assert i61.outcome is Outcome.FAIL
    assert status is Status.INELIGIBLE


def test_platelets_reported_above_a_bound_over_the_threshold_pass_I6_1() -> None:
    _, i61 = _i61(_with_platelets(100, ">"))
    assert i61.outcome is Outcome.PASS
    assert i61.missing == ()


def _hcg(value: float, comparator: str | None) -> ClinicalFact:
    return ClinicalFact(
        fact_id="f",
        kind=FactKind.OBSERVATION,
        codes=(),
        value_quantity=Quantity(value=value, unit="[IU]/L", comparator=comparator),
        provenance=Provenance(source_system="t", format="fhir-r4", resource="Observation/f"),
    )


def test_a_censored_quantity_is_read_only_when_its_bound_settles_the_cut_off() -> None:
    units = ("[IU]/L",)
    assert read_result(_hcg(3, "<"), 5, units) is False
    assert read_result(_hcg(5, "<="), 5, units) is False
    assert read_result(_hcg(50, "<"), 5, units) is None
    assert read_result(_hcg(3, ">"), 5, units) is None
    assert read_result(_hcg(5, ">="), 5, units) is None
    assert read_result(_hcg(5, ">"), 5, units) is True
    assert read_result(_hcg(8, ">"), 5, units) is True
    assert read_result(_hcg(8, None), 5, units) is True
    assert read_result(_hcg(5, None), 5, units) is False


def test_a_creatinine_reported_above_a_bound_gives_no_passing_crcl_for_I6_3() -> None:
    # 0.9 mg/dL gives this 35-year-old woman a CrCl of about 83 mL/min; ">0.9" at most that
    _, i63 = _criterion(_with_bound(CREATININE, 0.9, "mg/dL", ">"), "I6.3")
    assert i63.outcome is not Outcome.PASS


def test_a_creatinine_reported_below_a_bound_gives_a_crcl_at_least_its_value_for_I6_3() -> None:
    _, i63 = _criterion(_with_bound(CREATININE, 0.9, "mg/dL", "<"), "I6.3")
    assert i63.outcome is Outcome.PASS


def _urine_rbc(value: float, comparator: str | None, days: int = 5) -> Context:
    fact = ClinicalFact(
        fact_id=f"rbc-{value}-{days}",
        kind=FactKind.OBSERVATION,
        codes=(Coding(system="http://loinc.org", code="13945-1"),),
        status="final",
        effective_start=AS_OF - timedelta(days=days),
        value_quantity=Quantity(value=value, unit="/[HPF]", comparator=comparator),
        provenance=Provenance(source_system="t", format="fhir-r4", resource="Observation/rbc"),
    )
    patient = PatientFacts(demographics=Demographics(birth_date=date(1990, 5, 10)), facts=(fact,))
    return Context(as_of=AS_OF, index=build_index(TRIAL, patient), tables=TRIAL.tables)


def _hematuria(ctx: Context) -> Truth | None:
    concept = TRIAL.tables.concept("urine_rbc_hpf")
    return lab_state(ctx, concept, ">", 5, parse_duration("P30D"), Trace(), ever=False)


def test_a_score_item_does_not_count_a_censored_result_that_cannot_settle_its_rule() -> None:
    # "<10 /HPF" may be 3 or 8: SLEDAI hematuria (> 5) is neither scored nor ruled out
    assert _hematuria(_urine_rbc(10, "<")) is None
    assert _hematuria(_urine_rbc(5, "<")) is Truth.FALSE
    assert _hematuria(_urine_rbc(5, ">")) is Truth.TRUE
    assert _hematuria(_urine_rbc(10, None)) is Truth.TRUE


def test_an_ana_titer_reported_below_1_80_is_not_the_eular_acr_entry_criterion() -> None:
    builder = eligible_patient().without("http://loinc.org", "5048-4")
    builder.lab("5048-4", 80, "{titer}", days=400)
    builder.resources[-1]["valueQuantity"]["comparator"] = "<"
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="t"))
    ctx = Context(as_of=AS_OF, index=build_index(TRIAL, patient), tables=TRIAL.tables)
    trace = Trace()
    assert eular_acr_2019(ctx, trace).gate is Truth.UNKNOWN
    assert "ANA >= 1:80 on HEp-2 cells (or equivalent positive test) at least once" in trace.missing


def _documented_crcl(value: float, comparator: str) -> dict[str, Any]:
    builder = eligible_patient().without("http://loinc.org", CREATININE)
    builder.observation(TW, "crcl-cockcroft-gault", ago(2), quantity=(value, "mL/min"))
    builder.resources[-1]["valueQuantity"]["comparator"] = comparator
    return builder.bundle()


def test_a_documented_crcl_reported_below_30_does_not_pass_I6_3() -> None:
    _, i63 = _criterion(_documented_crcl(30, "<"), "I6.3")
    assert i63.outcome is not Outcome.PASS


def test_a_documented_crcl_reported_above_90_passes_I6_3() -> None:
    _, i63 = _criterion(_documented_crcl(90, ">"), "I6.3")
    assert i63.outcome is Outcome.PASS
    assert "documented creatinine clearance by Cockcroft-Gault, documented >90" in i63.reason


def test_a_creatinine_of_zero_is_not_used_and_I6_3_names_the_missing_creatinine() -> None:
    builder = eligible_patient().without("http://loinc.org", CREATININE)
    builder.lab(CREATININE, 0, "mg/dL", days=1)
    _, i63 = _criterion(builder.bundle(), "I6.3")
    assert i63.outcome is Outcome.UNKNOWN
    assert "serum creatinine within 30 days" in i63.missing


# Cockcroft-Gault CrCl = (140 - age) x weight / (72 x SCr) (x 0.85 female; Nephron 1976;16:
# 31-41) rises with the weight (actual, ideal from the height, or adjusted: 0.6 IBW + 0.4
# actual). A weight known only as a bound ("<60 kg": a chair scale's floor, a value typed with
# its comparator) was read as exactly 60: this woman's CrCl of ~83 mL/min passed I6.3 (>= 30),
# though at 20 kg it is ~28. Now the bound bounds the CrCl the same way.
def test_a_body_weight_reported_below_a_bound_gives_no_passing_crcl_for_I6_3() -> None:
    _, i63 = _criterion(_with_bound("29463-7", 60, "kg", "<"), "I6.3")
    assert i63.outcome is not Outcome.PASS


def test_a_body_weight_reported_above_a_bound_gives_a_crcl_at_least_its_value_for_I6_3() -> None:
    _, i63 = _criterion(_with_bound("29463-7", 60, "kg", ">"), "I6.3")
    assert i63.outcome is Outcome.PASS
