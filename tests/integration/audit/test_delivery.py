"""At-least-once delivery on the real broker: redeliveries stored once, poison dead-lettered,
a database outage pauses consumption and loses nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.engine import make_url

from services.audit import metrics
from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.verify import verify_chain
from shared.contracts.events import DeadLetter
from shared.contracts.topics import DECISIONS, dead_letter
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import POSTGRES_ADMIN_URL, seek_to_end, unique_group
from tests.integration.audit.harness import (
    audit_app,
    audit_settings,
    count_records,
    migrate,
    publish,
    publish_raw,
    running,
    start_group_at_end,
    wait_for,
)
from tests.unit.audit.factories import decision_event, snapshot_and_decision

pytestmark = pytest.mark.integration


async def _intact(database_url: str, tmp_path: Path) -> bool:
    engine = make_engine(database_url)
    try:
        report = await verify_chain(SqlChainStore(engine), CheckpointFiles(
            tmp_path / "checkpoints", tmp_path / "keys" / "signing.pub.pem"), clock=utc_now)
    finally:
        await engine.dispose()
    return report.intact


async def test_a_thousand_decisions_delivered_twice_become_a_thousand_records(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-redelivery")
    prefix = f"pk_{group}_"
    await start_group_at_end(kafka_settings, group)
    events = [decision_event(f"{prefix}{i % 50}", i) for i in range(1000)]
    duplicates_before = metrics.DUPLICATE_DECISIONS._value.get()

    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)):
        await publish(kafka_settings, events)
        await publish(kafka_settings, events)

        async def all_seen_twice() -> bool:
            return metrics.DUPLICATE_DECISIONS._value.get() - duplicates_before >= 1000

        await wait_for(all_seen_twice, timeout_s=120, what="1,000 redeliveries")

    assert await count_records(database_url, prefix) == 1000
    assert await _intact(database_url, tmp_path)


async def _dead_letter_consumer(kafka: KafkaSettings) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(dead_letter(DECISIONS), p) for p in range(kafka.partitions)]
    consumer.assign(partitions)
    await seek_to_end(consumer, partitions)
    return consumer


async def test_a_poison_message_is_dead_lettered_and_its_partition_keeps_flowing(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-poison")
    await start_group_at_end(kafka_settings, group)
    key = f"pk_{group}"
    consumer = await _dead_letter_consumer(kafka_settings)
    try:
        async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                     kafka_settings)):
            await publish_raw(kafka_settings, b'{"event_type": "eligibility.decided"}',
                              key.encode())
            await publish(kafka_settings, [decision_event(key, 0)])

            async def stored() -> bool:
                return await count_records(database_url, key) == 1

            await wait_for(stored, what="the decision after the poison message")
            record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    letter = DeadLetter.model_validate_json(record.value)
    assert letter.original_topic == DECISIONS
    assert letter.service == "audit"
    assert letter.key == key
    assert "not a DecisionMade" in letter.reason
    assert letter.payload == '{"event_type": "eligibility.decided"}'


async def test_a_record_labelled_json_that_is_not_json_is_dead_lettered_not_redelivered_forever(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-not-json")
    await start_group_at_end(kafka_settings, group)
    key = f"pk_{group}"
    consumer = await _dead_letter_consumer(kafka_settings)
    try:
        async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                     kafka_settings)):
            await publish_raw(kafka_settings, b"\xff not json", key.encode(),
                              headers=[("content-type", b"application/json"),
                                       ("source", b"\xfe\xff")])
            await publish(kafka_settings, [decision_event(key, 0)])

            async def stored() -> bool:
                return await count_records(database_url, key) == 1

            await wait_for(stored, what="the decision after the undecodable record")
            record = await asyncio.wait_for(consumer.getone(), timeout=10)
    finally:
        await consumer.stop()
    letter = DeadLetter.model_validate_json(record.value)
    assert letter.key == key
    assert letter.payload_encoding == "base64"
    assert "not a DecisionMade" in letter.reason


async def _allow_connections(database_url: str, allowed: bool) -> None:
    name = make_url(database_url).database
    engine = make_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(
                f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"true" if allowed else "false"}'))
            if not allowed:
                await connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
    finally:
        await engine.dispose()


async def test_a_database_outage_pauses_consumption_and_loses_nothing(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the outage is simulated by closing a PostgreSQL database to connections")
    await migrate(database_url)
    group = unique_group("audit-outage")
    prefix = f"pk_{group}_"
    await start_group_at_end(kafka_settings, group)
    failures_before = metrics.STORE_FAILURES._value.get()
    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)):
        await publish(kafka_settings, [decision_event(f"{prefix}{i % 5}", i) for i in range(50)])

        async def first_half() -> bool:
            return await count_records(database_url, prefix) == 50

        await wait_for(first_half, what="the first 50 decisions")
        await _allow_connections(database_url, False)
        try:
            await publish(kafka_settings,
                          [decision_event(f"{prefix}{i % 5}", i) for i in range(50, 100)])

            async def paused() -> bool:
                return metrics.STORE_FAILURES._value.get() - failures_before >= 3

            await wait_for(paused, what="the consumer to hit the outage and back off")
        finally:
            await _allow_connections(database_url, True)

        async def everything() -> bool:
            return await count_records(database_url, prefix) == 100

        await wait_for(everything, timeout_s=60, what="all 100 decisions after the outage")
    assert await _intact(database_url, tmp_path)


async def test_a_snapshot_sent_once_is_stored_and_a_decision_without_one_is_recorded_and_flagged(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    """Decisions reference their input by hash (schema version 2): the snapshot event ahead of
    them is stored once; a decision whose snapshot never came is kept, never dropped, and
    ``audit verify`` names it (snapshot-missing)."""
    await migrate(database_url)
    group = unique_group("audit-snapshots")
    key = f"pk_{group}"
    await start_group_at_end(kafka_settings, group)
    sent, decided = snapshot_and_decision(key, 0)
    _, orphan = snapshot_and_decision(key, 1)  # its snapshot is never published
    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)):
        await publish(kafka_settings, [sent, decided, orphan])  # type: ignore[list-item]

        async def both_stored() -> bool:
            return await count_records(database_url, key) == 2

        await wait_for(both_stored, what="both decisions")
    engine = make_engine(database_url)
    try:
        store = SqlChainStore(engine)
        stored = [h async for batch in store.snapshot_batches() for h, _ in batch]
        report = await verify_chain(store, CheckpointFiles(
            tmp_path / "checkpoints", tmp_path / "keys" / "signing.pub.pem"), clock=utc_now)
    finally:
        await engine.dispose()
    assert stored == [sent.snapshot_hash]
    assert not report.intact
    assert [(p.sequence, p.kind) for p in report.other_problems] == [(2, "snapshot-missing")]
