"""A tiny test trial behind the Screener port: one lab value and one washout decide it.

TEST-ONE-LAB v1: I1 passes when the newest test lab (by clinical time, within 30 days of the
evaluation instant) is >= 100; E1 fails while a test drug's washout (10 s after it stopped)
has not ended. ``next_review_at`` is the earliest future instant either could change.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
)
from shared.contracts.events import PatientUpdated
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Outcome,
    TrialRef,
    overall_status,
)

TEST_TRIAL = TrialRef(id="TEST-ONE-LAB", version="1")
LAB = Coding(system="urn:trialwatch:test", code="lab")
DRUG = Coding(system="urn:trialwatch:test", code="washout-drug")
THRESHOLD = 100.0
LOOKBACK = timedelta(days=30)
WASHOUT = timedelta(seconds=10)


class OneLabScreener:
    def __init__(self, trials: tuple[TrialRef, ...] = (TEST_TRIAL,)) -> None:
        self._trials = trials
        self.calls = 0

    def active_trials(self) -> tuple[TrialRef, ...]:
        return self._trials

    def has_version(self, trial: TrialRef) -> bool:
        return trial.id == TEST_TRIAL.id

    def content_hash(self, trial: TrialRef) -> str | None:
        return None

    def text_of(self, trial: TrialRef) -> str | None:
        return None

    def load_text(self, text: str) -> TrialRef:
        raise NotImplementedError("the test screener has one built-in trial")

    def evaluate(self, trial: TrialRef, facts: PatientFacts, as_of: datetime) -> Decision:
        self.calls += 1
        lab, lab_review = _lab_criterion(facts, as_of)
        washout, washout_review = _washout_criterion(facts, as_of)
        reviews = [t for t in (lab_review, washout_review) if t is not None and t > as_of]
        return Decision(
            trial=trial,
            as_of=as_of,
            status=overall_status([lab.outcome, washout.outcome]),
            criteria=(lab, washout),
            next_review_at=min(reviews) if reviews else None,
            engine_version="test-one-lab",
        )


def _has(fact: ClinicalFact, code: Coding) -> bool:
    return any(c.system == code.system and c.code == code.code for c in fact.codes)


def _lab_criterion(facts: PatientFacts, as_of: datetime) -> tuple[CriterionResult, datetime | None]:
    labs = [
        f for f in facts.facts
        if _has(f, LAB) and f.status != "entered-in-error" and f.value_quantity is not None
        and f.effective_start is not None and as_of - LOOKBACK <= f.effective_start <= as_of
    ]
    if not labs:
        return CriterionResult(
            id="I1", kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
            reason="no test lab within 30 days", missing=("test lab within 30 days",),
        ), None
    newest = max(labs, key=lambda f: f.effective_start or as_of)
    assert newest.value_quantity is not None
    assert newest.effective_start is not None
    value = newest.value_quantity.value
    outcome = Outcome.PASS if value >= THRESHOLD else Outcome.FAIL
    return CriterionResult(
        id="I1", kind=CriterionKind.INCLUSION, outcome=outcome,
        reason=f"test lab {value} {'>=' if outcome is Outcome.PASS else '<'} {THRESHOLD}",
    ), newest.effective_start + LOOKBACK


def _washout_criterion(
    facts: PatientFacts, as_of: datetime
) -> tuple[CriterionResult, datetime | None]:
    drugs = [f for f in facts.facts if _has(f, DRUG)]
    ends = [
        stopped + WASHOUT for f in drugs if (stopped := f.effective_end or f.effective_start)
    ]
    pending = [end for end in ends if end > as_of]
    if pending:
        return CriterionResult(
            id="E1", kind=CriterionKind.EXCLUSION, outcome=Outcome.FAIL,
            reason="test drug washout not complete",
        ), min(pending)
    if len(ends) < len(drugs):
        return CriterionResult(
            id="E1", kind=CriterionKind.EXCLUSION, outcome=Outcome.UNKNOWN,
            reason="test drug without a stop date", missing=("test drug stop date",),
        ), None
    return CriterionResult(
        id="E1", kind=CriterionKind.EXCLUSION, outcome=Outcome.PASS, reason="no washout pending",
    ), None


def lab_fact(value: float, effective: datetime, fact_id: str = "lab-1") -> ClinicalFact:
    return ClinicalFact(
        fact_id=fact_id, kind=FactKind.OBSERVATION, codes=(LAB,), status="final",
        effective_start=effective, value_quantity=Quantity(value=value, unit="1"),
        provenance=Provenance(source_system="test", format="fhir-r4",
                              resource=f"Observation/{fact_id}"),
    )


def drug_fact(stopped: datetime | None, fact_id: str = "drug-1") -> ClinicalFact:
    return ClinicalFact(
        fact_id=fact_id, kind=FactKind.MEDICATION, codes=(DRUG,), status="completed",
        effective_start=stopped - timedelta(days=30) if stopped else None, effective_end=stopped,
        provenance=Provenance(source_system="test", format="fhir-r4",
                              resource=f"MedicationStatement/{fact_id}"),
    )


def patient_updated(
    patient_key: str, facts: tuple[ClinicalFact, ...], at: datetime,
    demographics: Demographics | None = None,
) -> PatientUpdated:
    import uuid

    return PatientUpdated(
        event_id=uuid.uuid4(), occurred_at=at, recorded_at=at, source="test",
        patient_key=patient_key, correlation_id=uuid.uuid4(), demographics=demographics,
        facts=facts,
    )
