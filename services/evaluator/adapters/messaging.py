"""Kafka handler for patient events: decode -> apply and screen (one transaction) -> publish.

Events arrive in batches (one poll of the consumer). The whole batch is applied in one
database transaction (``screening.Screening``: a few reads, in-memory screening, a few
multi-row writes), then its decisions and alerts are published, then FastStream
(AckPolicy.NACK_ON_ERROR) commits the offsets. A message that cannot be decoded or applied
goes to the dead-letter topic and the partition keeps flowing; a database or broker failure
backs off and raises, so the whole batch is redelivered. Redelivered events are recognised by
event id: they add nothing, and whatever an interrupted attempt left unpublished is published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

import structlog
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.metrics import EVENT_SECONDS, EVENTS
from services.evaluator.adapters.outbox import OutboxMessage, OutboxSender
from services.evaluator.adapters.sql import trial_registry
from services.evaluator.adapters.transient_errors import TRANSIENT_ERRORS
from services.evaluator.core.clock import Clock, utc_now
from services.evaluator.core.ports import Screener
from services.evaluator.core.screening import Screening
from shared.contracts.events import PatientEvent, PatientMerged, PatientUpdated
from shared.infra.backoff import Backoff
from shared.infra.dead_letters import DeadLetters

log = structlog.get_logger(__name__)
_EVENT: TypeAdapter[PatientUpdated | PatientMerged] = TypeAdapter(PatientEvent)


@dataclass
class BatchOutcome:
    staged: list[OutboxMessage] = field(default_factory=list)
    applied: int = 0
    redelivered_keys: set[str] = field(default_factory=set)
    poison: list[tuple[Any, str]] = field(default_factory=list)


class PatientEventHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        screener: Screener,
        sender: OutboxSender,
        dead_letters: DeadLetters,
        clock: Clock = utc_now,
        zone: tzinfo = UTC,
    ) -> None:
        self._zone = zone
        self._sessions = sessions
        self._screener = screener
        self._sender = sender
        self._dead_letters = dead_letters
        self._clock = clock
        self._backoff = Backoff()

    async def __call__(self, message: KafkaMessage) -> None:
        raw = message.raw_message
        records = raw if isinstance(raw, tuple) else (raw,)
        with EVENT_SECONDS.time():
            try:
                outcome = await self._apply(records)
                await self._sender.send(outcome.staged, self._clock())
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
        events: list[tuple[Any, PatientUpdated | PatientMerged]] = []
        for record in records:
            try:
                events.append((record, _EVENT.validate_json(record.value or b"")))
            except ValidationError as error:
                outcome.poison.append((record, f"not a valid patient event: {error}"))
        now = self._clock()
        async with self._sessions.begin() as session:
            trials = await trial_registry.active_trials(session, self._screener)
            screening = Screening(session, self._screener, self._clock, self._zone)
            await screening.load({key for _, e in events for key in _keys(e)},
                                 [str(e.event_id) for _, e in events])
            for record, event in events:
                with structlog.contextvars.bound_contextvars(
                    event_id=str(event.event_id), patient_key=event.patient_key
                ):
                    try:
                        staged = (screening.apply_merge(event, trials, now)
                                  if isinstance(event, PatientMerged)
                                  else screening.apply_event(event, trials, now))
                    except Exception as error:  # in-memory only: nothing of it was kept
                        log.exception("patient event dead-lettered")
                        reason = f"evaluation failed: {type(error).__name__}: {error}"
                        outcome.poison.append((record, reason))
                        continue
                if staged:
                    outcome.applied += 1
                else:
                    outcome.redelivered_keys.add(event.patient_key)
            outcome.staged = await screening.flush()
        return outcome


def _keys(event: PatientUpdated | PatientMerged) -> tuple[str, ...]:
    if isinstance(event, PatientMerged):
        return (event.patient_key, event.merged_key)
    return (event.patient_key,)
