"""The evaluator's migrations go up and down cleanly, and the schema matches the tables."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.evaluator.adapters.sql.tables import metadata
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
