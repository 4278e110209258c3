"""In-memory fakes of intake's storage ports: a transaction commits by copying its staging."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from services.intake.ports import Conflict, Reidentification, SourceIdentity
from services.intake.receipts import Receipt
from services.intake.store import PendingEvent
from shared.contracts.events import PatientUpdated


@dataclass
class FakeDatabase:
    patients: dict[SourceIdentity, str] = field(default_factory=dict)
    receipts: dict[UUID, Receipt] = field(default_factory=dict)
    receipt_keys: dict[str, UUID] = field(default_factory=dict)
    outbox: list[tuple[str, PatientUpdated]] = field(default_factory=list)
    access_log: list[tuple[Reidentification, bool]] = field(default_factory=list)


class FakeStore:
    def __init__(self, data: FakeDatabase) -> None:
        self.data = data

    async def receipt_for(self, dedup_keys: Sequence[str]) -> Receipt | None:
        for key in dedup_keys:
            if key in self.data.receipt_keys:
                return self.data.receipts[self.data.receipt_keys[key]]
        return None

    async def receipt(self, receipt_id: UUID) -> Receipt | None:
        return self.data.receipts.get(receipt_id)

    async def patient_key_for(self, identity: SourceIdentity, new_key: str) -> str:
        return self.data.patients.setdefault(identity, new_key)

    async def add_to_outbox(self, events: Sequence[PatientUpdated], topic: str) -> None:
        self.data.outbox.extend((topic, event) for event in events)

    async def add_receipt(self, receipt: Receipt, dedup_keys: Sequence[str]) -> None:
        if any(key in self.data.receipt_keys for key in dedup_keys):
            raise Conflict("taken")
        self.data.receipts[receipt.receipt_id] = receipt
        self.data.receipt_keys.update(dict.fromkeys(dedup_keys, receipt.receipt_id))

    async def source_identity(self, patient_key: str) -> SourceIdentity | None:
        return next((i for i, k in self.data.patients.items() if k == patient_key), None)

    async def log_reidentification(self, entry: Reidentification, found: bool) -> None:
        self.data.access_log.append((entry, found))


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = FakeDatabase()
        self.commits = 0

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeStore]:
        staging = copy.deepcopy(self.committed)
        yield FakeStore(staging)
        self.committed = staging
        self.commits += 1


class FakeOutbox:
    def __init__(self, rows: list[PendingEvent]) -> None:
        self.rows = list(rows)
        self.published: list[int] = []

    async def pending(self, limit: int) -> list[PendingEvent]:
        return [r for r in self.rows if r.id not in self.published][:limit]

    async def mark_published(self, ids: Sequence[int], at: object) -> None:
        self.published.extend(ids)

    async def pending_count(self) -> int:
        return len(self.rows) - len(self.published)
