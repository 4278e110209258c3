"""Webhook key rotation on real SQLite and PostgreSQL (issue 14 section 5): ``trialwatch webhooks
rotate-key`` puts a new key first and re-seals every stored secret under it, ``retire-keys``
removes the old key; a running evaluator's key box (kept across both steps, never rebuilt) keeps
signing deliveries with the coordinators' original secrets throughout; no secret is ever stored
in clear; a hand-run ``trialwatch migrate`` that would seal secrets without the key file stops
with a clear error."""

from __future__ import annotations

import asyncio
import hmac
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select

from services.cli.main import main as trialwatch
from services.evaluator.adapters import loops, webhooks
from services.evaluator.adapters.sql.tables import webhook, webhook_delivery
from services.evaluator.adapters.webhook_secrets import SecretBox, read_keys
from shared.contracts.events import EligibilityAlert
from shared.eligibility.decision import Status
from shared.infra.migrations import upgrade
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate
from tests.unit.evaluator.fakes import TEST_TRIAL

pytestmark = pytest.mark.integration

SECRETS = {"ward-a": "ward-a-secret-of-some-length", "ward-b": "~" * 128,
           "ward-c": "third-coordinator-secret-0123456789"}
HOST = "coordinator.example.org"


async def stored_secrets(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(webhook.c.created_by, webhook.c.secret))
            return {r.created_by: r.secret for r in rows}
    finally:
        await engine.dispose()


async def deliver_one_alert_each(database_url: str, box: SecretBox,
                                 ids: dict[str, str]) -> dict[str, httpx.Request]:
    """Queue one alert delivery per webhook and run the evaluator's delivery step with ``box``:
    the requests posted, by the webhook's coordinator."""
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    posted: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(
        lambda request: posted.append(request) or httpx.Response(204)))
    try:
        async with sessions.begin() as session:
            for webhook_id in ids.values():
                alert = EligibilityAlert(
                    event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="test",
                    patient_key="pk-1", correlation_id=uuid.uuid4(), alert="newly-eligible",
                    trial=TEST_TRIAL, decision_id=uuid.uuid4(), status=Status.ELIGIBLE)
                await session.execute(webhook_delivery.insert().values(
                    webhooks.delivery_row(webhook_id, alert, now)))
        step = loops.webhook_step(sessions, client, lambda: now, box, frozenset({HOST}))
        assert await step() == len(ids)
        async with sessions() as session:
            failed = (await session.execute(select(webhook_delivery.c.last_error).where(
                webhook_delivery.c.state != "delivered"))).scalars().all()
    finally:
        await client.aclose()
        await engine.dispose()
    assert failed == []
    by_path = {request.url.path.strip("/"): request for request in posted}
    assert set(by_path) == set(ids)
    return by_path


def assert_signed_with_the_original_secrets(posted: dict[str, httpx.Request]) -> None:
    for ward, request in posted.items():
        expected = webhooks.sign(SECRETS[ward], request.headers[webhooks.TIMESTAMP_HEADER],
                                 request.content)
        assert hmac.compare_digest(request.headers[webhooks.SIGNATURE_HEADER], expected), ward


def cli(*argv: str) -> int:
    return trialwatch(list(argv))


async def test_rotating_and_retiring_the_key_keeps_every_delivery_signed(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    await migrate(database_url)
    key_file = tmp_path / "evaluator-webhook-key"
    running = SecretBox(key_file)  # the evaluator's box, alive through the whole rotation
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            ids = {ward: await webhooks.register(session, running, TEST_TRIAL.id,
                                                 f"https://{HOST}/{ward}", secret, ward,
                                                 datetime.now(UTC))
                   for ward, secret in SECRETS.items()}
    finally:
        await engine.dispose()
    [old_key] = read_keys(key_file)
    before = await stored_secrets(database_url)
    assert_signed_with_the_original_secrets(
        await deliver_one_alert_each(database_url, running, ids))

    target = ["--database-url", database_url, "--key-file", str(key_file)]
    assert await asyncio.to_thread(cli, "webhooks", "rotate-key", *target) == 0
    assert "re-sealed 3 webhook secret(s)" in capsys.readouterr().out
    new_key, kept = read_keys(key_file)
    assert kept == old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    rotated = await stored_secrets(database_url)
    for ward, secret in SECRETS.items():
        assert rotated[ward] != before[ward]
        assert secret not in rotated[ward]
        assert Fernet(new_key).decrypt(rotated[ward].encode()).decode() == secret
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(rotated[ward].encode())
    assert_signed_with_the_original_secrets(
        await deliver_one_alert_each(database_url, running, ids))

    assert await asyncio.to_thread(cli, "webhooks", "retire-keys", *target) == 0
    assert read_keys(key_file) == [new_key]
    assert_signed_with_the_original_secrets(
        await deliver_one_alert_each(database_url, running, ids))
    assert no_temporary_key_files_and_no_clear_secret(tmp_path, database_url)


def no_temporary_key_files_and_no_clear_secret(folder: Path, database_url: str) -> bool:
    """No half-written key file is left behind, and (SQLite) no secret is anywhere in the
    database file, free pages and journal included."""
    assert [p.name for p in folder.iterdir() if p.name.endswith(".tmp")] == []
    if database_url.startswith("sqlite"):
        database = Path(database_url.split(":///", 1)[1])
        for path in (database, *database.parent.glob(database.name + "-*")):
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in SECRETS.values()), path.name
    return True


async def test_retiring_refuses_while_a_secret_still_needs_the_older_key(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A secret sealed under a key the file no longer lists first (e.g. put back from a backup)
    is re-sealed by retire-keys itself before the older key goes; one no key opens is reported
    and does not block the retirement."""
    await migrate(database_url)
    key_file = tmp_path / "k"
    old = SecretBox(key_file)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            await webhooks.register(session, old, TEST_TRIAL.id, f"https://{HOST}/a",
                                    SECRETS["ward-a"], "ward-a", datetime.now(UTC))
            await webhooks.register(session, SecretBox(tmp_path / "foreign"), TEST_TRIAL.id,
                                    f"https://{HOST}/b", SECRETS["ward-b"], "ward-b",
                                    datetime.now(UTC))
    finally:
        await engine.dispose()
    target = ["--database-url", database_url, "--key-file", str(key_file)]
    assert await asyncio.to_thread(cli, "webhooks", "rotate-key", *target) == 0
    out = capsys.readouterr().out
    assert "re-sealed 1 webhook secret(s)" in out
    assert "1 webhook(s) hold a secret no key opens" in out
    assert await asyncio.to_thread(cli, "webhooks", "retire-keys", *target) == 0
    stored = await stored_secrets(database_url)
    assert SecretBox(key_file).open(stored["ward-a"]) == SECRETS["ward-a"]


async def test_a_hand_run_migrate_without_the_key_file_stops_with_a_clear_error(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await asyncio.to_thread(upgrade, "evaluator", database_url, "0006")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(webhook.insert().values(
                webhook_id="w-1", trial_id="NCT00000001", url="https://example.org/h",
                secret=SECRETS["ward-a"], created_by="ward-a", created_at=datetime.now(UTC)))
    finally:
        await engine.dispose()
    key_file = tmp_path / "evaluator-webhook-key"
    monkeypatch.setenv("EVALUATOR_DATABASE_URL", database_url)
    monkeypatch.setenv("EVALUATOR_WEBHOOK_KEY_FILE", str(key_file))
    assert await asyncio.to_thread(cli, "migrate", "--service", "evaluator") == 2
    error = capsys.readouterr().err
    assert "EVALUATOR_WEBHOOK_KEY_FILE" in error
    assert str(key_file) in error
    assert not key_file.exists()
    assert await stored_secrets(database_url) == {"ward-a": SECRETS["ward-a"]}  # untouched

    # creating the key first (the database is not migrated: only the key is written) ...
    assert await asyncio.to_thread(cli, "webhooks", "rotate-key") == 0
    assert "not at the newest schema" in capsys.readouterr().out
    # ... lets migrate seal the secret under it
    assert await asyncio.to_thread(cli, "migrate", "--service", "evaluator") == 0
    sealed = (await stored_secrets(database_url))["ward-a"]
    assert SECRETS["ward-a"] not in sealed
    assert SecretBox(key_file).open(sealed) == SECRETS["ward-a"]
