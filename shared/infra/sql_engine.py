"""One async SQLAlchemy engine per process, for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import os
import stat
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


def private_sqlite_file(url: str) -> None:
    """Make the SQLite database ``url`` names private to its owner before SQLite opens it.

    Creates a missing folder 0700 and a missing database file 0600, and takes group and other
    bits off an existing database and its ``-wal``/``-shm``/``-journal`` files (a database an
    older version left world-readable). SQLite creates its ``-wal``, ``-shm`` and journal files
    with the database file's permissions (its unix VFS copies them), so they stay 0600 whatever
    the process's umask: a service started by hand under umask 022 no longer writes intake.db
    (surrogate key -> MRN) world-readable (issue 14 section 5). Nothing for PostgreSQL,
    ``:memory:`` or a file this process does not own (``PermissionError`` is left to SQLite).
    """
    if not is_sqlite(url):
        return
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.parent.chmod(0o700)  # mkdir's mode is masked by the umask
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for companion in (path, *(path.with_name(path.name + s) for s in SQLITE_COMPANIONS)):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            mode = stat.S_IMODE(companion.stat().st_mode)
            if mode & 0o077:
                companion.chmod(mode & 0o700)


SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if is_sqlite(url):
        private_sqlite_file(url)
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
