"""Coordinator app sessions live in the evaluator's database: a restart keeps a coordinator
signed in, signing out or expiry ends the session, and the table alone gives away neither a
working cookie nor the coordinator's token. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.evaluator.adapters.http.ui.sessions import SessionStore
from services.evaluator.adapters.sql.tables import ui_session
from shared.infra.auth import Principal, Role
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate

pytestmark = pytest.mark.integration
TOKEN = "tw-coordinator-token-0123456789"
CAROL = Principal(client="carol", role=Role.COORDINATOR, trials=frozenset({"*"}))
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def registry(token: str) -> Principal | None:
    return CAROL if token == TOKEN else None


async def test_a_session_survives_a_restart_and_ends_when_signed_out(database_url: str) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        before = SessionStore(make_sessionmaker(engine), timedelta(hours=8))
        session_id, opened = await before.open(CAROL, TOKEN, NOW)
        after = SessionStore(make_sessionmaker(engine), timedelta(hours=8))  # a new process
        found = await after.find(session_id, NOW + timedelta(hours=1), registry)
        assert found is not None
        assert found.principal == CAROL
        assert found.token == TOKEN, "re-identification at intake still uses the user's token"
        assert found.csrf == opened.csrf
        await after.close(session_id)
        assert await before.find(session_id, NOW + timedelta(hours=1), registry) is None
    finally:
        await engine.dispose()


async def test_an_expired_session_or_a_withdrawn_token_signs_out(database_url: str) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        store = SessionStore(make_sessionmaker(engine), timedelta(hours=8))
        session_id, _ = await store.open(CAROL, TOKEN, NOW)
        assert await store.find(session_id, NOW + timedelta(hours=8), registry) is None
        assert await store.find(session_id, NOW, lambda token: None) is None, "token withdrawn"
        assert await store.find("guessed", NOW, registry) is None
        # opening another session removes the expired rows
        await store.open(CAROL, TOKEN, NOW + timedelta(hours=9))
        async with make_sessionmaker(engine)() as db:
            assert len((await db.execute(select(ui_session))).all()) == 1
    finally:
        await engine.dispose()


async def test_the_table_holds_neither_the_session_id_nor_the_token(database_url: str) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        store = SessionStore(make_sessionmaker(engine), timedelta(hours=8))
        session_id, _ = await store.open(CAROL, TOKEN, NOW)
        async with make_sessionmaker(engine)() as db:
            [row] = (await db.execute(select(ui_session))).all()
        stored = " ".join(str(value) for value in row)
        assert session_id not in stored
        assert TOKEN not in stored
        assert row.client == "carol"
    finally:
        await engine.dispose()
