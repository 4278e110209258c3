"""One transaction's screenings: read in a few queries, decide in memory, write in a few statements.

The consumer applies a whole poll of patient events in one transaction; per-event round trips
to the database were the evaluator's cost, not the criteria engine. ``Screening`` loads the
states, processed event ids, current statuses and webhooks of every patient in the batch up
front (locking the patients' rows on PostgreSQL), applies each event and screens each trial in
memory, and writes all changes with one multi-row statement per table at ``flush``. An event
that raises is rejected without leaving anything behind (its changes are merged only once it
succeeded), so the others in the batch still commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any
from uuid import UUID

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters import webhooks
from services.evaluator.adapters.criteria_engine import engine_failed
from services.evaluator.adapters.metrics import ENGINE_FAILURES
from services.evaluator.adapters.outbox import OutboxMessage, stage
from services.evaluator.adapters.sql.dialects import insert_ignoring_duplicates, upsert_many
from services.evaluator.adapters.sql.tables import (
    alert,
    patient_fact,
    patient_merge,
    patient_state,
    processed_event,
    review_timer,
    status_change,
    trial_status,
    webhook,
    webhook_delivery,
)
from services.evaluator.core import decisions
from services.evaluator.core.clock import Clock
from services.evaluator.core.patient_state import PatientState, evaluation_instant, ordered
from services.evaluator.core.ports import Screener
from services.evaluator.presentation import trial_text
from shared.canonical import content_hash
from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts, PatientUpdate
from shared.clinical.state import apply_update
from shared.contracts.events import (
    DecisionMade,
    EligibilityAlert,
    PatientMerged,
    PatientUpdated,
    RegistryChangeRef,
)
from shared.contracts.topics import ALERTS, DECISIONS
from shared.eligibility.decision import Decision, Outcome, Status, TrialRef
from shared.eligibility.readable import headline

log = structlog.get_logger(__name__)
PairKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why and when a screening happens: a patient event, a timer, or an amendment."""

    as_of: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    registry_change: RegistryChangeRef | None = None


@dataclass
class Changes:
    """Rows to write, keyed so that the last change to a row wins."""

    facts: dict[PairKey, dict[str, Any]] = field(default_factory=dict)
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    processed: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[PairKey, dict[str, Any]] = field(default_factory=dict)
    timers: dict[PairKey, datetime | None] = field(default_factory=dict)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    messages: list[OutboxMessage] = field(default_factory=list)
    merged_away: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: Changes) -> None:
        self.merged_away.update(other.merged_away)
        self.facts.update(other.facts)
        self.states.update(other.states)
        self.processed.extend(other.processed)
        self.statuses.update(other.statuses)
        self.timers.update(other.timers)
        self.deliveries.extend(other.deliveries)
        self.messages.extend(other.messages)
        self.history.extend(other.history)
        self.alerts.extend(other.alerts)


class Screening:
    def __init__(
        self, session: AsyncSession, screener: Screener, clock: Clock, zone: tzinfo = UTC
    ) -> None:
        self._session = session
        self._screener = screener
        self._clock = clock
        self._zone = zone  # the site's zone: dates in alert headlines
        self._states: dict[str, PatientState] = {}
        self._processed: set[str] = set()
        self._statuses: dict[PairKey, Status] = {}
        self._decisions: dict[PairKey, Decision] = {}
        self._webhooks: dict[str, list[str]] = {}
        self._survivor: dict[str, str] = {}
        self._status_rows: dict[PairKey, dict[str, Any]] = {}
        self._changes = Changes()

    async def load(self, patient_keys: Iterable[str], event_ids: Iterable[str] = ()) -> None:
        keys = sorted(set(patient_keys) - self._states.keys())  # sorted: a stable lock order
        ids = list(event_ids)
        if ids:
            found = await self._session.execute(
                select(processed_event.c.event_id).where(processed_event.c.event_id.in_(ids)))
            self._processed.update(r.event_id for r in found)
        if not keys:
            return
        rows = await self._session.execute(
            select(patient_state).where(patient_state.c.patient_key.in_(keys))
            .order_by(patient_state.c.patient_key).with_for_update())
        states = {r.patient_key: r for r in rows}
        facts: dict[str, list[ClinicalFact]] = {}
        for r in await self._session.execute(
            select(patient_fact.c.patient_key, patient_fact.c.fact)
            .where(patient_fact.c.patient_key.in_(keys))
        ):
            facts.setdefault(r.patient_key, []).append(ClinicalFact.model_validate(r.fact))
        for key in keys:
            row = states.get(key)
            self._states[key] = PatientState(key, 0, PatientFacts(), None) if row is None else (
                PatientState(key, row.state_version, PatientFacts(
                    demographics=Demographics.model_validate(row.demographics),
                    facts=ordered(tuple(facts.get(key, ()))),
                ), row.last_as_of))
        current = await self._session.execute(
            select(trial_status.c.patient_key, trial_status.c.trial_id, trial_status.c.status,
                   trial_status.c.decision, trial_status.c.decision_id,
                   trial_status.c.trial_version)
            .where(trial_status.c.patient_key.in_(keys)))
        for s in current:
            self._statuses[(s.patient_key, s.trial_id)] = Status(s.status)
            self._status_rows[(s.patient_key, s.trial_id)] = {
                "decision_id": s.decision_id, "trial_version": s.trial_version}
            if s.decision is not None:
                self._decisions[(s.patient_key, s.trial_id)] = Decision.model_validate(s.decision)
        # read after the state rows are locked: a merge committed meanwhile is seen here
        merges = await self._session.execute(
            select(patient_merge.c.merged_key, patient_merge.c.surviving_key)
            .where(patient_merge.c.merged_key.in_(keys)))
        survivors = set()
        for m in merges:
            self._survivor[m.merged_key] = m.surviving_key
            survivors.add(m.surviving_key)
        if survivors:
            await self.load(survivors)
        if not self._webhooks:
            hooks = await self._session.execute(select(webhook.c.webhook_id, webhook.c.trial_id))
            for h in hooks:
                self._webhooks.setdefault(h.trial_id, []).append(h.webhook_id)

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
    ) -> list[OutboxMessage]:
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
        delta.processed.append({"event_id": event_id, "patient_key": survivor_key,
                                "state_version": self._states[survivor_key].version,
                                "processed_at": now})
        if merged_key == survivor_key:  # already merged (or the same record): nothing moves
            self._changes.merge(delta)
            self._processed.add(event_id)
            return []
        survivor, merged = self._states[survivor_key], self._states[merged_key]
        combined = apply_update(merged.facts, PatientUpdate(
            source_system=event.source, demographics=survivor.facts.demographics,
            facts=survivor.facts.facts))
        demographics = combined.demographics
        if merged.facts.demographics.deceased or survivor.facts.demographics.deceased:
            demographics = demographics.model_copy(update={"deceased": True})
        for fact in merged.facts.facts:
            delta.facts[(survivor_key, fact.fact_id)] = _fact_row(survivor_key, fact)
        last = [t for t in (survivor.last_as_of, merged.last_as_of) if t is not None]
        as_of = max([now, *last])
        new_state = PatientState(
            survivor_key, survivor.version + 1,
            PatientFacts(demographics=demographics, facts=ordered(combined.facts)), as_of)
        delta.processed[0]["state_version"] = new_state.version
        delta.merged_away[merged_key] = {"merged_key": merged_key, "surviving_key": survivor_key,
                                         "event_id": event_id, "merged_at": now}
        trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id,
                          causation_id=event.event_id)
        delta.messages += self._close_alerts(merged_key, survivor_key, event, now)
        statuses = self._screen_into(delta, new_state, trials, trigger, now)
        self._record_state(delta, new_state, now)
        self._commit(delta, new_state, statuses)
        self._forget(merged_key, survivor_key)
        self._processed.add(event_id)
        return delta.messages

    def _close_alerts(
        self, merged_key: str, survivor_key: str, event: PatientMerged, now: datetime
    ) -> list[OutboxMessage]:
        """A ``closed`` alert for each trial the merged record was eligible for: coordinators
        holding its newly-eligible alert learn it now lives on as the survivor."""
        messages = []
        for (key, trial_id), status in sorted(self._statuses.items()):
            if key != merged_key or status is not Status.ELIGIBLE:
                continue
            row = self._changes.statuses.get((key, trial_id)) or self._status_rows.get(
                (key, trial_id))
            if row is None:
                continue
            alert = EligibilityAlert(
                event_id=uuid.uuid5(event.event_id, f"closed|{trial_id}"), occurred_at=now,
                recorded_at=now, source=decisions.SOURCE, patient_key=merged_key,
                causation_id=event.event_id, correlation_id=event.correlation_id,
                alert="closed", trial=TrialRef(id=trial_id, version=str(row["trial_version"])),
                decision_id=uuid.UUID(str(row["decision_id"])), status=Status.ELIGIBLE,
                previous_status=Status.ELIGIBLE,
                reasons=(f"record merged into {survivor_key}: screened as that patient from now"
                         " on",))
            messages.append(_message(ALERTS, alert))
        return messages

    def _forget(self, merged_key: str, survivor_key: str) -> None:
        """Nothing of the merged record is written again in this transaction."""
        changes = self._changes
        changes.facts = {k: v for k, v in changes.facts.items() if k[0] != merged_key}
        changes.states.pop(merged_key, None)
        changes.statuses = {k: v for k, v in changes.statuses.items() if k[0] != merged_key}
        changes.timers = {k: v for k, v in changes.timers.items() if k[0] != merged_key}
        self._statuses = {k: v for k, v in self._statuses.items() if k[0] != merged_key}
        self._states.pop(merged_key, None)
        self._survivor[merged_key] = survivor_key

    def apply_event(
        self, event: PatientUpdated, trials: Iterable[TrialRef], now: datetime
    ) -> list[OutboxMessage]:
        """The event's decisions and alerts; [] when it was applied before (a redelivery)."""
        event_id = str(event.event_id)
        if event_id in self._processed:
            return []
        patient_key = self.survivor_of(event.patient_key)  # a merged record's data follows it
        state = self._states[patient_key]
        as_of = evaluation_instant(now, state.last_as_of, now)
        change = PatientUpdate(source_system=event.source, demographics=event.demographics,
                               facts=event.facts)
        merged = apply_update(state.facts, change)
        kept = {f.fact_id: f for f in merged.facts}
        delta = Changes()
        for fact in change.facts:
            if kept.get(fact.fact_id) is fact:
                delta.facts[(patient_key, fact.fact_id)] = _fact_row(patient_key, fact)
        new_state = PatientState(
            patient_key, state.version + 1,
            PatientFacts(demographics=merged.demographics, facts=ordered(merged.facts)), as_of)
        delta.processed.append({"event_id": event_id, "patient_key": patient_key,
                                "state_version": new_state.version, "processed_at": now})
        trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id,
                          causation_id=event.event_id)
        statuses = self._screen_into(delta, new_state, trials, trigger, now)
        self._record_state(delta, new_state, now)
        self._commit(delta, new_state, statuses)
        self._processed.add(event_id)
        return delta.messages

    def screen(
        self, state: PatientState, trials: Iterable[TrialRef], trigger: Trigger, now: datetime
    ) -> list[OutboxMessage]:
        """Re-screen without new data (a timer, an amendment), at ``trigger.as_of``."""
        delta = Changes()
        moved = PatientState(state.patient_key, state.version, state.facts, trigger.as_of)
        statuses = self._screen_into(delta, moved, trials, trigger, now)
        self._record_state(delta, moved, now)
        self._commit(delta, moved, statuses)
        return delta.messages

    async def flush(self) -> list[OutboxMessage]:
        """Write every change; the outbox rows last, stamped now (the relay's grace counts from
        about the commit). Returns the messages to publish once the caller has committed."""
        changes, session = self._changes, self._session
        await upsert_many(session, patient_fact, list(changes.facts.values()),
                          ("patient_key", "fact_id"))
        await upsert_many(session, patient_state, list(changes.states.values()), ("patient_key",))
        if changes.processed:
            await session.execute(processed_event.insert(), changes.processed)
        await upsert_many(session, trial_status, list(changes.statuses.values()),
                          ("patient_key", "trial_id"))
        due = [{"patient_key": k, "trial_id": t, "due_at": at}
               for (k, t), at in changes.timers.items() if at is not None]
        await upsert_many(session, review_timer, due, ("patient_key", "trial_id"))
        cleared: dict[str, list[str]] = {}
        for (key, trial_id), at in changes.timers.items():
            if at is None:
                cleared.setdefault(trial_id, []).append(key)
        for trial_id, keys in cleared.items():
            await session.execute(delete(review_timer).where(
                review_timer.c.trial_id == trial_id, review_timer.c.patient_key.in_(keys)))
        await insert_ignoring_duplicates(session, webhook_delivery, changes.deliveries)
        if changes.merged_away:
            await insert_ignoring_duplicates(session, patient_merge,
                                             list(changes.merged_away.values()))
            gone = list(changes.merged_away)
            for table in (patient_fact, patient_state, trial_status, review_timer):
                await session.execute(delete(table).where(table.c.patient_key.in_(gone)))
        await insert_ignoring_duplicates(session, status_change, changes.history)
        await insert_ignoring_duplicates(session, alert, changes.alerts)
        await stage(session, changes.messages, self._clock())
        self._changes = Changes()
        return changes.messages

    def _screen_into(
        self, delta: Changes, state: PatientState, trials: Iterable[TrialRef], trigger: Trigger,
        now: datetime,
    ) -> dict[PairKey, Status]:
        statuses: dict[PairKey, Status] = {}
        snapshot_hash: str | None = None  # one snapshot for every trial: hashed once
        for trial in trials:
            pair = (state.patient_key, trial.id)
            decision = self._evaluate(trial, state, trigger.as_of)
            previous = self._statuses.get(pair)
            said = headline(self._decisions.get(pair), decision, trial_text(trial).labels,
                            self._zone)
            self._decisions[pair] = decision
            if snapshot_hash is None:
                snapshot_hash = content_hash(state.facts)
            made = decisions.decision_made(
                patient_key=state.patient_key, state_version=state.version, decision=decision,
                snapshot=state.facts, previous_status=previous,
                causation_id=trigger.causation_id, correlation_id=trigger.correlation_id,
                recorded_at=now, trial_content_hash=self._screener.content_hash(decision.trial),
                registry_change=trigger.registry_change, snapshot_hash=snapshot_hash,
            )
            statuses[pair] = decision.status
            delta.statuses[pair] = _status_row(made)
            due = decision.next_review_at
            delta.timers[pair] = due if due is not None and due > decision.as_of else None
            delta.messages.append(_message(DECISIONS, made))
            if previous is not decision.status:
                delta.history.append(_history_row(made, said))
            kind = decisions.transition(previous, decision.status)
            if kind is not None:
                raised = decisions.eligibility_alert(made, kind, said)
                delta.messages.append(_message(ALERTS, raised))
                delta.alerts.append(_alert_row(raised))
                delta.deliveries.extend(
                    webhooks.delivery_row(hook, raised, now)
                    for hook in self._webhooks.get(trial.id, ()))
        return statuses

    def _evaluate(self, trial: TrialRef, state: PatientState, as_of: datetime) -> Decision:
        """An engine failure on one patient must not lose their update nor block other trials:
        the decision is undetermined (never eligible), and the failure is logged and counted."""
        try:
            return self._screener.evaluate(trial, state.facts, as_of)
        except Exception as error:
            ENGINE_FAILURES.inc()
            log.exception("criteria engine failed", trial=trial.id, version=trial.version)
            return engine_failed(trial, as_of, error)

    @staticmethod
    def _record_state(delta: Changes, state: PatientState, now: datetime) -> None:
        delta.states[state.patient_key] = {
            "patient_key": state.patient_key, "state_version": state.version,
            "demographics": state.facts.demographics.model_dump(mode="json"),
            "last_as_of": state.last_as_of, "updated_at": now,
        }

    def _commit(self, delta: Changes, state: PatientState, statuses: dict[PairKey, Status]) -> None:
        self._changes.merge(delta)
        self._states[state.patient_key] = state
        self._statuses.update(statuses)


def _fact_row(patient_key: str, fact: ClinicalFact) -> dict[str, Any]:
    return {
        "patient_key": patient_key, "fact_id": fact.fact_id,
        "fact": fact.model_dump(mode="json"), "effective_start": fact.effective_start,
        "received_at": fact.provenance.received_at,
    }


def _status_row(made: DecisionMade) -> dict[str, Any]:
    decision = made.decision
    return {
        "patient_key": made.patient_key, "trial_id": decision.trial.id,
        "trial_version": decision.trial.version, "status": decision.status.value,
        "decision_id": str(made.decision_id), "state_version": made.state_version,
        "as_of": decision.as_of,
        "unknown_criteria": sum(c.outcome is Outcome.UNKNOWN for c in decision.criteria),
        "missing": decisions.missing_data(decision),
        "decision": decision.model_dump(mode="json"),
    }


def _history_row(made: DecisionMade, said: str) -> dict[str, Any]:
    return {
        "patient_key": made.patient_key, "trial_id": made.decision.trial.id,
        "trial_version": made.decision.trial.version, "decision_id": str(made.decision_id),
        "status": made.decision.status.value,
        "previous_status": made.previous_status.value if made.previous_status else None,
        "as_of": made.decision.as_of, "headline": said,
    }


def _alert_row(raised: EligibilityAlert) -> dict[str, Any]:
    return {
        "alert_id": str(raised.event_id), "patient_key": raised.patient_key,
        "trial_id": raised.trial.id, "kind": raised.alert, "headline": raised.headline,
        "decision_id": str(raised.decision_id), "as_of": raised.occurred_at,
        "acknowledged_at": None, "acknowledged_by": None,
    }


def _message(topic: str, event: DecisionMade | EligibilityAlert) -> OutboxMessage:
    return OutboxMessage(message_id=str(event.event_id), topic=topic, key=event.patient_key,
                         payload=event.model_dump(mode="json"))
