"""Growing pauses while a dependency (database, broker) is down, reset by the first success,
so a redelivery loop neither spins nor gives up."""

from __future__ import annotations

import asyncio


class Backoff:
    def __init__(self, first_s: float = 0.1, max_s: float = 5.0) -> None:
        self._first_s = first_s
        self._max_s = max_s
        self.failures = 0

    @property
    def next_delay_s(self) -> float:
        # The exponent is capped: after ~1000 failures (a long outage) 2**failures no longer
        # converts to a float, and the pause itself would raise instead of pausing.
        return float(min(self._first_s * 2 ** min(self.failures, 64), self._max_s))

    def step(self) -> float:
        """Count one more failure and return the pause before the next attempt, for callers
        that schedule the attempt instead of sleeping (the ``run`` supervisor)."""
        delay = self.next_delay_s
        self.failures += 1
        return delay

    async def pause(self) -> None:
        await asyncio.sleep(self.step())

    def reset(self) -> None:
        self.failures = 0
