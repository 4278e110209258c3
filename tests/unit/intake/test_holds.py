"""The events intake stages when it holds a patient's updates and when it releases them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.intake.core.holds import hold_id, updates_held, updates_released

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def test_one_hold_per_dead_letter_with_ids_a_resend_repeats() -> None:
    first = uuid.uuid4()
    held = updates_held(7, patient_key="pt_a", held_event_id=first, reason="r" * 600, at=AT)
    again = updates_held(7, patient_key="pt_a", held_event_id=first, reason="r" * 600, at=AT)
    assert held == again  # a refill re-sends the same event
    assert held.hold_id == hold_id(7) != hold_id(8)
    assert held.first_held_event_id == first
    assert len(held.reason) == 500
    released = updates_released(7, patient_key="pt_a", action="drop", through_event_id=None,
                                at=AT)
    assert released.hold_id == held.hold_id
    assert released.event_id != held.event_id
    assert (released.action, released.through_event_id) == ("drop", None)
