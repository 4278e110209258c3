"""The same outage against a broker that survives its own restart (Tansu on S3 storage, served
by moto): events published before the stop are still there afterwards, so the count after
the restart covers all 100 updates, those published before the stop and those the relay
caught up with, each event id exactly once and each patient's events in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from shared.infra.embedded_broker import EmbeddedBroker, free_port
from shared.settings import KafkaSettings
from tests.integration.intake.harness import FHIR, LAB, migrate, running_intake, settings_for
from tests.integration.intake.test_broker_outage import events_on, observation, start_broker

pytestmark = pytest.mark.integration
PATIENTS = 10


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    # a dev dependency: beside this interpreter in the project's virtualenv
    beside = Path(sys.executable).parent / "moto_server"
    server = str(beside) if beside.exists() else shutil.which("moto_server")
    assert server, "moto_server not found: install the dev extras (moto[server])"
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def durable_broker(endpoint: str, port: int | None = None) -> EmbeddedBroker:
    return EmbeddedBroker(port=port, storage="s3://tansu/", env={
        "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": endpoint, "AWS_ALLOW_HTTP": "true",
    })


async def post_round(intake: httpx.AsyncClient, sequence: int) -> list[dict[str, object]]:
    receipts = []
    for patient in range(PATIENTS):
        response = await intake.post("/fhir", headers=LAB | FHIR,
                                     content=observation(700 + patient, sequence))
        assert response.status_code == 202, response.text
        receipts.append(response.json())
    return receipts


async def test_a_durable_broker_restarted_mid_stream_holds_every_event_exactly_once_in_order(
    database_url: str,
) -> None:
    await migrate(database_url)
    with moto_s3() as endpoint:
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id="test", aws_secret_access_key="test"
                     ).create_bucket(Bucket="tansu")
        broker = durable_broker(endpoint)
        kafka = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=3000)
        await start_broker(broker, kafka)
        settings = settings_for(database_url, relay_max_backoff_s=0.5)
        try:
            async with running_intake(settings, kafka) as intake:
                before = [r for s in range(5) for r in await post_round(intake, s)]
                await events_on(kafka, expected=len(before), timeout_s=60)
                await asyncio.to_thread(broker.stop)
                after = [r for s in range(5, 10) for r in await post_round(intake, s)]
                assert (await intake.get("/readyz")).status_code == 503
                broker = durable_broker(endpoint, port=broker.port)
                await asyncio.to_thread(broker.start)
                events = await events_on(kafka, expected=100, timeout_s=90)
        finally:
            await asyncio.to_thread(broker.stop)

    receipts = before + after
    accepted = [str(e) for r in receipts for e in r["event_ids"]]  # type: ignore[attr-defined]
    published = Counter(str(event.event_id) for event in events)
    assert set(published) == set(accepted)
    assert len(accepted) == 100
    assert set(published.values()) == {1}, "an event was published more than once"
    accepted_order: dict[str, list[str]] = defaultdict(list)
    for receipt in receipts:
        accepted_order[receipt["patient_keys"][0]] += receipt["event_ids"]  # type: ignore[index]
    published_order: dict[str, list[str]] = defaultdict(list)
    for event in events:
        published_order[event.patient_key].append(str(event.event_id))
    assert published_order == accepted_order
