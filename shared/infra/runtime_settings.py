"""The settings a running service works with, recorded in its own database when it starts.

A tool run elsewhere (``trialwatch outbox release`` in another shell, on another host, with
another environment) reads what the service uses instead of guessing from its own
environment. One row per setting name in each service's ``<service>_runtime_setting`` table;
the latest start wins (two replicas started with different values: the later one is what is
read, and its time and process say which).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import Column, MetaData, String, Table, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.sqltypes import UtcDateTime

MAX_REQUEST_SIZE = "KAFKA_MAX_REQUEST_SIZE"
"""The largest record (bytes) the service's producer sends: what its outbox relay dead-letters
above, and so what a retried outbox dead letter is checked against."""


def runtime_settings_table(metadata: MetaData, name: str) -> Table:
    """The table of recorded settings; each service declares its own (by name)."""
    return Table(name, metadata,
                 Column("name", String(64), primary_key=True),
                 Column("value", String(200), nullable=False),
                 Column("recorded_at", UtcDateTime(), nullable=False),
                 Column("recorded_by", String(200), nullable=False))


@dataclass(frozen=True, slots=True)
class RecordedSetting:
    """A setting as a service recorded it: ``value`` as text, when (aware UTC) and by which
    process (``host:pid``)."""

    name: str
    value: str
    recorded_at: datetime
    recorded_by: str


def this_process() -> str:
    """``host:pid`` of the calling process: who recorded a setting."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def record_settings(engine: AsyncEngine, table: Table, values: Mapping[str, str],
                          at: datetime, by: str | None = None) -> None:
    """Insert or replace each ``name -> value`` in one committed transaction (SQLite and
    PostgreSQL: INSERT ... ON CONFLICT DO UPDATE, so replicas starting together both succeed)."""
    if not values:
        return
    rows = [{"name": name, "value": value, "recorded_at": at, "recorded_by": by or this_process()}
            for name, value in values.items()]
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.name],
        set_={"value": statement.excluded.value, "recorded_at": statement.excluded.recorded_at,
              "recorded_by": statement.excluded.recorded_by})
    async with engine.begin() as connection:
        await connection.execute(statement)


async def record_settings_at_start(engine: AsyncEngine, table: Table,
                                   values: Mapping[str, str], at: datetime) -> bool:
    """``record_settings`` for a service's start: storage that cannot be written (a full disk,
    a read-only file system or database) must not stop the service from starting, since it
    then answers 503 and reports not ready (docs/reliability.md, degraded modes). Logs a
    warning (setting names only) and returns False; ``trialwatch outbox release`` then says
    no start recorded the value and uses its own environment's."""
    try:
        await record_settings(engine, table, values, at)
    except DBAPIError as error:
        structlog.get_logger(__name__).warning(
            "runtime_settings_not_recorded", table=table.name, names=sorted(values),
            error=type(error.orig).__name__ if error.orig is not None else type(error).__name__)
        return False
    return True


async def recorded_setting(engine: AsyncEngine, table: Table, name: str) -> RecordedSetting | None:
    """The setting ``name`` as last recorded; None when no start recorded it (also when the
    database predates the table: its migration was not applied)."""
    async with engine.connect() as connection:
        if not await connection.run_sync(lambda c: inspect(c).has_table(table.name)):
            return None
        row = (await connection.execute(select(table).where(table.c.name == name))).first()
    if row is None:
        return None
    return RecordedSetting(row.name, row.value, row.recorded_at, row.recorded_by)
