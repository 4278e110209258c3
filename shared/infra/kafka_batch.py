"""Publishing many records at once, each partition's records as whole record batches, in order.

``OutboxRelay`` sends a round's rows through ``KafkaBatchPublisher.publish_batch`` when the
service gives one: the records are grouped by the partition their key maps to (the producer's
own partitioner, so a key lands where a single ``send`` would put it), each partition's records
are packed, in the order given, into as few record batches as fit (``BatchBuilder``), and each
partition's batches go one after another (the next only once the broker acknowledged the one
before), all partitions at once. One produce round trip per batch instead of one per record.

Why order per key still holds: a record batch is appended by the broker whole or not at all,
and a partition's next batch is sent only after the previous one was acknowledged, so a record
is never acknowledged after a later record of its partition failed. What each record's outcome
is (``publish_batch`` returns one per record, in order):

- ``None``: acknowledged (acks=all: durable on the broker);
- the error itself: this record's batch held only this record and failed (transient, or
  unpublishable: ``shared.infra.transient.UNPUBLISHABLE``), or the record alone is larger than
  ``max_request_size`` (``MessageSizeTooLargeError``, checked before anything is sent, as
  aiokafka's ``send`` does; nothing later of its key is sent);
- the error of an earlier batch of its partition (transient), or of an earlier record of its
  key that is too large: it was not sent and stays pending;
- ``shared.infra.outbox.SendAlone``: its batch, holding other records too, was refused as
  unpublishable, so which record the broker refused is unknown (or an earlier batch of its
  partition was): the caller sends these records one at a time, and dead-letters exactly the
  one refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from faststream.kafka import KafkaBroker

from shared.infra.outbox import SendAlone
from shared.infra.signing import Record
from shared.infra.transient import is_unpublishable

_HEADERS = [("content-type", b"application/json")]


@dataclass
class _Partition:
    topic: str
    partition: int
    indexes: list[int] = field(default_factory=list)


def producer_of(broker: KafkaBroker) -> AIOKafkaProducer:
    """The aiokafka producer a connected FastStream ``KafkaBroker`` publishes with (the same
    connection, settings and partitioner). Raises RuntimeError before ``connect``."""
    state = getattr(broker.config.producer, "_producer", None)
    producer = getattr(state, "producer", None)
    if not isinstance(producer, AIOKafkaProducer):
        raise RuntimeError("the broker is not connected: no producer to publish with")
    return producer


class KafkaBatchPublisher:
    """``publish_batch`` over a FastStream ``KafkaBroker``'s producer; ``max_request_size`` is
    the producer's limit (``KAFKA_MAX_REQUEST_SIZE``), checked per record before sending."""

    def __init__(self, broker: KafkaBroker, max_request_size: int) -> None:
        self._broker = broker
        self._max_request_size = max_request_size
        self._partitioner = DefaultPartitioner()

    async def publish_batch(self, records: Sequence[Record]) -> list[BaseException | None]:
        """Publish ``records`` (see the module docstring); one outcome per record, in order.
        Raises only when the topic metadata cannot be read (nothing was sent then)."""
        producer = producer_of(self._broker)
        outcomes: list[BaseException | None] = [None] * len(records)
        values: list[bytes] = []
        partitions: dict[tuple[str, int], _Partition] = {}
        stopped: dict[bytes, BaseException] = {}  # key -> its record that can never go
        known: dict[str, list[int]] = {}
        for index, record in enumerate(records):
            if record.key in stopped:  # nothing later of that key goes before it
                outcomes[index] = stopped[record.key]
                values.append(b"")
                continue
            try:
                value = orjson.dumps(record.payload)
            except TypeError as error:  # orjson.JSONEncodeError: a value JSON cannot carry
                outcomes[index] = stopped[record.key] = error
                values.append(b"")
                continue
            values.append(value)
            if record.topic not in known:
                known[record.topic] = sorted(await producer.partitions_for(record.topic))
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(record.key, value, _HEADERS)
            if size > self._max_request_size:  # as aiokafka's send refuses it
                outcomes[index] = stopped[record.key] = MessageSizeTooLargeError(
                    f"the record is {size} bytes, more than max_request_size "
                    f"{self._max_request_size}")
                continue
            number = self._partitioner(record.key, known[record.topic], known[record.topic])
            partitions.setdefault((record.topic, number),
                                  _Partition(record.topic, number)).indexes.append(index)
        await asyncio.gather(*(self._send_partition(producer, p, records, values, outcomes)
                               for p in partitions.values()))
        return outcomes

    async def _send_partition(
        self, producer: AIOKafkaProducer, partition: _Partition, records: Sequence[Record],
        values: list[bytes], outcomes: list[BaseException | None],
    ) -> None:
        waiting = list(partition.indexes)
        while waiting:
            batch = producer.create_batch()
            packed: list[int] = []
            for index in waiting:
                if batch.append(key=records[index].key, value=values[index], timestamp=None,
                                headers=_HEADERS) is None:
                    break
                packed.append(index)
            waiting = waiting[len(packed):]
            try:
                sent = await producer.send_batch(batch, partition.topic,
                                                 partition=partition.partition)
                await sent
            except Exception as error:
                # unpublishable: which record is at fault is known only for a batch of one;
                # the rest of the partition is sent one by one by the caller (a key held
                # behind a dead letter stops there). Transient: all of it stays pending.
                alone = SendAlone(type(error).__name__)
                if len(packed) == 1:
                    outcomes[packed[0]] = error
                    rest: BaseException = alone if is_unpublishable(error) else error
                else:
                    rest = alone if is_unpublishable(error) else error
                    for index in packed:
                        outcomes[index] = rest
                for index in waiting:
                    outcomes[index] = rest
                return
