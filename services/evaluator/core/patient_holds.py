"""Use case: apply one poll of intake's hold events (``patient.holds.v1``) in one unit of work.

``PatientUpdatesHeld`` puts the patient on hold: intake could not publish one of its updates
and keeps the later ones behind it, so what the evaluator holds is known to be incomplete;
every trial is re-screened at once as ``undetermined`` with intake's reason, and no alert is
raised while the hold is in effect. ``PatientUpdatesReleased`` ends it: the patient is
re-screened at once, unless the last update that was waiting has not arrived yet, in which
case the hold stays in effect until that update is applied (its own screening is then the
re-screen). Idempotent by hold id (a duplicate adds nothing; a release seen before its hold is
a tombstone); events of one patient arrive in order on their partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.evaluator.core.ports import OutgoingEvent, UnitOfWork
from services.evaluator.core.screening import Screening, ScreeningContext
from shared.contracts.events import PatientUpdatesHeld, PatientUpdatesReleased

HoldEvent = PatientUpdatesHeld | PatientUpdatesReleased


@dataclass
class HoldsApplied:
    """``staged``: decisions to publish once committed; ``rescreened``: patients whose hold
    began or ended (re-screened); ``quiet_keys``: patients of events that screened nothing
    (a duplicate, or a hold that changed nothing screened), whose earlier rows the caller
    settles before the offsets are committed."""

    staged: list[OutgoingEvent] = field(default_factory=list)
    rescreened: set[str] = field(default_factory=set)
    quiet_keys: set[str] = field(default_factory=set)


async def apply_hold_events(
    uow: UnitOfWork, context: ScreeningContext, events: Sequence[HoldEvent],
) -> HoldsApplied:
    """Apply ``events`` in order within ``uow`` (the caller commits)."""
    outcome = HoldsApplied()
    if not events:
        return outcome
    now = context.clock()
    trials = await uow.registry.active_trials()
    screening = Screening(uow, context)
    awaited = [str(e.through_event_id) for e in events
               if isinstance(e, PatientUpdatesReleased) and e.through_event_id is not None]
    await screening.load({e.patient_key for e in events})
    # read once the patients are held: an awaited update applied meanwhile is seen here
    await screening.load((), awaited)
    for event in events:
        with context.telemetry.handling(event.event_id, event.patient_key):
            staged = screening.apply_hold(event, trials, now)
        if staged:
            outcome.rescreened.add(screening.survivor_of(event.patient_key))
        else:
            outcome.quiet_keys.add(event.patient_key)
    outcome.staged = await screening.flush()
    return outcome
