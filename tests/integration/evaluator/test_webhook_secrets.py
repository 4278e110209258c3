"""A webhook whose stored secret the configured key cannot open is never posted unsigned: its
delivery fails with that reason in the delivery log (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from services.evaluator.adapters import loops, webhooks
from services.evaluator.adapters.sql.tables import webhook_delivery
from services.evaluator.adapters.webhook_secrets import SecretBox
from shared.contracts.events import EligibilityAlert
from shared.eligibility.decision import Status
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate
from tests.unit.evaluator.fakes import TEST_TRIAL

pytestmark = pytest.mark.integration


async def test_a_secret_sealed_under_another_key_fails_its_delivery_without_a_request(
    database_url: str, tmp_path: Path,
) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    posted: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: posted.append(request) or httpx.Response(204)))
    try:
        async with sessions.begin() as session:
            webhook_id = await webhooks.register(
                session, SecretBox(tmp_path / "old-key"), TEST_TRIAL.id,
                "https://coordinator.example.org/hook", "a-coordinator-secret-of-some-length",
                "ward-a", now)
            alert = EligibilityAlert(
                event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="test",
                patient_key="pk-1", correlation_id=uuid.uuid4(), alert="newly-eligible",
                trial=TEST_TRIAL, decision_id=uuid.uuid4(), status=Status.ELIGIBLE)
            await session.execute(webhook_delivery.insert().values(
                webhooks.delivery_row(webhook_id, alert, now)))
        step = loops.webhook_step(sessions, client, lambda: now, SecretBox(tmp_path / "new-key"),
                                  frozenset({"coordinator.example.org"}))
        assert await step() == 1
        async with sessions() as session:
            [row] = (await session.execute(select(webhook_delivery))).all()
    finally:
        await client.aclose()
        await engine.dispose()
    assert posted == []
    assert row.state == "pending"
    assert row.attempts == 1
    assert row.last_error is not None
    assert "cannot be opened" in row.last_error
