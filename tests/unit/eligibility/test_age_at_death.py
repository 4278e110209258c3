"""A deceased patient's age is their age at death (FHIR R4 Patient.deceasedDateTime, HL7 v2.5.1
PID-29), never their age at as-of: the audit keeps the decision as the engine makes it, so an
age scored to today would stand in the audit trail. With Patient.deceasedBoolean only (or PID-30
"Y" without PID-29) the age at death lies between 0 and the age at as-of, and only a comparison
both ends agree on is decided; otherwise the criterion is ``unknown`` (never a guess).

NCT06946485 I5 reads "Aged 18-65 years" (age >= 18 and age <= 65).
"""

from __future__ import annotations

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

AGED_18_65 = load_trial("NCT06946485", "2025-10-03.2")


def _decide(builder: PatientBuilder) -> Decision:
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    return evaluate(AGED_18_65, facts, AS_OF)


def _i5(decision: Decision) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == "I5")


def _born(birth_date: str) -> PatientBuilder:
    builder = eligible_patient()
    builder.patient["birthDate"] = birth_date
    return builder


def test_a_deceased_patients_age_is_the_age_at_death_not_at_as_of() -> None:
    builder = _born("1950-01-01")
    builder.patient["deceasedDateTime"] = "2010-06-01"  # died aged 60; 76 at as-of
    decision = _decide(builder)
    assert decision.status is Status.INELIGIBLE  # deceased: never eligible
    i5 = _i5(decision)
    assert i5.outcome is Outcome.PASS, i5.reason  # 60 meets 18-65: the age stopped at death
    [age] = [e for e in i5.evidence if e.code == "Patient.birthDate"][:1]
    assert age.note == "age 60 years at death (2010-06-01)"
    assert age.details["age_years"] == 60
    assert "age 60 years at death" in i5.reason
    assert "76" not in i5.reason
    assert decision.next_review_at is None


def test_deceased_without_a_date_decides_age_only_where_any_age_at_death_agrees() -> None:
    old = _born("1950-01-01")
    old.patient["deceasedBoolean"] = True
    i5 = _i5(_decide(old))  # died at some age 0..76: 18-65 can be met or not
    assert i5.outcome is Outcome.UNKNOWN, i5.reason
    assert "age at death unknown, at most 76 years" in i5.reason
    young = _born("2016-01-01")
    young.patient["deceasedBoolean"] = True
    assert _i5(_decide(young)).outcome is Outcome.FAIL, "died at 10 or younger: never 18"
