"""The messaging kit: consumers wired from their declarations, and one start/stop for a service.

``subscribe`` turns a ``shared.contracts.channels.Subscription`` into a FastStream subscriber
the same way for every service: offsets committed only after the handler returned
(``AckPolicy.NACK_ON_ERROR``: FastStream's default acknowledges first, which is at-most-once),
from the earliest offset for a new group, with the broker settings' group timeouts, and with the
tolerant parser and bytes decoder so that a record FastStream could not decode by its
content-type still reaches the handler, which dead-letters it instead of blocking the partition.

Handlers receive consumer records (aiokafka ``ConsumerRecord``): a batch subscription hands a
tuple of every record of one poll, a single one ``(record, headers)``. A handler that raises
leaves the offsets uncommitted: the records come back (after the handler's own back-off).

``running`` is the one start/stop: connect (now, or in the background while the service
already accepts work into its outbox), run what must happen before the first record is consumed,
start the consumers and the background tasks; on the way out cancel the tasks, then stop the
broker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from typing import Any

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from shared.contracts.channels import Subscription
from shared.infra.backoff import Backoff
from shared.infra.raw_codec import bytes_decoder, tolerant_batch_parser, tolerant_parser
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

BatchHandler = Callable[[tuple[Any, ...]], Awaitable[None]]
RecordHandler = Callable[[Any, Mapping[str, str]], Awaitable[None]]


def subscribe(
    broker: KafkaBroker,
    kafka: KafkaSettings,
    subscription: Subscription,
    handler: BatchHandler | RecordHandler,
    *,
    group_id: str | None = None,
    max_records: int | None = None,
    batch_timeout_ms: int | None = None,
    fetch_max_wait_ms: int | None = None,
) -> None:
    """Consume ``subscription.topic`` with ``handler`` (a ``BatchHandler`` for a batch
    subscription, a ``RecordHandler`` otherwise). ``group_id`` overrides the declared group;
    ``max_records`` / ``batch_timeout_ms`` bound a batch; ``fetch_max_wait_ms`` bounds how long
    the broker holds a fetch (Tansu answers a fetch only when its wait expires, so a short wait
    bounds latency there; Apache Kafka answers as soon as data arrives either way)."""
    batch = subscription.delivery == "batch"
    options: dict[str, Any] = {
        "group_id": group_id or subscription.group,
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": kafka.session_timeout_ms,
        "heartbeat_interval_ms": kafka.heartbeat_interval_ms,
        "rebalance_timeout_ms": kafka.rebalance_timeout_ms,
        "parser": tolerant_batch_parser if batch else tolerant_parser,
        "decoder": bytes_decoder,
        "title": subscription.name,
        "description": subscription.description,
    }
    if batch:
        options["batch"] = True
        if max_records is not None:
            options["max_records"] = max_records
        if batch_timeout_ms is not None:
            options["batch_timeout_ms"] = batch_timeout_ms
    if fetch_max_wait_ms is not None:
        options["fetch_max_wait_ms"] = fetch_max_wait_ms

    if batch:
        batch_handler: BatchHandler = handler  # type: ignore[assignment]

        async def consume_batch(message: KafkaMessage) -> None:
            raw = message.raw_message
            await batch_handler(raw if isinstance(raw, tuple) else (raw,))

        broker.subscriber(subscription.topic, **options)(consume_batch)
    else:
        record_handler: RecordHandler = handler  # type: ignore[assignment]

        async def consume_record(message: KafkaMessage) -> None:
            await record_handler(message.raw_message, message.headers)

        broker.subscriber(subscription.topic, **options)(consume_record)


Task = Callable[[], Coroutine[Any, Any, object]]

STOP_TIMEOUT_S = 5.0
"""How long a service's exit waits for its cancelled tasks, and then for its broker to stop
(tasks normally end within milliseconds): both bounds together stay under the 15 s the ``run``
supervisor gives a service to stop before it kills it."""


@contextlib.asynccontextmanager
async def running(
    broker: KafkaBroker,
    *,
    service: str,
    tasks: Mapping[str, Task] | None = None,
    connect_in_background: bool = False,
    before_consuming: Callable[[], Awaitable[object]] | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> AsyncIterator[None]:
    """Run ``broker`` and ``tasks`` (name -> coroutine factory) for the body of the ``with``.

    ``connect_in_background``: the body starts at once and the broker is connected by a task
    that retries with back-off while the broker is away (intake keeps accepting into its outbox
    meanwhile). Otherwise the broker is connected before the body starts (a failure raises and
    the service does not start), ``before_consuming`` runs between the connection and the
    start of the consumers (the evaluator publishes its outbox backlog there, so decisions
    made from new events queue behind it). On exit the tasks are cancelled and awaited, then
    the broker stops (its consumers commit nothing they did not finish).

    The exit is bounded (issue 14: no input can stall a service): it waits at most
    ``stop_timeout_s`` for the cancelled tasks, logs at error level every task that did not
    stop (a cancellation swallowed somewhere: a bug to fix, not a reason to hang), and then
    at most ``stop_timeout_s`` for the broker to stop. Nothing accepted depends on either:
    what was not published stays in the outbox, what was not committed is redelivered."""
    started: list[asyncio.Task[object]] = []
    if connect_in_background:
        started.append(asyncio.create_task(_connect_with_retry(broker, service),
                                           name=f"{service}-broker-connect"))
    else:
        await broker.connect()
        if before_consuming is not None:
            await before_consuming()
        await broker.start()
    started += [asyncio.create_task(factory(), name=f"{service}-{name}")
                for name, factory in (tasks or {}).items()]
    try:
        yield
    finally:
        await _stop_tasks(started, service, stop_timeout_s)
        try:
            async with asyncio.timeout(stop_timeout_s):
                await broker.stop()
        except TimeoutError:
            log.error("broker_stop_timed_out", service=service, waited_s=stop_timeout_s)


async def _stop_tasks(tasks: list[asyncio.Task[object]], service: str, timeout_s: float) -> None:
    """Cancel ``tasks`` and wait up to ``timeout_s`` for them; log the ones still running."""
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, stuck = await asyncio.wait(tasks, timeout=timeout_s)
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.warning("task_failed_before_stop", service=service, task=task.get_name(),
                        error=type(task.exception()).__name__)
    for task in stuck:
        frames = [f"{f.f_code.co_filename}:{f.f_lineno}" for f in task.get_stack()]
        log.error("task_did_not_stop", service=service, task=task.get_name(),
                  waited_s=timeout_s, at=frames)


async def _connect_with_retry(broker: KafkaBroker, service: str) -> None:
    backoff = Backoff(first_s=0.2, max_s=5.0)
    while True:
        try:
            await broker.start()
            return
        except Exception as error:
            log.warning("broker_unavailable", service=service, error=type(error).__name__,
                        retry_in_s=backoff.next_delay_s)
            with contextlib.suppress(Exception):
                await broker.stop()
            await backoff.pause()
