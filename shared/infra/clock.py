"""The one wall clock every service reads, watched against the monotonic clock.

The wall clock can step: an operator sets it, NTP corrects a large drift with a step, a virtual
machine resumes from a snapshot. The monotonic clock cannot; it only advances. Each reading
compares how far the wall clock moved since the previous reading with how far the monotonic
clock moved: a difference beyond ``step_tolerance`` is a step. It is logged (``clock_step``,
with its size and direction, at error level) and counted (``trialwatch_clock_steps_total``, on
every service's ``/metrics``), so an operator sees it.

The reading itself stays the wall clock: after a step TrialWatch cannot know which of the two
instants was right (a step may be the correction), and times shown to people and compared with
clinical data must be calendar times. What a step must not do is spread: the evaluator never
stamps a decision beyond now plus a small tolerance, however far ahead an earlier (stepped)
decision of the same patient went
(``services.evaluator.core.patient_state.evaluation_instant``), and audit's status-as-of
follows the record order (``services.audit.adapters.sql.record_queries``).

Test shim: ``TRIALWATCH_CLOCK_OFFSET_S`` (seconds, may be negative), read once when a process
starts, shifts every reading; a process-level test starts a service "two days ahead" with it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter

log = structlog.get_logger(__name__)

OFFSET_ENV = "TRIALWATCH_CLOCK_OFFSET_S"
CLOCK_STEPS = Counter("trialwatch_clock_steps_total",
                      "Wall-clock steps seen against the monotonic clock", ["direction"])


@dataclass(frozen=True, slots=True)
class ClockStep:
    """A wall-clock step: ``size`` is how far the wall clock moved beyond (positive, forward)
    or short of (negative, backward) the monotonic clock's advance, ``at`` the wall time after."""

    size: timedelta
    at: datetime


class WallClock:
    """Aware UTC wall time, with step detection; callable, so it is a ``Callable[[], datetime]``.

    ``wall`` and ``monotonic`` are injectable (seconds since the epoch; seconds), as are
    ``offset`` and ``step_tolerance`` (default 1 s: NTP slews, it steps only beyond 128 ms, and
    two readings on a loaded machine can sit a few hundred milliseconds apart)."""

    def __init__(
        self,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        offset: timedelta = timedelta(0),
        step_tolerance: timedelta = timedelta(seconds=1),
    ) -> None:
        self._wall = wall
        self._monotonic = monotonic
        self._offset = offset
        self._tolerance = step_tolerance.total_seconds()
        self._lock = threading.Lock()
        self._previous: tuple[float, float] | None = None
        self.last_step: ClockStep | None = None

    @classmethod
    def from_env(cls) -> WallClock:
        """The system clock, shifted by ``TRIALWATCH_CLOCK_OFFSET_S`` when it is set."""
        offset = float(os.environ.get(OFFSET_ENV, "0") or 0)
        return cls(offset=timedelta(seconds=offset))

    def __call__(self) -> datetime:
        with self._lock:
            wall, mono = self._wall(), self._monotonic()
            previous, self._previous = self._previous, (wall, mono)
        now = datetime.fromtimestamp(wall, UTC) + self._offset
        if previous is not None:
            drift = (wall - previous[0]) - (mono - previous[1])
            if abs(drift) > self._tolerance:
                self._record(ClockStep(timedelta(seconds=drift), now))
        return now

    def _record(self, step: ClockStep) -> None:
        self.last_step = step
        direction = "forward" if step.size > timedelta(0) else "backward"
        CLOCK_STEPS.labels(direction).inc()
        log.error("clock_step", direction=direction, step_s=round(step.size.total_seconds(), 3),
                  wall_now=step.at.isoformat())


SYSTEM_CLOCK = WallClock.from_env()


def utc_now() -> datetime:
    """Now, in aware UTC, from the process's one wall clock."""
    return SYSTEM_CLOCK()
