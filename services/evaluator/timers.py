"""Durable review timers: re-screen a patient when time alone can change the decision.

Claiming: a due timer is taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` inside the transaction
that re-screens and deletes (or replaces) it, so on PostgreSQL several evaluator processes share
the timers without a lease and without caring which one owns the patient's partition; a process
that dies mid-way rolls back and releases the row. SQLite serialises writers (BEGIN IMMEDIATE),
which gives the same exclusion on one host. The consumer replaces a patient's timer in its own
transaction, so a timer and a new event never both decide from a stale state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator import decisions, patient_store, trial_registry
from services.evaluator.outbox import OutboxMessage
from services.evaluator.screener import Screener
from services.evaluator.screening import Trigger, screen
from services.evaluator.tables import review_timer
from shared.time import as_utc


async def fire_due(
    session: AsyncSession, screener: Screener, now: datetime, limit: int = 50
) -> list[OutboxMessage]:
    due = await session.execute(
        select(review_timer)
        .where(review_timer.c.due_at <= now)
        .order_by(review_timer.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    trials = {t.id: t for t in await trial_registry.active_trials(session, screener)}
    messages: list[OutboxMessage] = []
    for timer in due.all():
        await session.execute(
            delete(review_timer).where(
                review_timer.c.patient_key == timer.patient_key,
                review_timer.c.trial_id == timer.trial_id,
            )
        )
        trial = trials.get(timer.trial_id)
        if trial is None:
            continue  # the trial was deactivated: nothing to review
        due_at = as_utc(timer.due_at)
        state = await patient_store.load(session, timer.patient_key)
        # The timer's own instant, so the decision says when eligibility began; never before
        # an instant already decided for this patient.
        as_of = max(due_at, state.last_as_of) if state.last_as_of else due_at
        firing = decisions.timer_firing_id(timer.patient_key, timer.trial_id, due_at)
        trigger = Trigger(as_of=as_of, correlation_id=firing, causation_id=None)
        messages.extend(await screen(session, screener, state, [trial], trigger, now))
        await patient_store.record_evaluation_instant(session, timer.patient_key, as_of)
    return messages
