"""The one wall clock: steps are seen against the monotonic clock; the test offset shifts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.infra.clock import OFFSET_ENV, WallClock

TWO_DAYS_S = 2 * 86400.0


class Clocks:
    """A wall clock an operator can step and a monotonic clock that only advances."""

    def __init__(self) -> None:
        self.wall = 1_795_000_000.0
        self.mono = 100.0

    def tick(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


def test_a_step_forward_and_its_correction_are_each_seen_with_their_size() -> None:
    clocks = Clocks()
    clock = WallClock(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    clock()
    clocks.tick(10)
    clock()
    assert clock.last_step is None, "time passing on both clocks is not a step"

    clocks.wall += TWO_DAYS_S
    stepped = clock()
    assert clock.last_step is not None
    assert clock.last_step.size == timedelta(days=2)
    assert stepped == datetime.fromtimestamp(clocks.wall, UTC), "the reading stays the wall clock"

    clocks.tick(60)
    clocks.wall -= TWO_DAYS_S
    clock()
    assert clock.last_step.size == timedelta(days=-2)


def test_a_slewed_wall_clock_within_the_tolerance_is_not_a_step() -> None:
    clocks = Clocks()
    clock = WallClock(wall=lambda: clocks.wall, monotonic=lambda: clocks.mono)
    clock()
    clocks.tick(30)
    clocks.wall += 0.2  # NTP slews small differences
    clock()
    assert clock.last_step is None


def test_the_offset_from_the_environment_shifts_every_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OFFSET_ENV, str(TWO_DAYS_S))
    ahead = WallClock.from_env()()
    assert ahead - datetime.now(UTC) > timedelta(days=2) - timedelta(seconds=5)
