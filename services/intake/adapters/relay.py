"""The outbox relay: publishes committed events to Kafka, oldest first, and marks each one
published only after the broker acknowledged it (the producer runs with acks=all).

Per-patient order: rows are taken in outbox id order; rows of one patient key are sent one
after another, and after a failure none of that patient's later rows is sent in the same
round, so a retry can never overtake an earlier event. Different patients go concurrently,
which lets the producer batch. Delivery is at-least-once: a publish whose acknowledgement is
lost is sent again, and consumers drop the duplicate by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

import structlog

from services.intake.adapters import metrics
from services.intake.adapters.sql.store import PendingEvent
from shared.infra.backoff import Backoff

log = structlog.get_logger(__name__)

Publish = Callable[[PendingEvent], Awaitable[object]]


class Outbox(Protocol):
    async def pending(self, limit: int) -> list[PendingEvent]: ...
    async def mark_published(self, ids: Sequence[int], at: datetime) -> None: ...
    async def pending_count(self) -> int: ...


class Leadership(Protocol):
    async def hold(self) -> bool: ...
    async def release(self) -> None: ...


class AlwaysLeader:
    async def hold(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class RelayRoundFailed(Exception):
    """Some events could not be published this round; they stay pending."""


class OutboxRelay:
    def __init__(
        self,
        outbox: Outbox,
        publish: Publish,
        clock: Callable[[], datetime],
        *,
        batch_size: int = 200,
        poll_interval_s: float = 0.05,
        max_backoff_s: float = 5.0,
        linger_s: float = 0.005,
        leadership: Leadership | None = None,
        standby_poll_s: float = 2.0,
    ) -> None:
        self._outbox = outbox
        self._publish = publish
        self._clock = clock
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._backoff = Backoff(first_s=0.2, max_s=max_backoff_s)
        self._linger_s = linger_s
        self._leadership = leadership or AlwaysLeader()
        self._standby_poll_s = standby_poll_s
        self._wake = asyncio.Event()
        self._gauge_updated = 0.0

    def wake(self) -> None:
        """New rows were committed: do not wait for the next poll."""
        self._wake.set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._leadership.release()

    async def _run(self) -> None:
        while True:
            try:
                if not await self._leadership.hold():
                    await asyncio.sleep(self._standby_poll_s)  # another replica relays
                    continue
                published = await self.relay_once()
                self._backoff.reset()
            except Exception as error:  # broker or database away: keep everything, retry later
                metrics.RELAY_FAILURES.inc()
                log.warning("relay_round_failed", error=type(error).__name__,
                            retry_in_s=self._backoff.next_delay_s)
                await self._backoff.pause()
                continue
            await self._refresh_gauge()
            if published < self._batch_size:
                await self._idle()

    async def relay_once(self) -> int:
        """Publish one batch of pending events; returns how many were acknowledged."""
        rows = await self._outbox.pending(self._batch_size)
        if not rows:
            return 0
        by_patient: dict[str, list[PendingEvent]] = {}
        for row in rows:
            by_patient.setdefault(row.message_key, []).append(row)
        outcomes = await asyncio.gather(*(self._send_in_order(r) for r in by_patient.values()))
        delivered = sorted(row_id for ids, _ in outcomes for row_id in ids)
        await self._outbox.mark_published(delivered, self._clock())
        metrics.EVENTS_PUBLISHED.inc(len(delivered))
        errors = [error for _, error in outcomes if error is not None]
        if errors:
            raise RelayRoundFailed(f"{len(errors)} patient(s) not published") from errors[0]
        return len(delivered)

    async def _send_in_order(
        self, rows: list[PendingEvent]
    ) -> tuple[list[int], Exception | None]:
        delivered: list[int] = []
        for row in rows:
            try:
                await self._publish(row)
            except Exception as error:
                return delivered, error
            delivered.append(row.id)
        return delivered, None

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self._poll_interval_s)
            # Woken by a commit: linger a moment so a burst goes out as one round (one read,
            # one update) instead of one round per request.
            await asyncio.sleep(self._linger_s)
        self._wake.clear()

    async def _refresh_gauge(self) -> None:
        if time.monotonic() - self._gauge_updated >= 1.0:
            self._gauge_updated = time.monotonic()
            metrics.OUTBOX_PENDING.set(await self._outbox.pending_count())
