"""Intake's engine: the shared one, plus write transactions that take SQLite's lock up front.

A deferred SQLite transaction that reads and then writes fails at once with SQLITE_BUSY when
another connection wrote in between (busy_timeout does not apply to that upgrade). Intake's
transactions all read-then-write, so on SQLite each one starts with BEGIN IMMEDIATE. Writers
in this process also queue on one asyncio lock first: SQLite's busy handler polls with
growing sleeps, which under contention gives multi-second latency tails, while a lock hands
the database over in order. PostgreSQL needs neither.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.sql_engine import is_sqlite, make_engine, sqlite_pragmas


def make_intake_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = make_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _driver_does_not_begin)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def make_intake_sync_engine(url: URL) -> Engine:
    """A synchronous engine (the standard ``sqlite3`` driver) on the SQLite file of ``url``,
    with the async engine's pragmas (WAL, ``synchronous=FULL``) and ``BEGIN IMMEDIATE``: the
    group commit's worker thread writes a whole group through it in one call."""
    engine = create_engine(url.set(drivername="sqlite+pysqlite"),
                           connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", sqlite_pragmas)
    event.listen(engine, "connect", _driver_does_not_begin)
    event.listen(engine, "begin", _begin_immediate)
    return engine


def _driver_does_not_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


class WriteTurns:
    """One writer at a time on SQLite (FIFO); no-op on PostgreSQL."""

    def __init__(self, serialise: bool = False) -> None:
        self._lock = asyncio.Lock() if serialise else None

    @classmethod
    def for_url(cls, url: str) -> WriteTurns:
        return cls(serialise=is_sqlite(url))

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield
