"""Records published at once (shared.infra.kafka_batch) against the real broker: each lands on
the partition a single keyed send puts its key on, each key's records arrive in the order given,
a record larger than the producer's limit is refused alone (its key's later records are not
sent) while every other key flows, and the signing publisher signs what it sends this way."""

from __future__ import annotations

import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts.signatures import digest_of
from shared.infra.kafka import ensure_topics, make_broker
from shared.infra.kafka_batch import KafkaBatchPublisher, producer_of
from shared.infra.signing import EventSignature, EventSigner, Record, SigningPublisher, TrustedKeys
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


async def _read_all(kafka: KafkaSettings, topic: str, count: int) -> list[tuple[int, bytes, dict]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found: list[tuple[int, bytes, dict]] = []
        for _ in range(100):
            for records in (await consumer.getmany(timeout_ms=200)).values():
                found += [(r.partition, r.key, json.loads(r.value)) for r in records]
            if len(found) >= count:
                break
        return found
    finally:
        await consumer.stop()


async def test_records_land_on_their_keys_partition_in_order_and_a_too_large_one_alone(
    kafka_settings: KafkaSettings,
) -> None:
    topic = f"test.batch.{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    limit = 64 * 1024
    broker = make_broker(kafka_settings.model_copy(update={"max_request_size": limit}),
                         client_id="test-batch", max_batch_size=32 * 1024)
    await broker.connect()
    try:
        keys = [f"pk-{i}".encode() for i in range(12)]
        # 12 keys x 5 records of ~3 KB: several batches per partition (32 KiB each)
        records = [Record({"key": k.decode(), "n": n, "pad": "y" * 3000}, topic, k)
                   for n in range(5) for k in keys]
        big = Record({"key": "pk-big", "n": 0, "pad": "x" * (2 * limit)}, topic, b"pk-big")
        after_big = Record({"key": "pk-big", "n": 1}, topic, b"pk-big")
        outcomes = await KafkaBatchPublisher(broker, limit).publish_batch(
            [*records[:30], big, *records[30:], after_big])
        assert outcomes[:30] == [None] * 30
        assert outcomes[31:-1] == [None] * 30
        assert isinstance(outcomes[30], MessageSizeTooLargeError)
        assert outcomes[-1] is not None  # never sent ahead of the refused one

        # where one keyed send of the same producer puts each key
        producer = producer_of(broker)
        expected = {k: (await producer.send_and_wait(topic, b"{}", key=k)).partition
                    for k in keys}
        found = await _read_all(kafka_settings, topic, 60 + len(keys))
        batch_records = [(p, k, v) for p, k, v in found if "n" in v]
        assert len(batch_records) == 60
        assert all(p == expected[k] for p, k, _ in batch_records)
        for key in keys:
            assert [v["n"] for _, k, v in batch_records if k == key] == [0, 1, 2, 3, 4]
        assert not any(k == b"pk-big" for _, k, _ in found)
    finally:
        await broker.stop()


async def test_the_signing_publisher_signs_records_sent_at_once(
    kafka_settings: KafkaSettings,
) -> None:
    signed_topic, plain_topic = (f"test.batch.{n}.{uuid.uuid4().hex[:8]}" for n in "sp")
    await ensure_topics(kafka_settings, [signed_topic, plain_topic])
    key = Ed25519PrivateKey.generate()
    broker = make_broker(kafka_settings, client_id="test-batch-signed")
    await broker.connect()
    try:
        publisher = SigningPublisher(broker, EventSigner(key), (signed_topic,),
                                     batch=KafkaBatchPublisher(broker, 1_048_576))
        payload = {"event_id": str(uuid.uuid4()), "value": 1}
        assert await publisher.publish_batch([Record(payload, signed_topic, b"k"),
                                              Record(payload, plain_topic, b"k")]) == [None, None]
        [(_, _, signed)] = await _read_all(kafka_settings, signed_topic, 1)
        [(_, _, plain)] = await _read_all(kafka_settings, plain_topic, 1)
    finally:
        await broker.stop()
    assert plain == payload
    signature = EventSignature.model_validate(signed.pop("signature"))
    assert signed == payload
    assert TrustedKeys.of([key.public_key()]).refusal(signature, digest_of(payload)) is None
