"""Every trial's decision for one event carries the same patient snapshot; its JSON form is
made once and shared, and each payload is exactly the decision's own JSON form."""

from __future__ import annotations

import json
from datetime import timedelta

from services.evaluator.adapters.outbox import message_of, messages_of
from shared.contracts.events import DecisionMade
from tests.unit.evaluator.fakes import lab_fact, patient_updated
from tests.unit.evaluator.test_screening_core import (
    NOW,
    PATIENT,
    SECOND_TRIAL,
    TEST_TRIAL,
    Evaluator,
)


async def test_a_decision_payload_is_its_json_form_byte_for_byte_with_the_snapshot_shared(
) -> None:
    evaluator = Evaluator((TEST_TRIAL, SECOND_TRIAL))
    outcome = await evaluator.apply(patient_updated(PATIENT, (
        lab_fact(150, NOW - timedelta(hours=1)), lab_fact(90, NOW - timedelta(days=2), "b")),
        NOW))

    messages = messages_of(outcome.staged)
    decisions = [m for m, e in zip(messages, outcome.staged, strict=True)
                 if isinstance(e, DecisionMade)]
    assert len(decisions) == 2
    for message, event in zip(messages, outcome.staged, strict=True):
        assert json.dumps(message.payload) == json.dumps(event.model_dump(mode="json"))
        assert message.payload == message_of(event).payload
    assert decisions[0].payload["snapshot"] is decisions[1].payload["snapshot"]
