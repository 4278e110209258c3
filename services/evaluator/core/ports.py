"""The evaluator core's ports: what screening needs from the world, as ``Protocol`` classes.

The core decides; these say what it reads and writes. The SQL adapters
(``adapters/sql/stores.py``) implement them over one database transaction; the unit tests run
the core on in-memory fakes of them (``tests/unit/evaluator/fakes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Protocol
from uuid import UUID

from services.evaluator.core.coordination import (
    Acknowledgement,
    AlertRow,
    PairView,
    TrialStop,
    WorklistEntry,
)
from services.evaluator.core.decisions import HELD_ENGINE_VERSION
from services.evaluator.core.patient_state import PatientState
from shared.clinical.facts import ClinicalFact, PatientFacts
from shared.contracts.events import (
    CoordinatorActionKind,
    DecisionMade,
    EligibilityAlert,
    EnrolmentConfirmation,
    PatientSnapshot,
)
from shared.eligibility.decision import Decision, Status, TrialRef
from shared.sites import SiteScope

PairKey = tuple[str, str]  # (patient key, trial id)
OutgoingEvent = DecisionMade | EligibilityAlert | PatientSnapshot


class EvaluatorTelemetry(Protocol):
    """What the screening core reports as it works (metrics and log lines,
    ``adapters.telemetry``); never PHI beyond the surrogate patient key."""

    def handling(self, event_id: UUID, patient_key: str) -> AbstractContextManager[object]:
        """Whatever is reported inside this block is about that patient event."""
        ...

    def event_dead_lettered(self, error: BaseException) -> None:
        """The event being handled could not be applied; it goes to the dead-letter topic."""

    def engine_failed(self, trial: TrialRef, error: BaseException) -> None:
        """The criteria engine raised on ``trial``; the decision is undetermined."""

    def clock_stepped_back(self, ahead_s: float) -> None:
        """A patient's previous evaluation lies ``ahead_s`` seconds after now (the wall clock
        was stepped back); it is ignored (``patient_state.evaluation_instant``)."""


class Unobserved:
    """``EvaluatorTelemetry`` that reports nothing (unit tests, tools)."""

    def handling(self, event_id: UUID, patient_key: str) -> AbstractContextManager[object]:
        return nullcontext()

    def event_dead_lettered(self, error: BaseException) -> None:
        return None

    def engine_failed(self, trial: TrialRef, error: BaseException) -> None:
        return None

    def clock_stepped_back(self, ahead_s: float) -> None:
        return None


UNOBSERVED = Unobserved()


class Screener(Protocol):
    """Evaluates one trial version for one patient at one instant; lists the shipped trials;
    compiles a trial version from the registry's stored text."""

    def evaluate(
        self, trial: TrialRef, facts: PatientFacts, as_of: datetime,
        patient_key: str | None = None,
    ) -> Decision:
        """The decision for ``facts`` at ``as_of``. ``patient_key`` lets a screener reuse what
        it kept from this patient's previous evaluation (incremental); the decision must equal
        the one it would give without it."""
        ...

    def active_trials(self) -> tuple[TrialRef, ...]: ...

    def has_version(self, trial: TrialRef) -> bool: ...

    def content_hash(self, trial: TrialRef) -> str | None:
        """The content hash of the text this screener compiled ``trial`` from (None: unknown)."""
        ...

    def text_of(self, trial: TrialRef) -> str | None:
        """The trial file text this screener read ``trial`` from, when it came from its folder."""
        ...

    def load_text(self, text: str) -> TrialRef:
        """Compile a trial version from its stored text (replacing one of the same id and
        version); raises ``TrialFileError`` when it does not compile."""
        ...


@dataclass(frozen=True, slots=True)
class CurrentStatus:
    """A patient's current decision for one trial, as stored: what alerts and headlines compare
    a new decision with. ``decision`` is None for a row written before decisions were kept."""

    status: Status
    decision_id: str
    trial_version: str
    decision: Decision | None
    held_from: Status | None = None

    @property
    def held(self) -> bool:
        """Whether the standing decision is intake's hold (``decisions.held_by_intake``)."""
        return (self.decision is not None
                and self.decision.engine_version == HELD_ENGINE_VERSION)

    @property
    def alerted(self) -> Status | None:
        """The status the coordinator's alerts reflect for this pair: the status itself, or,
        while the standing decision is intake's hold, ``held_from`` (the status before the
        hold began; None: the pair had none). A hold's ``undetermined`` says "not known now",
        not a change the coordinator was told of: the release compares with this
        (docs/evaluator.md "Intake holds a patient's updates", alerts after a release)."""
        return self.held_from if self.held else self.status


@dataclass(frozen=True, slots=True)
class PatientHold:
    """Intake holds (or held) this patient's updates (``PatientUpdatesHeld`` /
    ``PatientUpdatesReleased`` on ``patient.holds.v1``), one row per ``hold_id``.

    ``reason`` is intake's (None: only the release was seen, a tombstone); ``released`` once
    the release was seen; ``awaiting_event_id``: the patient update the release said was the
    last one waiting, not applied yet (None once applied, or when none was waiting). The hold
    is ``in_effect`` until it was released and that update applied: the data is incomplete
    until then."""

    hold_id: str
    patient_key: str
    reason: str | None
    released: bool
    awaiting_event_id: str | None = None

    @property
    def in_effect(self) -> bool:
        return not self.released or self.awaiting_event_id is not None


@dataclass(frozen=True, slots=True)
class PatientRecords:
    """What the store holds about some patients: their states (absent: never seen), current
    statuses per trial, which of them were merged into which surviving key, and intake's
    holds on their updates (by hold id; released ones whose awaited update was applied are
    read with ``awaiting_event_id`` None)."""

    states: Mapping[str, PatientState]
    statuses: Mapping[PairKey, CurrentStatus]
    survivors: Mapping[str, str]
    holds: Mapping[str, PatientHold] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TrialStanding:
    """A patient's current result for one trial: its status, how many criteria are still
    unknown, and the decision behind it (None: no decision kept for it)."""

    trial_id: str
    status: Status
    unknown_criteria: int
    decision: Decision | None


@dataclass(frozen=True, slots=True)
class ScreenedPatient:
    """The key a patient's data lives under (the survivor of a merge), their facts, and each
    trial's current (trial version, status, criteria still unknown), by trial id."""

    patient_key: str
    facts: PatientFacts
    current: list[tuple[TrialRef, Status, int]]


class PatientStatusQueries(Protocol):
    """The read side of screening, for the EHR's hooks and the coordinator app: what the
    evaluator currently holds about one patient, read in one transaction."""

    async def standings(self, patient_key: str) -> list[TrialStanding]:
        """The current result per trial stored under ``patient_key`` itself, by trial id."""
        ...

    async def screened_patient(self, patient_key: str) -> ScreenedPatient:
        """The patient behind ``patient_key``, following a merge to its survivor."""
        ...

    async def patient_site(self, patient_key: str) -> str | None:
        """The site of the patient behind ``patient_key`` (a merge followed); None: none."""
        ...


class CoordinatorDesk(Protocol):
    """What the coordinator app reads and records. Each action is stored with its
    ``CoordinatorActed`` event in one transaction and published once committed."""

    async def active_trials(self) -> tuple[TrialRef, ...]:
        """The trial versions screened now (the registry's active ones)."""
        ...

    async def alerts(self, trial_id: str | None, sites: SiteScope = None) -> list[AlertRow]:
        """Newest first; one trial's or every trial's; only patients of ``sites`` (None: all)."""
        ...

    async def worklist(self, trial_id: str, limit: int,
                       sites: SiteScope = None) -> list[WorklistEntry]:
        """Patients undetermined for the trial, closest to eligible first; only patients of
        ``sites`` (None: every site)."""
        ...

    async def patient_site(self, patient_key: str) -> str | None:
        """The site held with the patient's screening state (None: none, or no such patient)."""
        ...

    async def survivor(self, patient_key: str) -> str:
        """The key this patient's record lives under now (itself, or its merge survivor)."""
        ...

    async def pair_view(self, patient_key: str, trial_id: str) -> PairView | None:
        """None when the patient was never screened for the trial."""
        ...

    async def trial_stop(self, trial_id: str, patient_key: str | None = None
                         ) -> TrialStop | None:
        """How the trial stopped being screened (deactivated or retired: when, by whom, why),
        with ``patient_key``'s status history for it; None when it is screened or unknown."""
        ...

    async def acknowledge(self, alert_id: str, actor: str, now: datetime,
                          may_see_trial: Callable[[str], bool],
                          sites: SiteScope = None) -> Acknowledgement:
        """Record the acknowledgement of an alert of a trial ``may_see_trial`` allows, of a
        patient of ``sites`` (None: every site); not recorded when there is no such alert for
        this actor, with the alert's surrogate key when its patient is of another site."""
        ...

    async def act(self, patient_key: str, trial_id: str, action: CoordinatorActionKind,
                  actor: str, now: datetime, reason: str | None,
                  confirmed_against: EnrolmentConfirmation | None = None) -> bool:
        """Record an action on a screened patient; False (nothing recorded) when the patient
        was never screened for the trial. ``confirmed_against``: an enrolment's confirmation
        of a decision that was not eligible (recorded in the action's event)."""
        ...

    async def reidentified(self, patient_key: str, trial_id: str, actor: str, now: datetime,
                           reason: str) -> PairView | None:
        """Record that the actor saw the patient's identity; the pair as it is now."""
        ...


@dataclass(frozen=True, slots=True)
class ProcessedEvent:
    event_id: str
    patient_key: str
    state_version: int
    processed_at: datetime


@dataclass(frozen=True, slots=True)
class Merge:
    merged_key: str
    surviving_key: str
    event_id: str
    merged_at: datetime


@dataclass
class PatientChanges:
    """What one transaction's screenings change about patients, keyed so that the last change
    to a row wins. ``states`` maps a key to (state, when it was written)."""

    facts: dict[PairKey, ClinicalFact] = field(default_factory=dict)  # (patient, fact id)
    states: dict[str, tuple[PatientState, datetime]] = field(default_factory=dict)
    processed: list[ProcessedEvent] = field(default_factory=list)
    statuses: dict[PairKey, DecisionMade] = field(default_factory=dict)
    # a held decision's pair -> the status it stood at before the hold (CurrentStatus.held_from)
    held_from: dict[PairKey, Status | None] = field(default_factory=dict)
    history: list[tuple[DecisionMade, str]] = field(default_factory=list)  # (decision, headline)
    merged_away: dict[str, Merge] = field(default_factory=dict)
    holds: dict[str, tuple[PatientHold, datetime]] = field(default_factory=dict)  # by hold id


class PatientRepository(Protocol):
    """Patients' states, facts, current statuses, merges and the event ids already applied."""

    async def processed(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` were applied before."""
        ...

    async def load(self, patient_keys: Sequence[str]) -> PatientRecords:
        """The records of ``patient_keys`` (sorted), held for this transaction: a concurrent
        writer of the same patients waits (row locks on PostgreSQL)."""
        ...

    async def save(self, changes: PatientChanges) -> None:
        """Write every change; a merged-away key loses its facts, state, statuses and timers;
        a hold is stored (or replaced) by its hold id."""
        ...

    async def keys_after(self, after: str | None, limit: int | None) -> list[str]:
        """Up to ``limit`` patient keys greater than ``after``, in order (all: ``after`` None)."""
        ...

    async def count_after(self, after: str | None) -> int:
        """How many patient keys are greater than ``after`` (all: ``after`` None)."""
        ...


class ReviewTimers(Protocol):
    """When a patient's decision for a trial must be looked at again with no new data."""

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        """Up to ``limit`` due timers (patient key, trial id, due at), oldest first, held for
        this transaction (another process skips them)."""
        ...

    async def save(self, timers: Mapping[PairKey, datetime | None]) -> None:
        """Set each timer to its instant, or remove it (None)."""
        ...


class DecisionOutbox(Protocol):
    """Decisions and alerts leave with the transaction that made them (transactional outbox)."""

    async def stage(
        self, events: Sequence[OutgoingEvent], raised: Sequence[EligibilityAlert],
    ) -> None:
        """Stage ``events`` for publishing after the commit; ``raised`` are the alerts that
        crossed the eligible line (kept for coordinators and delivered to the trials'
        webhooks)."""
        ...


class TrialRegistry(Protocol):
    async def active_trials(self) -> tuple[TrialRef, ...]:
        """The trial versions screened now, compiled by the screener."""
        ...


class UnitOfWork(Protocol):
    """One transaction: its stores see and write the same data; leaving the ``async with``
    commits, unless it raised (then nothing of it is kept)."""

    @property
    def patients(self) -> PatientRepository: ...

    @property
    def timers(self) -> ReviewTimers: ...

    @property
    def outbox(self) -> DecisionOutbox: ...

    @property
    def registry(self) -> TrialRegistry: ...

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...
