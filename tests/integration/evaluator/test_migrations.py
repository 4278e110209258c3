"""The evaluator's migrations go up and down cleanly, and the schema matches the tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

from services.evaluator.adapters.sql.tables import metadata, webhook
from services.evaluator.adapters.webhook_secrets import SecretBox
from services.evaluator.admin import ensure_webhook_key
from shared.infra.migrations import downgrade, upgrade
from shared.infra.sql_engine import make_engine

pytestmark = pytest.mark.integration


async def _tables(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            names = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
    finally:
        await engine.dispose()
    return {n for n in names if n.startswith("evaluator_")}


async def test_every_evaluator_migration_upgrades_downgrades_and_upgrades_again(
    database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    assert await _tables(database_url) == set(metadata.tables)
    await asyncio.to_thread(downgrade, "evaluator", database_url, "base")
    assert await _tables(database_url) == set()
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    assert await _tables(database_url) == set(metadata.tables)


async def test_the_migrated_schema_matches_the_table_definitions_exactly(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            drift = await connection.run_sync(lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"version_table": "alembic_version_evaluator"}),
                metadata,
            ))
    finally:
        await engine.dispose()
    assert drift == []


async def _stored_secrets(database_url: str) -> dict[str, str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(webhook.c.webhook_id, webhook.c.secret))
            return {r.webhook_id: r.secret for r in rows}
    finally:
        await engine.dispose()


async def test_clear_webhook_secrets_are_sealed_by_the_upgrade_and_opened_by_the_downgrade(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "evaluator-webhook-key"
    monkeypatch.setenv("EVALUATOR_WEBHOOK_KEY_FILE", str(key_file))
    ensure_webhook_key(key_file)  # the evaluator's key: migrate never makes one up
    secrets = {"w-1": "a-coordinator-secret-of-some-length", "w-2": "~" * 128}
    await asyncio.to_thread(upgrade, "evaluator", database_url, "0006")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            for webhook_id, secret in secrets.items():
                await connection.execute(webhook.insert().values(
                    webhook_id=webhook_id, trial_id="NCT00000001", url="https://example.org/h",
                    secret=secret, created_by="ward-a", created_at=datetime.now(UTC)))
    finally:
        await engine.dispose()

    await asyncio.to_thread(upgrade, "evaluator", database_url)
    sealed = await _stored_secrets(database_url)
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    box = SecretBox(key_file)
    for webhook_id, secret in secrets.items():
        assert secret not in sealed[webhook_id]
        assert box.open(sealed[webhook_id]) == secret

    await asyncio.to_thread(downgrade, "evaluator", database_url, "0006")
    assert await _stored_secrets(database_url) == secrets
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    again = await _stored_secrets(database_url)
    assert {w: box.open(s) for w, s in again.items()} == secrets
