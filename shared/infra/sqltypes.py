"""Column types shared by the services' tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from shared.time import as_utc

# An auto-incremented id or sequence column: SQLite auto-increments only an INTEGER PRIMARY KEY;
# PostgreSQL gets a 64-bit integer, for a log that lives long.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC in, aware UTC out, on PostgreSQL and SQLite alike.

    SQLite has no time-zone type and hands back naive values, so it stores naive UTC: values
    read back equal the values written (audit hashes cover them), and comparisons such as
    ``due_at <= now`` stay correct as plain text comparisons.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = value
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
