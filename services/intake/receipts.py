"""The receipt a sender gets back: proof that its update is durable and will be published."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: UUID
    client: str
    format: str
    received_at: datetime
    patient_keys: tuple[str, ...]
    event_ids: tuple[UUID, ...]
