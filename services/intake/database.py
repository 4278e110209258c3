"""Intake's engine: the shared one, plus write transactions that take SQLite's lock up front.

A deferred SQLite transaction that reads and then writes fails at once with SQLITE_BUSY when
another connection wrote in between (busy_timeout does not apply to that upgrade). Intake's
transactions all read-then-write, so on SQLite each one starts with BEGIN IMMEDIATE and
simply waits its turn. PostgreSQL needs nothing of the kind.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.db import is_sqlite, make_engine


def make_intake_engine(url: str, **kwargs: Any) -> AsyncEngine:
    engine = make_engine(url, **kwargs)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _driver_does_not_begin)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _driver_does_not_begin(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")
