"""Durable review timers: re-screen a patient when time alone can change the decision.

Claiming: due timers are taken with ``SELECT ... FOR UPDATE SKIP LOCKED`` inside the transaction
that re-screens and deletes (or replaces) them, so on PostgreSQL several evaluator processes
share the timers without a lease and without caring which one owns the patient's partition; a
process that dies mid-way rolls back and releases the rows. SQLite serialises writers (BEGIN
IMMEDIATE), which gives the same exclusion on one host. The consumer replaces a patient's timer
in its own transaction (patient rows locked), so a timer and a new event never both decide from
a stale state.
"""

from __future__ import annotations

from datetime import UTC, tzinfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.outbox import OutboxMessage
from services.evaluator.adapters.sql import trial_registry
from services.evaluator.adapters.sql.tables import review_timer
from services.evaluator.core import decisions
from services.evaluator.core.clock import Clock
from services.evaluator.core.patient_state import evaluation_instant
from services.evaluator.core.ports import Screener
from services.evaluator.core.screening import Screening, Trigger


async def fire_due(
    session: AsyncSession, screener: Screener, clock: Clock, limit: int = 200,
    zone: tzinfo = UTC,
) -> list[OutboxMessage]:
    now = clock()
    due = (await session.execute(
        select(review_timer)
        .where(review_timer.c.due_at <= now)
        .order_by(review_timer.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )).all()
    if not due:
        return []
    trials = {t.id: t for t in await trial_registry.active_trials(session, screener)}
    screening = Screening(session, screener, clock, zone)
    await screening.load({t.patient_key for t in due})
    for timer in due:
        trial = trials.get(timer.trial_id)
        merged = screening.survivor_of(timer.patient_key) != timer.patient_key
        if trial is None or merged:  # deactivated, or merged away: nothing to review
            await session.execute(delete(review_timer).where(
                review_timer.c.patient_key == timer.patient_key,
                review_timer.c.trial_id == timer.trial_id))
            continue
        state = screening.state(timer.patient_key)
        # The timer's own instant, so the decision says when eligibility began; never before
        # an instant already decided for this patient (unless that one lies in the future).
        as_of = evaluation_instant(timer.due_at, state.last_as_of, now)
        firing = decisions.timer_firing_id(timer.patient_key, timer.trial_id, timer.due_at)
        screening.screen(state, [trial], Trigger(as_of=as_of, correlation_id=firing), now)
    return await screening.flush()
