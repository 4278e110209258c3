"""Appending decisions to the hash chain, and reading the chain back in order.

One writer per database: appends are serialised by an in-process lock (one consumer task, plus
the access log that shares the SQLite write lock) and, on PostgreSQL, by a transaction-scoped
advisory lock, so two audit processes on one database cannot fork the chain. The unique
``prev_hash`` column makes a fork impossible even if both were bypassed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.audit.adapters.sql.tables import records, snapshots
from services.audit.core.audit_record import GENESIS_HASH, AuditRecord, build_record
from shared.canonical import canonical_json
from shared.contracts.events import DecisionMade

CHAIN_LOCK_KEY = 0x7472_6961_6C77_6174  # "trialwat": the advisory lock of the audit chain
_FORK_RETRIES = 5


@dataclass(frozen=True, slots=True)
class ChainHead:
    sequence: int
    record_hash: str


@dataclass(frozen=True, slots=True)
class Appended:
    record: AuditRecord | None
    """None when the decision was already stored (a redelivery)."""

    @property
    def duplicate(self) -> bool:
        return self.record is None


class ChainStore:
    def __init__(self, engine: AsyncEngine, write_lock: asyncio.Lock | None = None) -> None:
        self._engine = engine
        self.write_lock = write_lock or asyncio.Lock()

    async def append(self, event: DecisionMade, recorded_at: datetime) -> Appended:
        """Store the decision once: a decision id already in the chain is a no-op."""
        [appended] = await self.append_many([event], recorded_at)
        return appended

    async def append_many(self, events: Sequence[DecisionMade],
                          recorded_at: datetime) -> list[Appended]:
        """Store a batch in one transaction, in order; one result per event, same order.

        Decision ids already stored (or repeated within the batch) are no-ops.
        """
        if not events:
            return []
        async with self.write_lock:
            for _ in range(_FORK_RETRIES):
                try:
                    return await self._append_batch(events, recorded_at)
                except IntegrityError:
                    # Another process took the next sequence (SQLite has no advisory lock),
                    # or stored one of these decisions: look again.
                    continue
            raise RuntimeError("could not append after repeated sequence conflicts")

    async def _append_batch(self, events: Sequence[DecisionMade],
                            recorded_at: datetime) -> list[Appended]:
        async with self._engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                                         {"key": CHAIN_LOCK_KEY})
            stored = set(await connection.scalars(select(records.c.decision_id).where(
                records.c.decision_id.in_({e.decision_id for e in events}))))
            known = set(await connection.scalars(select(snapshots.c.snapshot_hash).where(
                snapshots.c.snapshot_hash.in_({e.snapshot_hash for e in events}))))
            head = await _head(connection)
            results: list[Appended] = []
            new_snapshots: list[dict[str, Any]] = []
            new_records: list[dict[str, Any]] = []
            sequence, prev_hash = head.sequence, head.record_hash
            for event in events:
                if event.decision_id in stored:
                    results.append(Appended(None))
                    continue
                stored.add(event.decision_id)
                if event.snapshot_hash not in known:
                    known.add(event.snapshot_hash)
                    new_snapshots.append({"snapshot_hash": event.snapshot_hash,
                                          "snapshot": canonical_json(event.snapshot).decode(),
                                          "stored_at": recorded_at})
                sequence += 1
                record = build_record(event, sequence, prev_hash, recorded_at)
                prev_hash = record.record_hash
                new_records.append(record.columns())
                results.append(Appended(record))
            if new_snapshots:
                await connection.execute(insert(snapshots), new_snapshots)
            if new_records:
                await connection.execute(insert(records), new_records)
            return results

    async def head(self) -> ChainHead:
        async with self._engine.connect() as connection:
            return await _head(connection)

    async def record_hashes(self, after: int, upto: int) -> list[str]:
        """The hashes of records ``after + 1 .. upto``, in sequence order."""
        query = (select(records.c.record_hash)
                 .where(records.c.sequence > after, records.c.sequence <= upto)
                 .order_by(records.c.sequence))
        async with self._engine.connect() as connection:
            return [row[0] for row in await connection.execute(query)]

    async def count(self) -> int:
        async with self._engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(records)) or 0)

    async def iter_record_batches(self, batch_size: int = 2000,
                                  ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record in sequence order, in keyset-paginated batches."""
        after = None
        while True:
            query = select(records).order_by(records.c.sequence).limit(batch_size)
            if after is not None:
                query = query.where(records.c.sequence > after)
            async with self._engine.connect() as connection:
                rows = [dict(row) for row in (await connection.execute(query)).mappings()]
            if rows:
                yield rows
            if len(rows) < batch_size:
                return
            after = rows[-1]["sequence"]

    async def iter_snapshot_batches(self, batch_size: int = 500,
                                    ) -> AsyncIterator[list[tuple[str, str]]]:
        """Every stored snapshot as (hash, canonical JSON), in batches."""
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

async def _head(connection: AsyncConnection) -> ChainHead:
    row = (await connection.execute(
        select(records.c.sequence, records.c.record_hash)
        .order_by(records.c.sequence.desc()).limit(1))).first()
    if row is None:
        return ChainHead(0, GENESIS_HASH)
    return ChainHead(int(row.sequence), row.record_hash)
