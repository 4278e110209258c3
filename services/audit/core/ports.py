"""The ports of the audit core: what it needs from the chain's store, the read side, the
checkpoint archive and the dead-letter topic. Adapters implement them; unit tests use fakes.

The chain store follows pyeventsourcing's recorder: the core decides what a record is and how it
links (``core.chain``); the store only keeps rows in one exclusive transaction and reads them
back in sequence order. One SQL adapter serves SQLite and PostgreSQL; another store is one new
adapter of these protocols.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from services.audit.core.access_chain import AccessHead
from services.audit.core.audit_record import AuditRecord
from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint
from services.audit.core.queries import RecordFilter
from shared.contracts.signatures import EventSignature, Refusal

if TYPE_CHECKING:  # chain_walk imports this module
    from services.audit.core.chain_walk import RecordVerdict

Clock = Callable[[], datetime]
"""Aware UTC now; the composition root gives ``shared.infra.clock.utc_now``, tests a fixed one."""


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest record: its sequence (0 for an empty chain) and hash."""

    sequence: int
    record_hash: str


@dataclass(frozen=True, slots=True)
class NewSnapshot:
    """An input snapshot to store once: its content hash and canonical JSON text."""

    snapshot_hash: str
    snapshot: str
    stored_at: datetime


class ChainConflict(Exception):
    """Another writer appended to the chain, or stored one of these decisions, meanwhile: the
    transaction was rolled back; read the head again and retry."""


class StoreUnavailable(Exception):
    """The store did not answer or could not write (unreachable, full, read-only): transient,
    nothing was written; try again later."""


class ChainTransaction(Protocol):
    """One exclusive write transaction on the chain: read what is stored, then insert."""

    async def head(self) -> ChainHead:
        """The newest record as this transaction sees it."""

    async def stored_decisions(self, decision_ids: Collection[UUID]) -> set[UUID]:
        """Those of ``decision_ids`` already in the chain."""

    async def stored_snapshots(self, snapshot_hashes: Collection[str]) -> set[str]:
        """Those of ``snapshot_hashes`` already stored."""

    async def insert(self, snapshots: Sequence[NewSnapshot],
                     records: Sequence[AuditRecord]) -> None:
        """Add the snapshots and the records (in sequence order)."""


class ChainStore(Protocol):
    """Where the hash chain and the input snapshots are kept (append-only)."""

    def transaction(self) -> AbstractAsyncContextManager[ChainTransaction]:
        """One writer at a time: commits on a clean exit, rolls back on an error. Raises
        ``ChainConflict`` when a concurrent writer took a sequence or decision id first,
        ``StoreUnavailable`` when the store cannot be written."""

    async def head(self) -> ChainHead:
        """The newest committed record."""

    async def record_hashes(self, after: int, upto: int) -> list[str]:
        """The hashes of records ``after + 1 .. upto``, in sequence order."""

    def record_batches(self, after: int = 0, batch_size: int = 2000,
                       ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record with sequence > ``after`` (column name -> value), in sequence order."""

    def snapshot_batches(self, batch_size: int = 500,
                         ) -> AsyncIterator[list[tuple[str, str]]]:
        """Every stored snapshot as (hash, canonical JSON)."""

    async def snapshots(self, snapshot_hashes: Collection[str]) -> list[tuple[str, str]]:
        """The stored ones among ``snapshot_hashes``, as (hash, canonical JSON)."""


class AccessLogReader(Protocol):
    """The access log's read side for verification (``core.access_chain``)."""

    def entry_batches(self, batch_size: int = 2000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every access entry (column name -> value, as stored), in ``id`` order."""


class ActionReader(Protocol):
    """The coordinator actions' read side for verification (``core.action_chain``)."""

    def action_batches(self, batch_size: int = 2000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every action (column name -> value, as stored): unchained legacy ones first, then
        the chained ones by ``chain_seq``."""


class ActionHead(Protocol):
    """The coordinator actions' head, for the checkpoint writer to sign."""

    async def head(self) -> AccessHead | None:
        """The newest hash-chained action (``entry_id``: its ``chain_seq``) with the number of
        actions up to it (None: no chained action yet)."""


class AccessLogHead(Protocol):
    """The access log's head, for the checkpoint writer to sign."""

    async def head(self) -> AccessHead | None:
        """The newest hash-chained entry with the number of entries up to it (None: no
        chained entry yet)."""


class RecordQueries(Protocol):
    """The read side of the chain, for auditors."""

    async def page(self, flt: RecordFilter, after: int | None,
                   limit: int) -> list[dict[str, Any]]:
        """Records matching ``flt`` with sequence > ``after``, oldest first, at most ``limit``."""

    async def by_decision_id(self, decision_id: UUID) -> dict[str, Any] | None:
        """The record of one decision, or None."""

    async def status_as_of(self, patient_key: str, trial_id: str, at: datetime,
                           trial_version: str | None = None) -> dict[str, Any] | None:
        """The latest record, in record order, evaluated and made by ``at``."""

    async def snapshot(self, snapshot_hash: str,
                       sites: frozenset[str] | None = None) -> str | None:
        """A stored input snapshot's canonical JSON, or None (also when ``sites`` is given and
        no record of those sites was decided from it)."""


class ActionStore(Protocol):
    """Where coordinator actions are kept (append-only, idempotent by action id)."""

    async def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store the actions; an action id already stored is ignored."""


class CheckpointArchive(Protocol):
    """Signed checkpoints kept outside the chain's store."""

    def load(self) -> tuple[list[Checkpoint], list[RejectedCheckpoint]]:
        """The trusted checkpoints (by sequence) and the rejected files with the reason."""

    def write(self, checkpoint: Checkpoint) -> None:
        """Keep ``checkpoint`` durably (a crash never leaves half of it)."""


class SignatureCheck(Protocol):
    """The keys events must be signed with: the evaluator's for decisions and actions,
    intake's for re-identifications."""

    def refusal(self, signature: EventSignature | None, digest: str, *,
                new_event: bool = True) -> Refusal | None:
        """None when ``signature`` signs ``digest`` with a key trusted for new events."""

    def trusts(self, key_id: str) -> bool:
        """Whether the key ``key_id`` is trusted for what it signed (accepted or retired)."""


class RecordChecker(Protocol):
    """Makes the per-record checks of a verify walk (``chain_walk.record_verdicts``: rehash,
    evaluator signature) apart from it, e.g. in worker processes; ``ahead``: how many batches
    the walk may hand over before it feeds the oldest."""

    ahead: int

    async def verdicts(self, rows: list[dict[str, Any]],
                       vouched: Mapping[int, str] | None = None) -> list[RecordVerdict]:
        """One verdict per row, in order (``vouched``: as ``chain_walk.record_verdicts``)."""


class AuditTelemetry(Protocol):
    """What the core reports as it works (metrics and log lines, ``adapters.telemetry``)."""

    def decision_refused(self, refusal: Refusal, event_id: UUID) -> None:
        """A decision not signed by a trusted evaluator key was refused."""

    def decision_dead_lettered(self, reason: str) -> None:
        """An unreadable or refused decision went to the dead-letter topic."""

    def store_unavailable(self, error: str, pause_s: float) -> None:
        """The chain's store failed transiently; consumption pauses ``pause_s``."""

    def decision_recorded(self, event_id: UUID, patient_key: str, decision_id: UUID,
                          sequence: int | None) -> None:
        """A decision was appended at ``sequence`` (None: a redelivery, already stored)."""

    def snapshot_missing(self, decision_id: UUID, sequence: int, snapshot_hash: str) -> None:
        """A decision was recorded whose input snapshot audit does not hold."""

    def snapshots_received(self, count: int) -> None:
        """``count`` input snapshot events were read (each stored once by hash)."""

    def action_dead_lettered(self) -> None:
        """An unreadable coordinator action went to the dead-letter topic."""

    def action_refused(self, refusal: Refusal, event_id: UUID) -> None:
        """A coordinator action not signed by a trusted evaluator key was refused."""

    def action_recorded(self, action: str, patient_key: str, trial_id: str) -> None:
        """A coordinator action was stored (or was already)."""

    def checkpoint_written(self, sequence: int,
                           signed: tuple[int, int, int] | None = None) -> None:
        """A checkpoint signing the first ``sequence`` records was written; ``signed``: its
        (sequence, access entry id, action chain_seq), what ``verify --min-checkpoint`` takes
        (``Checkpoint.order_key``)."""

    def checkpoint_failed(self, error: str) -> None:
        """Writing a checkpoint failed; the next tick retries."""

    def record_unvouched(self, sequence: int, problem: str) -> None:
        """The checkpoint writer found record ``sequence`` failing its check (its hash or its
        evaluator signature: written past ingest); its checkpoint vouches only for the
        records before it, and ``audit verify`` reports it."""


class Unobserved:
    """``AuditTelemetry`` that reports nothing (unit tests, tools)."""

    def decision_refused(self, refusal: Refusal, event_id: UUID) -> None:
        return None

    def decision_dead_lettered(self, reason: str) -> None:
        return None

    def store_unavailable(self, error: str, pause_s: float) -> None:
        return None

    def decision_recorded(self, event_id: UUID, patient_key: str, decision_id: UUID,
                          sequence: int | None) -> None:
        return None

    def snapshot_missing(self, decision_id: UUID, sequence: int, snapshot_hash: str) -> None:
        return None

    def snapshots_received(self, count: int) -> None:
        return None

    def action_dead_lettered(self) -> None:
        return None

    def action_refused(self, refusal: Refusal, event_id: UUID) -> None:
        return None

    def action_recorded(self, action: str, patient_key: str, trial_id: str) -> None:
        return None

    def checkpoint_written(self, sequence: int,
                           signed: tuple[int, int, int] | None = None) -> None:
        return None

    def checkpoint_failed(self, error: str) -> None:
        return None

    def record_unvouched(self, sequence: int, problem: str) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """An event as its signer signed it: ``content`` its JSON form without ``signature``
    (``shared.contracts.signatures.event_digest`` hashes it), ``signature`` the signature."""

    content: dict[str, Any]
    signature: EventSignature


class AccessRecorder(Protocol):
    """Appends to the hash-chained access log entries that arrive as events."""

    async def record_once(self, event_id: str, *, client: str, role: str, action: str,
                          query: dict[str, Any], result_count: int | None,
                          signed: SignedEvent | None = None) -> bool:
        """Append one entry unless an entry of ``event_id`` is already there; True when
        appended. ``signed``: the event as signed and its signature, kept with the entry so
        ``audit verify`` can check the signature again."""


class DeadLetterSink(Protocol):
    async def send(self, record: Any, reason: str) -> Any:
        """Publish the consumer record to its dead-letter topic with the reason."""
