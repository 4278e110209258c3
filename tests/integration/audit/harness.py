"""Drive a real audit service (in this process or as a child process) on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from sqlalchemy import func, select

from services.audit.adapters.sql.tables import records
from services.audit.bootstrap import build_app
from shared.contracts.events import DecisionMade
from shared.contracts.topics import DECISIONS, REIDENTIFICATIONS
from shared.infra.sql_engine import make_engine
from shared.settings import AuditSettings, KafkaSettings
from tests.migrated import upgrade
from tests.unit.audit.factories import write_test_decision_key

AUDITOR_TOKEN = "test-auditor-token"
LAB_TOKEN = "test-lab-token"
AUTH = {"Authorization": f"Bearer {AUDITOR_TOKEN}"}


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "audit", database_url)


def audit_settings(database_url: str, tmp_path: Path, group_id: str,
                   **overrides: object) -> AuditSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "group_id": group_id,
        "checkpoint_dir": tmp_path / "checkpoints",
        "signing_key_file": tmp_path / "keys" / "signing.pem",
        "checkpoint_interval_s": 3600.0,
        "decision_keys": str(write_test_decision_key(tmp_path / "keys")),
        "tokens": f"{AUDITOR_TOKEN}=auditor,{LAB_TOKEN}=lab-system",
        "retry_initial_s": 0.05,
        "retry_max_s": 0.5,
        **overrides,
    }
    return AuditSettings(**values)  # type: ignore[arg-type]


async def start_group_at_end(kafka: KafkaSettings, group_id: str) -> None:
    """Commit the group's offsets at the end of the decision topic, and its re-identification
    group's at the end of that topic, so the audit service reads only what the test publishes
    (the session-wide topics hold other tests' decisions and re-identifications: an intake
    test's re-identification once reached an auditor test's access log)."""
    await _commit_at_end(kafka, DECISIONS, group_id)
    await _commit_at_end(kafka, REIDENTIFICATIONS, f"{group_id}-reidentifications")


async def _commit_at_end(kafka: KafkaSettings, topic: str, group_id: str) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for partition, offset in ends.items():
            consumer.seek(partition, offset)
        # Tansu reports the end of a partition as the base offset of its last record batch
        # plus one, so the rest of that batch still follows: read past it before committing.
        while await consumer.getmany(*partitions, timeout_ms=300):
            pass
        await consumer.commit({p: await consumer.position(p) for p in partitions})
    finally:
        await consumer.stop()


async def publish(kafka: KafkaSettings, events: Iterable[DecisionMade]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all",
                                linger_ms=5)
    await producer.start()
    sent = 0
    try:
        batch = []
        for event in events:
            batch.append(await producer.send(
                DECISIONS, event.model_dump_json().encode(), key=event.patient_key.encode()))
            sent += 1
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return sent


async def publish_raw(kafka: KafkaSettings, value: bytes, key: bytes,
                      headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(DECISIONS, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def count_records(database_url: str, patient_prefix: str | None = None) -> int:
    engine = make_engine(database_url)
    try:
        query = select(func.count()).select_from(records)
        if patient_prefix is not None:
            query = query.where(records.c.patient_key.startswith(patient_prefix))
        async with engine.connect() as connection:
            return int(await connection.scalar(query) or 0)
    finally:
        await engine.dispose()


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 30.0,
                   what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan (broker, consumer, checkpoint task) plus an HTTP client on it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://audit") as client:
            yield client


def audit_app(settings: AuditSettings, kafka: KafkaSettings) -> FastAPI:
    return build_app(settings, kafka)
