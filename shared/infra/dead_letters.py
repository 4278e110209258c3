"""Dead-letter publishing: a message a consumer cannot process is kept, with the reason, and
its partition keeps flowing. FastStream has no built-in dead-letter topic for Kafka."""

from __future__ import annotations

import base64
import uuid
from typing import Any

from faststream.kafka import KafkaBroker

from shared.contracts.events import (
    DEAD_LETTER_KEY_MAX_LENGTH,
    DEAD_LETTER_PAYLOAD_MAX_LENGTH,
    DeadLetter,
)
from shared.contracts.topics import dead_letter
from shared.infra.clock import utc_now


def _as_text(value: bytes) -> tuple[str, str]:
    try:
        return value.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(value).decode("ascii"), "base64"


class DeadLetters:
    def __init__(self, broker: KafkaBroker, service: str) -> None:
        self._broker = broker
        self._service = service

    async def send(self, record: Any, reason: str) -> DeadLetter:
        """``record`` is the aiokafka ConsumerRecord (``KafkaMessage.raw_message``)."""
        payload, encoding = _as_text(record.value or b"")
        if len(payload) > DEAD_LETTER_PAYLOAD_MAX_LENGTH:  # beyond any broker's usual limit
            reason = (f"{reason} (payload cut to its first {DEAD_LETTER_PAYLOAD_MAX_LENGTH} of "
                      f"{len(payload)} characters)")[-2000:]
            payload = payload[:DEAD_LETTER_PAYLOAD_MAX_LENGTH]
        key = (record.key.decode("utf-8", "replace")[:DEAD_LETTER_KEY_MAX_LENGTH]
               if record.key else None)
        letter = DeadLetter(
            dead_letter_id=uuid.uuid4(),
            original_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key,
            payload=payload,
            payload_encoding=encoding,
            reason=reason[:2000],
            failed_at=utc_now(),
            service=self._service,
        )
        await self._broker.publish(
            letter.model_dump(mode="json"), dead_letter(record.topic), key=record.key
        )
        return letter
