"""An intake process killed (SIGKILL) with accepted but unpublished updates loses nothing: a
restarted intake's relay publishes every one of them.

The first process runs with no reachable broker, so every accepted update is still in the
outbox when it is killed; the second runs against the real broker.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.topics import PATIENT_EVENTS
from shared.infra.embedded_broker import free_port
from shared.settings import KafkaSettings
from tests.integration.intake.harness import FHIR, LAB, migrate
from tests.integration.intake.test_broker_outage import observation

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def start_intake(database_url: str, bootstrap: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "KAFKA_REQUEST_TIMEOUT_MS": "3000", "INTAKE_DATABASE_URL": database_url,
           "INTAKE_TOKENS": "lab-token=lab-system", "INTAKE_PORT": str(port),
           "INTAKE_RELAY_MAX_BACKOFF_S": "0.5", "INTAKE_RAW_GROUP_ID": f"crash-{port}"}
    return subprocess.Popen([sys.executable, "-m", "services.cli", "intake"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_answering(url: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/livez")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"intake at {url} did not answer")


async def published_ids(kafka: KafkaSettings, wanted: set[str], timeout_s: float) -> list[str]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(PATIENT_EVENTS, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        seen: list[str] = []
        deadline = time.monotonic() + timeout_s
        while not wanted <= set(seen) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    # the session topic also holds other tests' events, poison ones included
                    try:
                        event_id = str(json.loads(record.value or b"{}").get("event_id"))
                    except (ValueError, AttributeError):
                        continue
                    if event_id in wanted:
                        seen.append(event_id)
        return seen
    finally:
        await consumer.stop()


async def test_a_killed_intake_loses_no_accepted_update(
    database_url: str, kafka_settings: KafkaSettings
) -> None:
    await migrate(database_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_intake(database_url, f"127.0.0.1:{free_port()}", port)  # no broker there
    try:
        await wait_answering(url)
        async with httpx.AsyncClient(base_url=url, headers=LAB | FHIR, timeout=30) as client:
            responses = [await client.post("/fhir", content=observation(500 + n % 5, n))
                         for n in range(25)]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert {r.status_code for r in responses} == {202}
    accepted = {e for r in responses for e in r.json()["event_ids"]}
    assert len(accepted) == 25

    second = start_intake(database_url, kafka_settings.bootstrap_servers, port)
    try:
        await wait_answering(url)
        seen = await published_ids(kafka_settings, accepted, timeout_s=60)
    finally:
        second.terminate()
        second.wait(15)
    assert set(seen) == accepted
    assert len(seen) == len(accepted), "nothing was published twice"
