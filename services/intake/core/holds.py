"""The events that tell the evaluator intake holds a patient's updates, and when it stops.

Intake's outbox holds a patient's later updates behind one the broker can never take (an
outbox dead letter, ``shared.infra.outbox``) until an operator retries or drops it
(``trialwatch outbox release``). Meanwhile the evaluator would go on screening the patient on
data known to be incomplete, so intake says so on ``patient.holds.v1``: ``PatientUpdatesHeld``
when a patient update is dead-lettered, ``PatientUpdatesReleased`` when that dead letter is
resolved. Both are staged in intake's outbox in the same transaction as the dead letter or the
operator's decision (nothing lost), and their ids are deterministic, so a re-send (a broker
refill) is the same event.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal
from uuid import UUID

from shared.contracts.events import PatientUpdatesHeld, PatientUpdatesReleased

SOURCE = "intake"
_HOLD_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://trialwatch.org/ns/intake/hold")


def hold_id(dead_letter_id: int) -> UUID:
    """The hold made by intake outbox dead letter ``dead_letter_id`` (one hold per dead
    letter: a retry refused again is a new dead letter, so a new hold)."""
    return uuid.uuid5(_HOLD_NAMESPACE, str(dead_letter_id))


def updates_held(
    dead_letter_id: int, *, patient_key: str, held_event_id: UUID, reason: str, at: datetime,
) -> PatientUpdatesHeld:
    """``held_event_id``: the update the broker could not take; ``reason`` its dead-letter
    reason (no payload); ``at``: when it was dead-lettered (aware UTC)."""
    hold = hold_id(dead_letter_id)
    return PatientUpdatesHeld(
        event_id=uuid.uuid5(hold, "held"), occurred_at=at, recorded_at=at, source=SOURCE,
        patient_key=patient_key, causation_id=held_event_id, correlation_id=hold,
        hold_id=hold, reason=reason[:500], first_held_event_id=held_event_id)


def updates_released(
    dead_letter_id: int, *, patient_key: str, action: Literal["retry", "drop"],
    through_event_id: UUID | None, at: datetime,
) -> PatientUpdatesReleased:
    """``through_event_id``: the patient's last update still unpublished when the operator
    resolved the dead letter (None: none was waiting); ``at``: when it was resolved."""
    hold = hold_id(dead_letter_id)
    return PatientUpdatesReleased(
        event_id=uuid.uuid5(hold, "released"), occurred_at=at, recorded_at=at, source=SOURCE,
        patient_key=patient_key, correlation_id=hold, hold_id=hold, action=action,
        through_event_id=through_event_id)
