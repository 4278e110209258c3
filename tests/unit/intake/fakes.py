"""In-memory fakes of intake's storage ports: a transaction commits by copying its staging."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, fields
from typing import Any
from uuid import UUID

from services.intake.core.ports import Conflict, Reidentification, Resolved, SourceIdentity
from services.intake.core.receipts import Receipt
from shared.contracts.events import PatientMerged, PatientReidentified, PatientUpdated


@dataclass
class FakeDatabase:
    patients: dict[SourceIdentity, str] = field(default_factory=dict)
    names: dict[tuple[str, str], str] = field(default_factory=dict)
    merges: dict[str, tuple[str, str]] = field(default_factory=dict)
    receipts: dict[UUID, Receipt] = field(default_factory=dict)
    receipt_keys: dict[str, UUID] = field(default_factory=dict)
    outbox: list[tuple[str, PatientUpdated | PatientMerged | PatientReidentified]] = field(
        default_factory=list)
    access_log: list[tuple[Reidentification, bool]] = field(default_factory=list)
    sites: dict[str, str] = field(default_factory=dict)


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

    async def resolve_patient(
        self, identity: SourceIdentity, aliases: Sequence[str], new_key: str
    ) -> Resolved:
        names = list(dict.fromkeys((identity.source_patient_id, *aliases)))
        found = [self.data.names[(identity.source_system, n)] for n in names
                 if (identity.source_system, n) in self.data.names]
        if not found:
            self.data.patients.setdefault(identity, new_key)
            found = [self.data.patients[identity]]
        created = list(self.data.patients.values())
        keys = sorted(dict.fromkeys(found), key=created.index)
        for key in keys[1:]:
            await self.merge_patients(key, keys[0], "same-patient")
        await self.link_names(identity.source_system, names, keys[0])
        return Resolved(keys[0], tuple(keys[1:]))

    async def find_patient(self, identity: SourceIdentity, aliases: Sequence[str]) -> str | None:
        created = list(self.data.patients.values())
        found = [self.data.names[(identity.source_system, n)]
                 for n in (identity.source_patient_id, *aliases)
                 if (identity.source_system, n) in self.data.names]
        return min(found, key=created.index) if found else None

    async def link_names(self, source_system: str, names: Sequence[str], patient_key: str) -> None:
        for name in names:
            self.data.names.setdefault((source_system, name), patient_key)

    async def merge_patients(self, merged_key: str, surviving_key: str, reason: str) -> None:
        if merged_key == surviving_key:
            return
        for name, key in list(self.data.names.items()):
            if key == merged_key:
                self.data.names[name] = surviving_key
        self.data.merges.setdefault(merged_key, (surviving_key, reason))

    async def add_to_outbox(
        self, events: Sequence[PatientUpdated | PatientMerged | PatientReidentified], topic: str,
        payloads: Sequence[str] | None = None,
    ) -> None:
        if payloads is not None:
            assert list(payloads) == [event.model_dump_json() for event in events]
        self.data.outbox.extend((topic, event) for event in events)

    async def add_receipt(self, receipt: Receipt, dedup_keys: Sequence[str]) -> None:
        if any(key in self.data.receipt_keys for key in dedup_keys):
            raise Conflict("taken")
        self.data.receipts[receipt.receipt_id] = receipt
        self.data.receipt_keys.update(dict.fromkeys(dedup_keys, receipt.receipt_id))

    async def source_identity(self, patient_key: str) -> SourceIdentity | None:
        return next((i for i, k in self.data.patients.items() if k == patient_key), None)

    async def stamp_site(self, patient_keys: Sequence[str], site: str) -> None:
        self.data.sites.update(dict.fromkeys(patient_keys, site))

    async def patient_site(self, patient_key: str) -> str | None:
        return self.data.sites.get(patient_key)

    async def log_reidentification(self, entry: Reidentification, found: bool) -> None:
        self.data.access_log.append((entry, found))


class FakeUnitOfWork:
    """Transactions on snapshots, committed optimistically like a serialisable database: one
    that created a receipt key or a patient another committed meanwhile fails with ``Conflict``
    (as the unique indexes make the SQL store do); otherwise its changes are applied on top.
    Each transaction yields to the event loop before committing, so concurrent use cases
    interleave as they do on a real database."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.committed = FakeDatabase()
        self.commits = 0
        self.fail_on = fail_on  # a store method that raises (the database went away mid-way)

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[FakeStore]:
        base = copy.deepcopy(self.committed)
        staging = copy.deepcopy(self.committed)
        yield FailingStore(staging, self.fail_on) if self.fail_on else FakeStore(staging)
        await asyncio.sleep(0)
        self.committed = _merged(base, staging, self.committed)
        self.commits += 1


class FailingStore(FakeStore):
    def __init__(self, data: FakeDatabase, fail_on: str) -> None:
        super().__init__(data)
        self.fail_on = fail_on

    def __getattribute__(self, name: str) -> Any:
        if name == object.__getattribute__(self, "fail_on"):
            raise ConnectionError("the database went away")
        return object.__getattribute__(self, name)


def _merged(base: FakeDatabase, staging: FakeDatabase, current: FakeDatabase) -> FakeDatabase:
    if current == base:
        return staging
    for name in ("receipt_keys", "patients"):
        created = set(getattr(staging, name)) - set(getattr(base, name))
        if created & set(getattr(current, name)):
            raise Conflict(f"{name}: created by a concurrent transaction")
    result = copy.deepcopy(current)
    for f in fields(FakeDatabase):
        mine, before = getattr(staging, f.name), getattr(base, f.name)
        into = getattr(result, f.name)
        if isinstance(mine, list):
            into.extend(mine[len(before):])
        else:
            into.update({k: v for k, v in mine.items() if before.get(k) != v})
    return result
