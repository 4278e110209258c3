"""Coordinator surfaces: live alerts over SSE, signed and retried webhooks, the worklist."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from services.evaluator.adapters.sql.tables import webhook
from services.evaluator.adapters.webhook_secrets import SecretBox
from shared.infra.embedded_broker import free_port
from shared.infra.sql_engine import make_engine
from shared.settings import EvaluatorSettings, KafkaSettings
from tests.integration.evaluator.harness import (
    evaluator_over_http,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import (
    TEST_TRIAL,
    OneLabScreener,
    drug_fact,
    lab_fact,
    patient_updated,
)

pytestmark = pytest.mark.integration
COORDINATOR = {"authorization": "Bearer coord-token"}
OTHER_COORDINATOR = {"authorization": "Bearer coord-token-2"}
LAB_SYSTEM = {"authorization": "Bearer lab-token"}
OTHER_TRIAL_COORDINATOR = {"authorization": "Bearer coord-other-trial"}
TOKENS = (f"coord-token=coordinator@{TEST_TRIAL.id}|NCT-OTHER,lab-token=lab-system,"
          "coord-other-trial=coordinator@NCT-OTHER")
# The test receiver listens on loopback, which webhooks may target only when allow-listed.
LOOPBACK_ALLOWED = "127.0.0.1"


def _two_coordinators(settings: EvaluatorSettings, tmp_path: Path) -> EvaluatorSettings:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({
        "coord-token": {"role": "coordinator", "client": "ward-a", "trials": [TEST_TRIAL.id]},
        "coord-token-2": {"role": "coordinator", "client": "ward-b", "trials": [TEST_TRIAL.id]},
    }))
    return settings.model_copy(update={"tokens": "", "tokens_file": tokens})


async def _read_sse(client: httpx.AsyncClient, url: str, out: list[dict[str, object]],
                    connected: asyncio.Event) -> None:
    async with client.stream("GET", url, headers=COORDINATOR, timeout=None) as response:
        assert response.status_code == 200
        event = ""
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                out.append({"event": event, **json.loads(line.removeprefix("data: "))})


async def test_a_coordinator_sees_a_newly_eligible_patient_live_on_the_alert_stream_of_that_trial(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    this_trial: list[dict[str, object]] = []
    other_trial: list[dict[str, object]] = []
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/alerts/stream")).status_code == 401
        assert (await client.get("/alerts/stream", headers=LAB_SYSTEM)).status_code == 403
        ready = [asyncio.Event(), asyncio.Event()]
        readers = [
            asyncio.create_task(_read_sse(client, f"/alerts/stream?trial={TEST_TRIAL.id}",
                                          this_trial, ready[0])),
            asyncio.create_task(_read_sse(client, "/alerts/stream?trial=NCT-OTHER",
                                          other_trial, ready[1])),
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
        await publish(kafka_settings, [
            patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)])
        assert await until(lambda: len(this_trial) == 1, 20)
        await asyncio.sleep(0.5)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    assert this_trial[0]["event"] == "newly-eligible"
    assert this_trial[0]["patient_key"] == patient
    assert other_trial == []


@contextlib.asynccontextmanager
async def _receiver(fail_first: int) -> AsyncIterator[tuple[str, list[Request], list[bytes]]]:
    """A coordinator's endpoint that fails its first ``fail_first`` calls with HTTP 503."""
    received: list[Request] = []
    bodies: list[bytes] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        received.append(request)
        bodies.append(await request.body())
        return Response(status_code=503 if len(received) <= fail_first else 204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None,
                                           lifespan="off"))
    task = asyncio.create_task(server.serve())
    assert await until(lambda: server.started, 10)
    try:
        yield f"http://127.0.0.1:{port}/hook", received, bodies
    finally:
        server.should_exit = True
        await task


async def test_a_webhook_gets_the_alert_signed_and_is_retried_until_it_answers(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "evaluator-webhook-key"
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS,
                                    webhook_allowed_hosts=LOOPBACK_ALLOWED,
                                    webhook_key_file=key_file)
    settings = _two_coordinators(settings, tmp_path)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    secret = "a-coordinator-secret-of-some-length"
    async with _receiver(fail_first=1) as (url, received, bodies), \
            evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        created = await client.post("/webhooks", headers=COORDINATOR,
                                    json={"trial": TEST_TRIAL.id, "url": url, "secret": secret})
        assert created.status_code == 201
        webhook_id = created.json()["webhook_id"]
        await publish(kafka_settings, [
            patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)])
        assert await until(lambda: len(received) == 2, 20)
        await asyncio.sleep(0.5)
        listed = await client.get(f"/webhooks/{webhook_id}/deliveries", headers=COORDINATOR)
        deliveries = listed.json()
        missing = await client.get("/webhooks/nope/deliveries", headers=COORDINATOR)
        not_theirs = await client.get(f"/webhooks/{webhook_id}/deliveries",
                                      headers=OTHER_COORDINATOR)

    assert missing.status_code == 404
    assert not_theirs.status_code == 404
    assert secret not in listed.text  # returned once, at registration, never after
    # at rest the database holds only a Fernet token that the key file opens to the secret
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            stored = (await connection.execute(
                select(webhook.c.secret).where(webhook.c.webhook_id == webhook_id))).scalar_one()
    finally:
        await engine.dispose()
    assert secret not in stored
    assert SecretBox(key_file).open(stored) == secret
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    request, body = received[-1], bodies[-1]
    timestamp = request.headers["x-trialwatch-timestamp"]
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert request.headers["x-trialwatch-signature"] == "sha256=" + digest.hexdigest()
    assert json.loads(body)["patient_key"] == patient
    assert json.loads(body)["alert"] == "newly-eligible"
    [delivery] = deliveries
    assert delivery["state"] == "delivered"
    assert delivery["attempts"] == 2
    assert delivery["last_status_code"] == 204


async def test_a_failing_webhook_shows_its_failures_in_the_delivery_log(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS,
                                    webhook_allowed_hosts=LOOPBACK_ALLOWED)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with _receiver(fail_first=100) as (url, received, _), \
            evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        created = await client.post("/webhooks", headers=COORDINATOR,
                                    json={"trial": TEST_TRIAL.id, "url": url})
        webhook_id = created.json()["webhook_id"]
        assert len(created.json()["secret"]) >= 32
        await publish(kafka_settings, [
            patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)])
        assert await until(lambda: len(received) >= 2, 20)
        await asyncio.sleep(0.3)
        [delivery] = (await client.get(f"/webhooks/{webhook_id}/deliveries",
                                       headers=COORDINATOR)).json()

    assert delivery["state"] == "pending"
    assert delivery["attempts"] >= 2
    assert delivery["last_error"] == "HTTP 503"
    assert delivery["last_status_code"] == 503


async def test_the_worklist_lists_undetermined_patients_closest_to_eligible_first_with_what_lacks(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS)
    one_unknown, two_unknown, eligible = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(3))
    now = datetime.now(UTC)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        await publish(kafka_settings, [
            patient_updated(two_unknown, (drug_fact(None),), now),
            patient_updated(one_unknown, (), now),
            patient_updated(eligible, (lab_fact(150, now - timedelta(hours=1)),), now),
        ])

        async def listed() -> list[dict[str, object]]:
            response = await client.get(f"/worklist?trial={TEST_TRIAL.id}", headers=COORDINATOR)
            assert response.status_code == 200
            return [e for e in response.json()
                    if e["patient_key"] in {one_unknown, two_unknown, eligible}]

        entries: list[dict[str, object]] = []
        for _ in range(200):
            entries = await listed()
            if len(entries) == 2:
                break
            await asyncio.sleep(0.1)

    assert [e["patient_key"] for e in entries] == [one_unknown, two_unknown]
    assert entries[0]["missing"] == ["test lab within 30 days"]
    assert entries[1]["missing"] == ["test lab within 30 days", "test drug stop date"]
    assert entries[1]["unknown_criteria"] == 2


async def test_the_worklist_says_when_each_patients_newest_record_arrived(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """Brief (ux2): the worklist page shows "Last record" (commit 582918d7) but GET /worklist
    did not return it. ``last_received`` is intake's receipt time of the patient's newest
    record (``Provenance.received_at``), aware UTC in ISO 8601 whatever zone the sender wrote;
    null when nothing was received."""
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api-last",
                                    tokens=TOKENS)
    with_record, without = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now = datetime.now(UTC)
    paris = timezone(timedelta(hours=1))
    received = datetime(2026, 12, 3, 9, 30, tzinfo=paris)  # 08:30 UTC
    drug = drug_fact(None)
    drug = drug.model_copy(update={"provenance": drug.provenance.model_copy(
        update={"received_at": received})})
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        await publish(kafka_settings, [patient_updated(with_record, (drug,), now),
                                       patient_updated(without, (), now)])
        entries: dict[str, dict[str, object]] = {}
        for _ in range(200):
            response = await client.get(f"/worklist?trial={TEST_TRIAL.id}", headers=COORDINATOR)
            assert response.status_code == 200
            entries = {str(e["patient_key"]): e for e in response.json()
                       if e["patient_key"] in {with_record, without}}
            if len(entries) == 2:
                break
            await asyncio.sleep(0.1)

    said = entries[with_record]["last_received"]
    assert isinstance(said, str), entries[with_record]
    instant = datetime.fromisoformat(said)
    assert instant.utcoffset() == timedelta(0), said
    assert instant == received
    assert entries[without]["last_received"] is None


async def test_a_coordinator_sees_and_registers_only_for_the_trials_its_token_claims(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        worklist = await client.get(f"/worklist?trial={TEST_TRIAL.id}",
                                    headers=OTHER_TRIAL_COORDINATOR)
        stream = await client.get(f"/alerts/stream?trial={TEST_TRIAL.id}",
                                  headers=OTHER_TRIAL_COORDINATOR)
        webhook = await client.post("/webhooks", headers=OTHER_TRIAL_COORDINATOR, json={
            "trial": TEST_TRIAL.id, "url": "https://coordinator.example.org/hook"})
        own = await client.get("/worklist?trial=NCT-OTHER", headers=OTHER_TRIAL_COORDINATOR)

    assert (worklist.status_code, stream.status_code, webhook.status_code) == (403, 403, 403)
    # its own trial is not an active trial here: 404 (issue 11), never an empty list
    assert own.status_code == 404
    assert own.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("body", "field"), [
    ({"trial": "NCT-NOT-SCREENED", "url": "https://coordinator.example.org/hook"}, "trial"),
    ({"trial": "T" * 50_000, "url": "https://coordinator.example.org/hook"}, "trial"),
    ({"trial": TEST_TRIAL.id, "url": "http://127.0.0.1:8081/fhir"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "http://localhost/"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "http://169.254.169.254/latest/meta-data"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "http://10.1.2.3/hook"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "http://[::1]/hook"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "http://[::ffff:127.0.0.1]/hook"}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "https://example.org/" + "a" * 5000}, "url"),
    ({"trial": TEST_TRIAL.id, "url": "https://example.org/h", "secret": "s" * 10_000}, "secret"),
])
async def test_a_webhook_to_an_internal_address_an_unknown_trial_or_oversized_fields_is_422(
    kafka_settings: KafkaSettings, database_url: str, body: dict[str, str], field: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-api", tokens=TOKENS)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        response = await client.post("/webhooks", headers=COORDINATOR, json=body)
    assert response.status_code == 422
    assert field in response.text
    assert len(response.content) < 5_000
