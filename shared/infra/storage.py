"""Which failures mean "the database cannot take writes right now", and the write probe.

A full disk, a read-only file system or database, a database that does not answer: nothing
the client sent is wrong and nothing was stored, so the services answer 503 with Retry-After
(``shared.infra.http``) and report not ready, instead of a bare 500 while ``/readyz`` stays
green. Read from the driver's own error codes, never from message text:

- SQLite result codes (https://www.sqlite.org/rescode.html), primary code = extended & 0xFF:
  SQLITE_BUSY 5, SQLITE_LOCKED 6, SQLITE_READONLY 8, SQLITE_IOERR 10,
  SQLITE_FULL 13, SQLITE_CANTOPEN 14 (``sqlite3.Error.sqlite_errorcode``, Python 3.11+).
- PostgreSQL SQLSTATE (PostgreSQL documentation, Appendix A "Error Codes"): 25006
  read_only_sql_transaction, class 53 insufficient resources (53100 disk_full), class 08
  connection exception, 57P01-57P03 shutdown / cannot connect now, 58030 io_error.
- ``OSError`` errno: ENOSPC, EDQUOT, EROFS, EIO, and refused, reset or timed-out connections.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Column, Integer, MetaData, Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.sqltypes import UtcDateTime

READ_ONLY = "the database is read-only"
DISK_FULL = "the disk is full"
UNREACHABLE = "the database does not answer"
IO_ERROR = "the database cannot be read or written (I/O error)"
BUSY = "the database is busy"

_SQLITE = {5: BUSY, 6: BUSY, 8: READ_ONLY, 10: IO_ERROR, 13: DISK_FULL,
           14: UNREACHABLE}
_SQLSTATE = {"25006": READ_ONLY, "53100": DISK_FULL, "58030": IO_ERROR, "57P01": UNREACHABLE,
             "57P02": UNREACHABLE, "57P03": UNREACHABLE}
_SQLSTATE_CLASS = {"53": DISK_FULL, "08": UNREACHABLE}
_ERRNO = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EROFS: READ_ONLY,
          errno.EIO: IO_ERROR, errno.ECONNREFUSED: UNREACHABLE, errno.ECONNRESET: UNREACHABLE,
          errno.ETIMEDOUT: UNREACHABLE, errno.EHOSTUNREACH: UNREACHABLE}


def storage_unavailable(error: BaseException) -> str | None:
    """Why storage cannot take writes, if ``error`` (or an error it wraps) says so; else None."""
    for cause in _chain(error):
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and (code & 0xFF) in _SQLITE:
            return _SQLITE[code & 0xFF]
        state = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(state, str) and len(state) == 5:
            found = _SQLSTATE.get(state) or _SQLSTATE_CLASS.get(state[:2])
            if found:
                return found
        if isinstance(cause, ConnectionError):
            return UNREACHABLE
        if isinstance(cause, OSError) and cause.errno in _ERRNO:
            return _ERRNO[cause.errno]
    return None


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]


def write_probe_table(metadata: MetaData, name: str) -> Table:
    """A one-row table the readiness probe writes; each service declares its own (by name)."""
    return Table(name, metadata,
                 Column("id", Integer, primary_key=True, autoincrement=False),
                 Column("probed_at", UtcDateTime(), nullable=False))


async def probe_write(engine: AsyncEngine, table: Table, now: datetime) -> None:
    """Replace the probe row in one committed transaction: a real write that reaches the disk
    (SQLite appends the page to its WAL at commit), so a read-only database, a full disk or a
    read-only transaction default raises here. One row, so the table never grows."""
    async with engine.begin() as connection:
        await connection.execute(delete(table))
        await connection.execute(insert(table).values(id=1, probed_at=now))
