"""Growing pauses while a dependency is down, so a redelivery loop does not spin."""

from __future__ import annotations

import asyncio


class Backoff:
    def __init__(self, initial_s: float, max_s: float) -> None:
        self._initial_s = initial_s
        self._max_s = max_s
        self._next_s = initial_s

    @property
    def next_delay_s(self) -> float:
        return self._next_s

    async def pause(self) -> None:
        delay, self._next_s = self._next_s, min(self._next_s * 2, self._max_s)
        await asyncio.sleep(delay)

    def reset(self) -> None:
        self._next_s = self._initial_s
