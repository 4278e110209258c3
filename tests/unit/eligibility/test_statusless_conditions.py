"""A condition on record whose clinical status is not known is possibly active.

FHIR R4 Condition.clinicalStatus (0..1, https://hl7.org/fhir/R4/condition-definitions.html
#Condition.clinicalStatus: active, recurrence, relapse, inactive, remission, resolved) is the
only element that says whether a condition is current; con-3 ("Condition.clinicalStatus SHALL
be present if verificationStatus is not entered-in-error and category is problem-list-item")
is only a guideline in R4, so senders do omit it. ``verificationStatus`` ``confirmed`` says the
diagnosis is sure, not that it is current; an abatement date alone (con-4) is no status either.

Since b456fe3 the FHIR normaliser keeps such a Condition unread at ``clinicalStatus``. But a
condition fact can still reach the engine with no clinical status and nothing unread: facts
published before b456fe3 (status ``confirmed`` or None, replayed from the patient topic or kept
in the evaluator's state) and any reader that leaves the status empty. The engine used to read
them by ``is_active``: status None with no end date as **active**, status None with an end date
or ``confirmed`` as **not active**, silently either way. Now a criterion that needs to know
whether the condition is active is UNKNOWN, naming the missing element; a criterion that only
asks whether the condition was ever on record (or within a window that its dates meet) still
reads it. The patient is the eligible NCT06920433 vignette as of 2026-03-01 (``fhir_builder``).
"""

from __future__ import annotations

import pytest

from shared.clinical.facts import ClinicalFact, FactKind, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, SNOMED, PatientBuilder, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
HEART_FAILURE = (SNOMED, "84114007")  # cardiac_insufficiency: E4 (active_only)
ESRD = (ICD10CM, "N18.6")  # esrd: E7 (active_only)
EPILEPSY = (SNOMED, "84757009")  # cns_disease: E3 (ever on record)


def _statusless(builder: PatientBuilder, status: str | None, *, abated: bool) -> PatientFacts:
    """The builder's last Condition as a fact with ``status`` and no clinical status read:
    the shape of a fact published before b456fe3 (``confirmed`` when only verificationStatus
    was sent, None when neither was), with its abatement date kept when ``abated``."""
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    conditions = [f for f in patient.facts if f.kind is FactKind.CONDITION]
    last = conditions[-1]
    assert last.unread is None
    changed: ClinicalFact = last.model_copy(update={
        "status": status, "effective_end": last.effective_end if abated else None})
    facts = tuple(changed if f is last else f for f in patient.facts)
    return patient.model_copy(update={"facts": facts})


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


def test_control_the_vignette_with_a_resolved_heart_failure_is_eligible() -> None:
    builder = eligible_patient().condition(*HEART_FAILURE, onset_days=400, status="resolved",
                                           abated_days=200)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    decision = evaluate(TRIAL, patient, AS_OF)
    assert _criterion(decision, "E4").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


@pytest.mark.parametrize(("status", "abated"), [
    (None, False),          # before: read as active (E4 FAIL)
    (None, True),           # before: read as not active (E4 PASS, eligible)
    ("confirmed", False),   # before: verificationStatus only, read as not active (eligible)
    ("confirmed", True),
])
def test_a_heart_failure_with_no_clinical_status_leaves_e4_unknown(
    status: str | None, abated: bool
) -> None:
    builder = eligible_patient().condition(*HEART_FAILURE, onset_days=400, status="resolved",
                                           abated_days=200)
    decision = evaluate(TRIAL, _statusless(builder, status, abated=abated), AS_OF)
    e4 = _criterion(decision, "E4")
    assert e4.outcome is Outcome.UNKNOWN, e4.reason
    assert "clinicalStatus" in e4.reason, e4.reason
    assert "con-3" in e4.reason, e4.reason
    [missing] = [m for m in e4.missing if "clinicalStatus" in m]
    assert "heart failure" in missing.lower() or "cardiac" in missing.lower(), missing
    assert decision.status is not Status.ELIGIBLE


@pytest.mark.parametrize("status", [None, "confirmed"])
def test_an_esrd_with_no_clinical_status_is_never_eligible(status: str | None) -> None:
    builder = eligible_patient().condition(*ESRD, onset_days=300, status="resolved",
                                           abated_days=30)
    decision = evaluate(TRIAL, _statusless(builder, status, abated=True), AS_OF)
    assert _criterion(decision, "E7").outcome is Outcome.UNKNOWN
    assert decision.status is not Status.ELIGIBLE


def test_a_condition_ever_on_record_is_read_whatever_its_status() -> None:
    """E3 excludes epilepsy ever on record: whether it is active does not matter."""
    builder = eligible_patient().condition(*EPILEPSY, onset_days=4000, status="resolved",
                                           abated_days=3000)
    decision = evaluate(TRIAL, _statusless(builder, None, abated=True), AS_OF)
    assert _criterion(decision, "E3").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


def test_an_active_condition_with_an_abatement_date_is_not_read_as_either() -> None:
    """FHIR R4 con-4: an abated condition's clinicalStatus is inactive, resolved or remission;
    ``active`` with an end date contradicts itself (the normaliser keeps it unread since
    b456fe3; a fact of before is not read as not active)."""
    builder = eligible_patient().condition(*HEART_FAILURE, onset_days=400, status="resolved",
                                           abated_days=200)
    decision = evaluate(TRIAL, _statusless(builder, "active", abated=True), AS_OF)
    e4 = _criterion(decision, "E4")
    assert e4.outcome is Outcome.UNKNOWN, e4.reason
    assert "con-4" in e4.reason, e4.reason
    assert decision.status is not Status.ELIGIBLE


BREAST_CANCER = (SNOMED, "254837009")  # malignancy: E6 (onset/abatement within 5 years, or active)


def test_a_malignancy_recorded_within_five_years_excludes_whatever_its_status() -> None:
    """E6: onset 2 years ago is within the window whether or not it is still active."""
    builder = eligible_patient().condition(*BREAST_CANCER, onset_days=730, status="resolved",
                                           abated_days=700)
    decision = evaluate(TRIAL, _statusless(builder, None, abated=False), AS_OF)
    assert _criterion(decision, "E6").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


def test_a_malignancy_recorded_ten_years_ago_with_no_status_leaves_e6_unknown() -> None:
    """E6: onset 10 years ago, no clinical status: if still active it excludes, if resolved
    it does not; before, status None with no end date was read as active (FAIL), and with an
    abatement date 9 years ago as not active (PASS, eligible)."""
    for abated in (False, True):
        builder = eligible_patient().condition(*BREAST_CANCER, onset_days=3650,
                                               status="resolved", abated_days=3300)
        decision = evaluate(TRIAL, _statusless(builder, None, abated=abated), AS_OF)
        e6 = _criterion(decision, "E6")
        assert e6.outcome is Outcome.UNKNOWN, (abated, e6.reason)
        assert "clinicalStatus" in e6.reason
        assert decision.status is not Status.ELIGIBLE
