"""NCT06920433 I6.3 asks for what computes creatinine clearance before anything else (brief ux).

Before: with no body weight on record the I6.3 row and "What to send next" asked the coordinator
for the weight AND for a clinician statement "low CrCl is an acute decline caused by the disease
itself": a statement about a clearance no one can know yet (Cockcroft-Gault needs age, weight and
serum creatinine). Now, while CrCl cannot be computed, the row says what is missing to compute it
and asks only for that; once CrCl is computed and below 30 mL/min, the statement is asked. The
decision itself is the engine's and unchanged (I6.3 unknown)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from services.evaluator.adapters.http.ui.views import patient_context
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import needs
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, PatientBuilder, eligible_patient

STATEMENT = "acute decline caused by the disease"


def _decide(builder: PatientBuilder) -> Decision:
    return evaluate(load_trial("NCT06920433", "2025-11-14.4"),
                    facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr")), AS_OF)


def _row(decision: Decision):  # type: ignore[no-untyped-def]
    return next(c for c in patient_context(decision, ZoneInfo("UTC"))["criteria"]
                if c.id == "I6.3")


def test_without_a_weight_only_the_weight_is_asked() -> None:
    decision = _decide(eligible_patient().without(LOINC, "29463-7"))
    row = _row(decision)
    assert row.outcome == Outcome.UNKNOWN.value
    assert row.missing == ["body weight within 90 days"], row.missing
    assert STATEMENT not in row.reason, row.reason
    assert "body weight" in row.reason, "the row says what CrCl lacks"
    asked = [n.item for n in needs(decision)]
    assert "body weight within 90 days" in asked
    assert not any(STATEMENT in item for item in asked), asked


def test_without_weight_or_creatinine_both_are_asked_and_nothing_else() -> None:
    decision = _decide(eligible_patient().without(LOINC, "29463-7").without(LOINC, "2160-0"))
    assert _row(decision).missing == ["serum creatinine within 30 days",
                                      "body weight within 90 days"]


def test_a_computed_low_clearance_asks_the_clinician() -> None:
    builder = eligible_patient().without(LOINC, "2160-0")
    builder.lab("2160-0", 4.0, "mg/dL")  # CrCl about 18 mL/min at 36 years, 60 kg
    decision = _decide(builder)
    row = _row(decision)
    assert row.outcome == Outcome.UNKNOWN.value
    assert any(STATEMENT in item for item in row.missing), row.missing
    assert any(STATEMENT in n.item for n in needs(decision))
