"""A trial that stops being screened closes its eligible patients' alerts, and every webhook
registered for the trial is sent each closed alert like any other alert: a delivery row in the
transaction that closed it, posted by the evaluator's real delivery step with the real HTTP
client to a real HTTP receiver on loopback (allow-listed), HMAC-signed with the webhook's
secret, retried after a failure (HTTP 500), delivered once. Before, ``stop_screening`` stored
the closed alert for the app and published it, but wrote no delivery: a coordinator's system
listening on its webhook never learnt the trial had stopped. SQLite and PostgreSQL."""

from __future__ import annotations

import hmac
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select

from services.evaluator.adapters import loops, webhooks
from services.evaluator.adapters.sql import amendments
from services.evaluator.adapters.sql.tables import trial_status, webhook_delivery
from services.evaluator.adapters.webhook_secrets import SecretBox
from services.evaluator.bootstrap import default_screener
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TRIALS_DIR
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate

pytestmark = pytest.mark.integration

TRIAL = TrialRef(id="NCT06920433", version="2025-11-14.2")
OTHER_TRIAL = "NCT06946485"
NOW = datetime(2026, 12, 2, 13, 18, tzinfo=UTC)
SECRET = "ward-a-webhook-secret-0123456789"


class Receiver:
    """A real HTTP server on 127.0.0.1: records each POST (path, headers, body) and answers
    the next status of ``answers`` (then 204)."""

    def __init__(self, answers: list[int]) -> None:
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append({"path": self.path, "headers": dict(self.headers),
                                       "body": body})
                self.send_response(answers.pop(0) if answers else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver([500])
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.server.shutdown()
        found.server.server_close()


async def test_a_closed_alert_is_delivered_signed_to_the_trials_webhooks(
    database_url: str, receiver: Receiver, tmp_path: Any,
) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    box = SecretBox(tmp_path / "webhook-key")
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    clock = [NOW]
    client = httpx.AsyncClient(timeout=10)
    try:
        await amendments.activate_and_rescreen(sessions, default_screener(TRIALS_DIR), TRIAL,
                                               lambda: NOW, actor="cli:test")
        async with sessions.begin() as session:
            await session.execute(insert(trial_status).values(
                patient_key=patient, trial_id=TRIAL.id, trial_version=TRIAL.version,
                status="eligible", decision_id=str(uuid.uuid4()), state_version=1, as_of=NOW,
                unknown_criteria=0, missing=[], decision=None, held_from=None))
            mine = await webhooks.register(session, box, TRIAL.id, f"{receiver.url}/ward-a",
                                           SECRET, "ward-a", NOW)
            await webhooks.register(session, box, OTHER_TRIAL, f"{receiver.url}/other",
                                    "other-trial-secret-0123456789", "ward-b", NOW)
        _, messages = await amendments.stop_screening(
            sessions, TRIAL.id, "deactivate", "enrolment paused by the sponsor", "api:pi",
            lambda: NOW)
        assert len(messages) == 1
        step = loops.webhook_step(sessions, client, lambda: clock[0], box,
                                  frozenset({"127.0.0.1"}))
        assert await step() == 1  # the receiver answers 500: kept for a retry
        clock[0] = NOW + webhooks.retry_delay(1) + timedelta(seconds=1)
        assert await step() == 1
        assert await step() == 0  # delivered: nothing more to send
        async with sessions() as session:
            rows = (await session.execute(select(webhook_delivery))).mappings().all()
    finally:
        await client.aclose()
        await engine.dispose()
    assert [(r["webhook_id"], r["state"], r["attempts"], r["last_status_code"])
            for r in rows] == [(mine, "delivered", 2, 204)]
    assert [p["path"] for p in receiver.posts] == ["/ward-a", "/ward-a"]
    post = receiver.posts[-1]
    headers = {k.lower(): v for k, v in post["headers"].items()}
    expected = webhooks.sign(SECRET, headers[webhooks.TIMESTAMP_HEADER.lower()], post["body"])
    assert hmac.compare_digest(headers[webhooks.SIGNATURE_HEADER.lower()], expected)
    payload = json.loads(post["body"])
    assert (payload["alert"], payload["patient_key"], payload["trial"]["id"]) == (
        "closed", patient, TRIAL.id)
    assert payload["reasons"] == ["trial NCT06920433 deactivated by api:pi at 2 Dec 2026, "
                                  "13:18 UTC: enrolment paused by the sponsor"]
    assert payload["registry_change"]["action"] == "deactivate"
