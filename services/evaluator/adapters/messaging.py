"""Kafka handler for patient events: decode -> apply and screen (one transaction) -> publish.

Events arrive in batches (one poll of the consumer). The whole batch is applied in one
database transaction (``core.patient_events.apply_patient_events`` over a unit of work: a
few reads, in-memory screening, a few multi-row writes), then its decisions and alerts are
published, then FastStream (AckPolicy.NACK_ON_ERROR) commits the offsets. A message that
cannot be decoded or applied goes to the dead-letter topic and the partition keeps flowing; a
database or broker failure backs off and raises, so the whole batch is redelivered.
Redelivered events are recognised by event id: they add nothing, and whatever an interrupted
attempt left unpublished is published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import TypeAdapter, ValidationError

from services.evaluator.adapters.metrics import EVENT_SECONDS, EVENTS
from services.evaluator.adapters.outbox import EvaluatorOutbox, OutboxMessage, messages_of
from services.evaluator.core.patient_events import apply_patient_events
from services.evaluator.core.patient_holds import apply_hold_events
from services.evaluator.core.ports import UnitOfWork
from services.evaluator.core.screening import ScreeningContext
from shared.contracts.events import (
    PatientEvent,
    PatientHoldEvent,
    PatientMerged,
    PatientUpdated,
    PatientUpdatesHeld,
    PatientUpdatesReleased,
)
from shared.contracts.signatures import event_digest
from shared.infra.backoff import Backoff
from shared.infra.dead_letters import DeadLetters
from shared.infra.signing import TrustedKeys
from shared.infra.transient import TRANSIENT_ERRORS

log = structlog.get_logger(__name__)
_EVENT: TypeAdapter[PatientUpdated | PatientMerged] = TypeAdapter(PatientEvent)


@dataclass
class BatchOutcome:
    staged: list[OutboxMessage] = field(default_factory=list)
    applied: int = 0
    redelivered_keys: set[str] = field(default_factory=set)
    poison: list[tuple[Any, str]] = field(default_factory=list)


class PatientEventHandler:
    """Applies each polled batch through the core (``apply_patient_events``) in one unit of
    work from ``uow``, then publishes what it staged and dead-letters what it rejected."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        context: ScreeningContext,
        sender: EvaluatorOutbox,
        dead_letters: DeadLetters,
    ) -> None:
        self._uow = uow
        self._context = context
        self._clock = context.clock
        self._sender = sender
        self._dead_letters = dead_letters
        self._backoff = Backoff()

    async def __call__(self, records: tuple[Any, ...]) -> None:
        """``records``: the consumer records of one poll (``channels.EVALUATOR_PATIENT_EVENTS``
        is a batch subscription)."""
        with EVENT_SECONDS.time():
            try:
                outcome = await self._apply(records)
                await self._sender.send(outcome.staged)
                for key in outcome.redelivered_keys:
                    await self._sender.settle_key(key)
                for record, reason in outcome.poison:
                    await self._dead_letters.send(record, reason)
            except TRANSIENT_ERRORS as error:
                EVENTS.labels("retried").inc(len(records))
                log.warning("patient events will be redelivered", error=type(error).__name__,
                            failures=self._backoff.failures, batch=len(records))
                await self._backoff.pause()
                raise
        self._backoff.reset()
        EVENTS.labels("applied").inc(outcome.applied)
        EVENTS.labels("duplicate").inc(len(records) - outcome.applied - len(outcome.poison))
        EVENTS.labels("dead-lettered").inc(len(outcome.poison))

    async def _apply(self, records: tuple[Any, ...]) -> BatchOutcome:
        outcome = BatchOutcome()
        decoded: list[tuple[Any, PatientUpdated | PatientMerged]] = []
        for record in records:
            try:
                decoded.append((record, _EVENT.validate_json(record.value or b"")))
            except ValidationError as error:
                outcome.poison.append((record, f"not a valid patient event: {error}"))
        async with self._uow() as uow:
            applied = await apply_patient_events(uow, self._context, [e for _, e in decoded])
        outcome.staged = messages_of(applied.staged)
        outcome.applied = applied.applied
        outcome.redelivered_keys = applied.redelivered_keys
        outcome.poison += [(decoded[index][0], reason) for index, reason in applied.rejected]
        return outcome


_HOLD: TypeAdapter[PatientUpdatesHeld | PatientUpdatesReleased] = TypeAdapter(PatientHoldEvent)


class PatientHoldHandler:
    """Applies each polled batch of intake's hold events (``patient.holds.v1``) through the
    core (``apply_hold_events``) in one unit of work, then publishes the re-screens it staged;
    a record that is not a hold event, or that no trusted intake key signed (``keys``:
    EVALUATOR_INTAKE_KEYS; a notice signed by a retired key is refused too), goes to the
    dead-letter topic with the reason and holds or releases nobody; a database or broker
    failure backs off and raises (the batch is redelivered, and applied once)."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        context: ScreeningContext,
        sender: EvaluatorOutbox,
        dead_letters: DeadLetters,
        keys: TrustedKeys,
    ) -> None:
        self._uow = uow
        self._context = context
        self._sender = sender
        self._dead_letters = dead_letters
        self._keys = keys
        self._backoff = Backoff()

    def _refusal(self, event: PatientUpdatesHeld | PatientUpdatesReleased,
                 body: bytes) -> str | None:
        """Why the event's signature is not accepted (None: signed by a trusted intake key).
        The digest is taken over the record's own JSON (``event_digest``), not a re-dump."""
        refusal = self._keys.refusal(event.signature, event_digest(json.loads(body)))
        if refusal is None:
            return None
        log.warning("patient hold event refused: not signed by a trusted intake key",
                    event_id=str(event.event_id), refusal=refusal.kind,
                    key_id=refusal.key_id)
        return f"patient hold event refused: signature {refusal.kind}: {refusal.detail}"

    async def __call__(self, records: tuple[Any, ...]) -> None:
        """``records``: the consumer records of one poll (``channels.EVALUATOR_PATIENT_HOLDS``)."""
        try:
            decoded: list[PatientUpdatesHeld | PatientUpdatesReleased] = []
            poison: list[tuple[Any, str]] = []
            for record in records:
                try:
                    event = _HOLD.validate_json(record.value or b"")
                except ValidationError as error:
                    poison.append((record, f"not a valid patient hold event: {error}"))
                    continue
                refused = self._refusal(event, record.value or b"")
                if refused is not None:
                    poison.append((record, refused))
                else:
                    decoded.append(event)
            async with self._uow() as uow:
                applied = await apply_hold_events(uow, self._context, decoded)
            await self._sender.send(messages_of(applied.staged))
            for key in applied.quiet_keys:
                await self._sender.settle_key(key)
            for record, reason in poison:
                await self._dead_letters.send(record, reason)
        except TRANSIENT_ERRORS as error:
            log.warning("patient hold events will be redelivered", error=type(error).__name__,
                        failures=self._backoff.failures, batch=len(records))
            await self._backoff.pause()
            raise
        self._backoff.reset()
        if applied.rescreened:
            log.info("patients re-screened for intake holds", patients=len(applied.rescreened))
