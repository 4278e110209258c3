"""The decision outbox: events are stored with the state change, published after the commit
by the one outbox relay (``shared.infra.outbox``, writer-first mode).

A crash between commit and publish leaves rows unpublished; the redelivered patient event
(``settle_key``) or the relay loop publishes them with the same ids, so consumers see
at-least-once, never a different decision for the same input. A crash after publishing but
before marking the rows published would make them go out a second time; orphans are therefore
checked against their topics first (``shared.infra.published_scan``). Consumers still drop
duplicates by id: without Kafka transactions no producer can promise exactly-once.

A row the broker can never take (a snapshot or decision larger than ``KAFKA_MAX_REQUEST_SIZE``)
is dead-lettered into ``evaluator_outbox_dead_letters`` with its reason, counted and logged
without its payload, and never retried by itself; that patient's later rows are held behind it
until an operator releases it (``trialwatch outbox``); every other patient keeps flowing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql.dialects import insert_ignoring_duplicates
from services.evaluator.adapters.sql.tables import outbox, outbox_dead_letters
from services.evaluator.core.clock import Clock
from shared.contracts.events import DecisionMade, EligibilityAlert, PatientSnapshot
from shared.contracts.topics import ALERTS, DECISIONS
from shared.infra.outbox import AlreadyPublished, OutboxRelay, OutboxRow, RelayOptions
from shared.infra.outbox_sql import OutboxColumns, SqlOutboxStore
from shared.infra.signing import BatchSender, Record

# How long a row may stay unpublished before anyone but its writer publishes it: the writer
# publishes within milliseconds of its commit, so only rows an interrupted writer left behind
# are published by the relay loop or a redelivery.
GRACE = timedelta(seconds=5)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    message_id: str
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime | None = None


_MESSAGES: OrderedDict[int, tuple[object, OutboxMessage]] = OrderedDict()
_MESSAGES_KEPT = 8192


def message_of(event: DecisionMade | EligibilityAlert | PatientSnapshot) -> OutboxMessage:
    """The outbox row of a decision or an input snapshot (``eligibility.decisions.v1``) or an
    alert (``eligibility.alerts.v1``), keyed by patient so each patient's events stay in
    order.

    Remembered for the event object (the newest ``_MESSAGES_KEPT``; events are immutable):
    the same event is asked for three times per batch (its status row's decision, its outbox
    row, the message published after the commit), and dumping a decision to JSON was a tenth
    of the evaluator's time. The payload is shared, so nobody may modify it."""
    kept = _MESSAGES.get(id(event))
    if kept is not None and kept[0] is event:
        return kept[1]
    topic = ALERTS if isinstance(event, EligibilityAlert) else DECISIONS
    message = OutboxMessage(message_id=str(event.event_id), topic=topic, key=event.patient_key,
                            payload=event.model_dump(mode="json"))
    _MESSAGES[id(event)] = (event, message)  # the event is held: its id is not reused meanwhile
    while len(_MESSAGES) > _MESSAGES_KEPT:
        _MESSAGES.popitem(last=False)
    return message


def messages_of(events: Sequence[DecisionMade | EligibilityAlert | PatientSnapshot],
                ) -> list[OutboxMessage]:
    """``message_of`` each event. The snapshot a screening's decisions share travels once, as
    its own ``PatientSnapshot``, so it is dumped once per screening, not per trial."""
    return [message_of(e) for e in events]


class Publisher(Protocol):
    """Sends one event to a topic, returning once the broker has it durably (the evaluator's
    ``SigningPublisher``: every decision, snapshot and coordinator action leaves signed)."""

    async def publish(self, payload: dict[str, Any], topic: str, *, key: bytes) -> Any: ...


async def stage(session: AsyncSession, messages: Sequence[OutboxMessage], now: datetime) -> None:
    await insert_ignoring_duplicates(
        session,
        outbox,
        [
            {"message_id": m.message_id, "topic": m.topic, "key": m.key, "payload": m.payload,
             "created_at": now, "published_at": None}
            for m in messages
        ],
    )


def outbox_store(sessions: async_sessionmaker[AsyncSession]) -> SqlOutboxStore:
    """The relay's side of ``evaluator_outbox`` (rows locked while relayed, so several
    evaluator processes never both send one) and ``evaluator_outbox_dead_letters``."""
    columns = OutboxColumns(outbox, outbox.c.seq, outbox.c.message_id, outbox.c.key,
                            outbox.c.topic, outbox.c.payload, outbox.c.created_at,
                            outbox.c.published_at)
    return SqlOutboxStore(sessions, columns, outbox_dead_letters, lock_rows=True)


class EvaluatorOutbox:
    """What the evaluator's writers (patient events, timers, coordinator actions) and its
    background loop call: the one relay in writer-first mode over the evaluator's outbox.

    ``send``: publish rows this process just committed (raises the transient error itself;
    dead-letters what the broker can never take). ``settle_key``: a redelivered event's
    leftovers. ``publish_backlog``: everything pending, before consuming. ``run``: the relay
    loop for rows an interrupted writer left behind (older than ``GRACE``). ``batch``: send a
    round's rows at once through it (the ``SigningPublisher`` over
    ``shared.infra.kafka_batch``: signed, whole record batches per partition) instead of one
    ``publisher.publish`` per row; rows it cannot attribute a refusal to go one by one."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], publisher: Publisher, clock: Clock,
        already_published: AlreadyPublished | None = None, *, poll_interval_s: float = 1.0,
        grace: timedelta = GRACE, batch: BatchSender | None = None,
    ) -> None:
        async def publish(row: OutboxRow) -> object:
            return await publisher.publish(row.payload, row.topic, key=row.key.encode())

        publish_batch = None
        if batch is not None:
            sender = batch

            async def publish_batch(rows: Sequence[OutboxRow]) -> list[BaseException | None]:
                return await sender.publish_batch(
                    [Record(r.payload, r.topic, r.key.encode()) for r in rows])

        self.store = outbox_store(sessions)
        self.relay = OutboxRelay("evaluator", self.store, publish, clock, RelayOptions(
            grace=grace, already_published=already_published, poll_interval_s=poll_interval_s,
            publish_batch=publish_batch))

    async def send(self, messages: Sequence[OutboxMessage]) -> int:
        """Publish, then mark published. One patient's events go out in outbox order
        (consumers rely on it); different patients' events go out concurrently. Returns how
        many the broker acknowledged (rows of a held patient stay pending)."""
        return await self.relay.publish_now([_row(m) for m in messages])

    async def settle_key(self, key: str) -> int:
        return await self.relay.settle_key(key)

    async def publish_backlog(self) -> int:
        return await self.relay.publish_backlog()

    async def run(self) -> None:
        await self.relay.run()


def _row(message: OutboxMessage) -> OutboxRow:
    # the store claims a writer's rows by message id and reads their place in the outbox
    return OutboxRow(position=0, message_id=message.message_id, key=message.key,
                     topic=message.topic, payload=message.payload,
                     created_at=message.created_at)
