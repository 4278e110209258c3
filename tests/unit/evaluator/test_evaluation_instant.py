"""A patient's decisions are never stamped beyond now, even after a wall-clock step was
corrected; small clock differences between replicas do not make them go backwards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.evaluator.core.patient_state import FUTURE_TOLERANCE, evaluation_instant
from tests.unit.evaluator.fakes import RecordingTelemetry

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_first_screening_is_as_of_now() -> None:
    assert evaluation_instant(NOW, None, NOW) == NOW


def test_a_previous_as_of_a_moment_ahead_is_kept_so_decisions_do_not_go_backwards() -> None:
    ahead = NOW + timedelta(milliseconds=300)  # another replica's clock, a little ahead
    assert evaluation_instant(NOW, ahead, NOW) == ahead


def test_a_previous_as_of_two_days_ahead_from_a_stepped_clock_is_not_followed() -> None:
    stepped = NOW + timedelta(days=2)
    telemetry = RecordingTelemetry()
    assert evaluation_instant(NOW, stepped, NOW, telemetry) == NOW
    assert telemetry.clock_steps == [172800.0]


def test_a_timer_is_as_of_its_due_time_and_never_beyond_now() -> None:
    due = NOW - timedelta(minutes=5)
    assert evaluation_instant(due, due - timedelta(hours=1), NOW) == due
    assert evaluation_instant(due, NOW + timedelta(days=2), NOW) == due
    assert evaluation_instant(NOW + timedelta(days=1), None, NOW) == NOW + FUTURE_TOLERANCE
