"""Append-only, enforced by the database: triggers on both, a restricted role on PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from services.audit.adapters.sql.access_log import AccessLog
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from shared.infra.auth import Principal, Role
from shared.infra.sql_engine import make_engine
from shared.settings import AuditSettings, KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.chain_setup import store_chain
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    count_records,
    migrate,
    publish,
    running,
    start_group_at_end,
    wait_for,
)
from tests.unit.audit.factories import decision_event

pytestmark = pytest.mark.integration

CHANGES = (
    "UPDATE audit_record SET status = 'eligible' WHERE sequence = 1",
    "DELETE FROM audit_record WHERE sequence = 2",
    "UPDATE audit_snapshot SET snapshot = '{}'",
    "DELETE FROM audit_snapshot",
    "UPDATE audit_access SET client = 'someone-else'",
    "DELETE FROM audit_access",
)


async def _run(url: str, statement: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def _with_access_entry(url: str) -> None:
    engine = make_engine(url)
    try:
        log = AccessLog(engine, lambda: datetime.now(UTC), asyncio.Lock())
        await log.record(Principal("auditor-1", Role.AUDITOR), "query-decisions", {})
    finally:
        await engine.dispose()


@pytest.mark.parametrize("statement", CHANGES)
async def test_update_and_delete_are_rejected_by_the_triggers_even_for_the_owner(
        database_url: str, tmp_path: Path, statement: str) -> None:
    await store_chain(database_url, tmp_path, length=3, checkpoint_at=())
    await _with_access_entry(database_url)
    with pytest.raises(DBAPIError, match="append-only"):
        await _run(database_url, statement)


async def test_truncate_is_rejected_on_postgresql(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has no TRUNCATE")
    await store_chain(database_url, tmp_path, length=2, checkpoint_at=())
    with pytest.raises(DBAPIError, match="append-only"):
        await _run(database_url, "TRUNCATE audit_access")


@pytest.fixture
async def app_role_url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The audit database as the service's own role (created by the migration, LOGIN here)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("roles and grants are PostgreSQL's")
    monkeypatch.setenv("AUDIT_APP_ROLE_LOGIN", "true")
    await migrate(database_url)
    role = AuditSettings().app_role
    return make_url(database_url).set(username=role).render_as_string(hide_password=False)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_record SET status = 'eligible'", "DELETE FROM audit_record",
    "TRUNCATE audit_record", "UPDATE audit_access SET client = 'x'", "DELETE FROM audit_access",
    "TRUNCATE audit_access", "DELETE FROM audit_snapshot", "TRUNCATE audit_snapshot",
])
async def test_the_application_role_may_not_update_delete_or_truncate(
        app_role_url: str, statement: str) -> None:
    with pytest.raises(DBAPIError, match="permission denied"):
        await _run(app_role_url, statement)


async def test_the_service_appends_and_logs_access_as_the_application_role(
        app_role_url: str) -> None:
    engine = make_engine(app_role_url)
    try:
        store = SqlChainStore(engine)
        chain = DecisionChain(store)
        for index in range(3):
            await chain.append(decision_event("pk_role", index), datetime.now(UTC))
        assert (await store.head()).sequence == 3
        assert (await chain.append(decision_event("pk_role", 0), datetime.now(UTC))).duplicate
        await AccessLog(engine, lambda: datetime.now(UTC), store.write_lock).record(
            Principal("auditor-1", Role.AUDITOR), "verify", {})
    finally:
        await engine.dispose()


async def test_the_whole_service_runs_as_the_application_role(
        app_role_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    group = unique_group("audit-role")
    await start_group_at_end(kafka_settings, group)
    event = decision_event(f"pk_{group}", 0)
    app = audit_app(audit_settings(app_role_url, tmp_path, group), kafka_settings)
    async with running(app) as client:
        await publish(kafka_settings, [event])

        async def stored() -> bool:
            return await count_records(app_role_url, event.patient_key) == 1

        await wait_for(stored, what="the decision stored through the application role")
        found = await client.get("/decisions", params={"patient_key": event.patient_key},
                                 headers=AUTH)
        report = await client.get("/verify", headers=AUTH)
        ready = await client.get("/readyz")
    assert found.json()["items"][0]["decision_id"] == str(event.decision_id)
    assert report.json()["intact"]
    assert ready.status_code == 200
