"""A tiny test trial behind the Screener port: one lab value and one washout decide it.

TEST-ONE-LAB v1: I1 passes when the newest test lab (by clinical time, within 30 days of the
evaluation instant) is >= 100; E1 fails while a test drug's washout (10 s after it stopped)
has not ended. ``next_review_at`` is the earliest future instant either could change.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import TracebackType
from uuid import UUID

from services.evaluator.core.patient_state import PatientState
from services.evaluator.core.ports import (
    CurrentStatus,
    OutgoingEvent,
    PairKey,
    PatientChanges,
    PatientHold,
    PatientRecords,
    ProcessedEvent,
)
from shared.clinical.facts import (
    ClinicalFact,
    Coding,
    Demographics,
    FactKind,
    PatientFacts,
    Provenance,
    Quantity,
)
from shared.contracts.events import DecisionMade, EligibilityAlert, PatientUpdated
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

    def evaluate(
        self, trial: TrialRef, facts: PatientFacts, as_of: datetime,
        patient_key: str | None = None,
    ) -> Decision:
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


# In-memory fakes of the evaluator core's ports (services/evaluator/core/ports.py), so the
# screening core runs in unit tests with no database, broker or engine. A unit of work copies
# the committed data on entry and publishes its copy back only on a clean exit, like a
# transaction.


@dataclass
class Stored:
    """Everything the fakes hold, as committed."""

    states: dict[str, PatientState] = field(default_factory=dict)
    statuses: dict[PairKey, CurrentStatus] = field(default_factory=dict)
    survivors: dict[str, str] = field(default_factory=dict)
    processed: dict[str, ProcessedEvent] = field(default_factory=dict)
    history: list[tuple[DecisionMade, str]] = field(default_factory=list)
    timers: dict[PairKey, datetime] = field(default_factory=dict)
    outbox: list[OutgoingEvent] = field(default_factory=list)
    alerts: list[EligibilityAlert] = field(default_factory=list)
    active: tuple[TrialRef, ...] = ()
    holds: dict[str, PatientHold] = field(default_factory=dict)


class FakePatients:
    def __init__(self, stored: Stored) -> None:
        self._stored = stored

    async def processed(self, event_ids: Sequence[str]) -> set[str]:
        return {e for e in event_ids if e in self._stored.processed}

    async def load(self, patient_keys: Sequence[str]) -> PatientRecords:
        s, keys = self._stored, set(patient_keys)
        return PatientRecords(
            states={k: v for k, v in s.states.items() if k in keys},
            statuses={p: v for p, v in s.statuses.items() if p[0] in keys},
            survivors={k: v for k, v in s.survivors.items() if k in keys},
            holds={i: replace(h, awaiting_event_id=None) if h.awaiting_event_id in s.processed
                   else h for i, h in s.holds.items() if h.patient_key in keys})

    async def save(self, changes: PatientChanges) -> None:
        s = self._stored
        for state, _ in changes.states.values():
            s.states[state.patient_key] = state
        for p in changes.processed:
            s.processed.setdefault(p.event_id, p)
        for pair, made in changes.statuses.items():
            s.statuses[pair] = CurrentStatus(made.decision.status, str(made.decision_id),
                                             made.decision.trial.version, made.decision,
                                             changes.held_from.get(pair))
        for merge in changes.merged_away.values():
            s.survivors.setdefault(merge.merged_key, merge.surviving_key)
            s.states.pop(merge.merged_key, None)
            s.statuses = {p: v for p, v in s.statuses.items() if p[0] != merge.merged_key}
            s.timers = {p: v for p, v in s.timers.items() if p[0] != merge.merged_key}
        s.history += changes.history
        for hold_id, (hold, _) in changes.holds.items():
            s.holds[hold_id] = hold

    async def keys_after(self, after: str | None, limit: int | None) -> list[str]:
        keys = sorted(k for k in self._stored.states if after is None or k > after)
        return keys if limit is None else keys[:limit]

    async def count_after(self, after: str | None) -> int:
        return len(await self.keys_after(after, None))


class FakeTimers:
    def __init__(self, stored: Stored) -> None:
        self._stored = stored

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        due = sorted((at, k, t) for (k, t), at in self._stored.timers.items() if at <= now)
        return [(k, t, at) for at, k, t in due[:limit]]

    async def save(self, timers: Mapping[PairKey, datetime | None]) -> None:
        for pair, at in timers.items():
            if at is None:
                self._stored.timers.pop(pair, None)
            else:
                self._stored.timers[pair] = at


class FakeOutbox:
    def __init__(self, stored: Stored) -> None:
        self._stored = stored

    async def stage(
        self, events: Sequence[OutgoingEvent], raised: Sequence[EligibilityAlert],
    ) -> None:
        known = {e.event_id for e in self._stored.outbox}
        self._stored.outbox += [e for e in events if e.event_id not in known]
        self._stored.alerts += raised


class FakeRegistry:
    def __init__(self, stored: Stored) -> None:
        self._stored = stored

    async def active_trials(self) -> tuple[TrialRef, ...]:
        return self._stored.active


class FakeUnitOfWork:
    """One transaction over ``Store``: commits its copy on a clean exit, drops it otherwise."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self.committed = False

    async def __aenter__(self) -> FakeUnitOfWork:
        self._copy = copy.deepcopy(self._store.data)
        self.patients = FakePatients(self._copy)
        self.timers = FakeTimers(self._copy)
        self.outbox = FakeOutbox(self._copy)
        self.registry = FakeRegistry(self._copy)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self._store.data = self._copy
            self.committed = True


@dataclass
class FakeStore:
    """The fakes' "database": ``unit_of_work()`` opens a transaction on it."""

    data: Stored = field(default_factory=Stored)

    def unit_of_work(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class RecordingTelemetry:
    """``EvaluatorTelemetry`` that keeps what the core reported, each with the patient event
    being handled when it was reported (None outside an event)."""

    def __init__(self) -> None:
        self.handling_now: tuple[UUID, str] | None = None
        self.dead_lettered: list[tuple[tuple[UUID, str] | None, BaseException]] = []
        self.engine_failures: list[tuple[tuple[UUID, str] | None, TrialRef]] = []
        self.clock_steps: list[float] = []

    @contextmanager
    def handling(self, event_id: UUID, patient_key: str) -> Iterator[None]:
        outer, self.handling_now = self.handling_now, (event_id, patient_key)
        try:
            yield
        finally:
            self.handling_now = outer

    def event_dead_lettered(self, error: BaseException) -> None:
        self.dead_lettered.append((self.handling_now, error))

    def engine_failed(self, trial: TrialRef, error: BaseException) -> None:
        self.engine_failures.append((self.handling_now, trial))

    def clock_stepped_back(self, ahead_s: float) -> None:
        self.clock_steps.append(ahead_s)
