"""Criteria that fail for good: nothing to send and no automatic review.

NCT06946485 I5 reads "Aged 18-65 years" (age >= 18 and age <= 65). A patient over 65 can never
meet it again: the decision stays ``ineligible``, but nothing is asked for and no review is
scheduled. A patient under 18 will meet it on their 18th birthday: that review stays.
"""

from __future__ import annotations

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import PERMANENT_NOTE, evaluate, permanent_failures
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import needs
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

AGED_18_65 = load_trial("NCT06946485", "2025-10-03.2")


def _decide(builder: PatientBuilder, trial: object = AGED_18_65) -> Decision:
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    return evaluate(trial, facts, AS_OF)  # type: ignore[arg-type]


def _i5(decision: Decision) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == "I5")


def _born(birth_date: str) -> PatientBuilder:
    builder = eligible_patient()
    builder.patient["birthDate"] = birth_date
    return builder


def test_over_the_upper_age_limit_fails_for_good_with_nothing_to_send_and_no_review() -> None:
    decision = _decide(_born("1950-01-01"))  # 76 at as-of (1 Mar 2026)
    assert decision.status is Status.INELIGIBLE, "the decision itself stays ineligible"
    assert _i5(decision).outcome is Outcome.FAIL
    assert _i5(decision).reason.endswith(PERMANENT_NOTE)
    assert [c.id for c in permanent_failures(decision)] == ["I5"]
    assert needs(decision) == (), "no data can make the patient eligible"
    assert decision.next_review_at is None, "no birthday review for a change that cannot help"


def test_under_the_lower_age_limit_is_not_permanent_and_the_review_says_which_birthday() -> None:
    decision = _decide(_born("2008-03-05"))  # 17 at as-of: 18 on 5 Mar 2026
    assert _i5(decision).outcome is Outcome.FAIL
    assert permanent_failures(decision) == ()
    assert needs(decision) != ()
    assert decision.next_review_at is not None
    assert decision.next_review_at.date().isoformat() == "2026-03-05"


def test_a_deceased_patient_has_nothing_to_send() -> None:
    builder = _born("1950-01-01")
    builder.patient["deceasedDateTime"] = "2010-06-01"
    decision = _decide(builder)
    assert [c.id for c in permanent_failures(decision)] == ["PATIENT-DECEASED"]
    assert needs(decision) == ()
