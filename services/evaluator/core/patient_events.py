"""Use case: apply one poll of patient events and screen each patient against every active
trial, in one unit of work.

An event that cannot be applied (the engine or the state update raised on it) is rejected
with the reason, for the dead-letter topic; nothing of it is kept and the rest of the batch
commits. A redelivered event (its id already applied) adds nothing: its patient key is
reported so that whatever its first attempt staged is published before the offset commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.evaluator.core.ports import OutgoingEvent, UnitOfWork
from services.evaluator.core.screening import Screening, ScreeningContext
from shared.contracts.events import PatientMerged, PatientUpdated

PatientEvent = PatientUpdated | PatientMerged


@dataclass
class EventsApplied:
    """``staged``: the decisions and alerts to publish once committed; ``applied``: how many
    events changed something; ``redelivered_keys``: patients of events applied before;
    ``rejected``: (index in the batch, reason) of events that could not be applied."""

    staged: list[OutgoingEvent] = field(default_factory=list)
    applied: int = 0
    redelivered_keys: set[str] = field(default_factory=set)
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def apply_patient_events(
    uow: UnitOfWork, context: ScreeningContext, events: Sequence[PatientEvent],
) -> EventsApplied:
    """Apply ``events`` in order within ``uow`` (the caller commits)."""
    outcome = EventsApplied()
    now = context.clock()
    trials = await uow.registry.active_trials()
    screening = Screening(uow, context)
    await screening.load({key for e in events for key in _keys(e)},
                         [str(e.event_id) for e in events])
    for index, event in enumerate(events):
        with context.telemetry.handling(event.event_id, event.patient_key):
            try:
                staged = (screening.apply_merge(event, trials, now)
                          if isinstance(event, PatientMerged)
                          else screening.apply_event(event, trials, now))
            except Exception as error:  # in-memory only: nothing of it was kept
                context.telemetry.event_dead_lettered(error)
                outcome.rejected.append(
                    (index, f"evaluation failed: {type(error).__name__}: {error}"))
                continue
        if staged:
            outcome.applied += 1
        else:
            outcome.redelivered_keys.add(event.patient_key)
    outcome.staged = await screening.flush()
    return outcome


def _keys(event: PatientEvent) -> tuple[str, ...]:
    if isinstance(event, PatientMerged):
        return (event.patient_key, event.merged_key)
    return (event.patient_key,)
