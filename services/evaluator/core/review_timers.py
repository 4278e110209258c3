"""Use case: fire due review timers, re-screening a patient when time alone can change the
decision (a washout ends, a lab ages out of its window).

Each due timer is claimed inside the unit of work that re-screens and replaces or removes
it, so several evaluator processes share the timers without a lease (see the SQL adapter's
``claim_due``); a timer and a new event never both decide from a stale state, because the
event replaces the patient's timers in its own unit of work.
"""

from __future__ import annotations

from datetime import datetime

from services.evaluator.core import decisions
from services.evaluator.core.patient_state import evaluation_instant
from services.evaluator.core.ports import OutgoingEvent, PairKey, UnitOfWork
from services.evaluator.core.screening import Screening, ScreeningContext, Trigger


async def fire_due_timers(
    uow: UnitOfWork, context: ScreeningContext, limit: int = 200,
) -> list[OutgoingEvent]:
    """Re-screen up to ``limit`` due (patient, trial) pairs at each timer's own instant; a timer
    of a trial no longer active, or of a record merged away, is removed. Returns the events to
    publish once the caller has committed."""
    now = context.clock()
    due = await uow.timers.claim_due(now, limit)
    if not due:
        return []
    trials = {t.id: t for t in await uow.registry.active_trials()}
    screening = Screening(uow, context)
    await screening.load({key for key, _, _ in due})
    dropped: dict[PairKey, datetime | None] = {}
    for key, trial_id, due_at in due:
        trial = trials.get(trial_id)
        if trial is None or screening.survivor_of(key) != key:
            dropped[(key, trial_id)] = None  # deactivated, or merged away: nothing to review
            continue
        state = screening.state(key)
        # The timer's own instant, so the decision says when eligibility began; never before
        # an instant already decided for this patient (unless that one lies in the future).
        as_of = evaluation_instant(due_at, state.last_as_of, now, context.telemetry)
        firing = decisions.timer_firing_id(key, trial_id, due_at)
        screening.screen(state, [trial], Trigger(as_of=as_of, correlation_id=firing), now)
    await uow.timers.save(dropped)
    return await screening.flush()
