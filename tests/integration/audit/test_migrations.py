"""Stairway: every audit revision goes up, down and up again, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from shared.infra.migrations import alembic_config, downgrade, upgrade
from shared.infra.sql_engine import make_engine

pytestmark = pytest.mark.integration


def _revisions(database_url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("audit", database_url))
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def _tables(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_every_revision_upgrades_downgrades_and_upgrades_again(database_url: str) -> None:
    revisions = _revisions(database_url)
    assert revisions[:2] == ["0001", "0002"]
    previous = "base"
    for revision in revisions:
        await asyncio.to_thread(upgrade, "audit", database_url, revision)
        await asyncio.to_thread(downgrade, "audit", database_url, previous)
        await asyncio.to_thread(upgrade, "audit", database_url, revision)
        previous = revision
    assert {"audit_record", "audit_snapshot", "audit_access"} <= await _tables(database_url)
    await asyncio.to_thread(downgrade, "audit", database_url, "base")
    assert not {"audit_record", "audit_snapshot", "audit_access"} & await _tables(database_url)
