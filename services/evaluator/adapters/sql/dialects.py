"""Database helpers the evaluator needs beyond shared.infra.sql_engine: upserts and SQLite
write locks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.infra.sql_engine import is_sqlite


def immediate_sqlite_transactions(engine: AsyncEngine) -> None:
    """Make every SQLite transaction take the write lock at BEGIN.

    The consumer, the timer loop, the outbox relay and the webhook loop all read then write.
    A deferred SQLite transaction that read an older snapshot fails at its first write
    (SQLITE_BUSY, not retried by busy_timeout); BEGIN IMMEDIATE makes them queue instead.
    """
    if not is_sqlite(str(engine.url)):
        return

    @event.listens_for(engine.sync_engine, "connect")
    def _driver_does_not_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


async def upsert(
    session: AsyncSession, table: Table, values: Mapping[str, Any], keys: Sequence[str]
) -> None:
    """Insert a row, or overwrite the non-key columns of the row with the same key."""
    await upsert_many(session, table, [values], keys)


async def upsert_many(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> None:
    """One multi-row statement: insert each row, or overwrite the row with the same key."""
    if not rows:
        return
    statement = _insert(session, table)
    updates = {name: statement.excluded[name] for name in rows[0] if name not in keys}
    await session.execute(
        statement.on_conflict_do_update(index_elements=list(keys), set_=updates), list(rows)
    )


async def insert_ignoring_duplicates(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    if not rows:
        return
    await session.execute(_insert(session, table).on_conflict_do_nothing(), list(rows))


async def insert_if_absent(
    session: AsyncSession, table: Table, values: Mapping[str, Any]
) -> bool:
    """Insert one row unless a row with the same key exists; True when this call inserted it.

    Race-free where check-then-insert is not: on PostgreSQL a concurrent transaction inserting
    the same key makes this wait for it, then insert nothing if it committed (ON CONFLICT DO
    NOTHING), instead of failing with a duplicate key. SQLite writers are serialised anyway.
    """
    statement = _insert(session, table).values(**values).on_conflict_do_nothing()
    primary_key = list(table.primary_key.columns)
    inserted = await session.execute(statement.returning(*primary_key))
    return inserted.first() is not None


def _insert(session: AsyncSession, table: Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's INSERT, which alone knows ON CONFLICT."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
