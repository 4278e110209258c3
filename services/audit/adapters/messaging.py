"""The Kafka handler: decisions from ``eligibility.decisions.v1`` into the audit chain.

Batches (up to ``AUDIT_BATCH_MAX_RECORDS``) are stored in one transaction. NACK_ON_ERROR: the
offsets are committed only when the handler returns, i.e. after the database commit (and after
any poison message reached the dead-letter topic); an exception rewinds every partition of the
batch to its earliest record, so all of it is redelivered.
"""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from services.audit.core.access_ingest import ReidentificationIngest
from services.audit.core.action_ingest import ActionIngest
from services.audit.core.decision_ingest import DecisionIngest
from shared.contracts.channels import (
    AUDIT_COORDINATOR_ACTIONS,
    AUDIT_DECISIONS,
    AUDIT_REIDENTIFICATIONS,
)
from shared.infra.messaging import subscribe
from shared.settings import AuditSettings, KafkaSettings


def register_handlers(broker: KafkaBroker, ingest: DecisionIngest, settings: AuditSettings,
                      kafka: KafkaSettings, actions: ActionIngest | None = None,
                      reidentifications: ReidentificationIngest | None = None) -> None:
    """Subscribe ``ingest`` to the decisions (``channels.AUDIT_DECISIONS``), ``actions`` to
    the coordinator actions (``channels.AUDIT_COORDINATOR_ACTIONS``) and ``reidentifications``
    to intake's re-identifications (``channels.AUDIT_REIDENTIFICATIONS``), in batches."""
    async def on_decisions(records: tuple[Any, ...]) -> None:
        await ingest.handle_batch([(record.value or b"", record) for record in records])

    subscribe(broker, kafka, AUDIT_DECISIONS, on_decisions, group_id=settings.group_id,
              max_records=settings.batch_max_records, batch_timeout_ms=settings.batch_timeout_ms)
    if reidentifications is not None:
        async def on_reidentifications(records: tuple[Any, ...]) -> None:
            await reidentifications.handle_batch(
                [(record.value or b"", record) for record in records])

        subscribe(broker, kafka, AUDIT_REIDENTIFICATIONS, on_reidentifications,
                  group_id=f"{settings.group_id}-reidentifications",
                  max_records=settings.batch_max_records,
                  batch_timeout_ms=settings.batch_timeout_ms)
    if actions is None:
        return

    async def on_actions(records: tuple[Any, ...]) -> None:
        await actions.handle_batch([(record.value or b"", record) for record in records])

    subscribe(broker, kafka, AUDIT_COORDINATOR_ACTIONS, on_actions,
              group_id=f"{settings.group_id}-actions", max_records=settings.batch_max_records,
              batch_timeout_ms=settings.batch_timeout_ms)
