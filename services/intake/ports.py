"""What the intake use cases need from storage; the SQL store and the unit-test fakes provide it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.intake.receipts import Receipt
from shared.contracts.events import PatientUpdated


class Conflict(Exception):
    """A concurrent transaction created the same receipt key or patient: retry from the start."""


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    source_system: str
    source_patient_id: str


@dataclass(frozen=True, slots=True)
class Reidentification:
    patient_key: str
    client: str
    role: str
    reason: str | None
    at: datetime
    trial: str | None = None


class IntakeStore(Protocol):
    """One transaction's view of intake's database; nothing is visible to others until commit."""

    async def receipt_for(self, dedup_keys: Sequence[str]) -> Receipt | None:
        """The receipt stored under any of these keys, if one exists."""

    async def receipt(self, receipt_id: UUID) -> Receipt | None:
        """The receipt with this id, if it exists."""

    async def patient_key_for(self, identity: SourceIdentity, new_key: str) -> str:
        """The surrogate key of this source patient; ``new_key`` becomes it on first sight."""

    async def add_to_outbox(self, events: Sequence[PatientUpdated], topic: str) -> None:
        """Queue events for the relay, in this order, after everything queued before."""

    async def add_receipt(self, receipt: Receipt, dedup_keys: Sequence[str]) -> None:
        """Store the receipt under each key; raises ``Conflict`` if a key is taken."""

    async def source_identity(self, patient_key: str) -> SourceIdentity | None:
        """The source identity behind a surrogate key, if the key exists."""

    async def log_reidentification(self, entry: Reidentification, found: bool) -> None:
        """Append to the re-identification access log."""


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[IntakeStore]:
        """A transaction: committed when the block ends normally, rolled back otherwise."""
