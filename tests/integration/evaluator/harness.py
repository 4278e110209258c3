"""Drive a real evaluator (in this process or as a child process) on the real broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import FastAPI
from pydantic import ValidationError

from services.evaluator.bootstrap import build_app
from services.evaluator.core.ports import Screener
from shared.clinical.facts import PatientFacts
from shared.contracts.events import (
    DecisionMade,
    EligibilityAlert,
    PatientSnapshot,
    PatientUpdated,
)
from shared.contracts.topics import ALERTS, DECISIONS, PATIENT_EVENTS
from shared.settings import EvaluatorSettings, KafkaSettings
from tests.conftest import seek_to_end, unique_group
from tests.migrated import upgrade

REPO_ROOT = Path(__file__).resolve().parents[3]


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "evaluator", database_url)


async def fresh_settings(
    database_url: str, kafka: KafkaSettings, group_prefix: str, **overrides: Any
) -> EvaluatorSettings:
    """Settings for an evaluator on a freshly migrated database, in a new consumer group that
    starts at the end of the patient topic."""
    await migrate(database_url)
    group = unique_group(group_prefix)
    await start_group_at_end(kafka, group)
    return EvaluatorSettings(database_url=database_url, group_id=group, **overrides)


async def start_group_at_end(kafka: KafkaSettings, group_id: str) -> None:
    """Commit the group's offsets at the end of the patient topic, so an evaluator joining it
    reads only what the test publishes (the session-wide topic holds other tests' events)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group_id,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(PATIENT_EVENTS, p)
                      for p in consumer.partitions_for_topic(PATIENT_EVENTS) or ()]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(PATIENT_EVENTS, p)
                          for p in consumer.partitions_for_topic(PATIENT_EVENTS) or ()]
        consumer.assign(partitions)
        await consumer.commit(await seek_to_end(consumer, partitions))
    finally:
        await consumer.stop()


@dataclass
class Collected:
    decisions: list[DecisionMade] = field(default_factory=list)
    alerts: list[EligibilityAlert] = field(default_factory=list)
    alert_seen_at: list[float] = field(default_factory=list)
    decision_seen_at: list[float] = field(default_factory=list)
    raw: list[dict[str, Any]] = field(default_factory=list)
    snapshots: dict[str, PatientFacts] = field(default_factory=dict)
    """The input snapshots sent ahead of the decisions, by content hash."""


@contextlib.asynccontextmanager
async def collect(kafka: KafkaSettings, patient_keys: Iterable[str]) -> AsyncIterator[Collected]:
    """Everything published on the decision and alert topics for these patients, from now on."""
    keys = set(patient_keys)
    out = Collected()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    partitions = [TopicPartition(topic, p) for topic in (DECISIONS, ALERTS)
                  for p in range(kafka.partitions)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for tp in partitions:
        await consumer.position(tp)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        async for record in consumer:
            if record.key is None or record.key.decode() not in keys:
                continue
            out.raw.append({"topic": record.topic, **json.loads(record.value)})
            if record.topic == DECISIONS and b'"eligibility.snapshot"' in record.value:
                sent = PatientSnapshot.model_validate_json(record.value)
                out.snapshots[sent.snapshot_hash] = sent.snapshot
            elif record.topic == DECISIONS:
                with contextlib.suppress(ValidationError):
                    out.decisions.append(DecisionMade.model_validate_json(record.value))
                out.decision_seen_at.append(loop.time())
            else:
                out.alerts.append(EligibilityAlert.model_validate_json(record.value))
                out.alert_seen_at.append(loop.time())

    task = asyncio.create_task(run())
    try:
        yield out
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def publish(kafka: KafkaSettings, events: Iterable[PatientUpdated],
                  raw: Iterable[tuple[str, bytes]] = (),
                  raw_headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(PATIENT_EVENTS, event.model_dump_json().encode(),
                                         key=event.patient_key.encode())
        for key, value in raw:
            await producer.send_and_wait(PATIENT_EVENTS, value, key=key.encode(),
                                         headers=raw_headers)
    finally:
        await producer.stop()


@contextlib.asynccontextmanager
async def evaluator_in_process(
    settings: EvaluatorSettings, kafka: KafkaSettings, screener: Screener
) -> AsyncIterator[FastAPI]:
    app = build_app(settings, kafka, screener=screener)
    async with app.router.lifespan_context(app):
        yield app


async def until(predicate: object, timeout_s: float, interval_s: float = 0.05) -> bool:
    """Wait until ``predicate()`` is true; False on timeout (the test then asserts)."""
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval_s)
    return bool(predicate())


def evaluator_process(settings: EvaluatorSettings, kafka: KafkaSettings,
                      log_path: Path) -> subprocess.Popen[bytes]:
    """A real evaluator process with the test trial, killable with SIGKILL."""
    env = {
        **os.environ,
        "EVALUATOR_DATABASE_URL": settings.database_url,
        "EVALUATOR_GROUP_ID": settings.group_id,
        "EVALUATOR_PORT": str(settings.port),
        "EVALUATOR_TIMER_POLL_INTERVAL_S": str(settings.timer_poll_interval_s),
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "PYTHONPATH": str(REPO_ROOT),
        "LOG_FORMAT": "json",
    }
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.evaluator.run_evaluator"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=log,
    )


@contextlib.asynccontextmanager
async def evaluator_over_http(
    settings: EvaluatorSettings, kafka: KafkaSettings, screener: Screener
) -> AsyncIterator[str]:
    """The evaluator served by uvicorn on a free port (lifespan included); yields its base URL."""
    import uvicorn

    from shared.infra.embedded_broker import free_port

    port = free_port()
    app = build_app(settings, kafka, screener=screener)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        assert await until(lambda: server.started, 30), "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
