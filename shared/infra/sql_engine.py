"""One async SQLAlchemy engine per process, for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


class MissingDatabase(Exception):
    """A tool was pointed at a SQLite database that does not exist (the message says what to do).
    """


def existing_database(url: str, setting: str) -> str:
    """``url`` unchanged when it names a database that exists (or is not SQLite); raises
    ``MissingDatabase`` otherwise, so that a command run in the wrong folder neither creates an
    empty ``var/`` nor fails with an SQL traceback. ``setting`` names the variable to set."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not Path(database).exists():
            raise MissingDatabase(
                f"no database at {database} (run this command in the folder where `trialwatch "
                f"run` keeps its data, or set {setting}; a new database is made by "
                "`trialwatch migrate`)")
    return url


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine.sync_engine, "connect", sqlite_pragmas)
        return engine
    return create_async_engine(url, pool_pre_ping=True, **kwargs)


def sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """The pragmas every SQLite connection of TrialWatch runs with (a ``connect`` listener)."""
    # WAL lets readers (HTTP queries) run beside the single writer (the consumer);
    # synchronous=FULL because "durable before ack" must survive a power cut, not just a crash.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
