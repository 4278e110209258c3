"""The Kafka handler: decisions from ``eligibility.decisions.v1`` into the audit chain.

Batches (up to ``AUDIT_BATCH_MAX_RECORDS``) are stored in one transaction. NACK_ON_ERROR: the
offsets are committed only when the handler returns, i.e. after the database commit (and after
any poison message reached the dead-letter topic); an exception rewinds every partition of the
batch to its earliest record, so all of it is redelivered.
"""

from __future__ import annotations

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from services.audit.core.action_ingest import ActionIngest
from services.audit.core.decision_ingest import DecisionIngest
from shared.contracts.topics import COORDINATOR_ACTIONS, DECISIONS
from shared.infra.raw_codec import bytes_decoder, tolerant_batch_parser
from shared.settings import AuditSettings, KafkaSettings


def register_handlers(broker: KafkaBroker, ingest: DecisionIngest, settings: AuditSettings,
                      kafka: KafkaSettings, actions: ActionIngest | None = None) -> None:
    @broker.subscriber(
        DECISIONS,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=settings.group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms,
        # A record FastStream cannot decode must still reach ingest, to be dead-lettered.
        parser=tolerant_batch_parser,
        decoder=bytes_decoder,
    )
    async def on_decisions(msg: KafkaMessage) -> None:
        raw = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        await ingest.handle_batch([(record.value or b"", record) for record in raw])

    if actions is None:
        return

    @broker.subscriber(
        COORDINATOR_ACTIONS,
        batch=True,
        max_records=settings.batch_max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        group_id=f"{settings.group_id}-actions",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms,
        parser=tolerant_batch_parser,
        decoder=bytes_decoder,
    )
    async def on_actions(msg: KafkaMessage) -> None:
        raw = msg.raw_message if isinstance(msg.raw_message, tuple) else (msg.raw_message,)
        await actions.handle_batch([(record.value or b"", record) for record in raw])
