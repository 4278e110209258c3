"""Storing one decision message: the use case behind the Kafka handler.

A message that cannot be read as a ``DecisionMade`` (or whose snapshot does not match its
hash) is poison: it goes to the dead-letter topic and is acknowledged so the partition keeps
flowing. A database failure is transient: pause (growing back-off), then raise so the message
is not acknowledged and comes back. Only a returned call lets the handler commit the offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from services.audit import metrics
from services.audit.backoff import Backoff
from services.audit.chain_store import ChainStore
from shared.canonical import content_hash
from shared.contracts.events import DecisionMade

log = structlog.get_logger(__name__)

TRANSIENT_ERRORS = (DBAPIError, SQLAlchemyError, OSError, TimeoutError)


class DeadLetterSink(Protocol):
    async def send(self, record: Any, reason: str) -> Any:
        """Publish the consumer record to its dead-letter topic with the reason."""


class IngestOutcome(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"


class PoisonMessage(ValueError):
    pass


def parse_decision(body: bytes) -> DecisionMade:
    try:
        event = DecisionMade.model_validate_json(body)
    except ValidationError as error:
        raise PoisonMessage(f"not a DecisionMade: {error.error_count()} validation errors: "
                            f"{error.errors(include_input=False)[:3]}") from error
    if content_hash(event.snapshot) != event.snapshot_hash:
        raise PoisonMessage("snapshot_hash does not match the content hash of snapshot")
    return event


class DecisionIngest:
    def __init__(self, store: ChainStore, dead_letters: DeadLetterSink,
                 clock: Callable[[], datetime], backoff: Backoff) -> None:
        self._store = store
        self._dead_letters = dead_letters
        self._clock = clock
        self._backoff = backoff

    async def handle(self, body: bytes, raw_record: Any) -> IngestOutcome:
        try:
            event = parse_decision(body)
        except PoisonMessage as poison:
            await self._dead_letters.send(raw_record, str(poison))
            metrics.DEAD_LETTERS.inc()
            log.warning("decision dead-lettered", reason=str(poison)[:200])
            return IngestOutcome.DEAD_LETTERED
        with structlog.contextvars.bound_contextvars(
                event_id=str(event.event_id), patient_key=event.patient_key,
                decision_id=str(event.decision_id)):
            return await self._store_or_pause(event)

    async def _store_or_pause(self, event: DecisionMade) -> IngestOutcome:
        try:
            appended = await self._store.append(event, self._clock())
        except TRANSIENT_ERRORS as error:
            metrics.STORE_FAILURES.inc()
            log.warning("audit database unavailable; pausing before redelivery",
                        error=type(error).__name__, pause_s=self._backoff.next_delay_s)
            await self._backoff.pause()
            raise
        self._backoff.reset()
        if appended.record is None:
            metrics.DUPLICATE_DECISIONS.inc()
            log.info("duplicate decision ignored")
            return IngestOutcome.DUPLICATE
        metrics.DECISIONS_STORED.inc()
        metrics.CHAIN_HEAD.set(appended.record.sequence)
        log.info("decision recorded", sequence=appended.record.sequence)
        return IngestOutcome.STORED
