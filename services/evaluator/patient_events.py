"""Apply one patient event and screen the patient, atomically: the consume half of consume-produce.

Evaluation instant (as_of): the time the evaluator processes the event, never earlier than the
patient's previous evaluation. The question a coordinator asks is "is this patient eligible
now?"; the event's own clinical times (effective dates inside the facts) are what look-back
windows and washouts are measured from, so a late-arriving older result lands at its clinical
time and cannot undo newer facts. Keeping as_of monotone per patient stops a lagging event from
re-deciding an instant a timer already decided. Determinism for redelivery comes from the
processed-event table: a redelivered event is not screened again, so its decisions (already in
the outbox, with their as_of) are the only ones that ever exist.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator import patient_store, trial_registry
from services.evaluator.outbox import OutboxMessage
from services.evaluator.screener import Screener
from services.evaluator.screening import Trigger, screen
from services.evaluator.tables import processed_event
from shared.clinical.facts import PatientUpdate
from shared.contracts.events import PatientUpdated
from shared.eligibility.decision import TrialRef


async def already_processed(session: AsyncSession, event: PatientUpdated) -> bool:
    found = await session.execute(
        select(processed_event.c.event_id).where(processed_event.c.event_id == str(event.event_id))
    )
    return found.first() is not None


async def record_patient_event(
    session: AsyncSession,
    screener: Screener,
    event: PatientUpdated,
    now: datetime,
    trials: tuple[TrialRef, ...] | None = None,
) -> list[OutboxMessage]:
    """Returns the staged events to publish; none when this event was applied before.

    ``trials`` lets a caller applying a batch read the active trial versions once.
    """
    state = await patient_store.load(session, event.patient_key)
    if await already_processed(session, event):
        return []
    as_of = max(now, state.last_as_of) if state.last_as_of else now
    change = PatientUpdate(source_system=event.source, demographics=event.demographics,
                           facts=event.facts)
    state = await patient_store.apply(session, state, change, now, as_of)
    await session.execute(
        insert(processed_event).values(
            event_id=str(event.event_id), patient_key=event.patient_key,
            state_version=state.version, processed_at=now,
        )
    )
    trigger = Trigger(as_of=as_of, correlation_id=event.correlation_id, causation_id=event.event_id)
    if trials is None:
        trials = await trial_registry.active_trials(session, screener)
    return await screen(session, screener, state, trials, trigger, now)
