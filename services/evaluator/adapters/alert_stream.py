"""Live alerts for Server-Sent Events, fed from the alerts topic itself.

Every evaluator process reads all partitions of ``eligibility.alerts.v1`` from the end (no
consumer group), so a coordinator connected to any process sees every alert, whichever process
owns the patient's partition.

"The end" is each partition's high watermark as the broker's first fetch answer reports it
(Kafka protocol FetchResponse ``high_watermark``), never the ListOffsets "latest" answer alone:
the bundled broker (Tansu 0.6.0, memory storage) answers ListOffsets "latest" with the base
offset of the partition's last record batch plus one, so a consumer reset there re-read the rest
of a batch of several alerts (an outbox backlog published at once) and coordinators were shown
another patient's alert of minutes ago as live. Records below the end found at start are
skipped; the stream is ``live`` once every partition's end is known.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from aiokafka import TopicPartition
from pydantic import ValidationError

from shared.contracts.events import EligibilityAlert
from shared.contracts.topics import ALERTS
from shared.infra.backoff import Backoff
from shared.infra.kafka import groupless_consumer
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)


class AlertStream:
    """Fans the feed's alerts out to every subscriber (one bounded queue each).

    ``live``: the feed is positioned at the end of every partition of the alerts topic, so a
    subscriber from then on is given every alert published since (and none published before);
    false until the feed's first positioning and again while it reconnects."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[EligibilityAlert]] = set()
        self._queue_size = queue_size
        self._live = asyncio.Event()

    @property
    def live(self) -> bool:
        return self._live.is_set()

    async def wait_live(self) -> None:
        """Return once the feed is live (see ``live``)."""
        await self._live.wait()

    def set_live(self, live: bool) -> None:
        if live:
            self._live.set()
        else:
            self._live.clear()

    def publish(self, alert: EligibilityAlert) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                # A slow coordinator's browser must not hold up everyone else.
                queue.put_nowait(alert)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[EligibilityAlert]]:
        queue: asyncio.Queue[EligibilityAlert] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


async def until_live(stream: AlertStream, heartbeat_s: float) -> AsyncIterator[str]:
    """SSE heartbeat comments, one every ``heartbeat_s`` seconds, until ``stream`` is live: a
    Server-Sent Events endpoint says ``: connected`` (every alert from now on) only then."""
    while not stream.live:
        try:
            async with asyncio.timeout(heartbeat_s):
                await stream.wait_live()
        except TimeoutError:
            yield ": heartbeat\n\n"


async def feed_from_topic(stream: AlertStream, kafka: KafkaSettings) -> None:
    """Keep the stream fed for the life of the process, reconnecting after a broker outage."""
    backoff = Backoff(first_s=0.5, max_s=10.0)
    while True:
        try:
            await _feed(stream, kafka, on_connected=backoff.reset)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.warning("alert feed interrupted", error=type(error).__name__)
            await backoff.pause()
        finally:
            stream.set_live(False)


async def _feed(
    stream: AlertStream, kafka: KafkaSettings, on_connected: Callable[[], None]
) -> None:
    # partition -> the end found at start: records below it were published before the feed
    # was live (a reset to "latest" may land inside the last batch: see the module docstring)
    live_from: dict[int, int] = {}
    async with groupless_consumer(ALERTS, kafka, start_at="latest",
                                  on_connected=on_connected) as consumer:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if len(live_from) < len(consumer.assignment()):
                for tp in consumer.assignment():
                    end = consumer.highwater(tp)
                    if tp.partition not in live_from and end is not None:
                        live_from[tp.partition] = end
                if live_from and len(live_from) == len(consumer.assignment()):
                    stream.set_live(True)
            for tp, records in batches.items():
                _publish(stream, tp, records, live_from.get(tp.partition))


def _publish(stream: AlertStream, tp: TopicPartition, records: list[Any],
             live_from: int | None) -> None:
    """Stream ``records`` (one partition's, in offset order) published at or after
    ``live_from``; a record whose partition's end is not known yet is older than the feed."""
    for record in records:
        if live_from is None or record.offset < live_from:
            continue
        try:
            stream.publish(EligibilityAlert.model_validate_json(record.value or b""))
        except ValidationError:
            log.warning("unreadable alert skipped", partition=tp.partition,
                        offset=record.offset)
