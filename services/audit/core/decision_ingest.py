"""Storing decision messages: the use case behind the Kafka handler.

A batch of messages is stored in one database transaction, in order. The topic carries
``PatientSnapshot`` events (an evaluation's input, stored once by content hash) ahead of the
``DecisionMade`` events that reference them by ``snapshot_hash``; older decisions (schema
version 1) carry their snapshot inline. A decision whose snapshot audit does not hold is still
recorded, counted, logged, and flagged by ``audit verify`` (``snapshot-missing``).

A message that cannot be read as either event (or whose snapshot does not match its hash) is
poison: it goes to the dead-letter topic, so the partition keeps flowing. So does an event no
trusted evaluator key signed (missing, unknown or retired key, invalid signature): any local
client can produce to the topic, only the evaluator holds the key. Nothing of a refused event
is stored; the refusal is counted by reason and logged with the event id and key id only.

A database failure is transient: pause (growing back-off), then raise so nothing in the batch
is acknowledged and it all comes back. Only a returned call lets the handler commit the offsets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.audit.core.chain import Appended, DecisionChain
from services.audit.core.ports import (
    AuditTelemetry,
    DeadLetterSink,
    SignatureCheck,
    StoreUnavailable,
    Unobserved,
)
from shared.contracts.events import DecisionMade, DecisionsEvent, PatientSnapshot
from shared.contracts.signatures import Refusal, decision_digest, snapshot_digest
from shared.hashing import content_hash
from shared.infra.backoff import Backoff

_DECISIONS_EVENT: TypeAdapter[DecisionMade | PatientSnapshot] = TypeAdapter(DecisionsEvent)

TRANSIENT_ERRORS = (StoreUnavailable, OSError, TimeoutError)


class IngestOutcome(StrEnum):
    STORED = "stored"
    SNAPSHOT = "snapshot"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


class PoisonMessage(ValueError):
    pass


class RefusedSignature(PoisonMessage):
    def __init__(self, event: DecisionMade | PatientSnapshot, refusal: Refusal) -> None:
        what = "decision" if isinstance(event, DecisionMade) else "snapshot"
        super().__init__(f"{what} refused: signature {refusal.kind}: {refusal.detail}")
        self.event_id = event.event_id
        self.refusal = refusal


def check_signature(event: DecisionMade | PatientSnapshot, keys: SignatureCheck) -> None:
    """Raises ``RefusedSignature`` unless a trusted evaluator key signed the event's content
    (shared.contracts.signatures: a decision's as audit will store it; a snapshot's with its
    facts bound by ``snapshot_hash``, checked by ``parse_event``)."""
    form = event.model_dump(mode="json", exclude={"snapshot"})
    digest = decision_digest(form) if isinstance(event, DecisionMade) else snapshot_digest(form)
    refusal = keys.refusal(event.signature, digest)
    if refusal is not None:
        raise RefusedSignature(event, refusal)


def parse_event(body: bytes) -> DecisionMade | PatientSnapshot:
    """A decision (schema version 1 with its snapshot inline, or 2 referencing it) or a
    snapshot event; raises ``PoisonMessage`` when it is neither, or a snapshot it carries does
    not match its hash."""
    try:
        event = _DECISIONS_EVENT.validate_json(body)
    except ValidationError as error:
        raise PoisonMessage(f"not a DecisionMade or PatientSnapshot: {error.error_count()} "
                            f"validation errors: {error.errors(include_input=False)[:3]}"
                            ) from error
    if event.snapshot is not None and content_hash(event.snapshot) != event.snapshot_hash:
        raise PoisonMessage("snapshot_hash does not match the content hash of snapshot")
    return event


class DecisionIngest:
    def __init__(self, chain: DecisionChain, dead_letters: DeadLetterSink,
                 clock: Callable[[], datetime], backoff: Backoff,
                 keys: SignatureCheck, telemetry: AuditTelemetry | None = None) -> None:
        self._keys = keys
        self._telemetry = telemetry or Unobserved()
        self._chain = chain
        self._dead_letters = dead_letters
        self._clock = clock
        self._backoff = backoff

    async def handle(self, body: bytes, raw_record: Any) -> IngestOutcome:
        [outcome] = await self.handle_batch([(body, raw_record)])
        return outcome

    async def handle_batch(self, messages: Sequence[tuple[bytes, Any]]) -> list[IngestOutcome]:
        """``messages`` are (value, consumer record) pairs in consumption order."""
        events: list[DecisionMade] = []
        snapshots: list[PatientSnapshot] = []
        snapshot_at: set[int] = set()
        poison: dict[int, str] = {}
        for index, (body, _) in enumerate(messages):
            try:
                event = parse_event(body)
                check_signature(event, self._keys)
                if isinstance(event, PatientSnapshot):
                    snapshots.append(event)
                    snapshot_at.add(index)
                else:
                    events.append(event)
            except RefusedSignature as error:
                poison[index] = str(error)
                self._telemetry.decision_refused(error.refusal, error.event_id)
            except PoisonMessage as error:
                poison[index] = str(error)
        appended = iter(await self._store_or_pause(events, snapshots))
        for index, reason in poison.items():
            await self._dead_letters.send(messages[index][1], reason)
            self._telemetry.decision_dead_lettered(reason)
        return [IngestOutcome.DEAD_LETTERED if index in poison
                else IngestOutcome.SNAPSHOT if index in snapshot_at
                else _outcome(next(appended))
                for index in range(len(messages))]

    async def _store_or_pause(self, events: list[DecisionMade],
                              snapshots: list[PatientSnapshot]) -> list[Appended]:
        try:
            appended = await self._chain.append_many(events, self._clock(), snapshots)
        except TRANSIENT_ERRORS as error:
            self._telemetry.store_unavailable(type(error).__name__, self._backoff.next_delay_s)
            await self._backoff.pause()
            raise
        self._backoff.reset()
        for event, result in zip(events, appended, strict=True):
            self._telemetry.decision_recorded(
                event.event_id, event.patient_key, event.decision_id,
                result.record.sequence if result.record is not None else None)
            if result.record is not None and result.snapshot_missing:
                self._telemetry.snapshot_missing(event.decision_id, result.record.sequence,
                                                 event.snapshot_hash)
        self._telemetry.snapshots_received(len(snapshots))
        return appended


def _outcome(appended: Appended) -> IngestOutcome:
    return IngestOutcome.DUPLICATE if appended.duplicate else IngestOutcome.STORED
