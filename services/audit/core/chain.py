"""Appending decisions to the hash chain: each decision stored once, each record linked to the
one before it, in one exclusive transaction of the chain's store.

Building the records (canonical JSON and hashes) is CPU work: it runs on a worker thread so the
event loop (and the consumer's heartbeats) stays responsive while a large batch is linked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.audit.core.audit_record import AuditRecord, build_record
from services.audit.core.ports import ChainConflict, ChainHead, ChainStore, NewSnapshot
from shared.clinical.facts import PatientFacts
from shared.contracts.events import DecisionMade, PatientSnapshot
from shared.hashing import canonical_json

CONFLICT_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Appended:
    record: AuditRecord | None
    """None when the decision was already stored (a redelivery)."""
    snapshot_missing: bool = False
    """The decision references an input snapshot audit does not hold (recorded all the same;
    ``audit verify`` reports it as ``snapshot-missing``)."""

    @property
    def duplicate(self) -> bool:
        return self.record is None


@dataclass(frozen=True, slots=True)
class _Linked:
    results: list[Appended]
    snapshots: list[NewSnapshot]
    records: list[AuditRecord]


class DecisionChain:
    """The append side of the chain over a ``ChainStore``."""

    def __init__(self, store: ChainStore) -> None:
        self.store = store

    async def append(self, event: DecisionMade, recorded_at: datetime) -> Appended:
        """Store the decision once: a decision id already in the chain is a no-op."""
        [appended] = await self.append_many([event], recorded_at)
        return appended

    async def append_many(self, events: Sequence[DecisionMade], recorded_at: datetime,
                          snapshots: Sequence[PatientSnapshot] = ()) -> list[Appended]:
        """Store a batch in one transaction, in order; one result per event, same order.

        Decision ids already stored (or repeated within the batch) are no-ops. ``snapshots``
        (their hashes checked) are stored once each, with the decisions referencing them.
        Raises ``StoreUnavailable`` when the store cannot be written (nothing of the batch is).
        """
        if not events and not snapshots:
            return []
        for _ in range(CONFLICT_RETRIES):
            try:
                async with self.store.transaction() as transaction:
                    stored = await transaction.stored_decisions({e.decision_id for e in events})
                    known = await transaction.stored_snapshots(
                        {e.snapshot_hash for e in events} | {s.snapshot_hash for s in snapshots})
                    head = await transaction.head()
                    linked = await asyncio.to_thread(_link, events, snapshots, head, stored,
                                                     known, recorded_at)
                    if linked.records or linked.snapshots:
                        await transaction.insert(linked.snapshots, linked.records)
                return linked.results
            except ChainConflict:
                # Another process took the next sequence or stored one of these decisions:
                # look again.
                continue
        raise RuntimeError("could not append after repeated sequence conflicts")


def _link(events: Sequence[DecisionMade], snapshots: Sequence[PatientSnapshot],
          head: ChainHead, stored: set[UUID], known: set[str], recorded_at: datetime,
          ) -> _Linked:
    stored, known = set(stored), set(known)
    linked = _Linked([], [], [])

    def keep(snapshot_hash: str, facts: PatientFacts) -> None:
        known.add(snapshot_hash)
        body = canonical_json(facts).decode()
        linked.snapshots.append(NewSnapshot(snapshot_hash, body, recorded_at))

    for sent in snapshots:
        if sent.snapshot_hash not in known:
            keep(sent.snapshot_hash, sent.snapshot)
    sequence, prev_hash = head.sequence, head.record_hash
    for event in events:
        if event.decision_id in stored:
            linked.results.append(Appended(None))
            continue
        stored.add(event.decision_id)
        if event.snapshot_hash not in known and event.snapshot is not None:
            keep(event.snapshot_hash, event.snapshot)  # schema version 1: inline
        sequence += 1
        record = build_record(event, sequence, prev_hash, recorded_at)
        prev_hash = record.record_hash
        linked.records.append(record)
        linked.results.append(Appended(record, event.snapshot_hash not in known))
    return linked
