from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.intake.adapters.sql.tables import metadata
from shared.infra.migrations import downgrade, upgrade
from shared.infra.sql_engine import make_engine

pytestmark = pytest.mark.integration
TABLES = {"intake_patients", "intake_receipts", "intake_receipt_keys", "intake_outbox",
          "intake_reidentifications"}


async def tables_in(database_url: str) -> set[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def schema_drift(database_url: str) -> list[object]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), metadata))
    finally:
        await engine.dispose()


async def test_the_migration_goes_up_down_and_up_again(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "intake", database_url)
    assert await tables_in(database_url) >= TABLES
    await asyncio.to_thread(downgrade, "intake", database_url, "base")
    assert not TABLES & await tables_in(database_url)
    await asyncio.to_thread(upgrade, "intake", database_url)
    assert await tables_in(database_url) >= TABLES


async def test_the_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "intake", database_url)
    drift = [d for d in await schema_drift(database_url)
             if not (isinstance(d, tuple) and "alembic_version" in str(d))]
    assert drift == []
