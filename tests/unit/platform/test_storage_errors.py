"""Which failures say "storage cannot take writes now" (503), read from the drivers' codes."""

from __future__ import annotations

import errno
import sqlite3

from sqlalchemy.exc import OperationalError

from shared.infra.storage import (
    DISK_FULL,
    READ_ONLY,
    UNREACHABLE,
    storage_unavailable,
)


def sqlite_error(code: int) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("message")
    error.sqlite_errorcode = code
    return error


class PostgresError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("message")
        self.sqlstate = sqlstate


def test_sqlite_read_only_and_full_are_read_from_the_primary_result_code() -> None:
    # SQLITE_READONLY_DBMOVED (1032) is an extended code of SQLITE_READONLY (8).
    assert storage_unavailable(OperationalError("INSERT", {}, sqlite_error(1032))) == READ_ONLY
    assert storage_unavailable(OperationalError("INSERT", {}, sqlite_error(13))) == DISK_FULL


def test_postgresql_read_only_transactions_and_disk_full_are_read_from_the_sqlstate() -> None:
    assert storage_unavailable(OperationalError("x", {}, PostgresError("25006"))) == READ_ONLY
    assert storage_unavailable(OperationalError("x", {}, PostgresError("53100"))) == DISK_FULL
    assert storage_unavailable(OperationalError("x", {}, PostgresError("08006"))) == UNREACHABLE


def test_a_full_file_system_and_a_refused_connection_are_unavailable_even_when_wrapped() -> None:
    outer = RuntimeError("checkpoint not written")
    outer.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    assert storage_unavailable(outer) == DISK_FULL
    assert storage_unavailable(ConnectionRefusedError()) == UNREACHABLE


def test_a_constraint_violation_or_a_syntax_error_is_not_a_storage_outage() -> None:
    assert storage_unavailable(OperationalError("x", {}, sqlite_error(19))) is None
    assert storage_unavailable(OperationalError("x", {}, PostgresError("23505"))) is None
    assert storage_unavailable(ValueError("bad input")) is None
