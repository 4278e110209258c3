"""The core's stores over one SQLAlchemy transaction: patients, review timers, the decision
outbox and the trial registry, and the unit of work that commits them together.

Every write is one multi-row statement per table (``dialects.upsert_many``): the evaluator's
cost per batch is a handful of round trips, not one per event or per trial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters import webhooks
from services.evaluator.adapters.outbox import message_of, messages_of, stage
from services.evaluator.adapters.patient_cache import PatientCache
from services.evaluator.adapters.sql import trial_registry
from services.evaluator.adapters.sql.dialects import insert_ignoring_duplicates, upsert_many
from services.evaluator.adapters.sql.tables import (
    alert,
    patient_fact,
    patient_hold,
    patient_merge,
    patient_state,
    processed_event,
    review_timer,
    status_change,
    trial_status,
    webhook,
    webhook_delivery,
)
from services.evaluator.adapters.telemetry import MetricsAndLogs
from services.evaluator.adapters.trial_text import trial_text
from services.evaluator.core import decisions
from services.evaluator.core.clock import Clock
from services.evaluator.core.patient_state import PatientState, ordered
from services.evaluator.core.ports import (
    CurrentStatus,
    OutgoingEvent,
    PairKey,
    PatientChanges,
    PatientHold,
    PatientRecords,
    Screener,
)
from services.evaluator.core.screening import ScreeningContext
from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts
from shared.contracts.events import DecisionMade, EligibilityAlert
from shared.eligibility.decision import Decision, Outcome, Status, TrialRef
from shared.sites import SiteScope, site_visible


def screening_context(screener: Screener, clock: Clock, zone: tzinfo = UTC) -> ScreeningContext:
    """The core's context as the service runs it: headlines name codes by their clinical
    names, and what the core reports is counted and logged (``adapters.telemetry``)."""
    return ScreeningContext(screener, clock, zone, labels_of=lambda t: trial_text(t).labels,
                            telemetry=MetricsAndLogs())


class SqlPatientRepository:
    """Patients in the evaluator's tables; ``cache`` spares re-reading what this process
    committed (``PatientCache``), and learns what this transaction writes once it commits
    (``committed``)."""

    def __init__(self, session: AsyncSession, cache: PatientCache | None = None) -> None:
        self._session = session
        self._cache = cache if cache is not None else PatientCache(0)
        self._written_states: dict[str, PatientState] = {}
        self._written_statuses: dict[PairKey, CurrentStatus] = {}
        self._forgotten: set[str] = set()

    def committed(self) -> None:
        """The transaction committed: what it wrote may be served from memory from now on."""
        self._cache.commit(self._written_states, self._written_statuses, self._forgotten)

    async def processed(self, event_ids: Sequence[str]) -> set[str]:
        found = await self._session.execute(
            select(processed_event.c.event_id).where(processed_event.c.event_id.in_(event_ids)))
        return {r.event_id for r in found}

    async def load(self, patient_keys: Sequence[str]) -> PatientRecords:
        session, keys, cache = self._session, list(patient_keys), self._cache
        rows = await session.execute(
            select(patient_state).where(patient_state.c.patient_key.in_(keys))
            .order_by(patient_state.c.patient_key).with_for_update())
        found = {r.patient_key: r for r in rows}
        cached = {key: cache.facts(key, row.state_version) for key, row in found.items()}
        missing = [key for key, facts in cached.items() if facts is None]
        facts: dict[str, list[ClinicalFact]] = {}
        if missing:
            for r in await session.execute(
                select(patient_fact.c.patient_key, patient_fact.c.fact)
                .where(patient_fact.c.patient_key.in_(missing))
            ):
                facts.setdefault(r.patient_key, []).append(ClinicalFact.model_validate(r.fact))
        states = {
            key: PatientState(key, row.state_version, cached[key] or PatientFacts(
                demographics=Demographics.model_validate(row.demographics),
                facts=ordered(tuple(facts.get(key, ()))),
            ), row.last_as_of, row.site)
            for key, row in found.items()
        }
        statuses: dict[PairKey, CurrentStatus] = {}
        unparsed: list[Any] = []
        for s in await session.execute(
            select(trial_status.c.patient_key, trial_status.c.trial_id, trial_status.c.status,
                   trial_status.c.decision_id, trial_status.c.trial_version,
                   trial_status.c.held_from)
            .where(trial_status.c.patient_key.in_(keys))
        ):
            known = cache.status(s.patient_key, s.trial_id, str(s.decision_id))
            if known is not None:
                statuses[(s.patient_key, s.trial_id)] = known
            else:
                unparsed.append(s)
        if unparsed:
            stored = {(r.patient_key, r.trial_id): r.decision for r in await session.execute(
                select(trial_status.c.patient_key, trial_status.c.trial_id,
                       trial_status.c.decision)
                .where(trial_status.c.patient_key.in_({s.patient_key for s in unparsed})))}
            for s in unparsed:
                decision = stored.get((s.patient_key, s.trial_id))
                statuses[(s.patient_key, s.trial_id)] = CurrentStatus(
                    Status(s.status), str(s.decision_id), str(s.trial_version),
                    Decision.model_validate(decision) if decision is not None else None,
                    Status(s.held_from) if s.held_from is not None else None)
        # read after the state rows are locked: a merge committed meanwhile is seen here
        merges = await session.execute(
            select(patient_merge.c.merged_key, patient_merge.c.surviving_key)
            .where(patient_merge.c.merged_key.in_(keys)))
        survivors = {m.merged_key: m.surviving_key for m in merges}
        return PatientRecords(states, statuses, survivors, await self._holds(keys))

    async def _holds(self, keys: Sequence[str]) -> dict[str, PatientHold]:
        """Intake's holds on these patients; a release's awaited update already applied reads
        as not awaited."""
        rows = list(await self._session.execute(
            select(patient_hold).where(patient_hold.c.patient_key.in_(keys))))
        awaited = [r.awaiting_event_id for r in rows if r.awaiting_event_id is not None]
        arrived = await self.processed(awaited) if awaited else set()
        return {r.hold_id: PatientHold(
            r.hold_id, r.patient_key, r.reason, r.released,
            None if r.awaiting_event_id in arrived else r.awaiting_event_id) for r in rows}

    async def save(self, changes: PatientChanges) -> None:
        session = self._session
        self._written_states.update(
            (key, state) for key, (state, _) in changes.states.items())
        self._written_statuses.update(
            (pair, CurrentStatus(made.decision.status, str(made.decision_id),
                                 made.decision.trial.version, made.decision,
                                 changes.held_from.get(pair)))
            for pair, made in changes.statuses.items())
        self._forgotten |= set(changes.merged_away)
        await upsert_many(session, patient_fact,
                          [_fact_row(key, fact) for (key, _), fact in changes.facts.items()],
                          ("patient_key", "fact_id"))
        await upsert_many(session, patient_state,
                          [_state_row(state, at) for state, at in changes.states.values()],
                          ("patient_key",))
        if changes.processed:
            await session.execute(processed_event.insert(), [
                {"event_id": p.event_id, "patient_key": p.patient_key,
                 "state_version": p.state_version, "processed_at": p.processed_at}
                for p in changes.processed])
        await upsert_many(session, trial_status,
                          [_status_row(made, changes.held_from.get(pair))
                           for pair, made in changes.statuses.items()],
                          ("patient_key", "trial_id"))
        if changes.merged_away:
            await insert_ignoring_duplicates(session, patient_merge, [
                {"merged_key": m.merged_key, "surviving_key": m.surviving_key,
                 "event_id": m.event_id, "merged_at": m.merged_at}
                for m in changes.merged_away.values()])
            gone = list(changes.merged_away)
            for table in (patient_fact, patient_state, trial_status, review_timer):
                await session.execute(delete(table).where(table.c.patient_key.in_(gone)))
        await insert_ignoring_duplicates(
            session, status_change, [_history_row(made, said) for made, said in changes.history])
        await upsert_many(session, patient_hold, [
            {"hold_id": h.hold_id, "patient_key": h.patient_key, "reason": h.reason,
             "released": h.released, "awaiting_event_id": h.awaiting_event_id,
             "updated_at": at} for h, at in changes.holds.values()],
            ("hold_id",))

    async def keys_after(self, after: str | None, limit: int | None) -> list[str]:
        query = select(patient_state.c.patient_key).order_by(patient_state.c.patient_key)
        if after is not None:
            query = query.where(patient_state.c.patient_key > after)
        if limit is not None:
            query = query.limit(limit)
        return [r.patient_key for r in await self._session.execute(query)]

    async def count_after(self, after: str | None) -> int:
        query = select(func.count()).select_from(patient_state)
        if after is not None:
            query = query.where(patient_state.c.patient_key > after)
        return int((await self._session.execute(query)).scalar_one())


class SqlReviewTimers:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def claim_due(self, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        due = await self._session.execute(
            select(review_timer.c.patient_key, review_timer.c.trial_id, review_timer.c.due_at)
            .where(review_timer.c.due_at <= now)
            .order_by(review_timer.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True))
        return [(t.patient_key, t.trial_id, t.due_at) for t in due]

    async def save(self, timers: Mapping[PairKey, datetime | None]) -> None:
        session = self._session
        due = [{"patient_key": k, "trial_id": t, "due_at": at}
               for (k, t), at in timers.items() if at is not None]
        await upsert_many(session, review_timer, due, ("patient_key", "trial_id"))
        cleared: dict[str, list[str]] = {}
        for (key, trial_id), at in timers.items():
            if at is None:
                cleared.setdefault(trial_id, []).append(key)
        for trial_id, keys in cleared.items():
            await session.execute(delete(review_timer).where(
                review_timer.c.trial_id == trial_id, review_timer.c.patient_key.in_(keys)))


class SqlDecisionOutbox:
    """Outbox rows, and for each raised alert its coordinator row and one pending delivery per
    webhook registered for the trial, in the transaction that made them."""

    def __init__(self, session: AsyncSession, clock: Clock) -> None:
        self._session = session
        self._clock = clock
        self._webhooks: dict[str, list[tuple[str, SiteScope]]] | None = None

    async def stage(
        self, events: Sequence[OutgoingEvent], raised: Sequence[EligibilityAlert],
    ) -> None:
        session = self._session
        if raised:
            await stage_deliveries(session, raised, await self._hooks())
        await insert_ignoring_duplicates(session, alert, [alert_row(a) for a in raised])
        # stamped now, after the other writes: the relay's grace counts from about the commit
        await stage(session, messages_of(events), self._clock())

    async def _hooks(self) -> dict[str, list[tuple[str, SiteScope]]]:
        if self._webhooks is None:
            self._webhooks = await webhooks_by_trial(self._session)
        return self._webhooks


async def webhooks_by_trial(session: AsyncSession, trial_id: str | None = None,
                            ) -> dict[str, list[tuple[str, SiteScope]]]:
    """Per trial (only ``trial_id``'s when given), each webhook and the sites it was registered
    for (None: every site)."""
    query = select(webhook.c.webhook_id, webhook.c.trial_id, webhook.c.sites)
    if trial_id is not None:
        query = query.where(webhook.c.trial_id == trial_id)
    found: dict[str, list[tuple[str, SiteScope]]] = {}
    for h in await session.execute(query):
        scope = frozenset(h.sites) if h.sites is not None else None
        found.setdefault(h.trial_id, []).append((h.webhook_id, scope))
    return found


async def stage_deliveries(session: AsyncSession, raised: Sequence[EligibilityAlert],
                           hooks: dict[str, list[tuple[str, SiteScope]]]) -> None:
    """One pending webhook delivery per alert in ``raised`` and webhook of its trial in
    ``hooks`` whose sites see the alert's site (``webhooks_by_trial``), in the caller's
    transaction: the delivery loop signs, posts, retries and finally fails each
    (``adapters.webhooks``). Screening's alerts and a stopped trial's ``closed`` alerts alike."""
    await insert_ignoring_duplicates(session, webhook_delivery, [
        webhooks.delivery_row(hook, a, a.recorded_at)
        for a in raised for hook, sites in hooks.get(a.trial.id, ())
        if site_visible(sites, a.site)])


class SqlTrialRegistry:
    def __init__(self, session: AsyncSession, screener: Screener) -> None:
        self._session = session
        self._screener = screener

    async def active_trials(self) -> tuple[TrialRef, ...]:
        return await trial_registry.active_trials(self._session, self._screener)


class SqlUnitOfWork:
    """One transaction of ``sessions``: ``async with`` begins it and commits on a clean exit
    (rolls back if the block raised)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], screener: Screener, clock: Clock,
        cache: PatientCache | None = None,
    ) -> None:
        self._sessions = sessions
        self._screener = screener
        self._clock = clock
        self._cache = cache

    async def __aenter__(self) -> SqlUnitOfWork:
        self._transaction = self._sessions.begin()
        self.session = await self._transaction.__aenter__()
        self.bind(self.session)
        return self

    def bind(self, session: AsyncSession) -> SqlUnitOfWork:
        """The stores over ``session`` (a transaction the caller runs)."""
        self.session = session
        self.patients = SqlPatientRepository(session, self._cache)
        self.timers = SqlReviewTimers(session)
        self.outbox = SqlDecisionOutbox(session, self._clock)
        self.registry = SqlTrialRegistry(session, self._screener)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._transaction.__aexit__(kind, error, traceback)
        if kind is None:
            self.patients.committed()


def _fact_row(patient_key: str, fact: ClinicalFact) -> dict[str, Any]:
    return {
        "patient_key": patient_key, "fact_id": fact.fact_id,
        "fact": fact.model_dump(mode="json"), "effective_start": fact.effective_start,
        "received_at": fact.provenance.received_at,
    }


def _state_row(state: PatientState, now: datetime) -> dict[str, Any]:
    return {
        "patient_key": state.patient_key, "state_version": state.version,
        "demographics": state.facts.demographics.model_dump(mode="json"),
        "last_as_of": state.last_as_of, "updated_at": now, "site": state.site,
    }


def _status_row(made: DecisionMade, held_from: Status | None = None) -> dict[str, Any]:
    """``held_from``: for intake's held decision, the status before the hold (0012)."""
    decision = made.decision
    return {
        "held_from": held_from.value if held_from is not None else None,
        "patient_key": made.patient_key, "trial_id": decision.trial.id,
        "trial_version": decision.trial.version, "status": decision.status.value,
        "decision_id": str(made.decision_id), "state_version": made.state_version,
        "as_of": decision.as_of,
        "unknown_criteria": sum(c.outcome is Outcome.UNKNOWN for c in decision.criteria),
        "missing": decisions.missing_data(decision),
        # the decision as its DecisionMade carries it, dumped once for this row and the outbox
        "decision": message_of(made).payload["decision"],
    }


def _history_row(made: DecisionMade, said: str) -> dict[str, Any]:
    return {
        "patient_key": made.patient_key, "trial_id": made.decision.trial.id,
        "trial_version": made.decision.trial.version, "decision_id": str(made.decision_id),
        "status": made.decision.status.value,
        "previous_status": made.previous_status.value if made.previous_status else None,
        "as_of": made.decision.as_of, "headline": said,
    }


def alert_row(raised: EligibilityAlert) -> dict[str, Any]:
    """The coordinator app's row of an alert (``evaluator_alert``). A ``closed`` alert has no
    headline (nothing about the patient changed): its reason, the trial's stop with who, when
    and why, is what the app shows."""
    headline = raised.headline or (raised.reasons[0] if raised.alert == "closed"
                                   and raised.reasons else "")
    return {
        "alert_id": str(raised.event_id), "patient_key": raised.patient_key,
        "trial_id": raised.trial.id, "kind": raised.alert, "headline": headline,
        "decision_id": str(raised.decision_id), "as_of": raised.occurred_at,
        "acknowledged_at": None, "acknowledged_by": None, "site": raised.site,
    }
