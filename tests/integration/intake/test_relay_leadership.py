from __future__ import annotations

import pytest

from services.intake.adapters.sql.leadership import RelayLeadership
from shared.infra.sql_engine import is_sqlite, make_engine

pytestmark = pytest.mark.integration


async def test_only_one_replica_relays_a_shared_database_and_a_release_hands_over(
    database_url: str,
) -> None:
    if is_sqlite(database_url):
        pytest.skip("one process owns a SQLite file: leadership is local")
    engines = [make_engine(database_url), make_engine(database_url)]
    first, second = (RelayLeadership(engine, database_url) for engine in engines)
    try:
        assert await first.hold()
        assert await first.hold()
        assert not await second.hold()
        await first.release()
        assert await second.hold()
        assert not await first.hold()
    finally:
        await first.release()
        await second.release()
        for engine in engines:
            await engine.dispose()


async def test_a_sqlite_database_always_has_its_one_relay(database_url: str) -> None:
    if not is_sqlite(database_url):
        pytest.skip("SQLite only")
    engine = make_engine(database_url)
    try:
        assert await RelayLeadership(engine, database_url).hold()
    finally:
        await engine.dispose()
