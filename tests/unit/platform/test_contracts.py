from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.contracts import topics
from shared.contracts.events import PatientUpdated
from shared.hashing import canonical_json, content_hash


def _event(**overrides: object) -> PatientUpdated:
    fields: dict[str, object] = {
        "event_id": uuid.uuid4(),
        "occurred_at": datetime(2026, 3, 1, 9, tzinfo=UTC),
        "recorded_at": datetime(2026, 3, 1, 9, 0, 1, tzinfo=UTC),
        "source": "lab-1",
        "patient_key": "pt_abc",
        "correlation_id": uuid.uuid4(),
    }
    fields.update(overrides)
    return PatientUpdated.model_validate(fields)


def test_event_times_are_stored_as_utc_whatever_offset_they_arrive_with() -> None:
    cet = timezone(timedelta(hours=1))
    event = _event(occurred_at=datetime(2026, 3, 1, 10, tzinfo=cet))
    assert event.occurred_at == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(0)


def test_a_naive_event_time_is_rejected_not_guessed() -> None:
    with pytest.raises(ValidationError):
        _event(occurred_at=datetime(2026, 3, 1, 9))  # noqa: DTZ001 - the point of the test


def test_events_are_immutable() -> None:
    event = _event()
    with pytest.raises(ValidationError):
        event.patient_key = "someone-else"  # type: ignore[misc]


def test_unknown_fields_are_refused_so_phi_cannot_ride_along() -> None:
    with pytest.raises(ValidationError):
        _event(patient_name="Jane Doe")


def test_an_event_round_trips_through_its_json_form() -> None:
    event = _event()
    assert PatientUpdated.model_validate_json(event.model_dump_json()) == event


def test_topic_names_are_versioned_and_every_input_topic_has_a_dead_letter_topic() -> None:
    for topic in (topics.PATIENT_EVENTS, topics.DECISIONS, topics.ALERTS, topics.INTAKE_RAW):
        assert topic.endswith(".v1")
    for consumed in (topics.INTAKE_RAW, topics.PATIENT_EVENTS, topics.DECISIONS):
        assert topics.dead_letter(consumed) in topics.ALL_TOPICS


def test_canonical_json_does_not_depend_on_key_order() -> None:
    assert canonical_json({"b": 1, "a": [1, 2]}) == canonical_json({"a": [1, 2], "b": 1})
    assert content_hash({"b": 1, "a": 2}) == content_hash({"a": 2, "b": 1})
    assert content_hash({"a": 1}) != content_hash({"a": 2})
