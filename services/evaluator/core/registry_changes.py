"""Use cases of registry changes that touch patients: re-screen patients with a newly activated
trial version (one chunk per unit of work), and close the open alerts of a trial that stops
being screened (deactivated or retired)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, tzinfo

from services.evaluator.core import decisions
from services.evaluator.core.patient_state import evaluation_instant
from services.evaluator.core.ports import CurrentStatus, OutgoingEvent, UnitOfWork
from services.evaluator.core.screening import Screening, ScreeningContext, Trigger
from shared.contracts.events import EligibilityAlert, RegistryChangeRef
from shared.eligibility.decision import Status, TrialRef
from shared.eligibility.readable import human_time


async def rescreen_patients(
    uow: UnitOfWork, context: ScreeningContext, patient_keys: Sequence[str],
    change: RegistryChangeRef,
) -> list[OutgoingEvent]:
    """Screen each of ``patient_keys`` against ``change.trial`` now; a record merged away
    meanwhile is skipped. The decisions name the change (``registry_change``) as their cause.
    A patient whose standing decision is already of ``change.trial`` and says the same
    (``screening.standing``) gets nothing written: e.g. the folder's trial, screened as
    shipped by the patient's own event, activated by the registry loop a moment later (before,
    a second decision of the same version and status was written and published). A new
    version always differs from the standing one's, so an amendment re-screen always writes; a
    stopped trial's statuses are deleted, so a re-activation writes too. Returns what was
    staged."""
    now = context.clock()
    screening = Screening(uow, context)
    await screening.load(patient_keys)
    cause = change.change_id
    for key in patient_keys:
        if screening.survivor_of(key) != key:
            continue
        state = screening.state(key)
        as_of = evaluation_instant(now, state.last_as_of, now, context.telemetry)
        screening.screen(state, [change.trial], Trigger(as_of, cause, cause, change), now,
                         keep_standing=True)
    return await screening.flush()


def closing_alert(
    patient_key: str, current: CurrentStatus, change: RegistryChangeRef,
    site: str | None = None, zone: tzinfo = UTC,
) -> EligibilityAlert:
    """The ``closed`` alert of a patient eligible for a trial that stops being screened: the
    coordinator holding its newly-eligible alert learns why it no longer stands. The reason is
    read by people: the moment is written in ``zone`` (the site's, EVALUATOR_SITE_TIMEZONE) as
    everywhere else ("1 Dec 2024, 08:26 UTC"); the event's ``occurred_at`` keeps the instant."""
    words = "retired" if change.action == "retire" else "deactivated"
    return EligibilityAlert(
        event_id=uuid.uuid5(change.change_id, patient_key),
        occurred_at=change.at, recorded_at=change.at, source=decisions.SOURCE,
        patient_key=patient_key, causation_id=change.change_id,
        correlation_id=change.change_id, alert="closed",
        trial=TrialRef(id=change.trial.id, version=current.trial_version),
        decision_id=uuid.UUID(current.decision_id), status=Status.ELIGIBLE,
        previous_status=Status.ELIGIBLE,
        reasons=(f"trial {change.trial.id} {words} by {change.actor} at "
                 f"{human_time(change.at, zone)}: {change.reason}",),
        registry_change=change,
        site=site,
    )
