"""Migrate a test's fresh database by copying a template the real migrations built once.

Every integration test starts on a fresh database and migrates it to head. On SQLite that took
~0.5-0.9 s a service (WAL with ``synchronous=FULL``: each migration step is fsynced), paid again
by nearly every SQLite test. ``upgrade`` runs the service's real Alembic migrations once per
session into a template file, and then gives each fresh (missing or empty) SQLite database a
byte copy of it, created 0600 in a 0700 folder as ``shared.infra.sql_engine.private_sqlite_file``
would. Anything else (PostgreSQL, a database that already holds a service's tables, a revision
other than head) is migrated by Alembic as before. The migrations themselves stay tested by the
stairway tests, which call ``shared.infra.migrations`` directly.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.infra import migrations
from shared.infra.sql_engine import is_sqlite, private_sqlite_file

_lock = threading.Lock()
_templates: dict[str, Path] = {}
_folder: Path | None = None


def upgrade(service: str, database_url: str) -> None:
    """``shared.infra.migrations.upgrade(service, database_url)`` to head, from the session's
    template when ``database_url`` is a fresh SQLite file. Synchronous (Alembic's env.py runs
    its own event loop): call it from a worker thread inside async code."""
    target = _fresh_sqlite_file(database_url)
    if target is None:
        migrations.upgrade(service, database_url)
        return
    template = _template(service)
    private_sqlite_file(database_url)  # the file 0600 (its folder 0700), as the services make it
    with template.open("rb") as source, target.open("r+b") as copy:
        shutil.copyfileobj(source, copy)
        copy.truncate()
        copy.flush()
        os.fsync(copy.fileno())


def _fresh_sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite ``database_url`` that does not exist yet or is empty, else None."""
    if not is_sqlite(database_url):
        return None
    database = make_url(database_url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(database)
    companions = [path.with_name(path.name + s) for s in ("-wal", "-journal")]
    if (path.exists() and path.stat().st_size > 0) or any(c.exists() for c in companions):
        return None
    return path


def _template(service: str) -> Path:
    global _folder
    with _lock:
        if service not in _templates:
            if _folder is None:
                _folder = Path(tempfile.mkdtemp(prefix="trialwatch-templates-"))
                atexit.register(shutil.rmtree, _folder, True)
            path = _folder / f"{service}.db"
            migrations.upgrade(service, f"sqlite+aiosqlite:///{path}")
            # everything in the main file, no WAL left beside it: the copy is the whole database
            connection = sqlite3.connect(path)
            try:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                connection.close()
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            _templates[service] = path
        return _templates[service]
