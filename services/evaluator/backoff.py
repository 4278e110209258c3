"""Growing pauses while a dependency (database, broker) is down, reset by the first success."""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError

# Failures that say "try again later", not "this message is bad". An IntegrityError is here
# too: it means another process (after a rebalance) applied the same event first.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, OSError, TimeoutError, KafkaError)


class Backoff:
    def __init__(self, first_s: float = 0.1, max_s: float = 5.0) -> None:
        self._first_s = first_s
        self._max_s = max_s
        self.failures = 0

    def next_delay(self) -> float:
        return min(self._first_s * 2 ** self.failures, self._max_s)

    async def wait(self) -> None:
        delay = self.next_delay()
        self.failures += 1
        await asyncio.sleep(delay)

    def reset(self) -> None:
        self.failures = 0
