"""In-memory stand-ins for the audit service's ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.audit.adapters.sql.chain_store import Appended
from services.audit.core.audit_record import GENESIS_HASH, build_record
from shared.contracts.events import DecisionMade


class FakeChainStore:
    def __init__(self, failures: list[Exception] | None = None) -> None:
        self.rows: dict[str, Any] = {}
        self.failures = failures or []
        self.head = GENESIS_HASH

    async def append_many(self, events: list[DecisionMade],
                          recorded_at: datetime) -> list[Appended]:
        if self.failures:
            raise self.failures.pop(0)
        return [self._append(event, recorded_at) for event in events]

    def _append(self, event: DecisionMade, recorded_at: datetime) -> Appended:
        if str(event.decision_id) in self.rows:
            return Appended(None)
        record = build_record(event, len(self.rows) + 1, self.head, recorded_at)
        self.rows[str(event.decision_id)] = record
        self.head = record.record_hash
        return Appended(record)


@dataclass
class FakeDeadLetters:
    sent: list[tuple[Any, str]] = field(default_factory=list)

    async def send(self, record: Any, reason: str) -> None:
        self.sent.append((record, reason))
