"""One transaction's screenings: read in a few queries, decide in memory, write in a few statements.

The consumer applies a whole poll of patient events in one transaction; per-event round trips
to the database were the evaluator's cost, not the criteria engine. ``Screening`` loads the
states, processed event ids and current statuses of every patient in the batch up front
(through ``PatientRepository.load``, which holds the patients for the transaction), applies
each event and screens each trial in memory, and hands every change to the unit of work's
stores at ``flush``. An event that raises is rejected without leaving anything behind (its
changes are merged only once it succeeded), so the others in the batch still commit.

Pure: it reads and writes only through the ports of ``core.ports``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from uuid import UUID

from services.evaluator.core import decisions
from services.evaluator.core.clock import Clock
from services.evaluator.core.patient_state import PatientState, evaluation_instant, ordered
from services.evaluator.core.ports import (
    UNOBSERVED,
    CurrentStatus,
    EvaluatorTelemetry,
    Merge,
    OutgoingEvent,
    PairKey,
    PatientChanges,
    PatientHold,
    ProcessedEvent,
    Screener,
    UnitOfWork,
)
from shared.clinical.facts import PatientFacts, PatientUpdate
from shared.clinical.state import apply_update
from shared.contracts.events import (
    EligibilityAlert,
    PatientMerged,
    PatientUpdated,
    PatientUpdatesHeld,
    PatientUpdatesReleased,
    RegistryChangeRef,
)
from shared.eligibility.decision import Decision, Status, TrialRef
from shared.eligibility.readable import headline


def _no_labels(trial: TrialRef) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True, slots=True)
class ScreeningContext:
    """What screening needs besides the stores: the engine behind its port, the clock, the
    site's zone (dates in alert headlines), the clinical names of a trial's codes (for
    headlines), and what it reports (dead-lettered events, engine failures, clock steps)."""

    screener: Screener
    clock: Clock
    zone: tzinfo = UTC
    labels_of: Callable[[TrialRef], Mapping[str, str]] = _no_labels
    telemetry: EvaluatorTelemetry = UNOBSERVED


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why and when a screening happens: a patient event, a timer, or an amendment."""

    as_of: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    registry_change: RegistryChangeRef | None = None


@dataclass
class Changes:
    """One transaction's changes: patients', timers' and the events to publish."""

    patients: PatientChanges = field(default_factory=PatientChanges)
    timers: dict[PairKey, datetime | None] = field(default_factory=dict)
    events: list[OutgoingEvent] = field(default_factory=list)
    raised: list[EligibilityAlert] = field(default_factory=list)

    def merge(self, other: Changes) -> None:
        mine, theirs = self.patients, other.patients
        mine.merged_away.update(theirs.merged_away)
        mine.facts.update(theirs.facts)
        mine.states.update(theirs.states)
        mine.processed.extend(theirs.processed)
        mine.statuses.update(theirs.statuses)
        mine.held_from.update(theirs.held_from)
        mine.history.extend(theirs.history)
        mine.holds.update(theirs.holds)
        self.timers.update(other.timers)
        self.events.extend(other.events)
        self.raised.extend(other.raised)


def standing(before: CurrentStatus, decision: Decision) -> bool:
    """Whether ``decision`` only restates the standing one: the same trial version, status,
    criteria (outcomes, reasons, evidence, missing items), next review and engine, at a later
    instant, with no review instant of the standing decision passed in between.

    Such a decision adds nothing an auditor could not get from the standing one: replaying the
    trial on the standing decision's snapshot at its instant reproduces it, and the status as
    of any instant up to the next change is that decision. Compared by identity first (the
    engine hands back the very criteria it kept when the trial read nothing that changed),
    else by value (a decision read back from the database).
    """
    kept = before.decision
    if kept is None or kept.trial != decision.trial or kept.status is not decision.status:
        return False
    review = kept.next_review_at
    if review is not None and decision.as_of >= review:
        return False  # a review instant passing is a change
    if decision.as_of < kept.as_of:
        return False
    return (
        (kept.criteria is decision.criteria or kept.criteria == decision.criteria)
        and kept.next_review_at == decision.next_review_at
        and kept.engine_version == decision.engine_version
        and kept.parameters == decision.parameters
    )


class Screening:
    def __init__(self, uow: UnitOfWork, context: ScreeningContext) -> None:
        self._uow = uow
        self._context = context
        self._states: dict[str, PatientState] = {}
        self._processed: set[str] = set()
        self._current: dict[PairKey, CurrentStatus] = {}
        self._survivor: dict[str, str] = {}
        self._holds: dict[str, PatientHold] = {}
        self._changes = Changes()

    async def load(self, patient_keys: Iterable[str], event_ids: Iterable[str] = ()) -> None:
        keys = sorted(set(patient_keys) - self._states.keys())  # sorted: a stable lock order
        ids = list(event_ids)
        if ids:
            self._processed |= await self._uow.patients.processed(ids)
        if not keys:
            return
        found = await self._uow.patients.load(keys)
        for key in keys:
            self._states[key] = found.states.get(key) or PatientState(
                key, 0, PatientFacts(), None)
        self._current.update(found.statuses)
        for hold_id, hold in found.holds.items():
            self._holds.setdefault(hold_id, hold)
        # read after the patients are held: a merge committed meanwhile is seen here
        self._survivor.update(found.survivors)
        survivors = set(found.survivors.values())
        if survivors:
            await self.load(survivors)

    def state(self, patient_key: str) -> PatientState:
        return self._states[patient_key]

    def survivor_of(self, patient_key: str) -> str:
        """The key a patient's data lives under now: itself, or the record it was merged into."""
        seen = {patient_key}
        while patient_key in self._survivor:
            patient_key = self._survivor[patient_key]
            if patient_key in seen:  # a cycle can only come from a corrupt table: stop
                break
            seen.add(patient_key)
        return patient_key

    def apply_merge(
        self, event: PatientMerged, trials: Iterable[TrialRef], now: datetime
    ) -> list[OutgoingEvent]:
        """Move the merged record's facts to the survivor, stop screening it, screen the survivor.

        The merged key gets no decision and no alert again; its state, statuses and timers are
        removed, and a later event for it is applied to the survivor. Its demographics fill only
        what the survivor's leave empty, except that either record saying deceased is kept.
        """
        event_id = str(event.event_id)
        if event_id in self._processed:
            return []
        survivor_key = self.survivor_of(event.patient_key)
        merged_key = self.survivor_of(event.merged_key)
        delta = Changes()
        self._arrived(delta, event_id, now)  # a release may name a merge as the last update
        if merged_key == survivor_key:  # already merged (or the same record): nothing moves
            delta.patients.processed.append(ProcessedEvent(
                event_id, survivor_key, self._states[survivor_key].version, now))
            self._changes.merge(delta)
            self._processed.add(event_id)
            return []
        # intake's holds on the merged record's updates hold the survivor from now on (its
        # held data is the survivor's), stored under the survivor's key so that every later
        # screening of it sees them; the release, sent under the merged key, ends them
        for hold_id, hold in list(self._holds.items()):
            if hold.patient_key == merged_key:
                moved_hold = replace(hold, patient_key=survivor_key)
                self._holds[hold_id] = moved_hold
                delta.patients.holds[hold_id] = (moved_hold, now)
        survivor, merged = self._states[survivor_key], self._states[merged_key]
        combined = apply_update(merged.facts, PatientUpdate(
            source_system=event.source, demographics=survivor.facts.demographics,
            facts=survivor.facts.facts))
        demographics = combined.demographics
        if merged.facts.demographics.deceased or survivor.facts.demographics.deceased:
            demographics = demographics.model_copy(update={"deceased": True})
        for fact in merged.facts.facts:
            delta.patients.facts[(survivor_key, fact.fact_id)] = fact
        last = [t for t in (survivor.last_as_of, merged.last_as_of) if t is not None]
        as_of = max([now, *last])
        new_state = PatientState(
            survivor_key, survivor.version + 1,
            PatientFacts(demographics=demographics, facts=ordered(combined.facts)), as_of,
            survivor.site if survivor.site is not None else merged.site)
        delta.patients.processed.append(
            ProcessedEvent(event_id, survivor_key, new_state.version, now))
        delta.patients.merged_away[merged_key] = Merge(merged_key, survivor_key, event_id, now)
        trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id,
                          causation_id=event.event_id)
        delta.events += self._close_alerts(merged_key, survivor_key, event, now, merged.site)
        current = self._screen_into(delta, new_state, trials, trigger, now)
        self._record_state(delta, new_state, now)
        self._commit(delta, new_state, current)
        self._forget(merged_key, survivor_key)
        self._processed.add(event_id)
        return delta.events

    def _close_alerts(
        self, merged_key: str, survivor_key: str, event: PatientMerged, now: datetime,
        site: str | None,
    ) -> list[OutgoingEvent]:
        """A ``closed`` alert for each trial the merged record was eligible for: coordinators
        holding its newly-eligible alert learn it now lives on as the survivor."""
        closing: list[OutgoingEvent] = []
        for (key, trial_id), current in sorted(self._current.items()):
            if key != merged_key or current.alerted is not Status.ELIGIBLE:  # held: before
                continue
            closing.append(EligibilityAlert(
                event_id=uuid.uuid5(event.event_id, f"closed|{trial_id}"), occurred_at=now,
                recorded_at=now, source=decisions.SOURCE, patient_key=merged_key,
                causation_id=event.event_id, correlation_id=event.correlation_id,
                alert="closed", trial=TrialRef(id=trial_id, version=current.trial_version),
                decision_id=uuid.UUID(current.decision_id), status=Status.ELIGIBLE,
                previous_status=Status.ELIGIBLE,
                reasons=(f"record merged into {survivor_key}: screened as that patient from now"
                         " on",), site=site))
        return closing

    def _forget(self, merged_key: str, survivor_key: str) -> None:
        """Nothing of the merged record is written again in this transaction."""
        patients = self._changes.patients
        patients.facts = {k: v for k, v in patients.facts.items() if k[0] != merged_key}
        patients.states.pop(merged_key, None)
        patients.statuses = {k: v for k, v in patients.statuses.items() if k[0] != merged_key}
        self._changes.timers = {
            k: v for k, v in self._changes.timers.items() if k[0] != merged_key}
        self._current = {k: v for k, v in self._current.items() if k[0] != merged_key}
        self._states.pop(merged_key, None)
        self._survivor[merged_key] = survivor_key

    def apply_event(
        self, event: PatientUpdated, trials: Iterable[TrialRef], now: datetime
    ) -> list[OutgoingEvent]:
        """The event's decisions and alerts; [] when it was applied before (a redelivery)."""
        event_id = str(event.event_id)
        if event_id in self._processed:
            return []
        patient_key = self.survivor_of(event.patient_key)  # a merged record's data follows it
        state = self._states[patient_key]
        as_of = evaluation_instant(now, state.last_as_of, now, self._context.telemetry)
        delta = Changes()
        self._arrived(delta, event_id, now)
        change = PatientUpdate(source_system=event.source, demographics=event.demographics,
                               facts=event.facts)
        merged = apply_update(state.facts, change)
        kept = {f.fact_id: f for f in merged.facts}
        for fact in change.facts:
            if kept.get(fact.fact_id) is fact:
                delta.patients.facts[(patient_key, fact.fact_id)] = fact
        new_state = PatientState(
            patient_key, state.version + 1,
            PatientFacts(demographics=merged.demographics, facts=ordered(merged.facts)), as_of,
            event.site if event.site is not None else state.site)
        delta.patients.processed.append(
            ProcessedEvent(event_id, patient_key, new_state.version, now))
        trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id,
                          causation_id=event.event_id)
        current = self._screen_into(delta, new_state, trials, trigger, now, keep_standing=True)
        self._record_state(delta, new_state, now)
        self._commit(delta, new_state, current)
        self._processed.add(event_id)
        return delta.events

    def hold_reasons(self, patient_key: str) -> tuple[str, ...]:
        """Intake's reasons for every hold in effect on this patient's updates (on its own key
        or a key merged into it), oldest hold id first; () when none."""
        return tuple(sorted(
            hold.reason or "updates held" for hold in self._holds.values()
            if hold.in_effect and self.survivor_of(hold.patient_key) == patient_key))

    def apply_hold(
        self, event: PatientUpdatesHeld | PatientUpdatesReleased, trials: Iterable[TrialRef],
        now: datetime,
    ) -> list[OutgoingEvent]:
        """Record intake's hold, or its release, on the patient's updates; when that puts the
        patient on hold or takes it off, re-screen the patient at once (on hold: every trial
        undetermined with intake's reason, no alert; off: the ordinary decisions). Idempotent:
        a hold id already seen adds nothing, and a release seen first is a tombstone that its
        late hold does not undo. A release whose last waiting update was not applied yet keeps
        the hold in effect until that update is (``apply_event``)."""
        hold_id = str(event.hold_id)
        known = self._holds.get(hold_id)
        # stored under the key the patient's data lives under now: a hold on a record merged
        # away holds the survivor (intake sends its notices under the dead letter's key)
        patient_key = self.survivor_of(event.patient_key)
        if isinstance(event, PatientUpdatesHeld):
            if known is not None:
                return []
            hold = PatientHold(hold_id, patient_key, event.reason, released=False)
        else:
            if known is not None and known.released:
                return []
            awaited = (None if event.through_event_id is None
                       or str(event.through_event_id) in self._processed
                       else str(event.through_event_id))
            hold = PatientHold(hold_id, patient_key,
                               known.reason if known is not None else None,
                               released=True, awaiting_event_id=awaited)
        before = self.hold_reasons(patient_key)
        self._holds[hold_id] = hold
        delta = Changes()
        delta.patients.holds[hold_id] = (hold, now)
        after = self.hold_reasons(patient_key)
        state = self._states[patient_key]
        if bool(before) == bool(after) or state.version == 0:  # still (not) held; or unknown
            self._changes.merge(delta)
            return []
        as_of = evaluation_instant(now, state.last_as_of, now, self._context.telemetry)
        trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id,
                          causation_id=event.event_id)
        moved = PatientState(state.patient_key, state.version, state.facts, as_of,
                             state.site)  # a re-screen keeps the patient's site
        current = self._screen_into(delta, moved, trials, trigger, now)
        self._record_state(delta, moved, now)
        self._commit(delta, moved, current)
        return delta.events

    def _arrived(self, delta: Changes, event_id: str, now: datetime) -> None:
        """A patient update is applied: a released hold awaiting it is no longer in effect."""
        for hold_id, hold in list(self._holds.items()):
            if hold.awaiting_event_id == event_id:
                done = PatientHold(hold.hold_id, hold.patient_key, hold.reason, released=True)
                self._holds[hold_id] = done
                delta.patients.holds[hold_id] = (done, now)

    def screen(
        self, state: PatientState, trials: Iterable[TrialRef], trigger: Trigger, now: datetime,
        *, keep_standing: bool = False,
    ) -> list[OutgoingEvent]:
        """Re-screen without new data (a timer, an amendment), at ``trigger.as_of``.

        ``keep_standing`` (a registry re-screen): a trial whose new decision only restates the
        standing one (``standing``: the very same trial version, status, criteria, engine)
        gets nothing written; when every trial stands, nothing at all is staged (not even the
        snapshot: the patient's data did not change). Returns the events staged."""
        delta = Changes()
        moved = PatientState(state.patient_key, state.version, state.facts, trigger.as_of,
                             state.site)
        current = self._screen_into(delta, moved, trials, trigger, now,
                                    keep_standing=keep_standing)
        if keep_standing and not current:
            return []
        self._record_state(delta, moved, now)
        self._commit(delta, moved, current)
        return delta.events

    async def flush(self) -> list[OutgoingEvent]:
        """Hand every change to the stores; the outbox last. Returns the events to publish once
        the caller has committed."""
        changes, uow = self._changes, self._uow
        await uow.patients.save(changes.patients)
        await uow.timers.save(changes.timers)
        await uow.outbox.stage(changes.events, changes.raised)
        self._changes = Changes()
        return changes.events

    def _screen_into(
        self, delta: Changes, state: PatientState, trials: Iterable[TrialRef], trigger: Trigger,
        now: datetime, *, keep_standing: bool = False,
    ) -> dict[PairKey, CurrentStatus]:
        """Screen ``state`` against ``trials`` into ``delta``: the state's snapshot, then per
        trial a decision, its status row, timer, history and alert.

        ``keep_standing`` (a patient event): a trial whose new decision equals its standing
        one in everything but the instant (``standing``) gets nothing written: no decision,
        no status row, no timer; the standing decision, reproducible from its own snapshot,
        stays the answer (docs/evaluator.md "Only changed decisions are written"). The
        snapshot of the new state is staged all the same, so what the event changed reaches
        the audit trail. Timers always write (an instant passing is a change); a registry
        re-screen passes it too (``rescreen_patients``): a new trial version is never the
        standing decision's, so an amendment always writes, while an activation of the very
        version a patient was already screened against (the folder's shipped trial activated
        after the patient's event) writes nothing when the result is the same."""
        screener, zone = self._context.screener, self._context.zone
        current: dict[PairKey, CurrentStatus] = {}
        trials = tuple(trials)
        if not trials:
            return current
        snapshot_hash = decisions.snapshot_hash(state.facts)  # one snapshot, hashed once
        # staged before the decisions: on their partition it always comes first
        delta.events.append(decisions.patient_snapshot(
            patient_key=state.patient_key, state_version=state.version,
            snapshot=state.facts, snapshot_hash=snapshot_hash, as_of=trigger.as_of,
            causation_id=trigger.causation_id, correlation_id=trigger.correlation_id,
            recorded_at=now))
        held = self.hold_reasons(state.patient_key)
        for trial in trials:
            pair = (state.patient_key, trial.id)
            decision = (decisions.held_by_intake(trial, trigger.as_of, held) if held
                        else self._evaluate(trial, state, trigger.as_of))
            before = self._current.get(pair)
            if keep_standing and before is not None and standing(before, decision):
                continue
            previous = before.status if before is not None else None
            # alerts compare with what the coordinator was told: a hold's undetermined is no
            # such status (CurrentStatus.alerted; docs/evaluator.md "Intake holds ...")
            alerted = before.alerted if before is not None else None
            made = decisions.decision_made(
                patient_key=state.patient_key, state_version=state.version, decision=decision,
                snapshot=state.facts, previous_status=previous,
                causation_id=trigger.causation_id, correlation_id=trigger.correlation_id,
                recorded_at=now, trial_content_hash=screener.content_hash(decision.trial),
                registry_change=trigger.registry_change, snapshot_hash=snapshot_hash,
                site=state.site,
            )
            current[pair] = CurrentStatus(decision.status, str(made.decision_id),
                                          decision.trial.version, decision,
                                          alerted if held else None)
            delta.patients.statuses[pair] = made
            delta.patients.held_from[pair] = alerted if held else None
            due = decision.next_review_at
            delta.timers[pair] = due if due is not None and due > decision.as_of else None
            delta.events.append(made)
            # on hold, nothing alerts: the data is known to be incomplete (docs/evaluator.md)
            kind = None if held else decisions.transition(alerted, decision.status)
            if previous is decision.status and kind is None:
                continue
            said = headline(before.decision if before else None, decision,
                            dict(self._context.labels_of(trial)), zone)
            if previous is not decision.status:
                delta.patients.history.append((made, said))
            if kind is not None:
                raised = decisions.eligibility_alert(made, kind, said, state.site)
                delta.events.append(raised)
                delta.raised.append(raised)
        return current

    def _evaluate(self, trial: TrialRef, state: PatientState, as_of: datetime) -> Decision:
        """An engine failure on one patient must not lose their update nor block other trials:
        the decision is undetermined (never eligible), and the failure is reported."""
        try:
            return self._context.screener.evaluate(trial, state.facts, as_of, state.patient_key)
        except Exception as error:
            self._context.telemetry.engine_failed(trial, error)
            return decisions.engine_failed(trial, as_of, error)

    @staticmethod
    def _record_state(delta: Changes, state: PatientState, now: datetime) -> None:
        delta.patients.states[state.patient_key] = (state, now)

    def _commit(
        self, delta: Changes, state: PatientState, current: dict[PairKey, CurrentStatus],
    ) -> None:
        self._changes.merge(delta)
        self._states[state.patient_key] = state
        self._current.update(current)
