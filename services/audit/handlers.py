"""The Kafka handler: decisions from ``eligibility.decisions.v1`` into the audit chain.

NACK_ON_ERROR: the offset is committed only when the handler returns, i.e. after the database
commit (or after a poison message reached the dead-letter topic); an exception rewinds the
partition so the message is redelivered.
"""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.audit.ingest import DecisionIngest
from shared.contracts.topics import DECISIONS
from shared.settings import AuditSettings, KafkaSettings


def register_handlers(broker: KafkaBroker, ingest: DecisionIngest, settings: AuditSettings,
                      kafka: KafkaSettings) -> None:
    @broker.subscriber(
        DECISIONS,
        group_id=settings.group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms,
    )
    async def on_decision(msg: KafkaMessage) -> None:
        await ingest.handle(msg.body, msg.raw_message)
