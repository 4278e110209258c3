"""Live alerts for Server-Sent Events, fed from the alerts topic itself.

Every evaluator process reads all partitions of ``eligibility.alerts.v1`` from the end (no
consumer group), so a coordinator connected to any process sees every alert, whichever process
owns the patient's partition.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from shared.contracts.events import EligibilityAlert
from shared.contracts.topics import ALERTS
from shared.infra.backoff import Backoff
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)


class AlertStream:
    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[EligibilityAlert]] = set()
        self._queue_size = queue_size

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


async def _feed(
    stream: AlertStream, kafka: KafkaSettings, on_connected: Callable[[], None]
) -> None:
    consumer = AIOKafkaConsumer(
        ALERTS,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        auto_offset_reset="latest",
        enable_auto_commit=False,
        request_timeout_ms=kafka.request_timeout_ms,
    )
    await consumer.start()
    on_connected()
    try:
        async for record in consumer:
            try:
                stream.publish(EligibilityAlert.model_validate_json(record.value or b""))
            except ValidationError:
                log.warning("unreadable alert skipped", partition=record.partition,
                            offset=record.offset)
    finally:
        await consumer.stop()
