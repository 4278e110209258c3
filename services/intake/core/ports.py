"""What the intake use cases need from the world: storage and a clock. The SQL store
(``adapters/sql``) and the unit-test fakes (``tests/unit/intake/fakes.py``) provide them.

One transaction's view (``IntakeStore``) is the sum of four ports: the idempotency receipts,
the pseudonym store (source identities <-> surrogate keys), the event outbox and the
re-identification access log; they share one transaction, so a receipt is never durable
without its events and keys, nor an identity returned without its log entry."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar, runtime_checkable
from uuid import UUID

from services.intake.core.receipts import Receipt
from shared.clinical.facts import ClinicalFact, Coding, FactKind, ReadingNote
from shared.contracts.events import PatientMerged, PatientReidentified, PatientUpdated

MergeReason = str  # "source-merge" (the source said so) or "same-patient" (names met)


class Conflict(Exception):
    """A concurrent transaction created the same receipt key or patient: retry from the start."""


@dataclass(frozen=True, slots=True)
class SourceIdentity:
    """A patient as its source names it. ``identifiers``: the (system, value) pairs the source
    sent for this patient as FHIR R4 Identifiers (``Identifier.system``: the namespace, i.e.
    the assigning authority's URI, of ``Identifier.value``), exactly as received; filled only
    by re-identification, empty elsewhere."""

    source_system: str
    source_patient_id: str
    identifiers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Resolved:
    """The key a source patient is known under, and keys just merged into it (same patient)."""

    patient_key: str
    merged: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reidentification:
    patient_key: str
    client: str
    role: str
    reason: str | None
    at: datetime
    trial: str | None = None
    # the requester's site scope (shared.sites): None = every site; not stored in the log
    sites: frozenset[str] | None = None


class Receipts(Protocol):
    """Idempotency: every receipt, found again by its content key or ``Idempotency-Key``."""

    async def receipt_for(self, dedup_keys: Sequence[str]) -> Receipt | None:
        """The receipt stored under any of these keys, if one exists."""

    async def receipt(self, receipt_id: UUID) -> Receipt | None:
        """The receipt with this id, if it exists."""

    async def add_receipt(self, receipt: Receipt, dedup_keys: Sequence[str]) -> None:
        """Store the receipt under each key; raises ``Conflict`` if a key is taken."""


class PseudonymStore(Protocol):
    """Source identities and their names, each linked to the surrogate key it is known under."""

    async def resolve_patient(
        self, identity: SourceIdentity, aliases: Sequence[str], new_key: str
    ) -> Resolved:
        """The surrogate key of this source patient, found by its identifier or any alias
        (``new_key`` on first sight); every name is linked to it. Keys found under different
        names of one patient are merged into the oldest, which is returned."""

    async def find_patient(self, identity: SourceIdentity, aliases: Sequence[str]) -> str | None:
        """The surrogate key any of these names is linked to, without creating one."""

    async def link_names(
        self, source_system: str, names: Sequence[str], patient_key: str
    ) -> None:
        """Link names not yet known to ``patient_key`` (names already linked keep their key)."""

    async def merge_patients(self, merged_key: str, surviving_key: str, reason: str) -> None:
        """Re-point every name of ``merged_key`` at ``surviving_key`` and record the merge."""

    async def source_identity(self, patient_key: str) -> SourceIdentity | None:
        """The source identity behind a surrogate key, if the key exists."""

    async def stamp_site(self, patient_keys: Sequence[str], site: str) -> None:
        """Record ``site`` as these patients' site (the latest submitting site wins)."""

    async def patient_site(self, patient_key: str) -> str | None:
        """The site of the latest submission about this key (None: never stamped)."""


class EventOutbox(Protocol):
    """Events committed with their receipt, for the relay to publish."""

    async def add_to_outbox(
        self, events: Sequence[PatientUpdated | PatientMerged | PatientReidentified], topic: str,
        payloads: Sequence[str] | None = None,
    ) -> None:
        """Queue events for the relay, in this order, after everything queued before.
        ``payloads``: each event's ``model_dump_json()`` when the caller already made it (the
        store then does not serialise the event again)."""


class AccessLog(Protocol):
    """The append-only re-identification access log."""

    async def log_reidentification(self, entry: Reidentification, found: bool) -> None:
        """Append to the re-identification access log."""


class IntakeStore(Receipts, PseudonymStore, EventOutbox, AccessLog, Protocol):
    """One transaction's view of intake's database; nothing is visible to others until commit."""


class UnitOfWork(Protocol):
    def __call__(self) -> AbstractAsyncContextManager[IntakeStore]:
        """A transaction: committed when the block ends normally, rolled back otherwise."""


_T = TypeVar("_T")


@runtime_checkable
class RunsWork(Protocol):
    """A ``UnitOfWork`` that can also run a whole transaction's work itself (the SQLite group
    commit runs a group's members together, off the event loop). ``work`` may await only the
    store it is given: the store's calls may complete synchronously in another thread."""

    async def run(self, work: Callable[[IntakeStore], Awaitable[_T]]) -> _T:
        """``work(store)`` in a transaction, committed before this returns; its error
        (rolled back alone) is raised here."""


async def in_transaction(
    transaction: UnitOfWork, work: Callable[[IntakeStore], Awaitable[_T]]
) -> _T:
    """``work(store)`` in one transaction of ``transaction``, committed when this returns."""
    if isinstance(transaction, RunsWork):
        return await transaction.run(work)
    async with transaction() as store:
        return await work(store)


Clock = Callable[[], datetime]
"""The current time, aware UTC (``shared.infra.clock.utc_now`` in the service)."""


@runtime_checkable
class ScreenedCodes(Protocol):
    """Which codes the criteria of the active trials read (``adapters/trial_codes.py``).

    ``reads(kind, codes)``: whether any criterion of any active trial reads a fact of ``kind``
    coded with any of ``codes`` (all codings of one concept: FHIR R4 CodeableConcept, HL7 v2
    CWE identifier and alternate). Pure and fast: asked for every fact of every submission."""

    def reads(self, kind: FactKind, codes: tuple[Coding, ...]) -> bool: ...

    def drugs_disagree(self, fact: ClinicalFact) -> ReadingNote | None:
        """Why a medication ``fact``'s codings name different drugs, so that the engine keeps
        it unread (``shared.eligibility.index.drugs_disagree`` on the shared tables: the one
        check the engine makes), else None."""
        ...
