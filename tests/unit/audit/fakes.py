"""In-memory stand-ins for the audit service's ports (the unit tests' stores)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from services.audit.core.access_chain import AccessHead, link_access_entry
from services.audit.core.audit_record import GENESIS_HASH, AuditRecord
from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint
from services.audit.core.ports import ChainConflict, ChainHead, NewSnapshot, Unobserved
from shared.contracts.signatures import Refusal


class InMemoryChainStore:
    """The ``ChainStore`` port in memory, with the SQL store's constraints: a sequence, a
    decision id, a record hash and a prev_hash are each stored once (``ChainConflict``), and a
    transaction that raises leaves nothing behind. ``failures`` are raised by the next
    transactions, one each (an outage)."""

    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.records: list[dict[str, Any]] = []
        self.snapshot_bodies: dict[str, str] = {}
        self.failures = failures or []
        self.transactions = 0

    @property
    def rows(self) -> dict[str, Any]:
        return {str(row["decision_id"]): row for row in self.records}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        if self.failures:
            raise self.failures.pop(0)
        self.transactions += 1
        transaction = _Transaction(self)
        yield transaction
        transaction.commit()

    async def head(self) -> ChainHead:
        return _head(self.records)

    async def record_hashes(self, after: int, upto: int) -> list[str]:
        return [r["record_hash"] for r in self.records if after < r["sequence"] <= upto]

    async def record_batches(self, after: int = 0, batch_size: int = 2000,
                             ) -> AsyncIterator[list[dict[str, Any]]]:
        rows = sorted((r for r in self.records if r["sequence"] > after),
                      key=lambda r: r["sequence"])
        for start in range(0, len(rows), batch_size):
            yield [dict(r) for r in rows[start:start + batch_size]]

    async def snapshot_batches(self, batch_size: int = 500,
                               ) -> AsyncIterator[list[tuple[str, str]]]:
        items = sorted(self.snapshot_bodies.items())
        for start in range(0, len(items), batch_size):
            yield items[start:start + batch_size]

    async def snapshots(self, snapshot_hashes: Collection[str]) -> list[tuple[str, str]]:
        return [(h, self.snapshot_bodies[h]) for h in set(snapshot_hashes)
                if h in self.snapshot_bodies]


class _Transaction:
    def __init__(self, store: InMemoryChainStore) -> None:
        self._store = store
        self._snapshots: list[NewSnapshot] = []
        self._records: list[AuditRecord] = []

    async def head(self) -> ChainHead:
        return _head(self._store.records)

    async def stored_decisions(self, decision_ids: Collection[UUID]) -> set[UUID]:
        stored = {r["decision_id"] for r in self._store.records}
        return {d for d in decision_ids if d in stored}

    async def stored_snapshots(self, snapshot_hashes: Collection[str]) -> set[str]:
        return {h for h in snapshot_hashes if h in self._store.snapshot_bodies}

    async def insert(self, snapshots: Sequence[NewSnapshot],
                     records: Sequence[AuditRecord]) -> None:
        self._snapshots += snapshots
        self._records += records

    def commit(self) -> None:
        rows = self._store.records + [r.columns() for r in self._records]
        for column in ("sequence", "decision_id", "record_hash", "prev_hash"):
            if len({r[column] for r in rows}) != len(rows):
                raise ChainConflict(f"unique {column}")
        new_hashes = [s.snapshot_hash for s in self._snapshots]
        if len(set(new_hashes)) != len(new_hashes) or \
                set(new_hashes) & set(self._store.snapshot_bodies):
            raise ChainConflict("unique snapshot_hash")
        self._store.records = rows
        self._store.snapshot_bodies.update((s.snapshot_hash, s.snapshot) for s in self._snapshots)


def _head(rows: list[dict[str, Any]]) -> ChainHead:
    if not rows:
        return ChainHead(0, GENESIS_HASH)
    newest = max(rows, key=lambda r: r["sequence"])
    return ChainHead(newest["sequence"], newest["record_hash"])


@dataclass
class InMemoryCheckpoints:
    """The ``CheckpointArchive`` port in memory; ``rejected`` as if files had failed to check."""

    kept: list[Checkpoint] = field(default_factory=list)
    rejected: list[RejectedCheckpoint] = field(default_factory=list)

    def load(self) -> tuple[list[Checkpoint], list[RejectedCheckpoint]]:
        return sorted(self.kept, key=Checkpoint.order_key), list(self.rejected)

    def write(self, checkpoint: Checkpoint) -> None:
        """Kept under its order key, as the files are under their name."""
        self.kept = [c for c in self.kept
                     if c.order_key() != checkpoint.order_key()] + [checkpoint]


@dataclass
class FakeDeadLetters:
    sent: list[tuple[Any, str]] = field(default_factory=list)

    async def send(self, record: Any, reason: str) -> None:
        self.sent.append((record, reason))


@dataclass
class InMemoryActionStore:
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        for row in rows:
            self.rows.setdefault(row["action_id"], row)


class RecordingTelemetry(Unobserved):
    """``AuditTelemetry`` that keeps what it was told, as (what, detail) pairs."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def decision_refused(self, refusal: Refusal, event_id: UUID) -> None:
        self.seen.append(("refused", refusal.kind))

    def decision_dead_lettered(self, reason: str) -> None:
        self.seen.append(("dead-lettered", reason))

    def store_unavailable(self, error: str, pause_s: float) -> None:
        self.seen.append(("store-unavailable", error))

    def decision_recorded(self, event_id: UUID, patient_key: str, decision_id: UUID,
                          sequence: int | None) -> None:
        self.seen.append(("recorded", sequence))

    def checkpoint_written(self, sequence: int,
                           signed: tuple[int, int, int] | None = None) -> None:
        self.seen.append(("checkpoint", sequence))


@dataclass
class InMemoryAccessLog:
    """The ``AccessLogReader`` port in memory; ``append`` links entries as the SQL adapter does
    (``core.access_chain.link_access_entry``), ``entries`` may be edited to tamper."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def append(self, fields: dict[str, Any], *, chained: bool = True) -> dict[str, Any]:
        head = self.entries[-1].get("entry_hash") if self.entries else None
        entry = (link_access_entry(fields, head) if chained
                 else {**fields, "prev_hash": None, "entry_hash": None})
        entry["id"] = (self.entries[-1]["id"] + 1) if self.entries else 1
        self.entries.append(entry)
        return entry

    async def head(self) -> AccessHead | None:
        chained = [(index, e) for index, e in enumerate(self.entries) if e.get("entry_hash")]
        if not chained:
            return None
        index, newest = chained[-1]
        return AccessHead(newest["id"], newest["entry_hash"], index + 1)

    async def entry_batches(self, batch_size: int = 2000,
                            ) -> AsyncIterator[list[dict[str, Any]]]:
        for start in range(0, len(self.entries), batch_size):
            yield [dict(e) for e in self.entries[start:start + batch_size]]
