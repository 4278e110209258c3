"""The chain store on SQL (SQLite and PostgreSQL): the ``ChainStore`` port's adapter.

One writer per database: transactions are serialised by an in-process lock (one consumer task,
plus the access log that shares the SQLite write lock) and, on PostgreSQL, by a
transaction-scoped advisory lock, so two audit processes on one database cannot fork the chain.
The unique ``prev_hash`` column makes a fork impossible even if both were bypassed: the losing
insert fails its unique constraint and surfaces as ``ChainConflict``, so the core reads the head
again. Any other database error is ``StoreUnavailable`` (transient for the core).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from datetime import UTC
from typing import Any
from uuid import UUID

from sqlalchemy import String, Uuid, insert, select, text, type_coerce
from sqlalchemy.engine.processors import str_to_datetime
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.audit.adapters.sql.tables import records, snapshots
from services.audit.core.audit_record import GENESIS_HASH, AuditRecord
from services.audit.core.ports import (
    ChainConflict,
    ChainHead,
    NewSnapshot,
    StoreUnavailable,
)
from shared.infra.sqltypes import UtcDateTime

CHAIN_LOCK_KEY = 0x7472_6961_6C77_6174  # "trialwat": the advisory lock of the audit chain
_UUID_NAMES = tuple(c.name for c in records.columns if isinstance(c.type, Uuid))
_UUIDS_AS_TEXT = [type_coerce(c, String()).label(c.name) if c.name in _UUID_NAMES else c
                  for c in records.columns]


class SqlChainStore:
    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        self.write_lock = write_lock or asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SqlChainTransaction]:
        async with self.write_lock:
            try:
                async with self._engine.begin() as connection:
                    if connection.dialect.name == "postgresql":
                        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                                 {"key": CHAIN_LOCK_KEY})
                    yield SqlChainTransaction(connection)
            except IntegrityError as error:
                raise ChainConflict(type(error.orig).__name__) from error
            except SQLAlchemyError as error:
                raise StoreUnavailable(type(error).__name__) from error

    async def head(self) -> ChainHead:
        async with self._engine.connect() as connection:
            return await _head(connection)

    async def record_hashes(self, after: int, upto: int) -> list[str]:
        query = (select(records.c.record_hash)
                 .where(records.c.sequence > after, records.c.sequence <= upto)
                 .order_by(records.c.sequence))
        async with self._engine.connect() as connection:
            return [row[0] for row in await connection.execute(query)]

    async def record_batches(self, after: int = 0, batch_size: int = 2000,
                             ) -> AsyncIterator[list[dict[str, Any]]]:
        """Keyset-paginated: one short read per batch, never a long-held cursor.

        Read through the driver's own cursor (aiosqlite, asyncpg), not SQLAlchemy's result
        rows: the walk needs plain values, and SQLAlchemy's per-row and per-value processing
        was most of the read. Values come back as SQLAlchemy would give them, through the same
        conversions: times through ``UtcDateTime`` (on SQLite, parsed by SQLAlchemy's own
        ``str_to_datetime`` first). Identifiers come back as their canonical text (what the
        record hash covers), not as ``uuid.UUID``: building one per identifier was a third of
        the read. A stored value that is no identifier or time at all then fails its record's
        hash (or its time check) instead of the whole read."""
        dialect = self._engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            async for rows in self._record_batches_orm(after, batch_size):
                yield rows
            return
        while True:
            async with self._engine.connect() as connection:
                driver: Any = (await connection.get_raw_connection()).driver_connection
                if dialect == "sqlite":
                    cursor = await driver.execute(_RECORDS_AFTER_SQLITE, (after, batch_size))
                    try:
                        raw = await cursor.fetchall()
                    finally:
                        await cursor.close()
                else:
                    raw = await driver.fetch(_RECORDS_AFTER_POSTGRES, after, batch_size)
            rows = _plain_rows(raw, dialect == "sqlite")
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1]["sequence"]

    async def _record_batches_orm(self, after: int, batch_size: int,
                                  ) -> AsyncIterator[list[dict[str, Any]]]:
        """``record_batches`` through SQLAlchemy's result rows (another database)."""
        while True:
            query = (select(*_UUIDS_AS_TEXT).where(records.c.sequence > after)
                     .order_by(records.c.sequence).limit(batch_size))
            async with self._engine.connect() as connection:
                result = await connection.execute(query)
                names = list(result.keys())
                rows = [dict(zip(names, row, strict=True)) for row in result.all()]
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1]["sequence"]

    async def snapshot_batches(self, batch_size: int = 500,
                               ) -> AsyncIterator[list[tuple[str, str]]]:
        after = None
        while True:
            query = (select(snapshots.c.snapshot_hash, snapshots.c.snapshot)
                     .order_by(snapshots.c.snapshot_hash).limit(batch_size))
            if after is not None:
                query = query.where(snapshots.c.snapshot_hash > after)
            async with self._engine.connect() as connection:
                rows = [(h, body) for h, body in (await connection.execute(query)).all()]
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1][0]

    async def snapshots(self, snapshot_hashes: Collection[str]) -> list[tuple[str, str]]:
        wanted = sorted(set(snapshot_hashes))
        found: list[tuple[str, str]] = []
        async with self._engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                query = (select(snapshots.c.snapshot_hash, snapshots.c.snapshot)
                         .where(snapshots.c.snapshot_hash.in_(wanted[start:start + 500])))
                found += [(h, body) for h, body in (await connection.execute(query)).all()]
        return found


class SqlChainTransaction:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def head(self) -> ChainHead:
        return await _head(self._connection)

    async def stored_decisions(self, decision_ids: Collection[UUID]) -> set[UUID]:
        return set(await self._connection.scalars(select(records.c.decision_id).where(
            records.c.decision_id.in_(set(decision_ids)))))

    async def stored_snapshots(self, snapshot_hashes: Collection[str]) -> set[str]:
        return set(await self._connection.scalars(select(snapshots.c.snapshot_hash).where(
            snapshots.c.snapshot_hash.in_(set(snapshot_hashes)))))

    async def insert(self, new_snapshots: Sequence[NewSnapshot],
                     new_records: Sequence[AuditRecord]) -> None:
        if new_snapshots:
            await self._connection.execute(insert(snapshots), [
                {"snapshot_hash": s.snapshot_hash, "snapshot": s.snapshot,
                 "stored_at": s.stored_at} for s in new_snapshots])
        if new_records:
            await self._connection.execute(insert(records),
                                           [record.columns() for record in new_records])


_NAMES = tuple(c.name for c in records.columns)
_TIME_NAMES = tuple(c.name for c in records.columns if isinstance(c.type, UtcDateTime))
_UUID_INDEXES = tuple(_NAMES.index(name) for name in _UUID_NAMES)
_TIME_INDEXES = tuple(_NAMES.index(name) for name in _TIME_NAMES)
_RECORDS_AFTER_SQLITE = (f"SELECT {', '.join(_NAMES)} FROM audit_record WHERE sequence > ? "
                         "ORDER BY sequence LIMIT ?")
_RECORDS_AFTER_POSTGRES = (f"SELECT {', '.join(_NAMES)} FROM audit_record WHERE sequence > $1 "
                           "ORDER BY sequence LIMIT $2")


def _plain_rows(raw: Sequence[Sequence[Any]], sqlite: bool) -> list[dict[str, Any]]:
    """Driver rows as column name -> value, the way ``record_batches`` documents them."""
    rows = []
    for values in raw:
        row = list(values)
        for index in _TIME_INDEXES:
            row[index] = _utc(row[index], sqlite)
        if sqlite:
            for index in _UUID_INDEXES:
                row[index] = _dashed(row[index])
        else:
            for index in _UUID_INDEXES:
                if row[index] is not None:
                    row[index] = str(row[index])
        rows.append(dict(zip(_NAMES, row, strict=True)))
    return rows


def _utc(value: Any, sqlite: bool) -> Any:
    """A stored time as ``UtcDateTime`` reads it (aware UTC); a value that is no time as it is
    (its record then fails its hash)."""
    if value is None:
        return None
    try:
        if sqlite:
            value = str_to_datetime(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, TypeError, AttributeError):
        return value


def _dashed(value: Any) -> Any:
    """32 hex digits as the 8-4-4-4-12 text ``str(uuid.UUID)`` gives; anything else as it is."""
    if isinstance(value, str) and len(value) == 32:
        return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
    return value


async def _head(connection: AsyncConnection) -> ChainHead:
    row = (await connection.execute(
        select(records.c.sequence, records.c.record_hash)
        .order_by(records.c.sequence.desc()).limit(1))).first()
    if row is None:
        return ChainHead(0, GENESIS_HASH)
    return ChainHead(int(row.sequence), row.record_hash)
