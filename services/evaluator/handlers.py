"""Kafka handler for patient events: decode -> apply and screen (one transaction) -> publish.

The offset is committed by FastStream (AckPolicy.NACK_ON_ERROR) only after this returns, i.e.
after the decisions are durable in the outbox and published. A message that cannot be decoded
or evaluated goes to the dead-letter topic and is acknowledged, so its partition keeps
flowing; a database or broker failure backs off and raises, so the message is redelivered.
"""

from __future__ import annotations

import structlog
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.backoff import TRANSIENT_ERRORS, Backoff
from services.evaluator.clock import Clock, utc_now
from services.evaluator.metrics import EVENT_SECONDS, EVENTS
from services.evaluator.outbox import OutboxSender
from services.evaluator.patient_events import record_patient_event
from services.evaluator.screener import Screener
from shared.contracts.events import PatientUpdated
from shared.infra.dead_letters import DeadLetters

log = structlog.get_logger(__name__)


class PatientEventHandler:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        screener: Screener,
        sender: OutboxSender,
        dead_letters: DeadLetters,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._screener = screener
        self._sender = sender
        self._dead_letters = dead_letters
        self._clock = clock
        self._backoff = Backoff()

    async def __call__(self, message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            event = PatientUpdated.model_validate_json(message.body)
        except ValidationError as error:
            EVENTS.labels("dead-lettered").inc()
            await self._dead_letters.send(record, f"not a valid PatientUpdated: {error}")
            return
        with structlog.contextvars.bound_contextvars(
            event_id=str(event.event_id), patient_key=event.patient_key
        ), EVENT_SECONDS.time():
            await self._handle(record, event)

    async def _handle(self, record: object, event: PatientUpdated) -> None:
        try:
            async with self._sessions.begin() as session:
                staged = await record_patient_event(session, self._screener, event, self._clock())
            if staged:
                await self._sender.send(staged, self._clock())
            else:
                await self._sender.flush_key(event.patient_key, self._clock())
        except TRANSIENT_ERRORS as error:
            EVENTS.labels("retried").inc()
            log.warning("patient event will be redelivered", error=type(error).__name__,
                        failures=self._backoff.failures)
            await self._backoff.wait()
            raise
        except Exception as error:
            EVENTS.labels("dead-lettered").inc()
            log.exception("patient event dead-lettered")
            reason = f"evaluation failed: {type(error).__name__}: {error}"
            await self._dead_letters.send(record, reason)
            return
        self._backoff.reset()
        EVENTS.labels("applied" if staged else "duplicate").inc()
