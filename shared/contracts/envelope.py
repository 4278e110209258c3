"""The envelope every event carries: identity, time, origin, patient key and causality."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.time import UtcDatetime


class Envelope(BaseModel):
    """Fields common to every event on every topic.

    ``occurred_at`` is when the thing happened in the world (clinical time or decision time);
    ``recorded_at`` is when TrialWatch recorded it. ``patient_key`` is the surrogate key intake
    assigned: no source identifier ever crosses Kafka. ``causation_id`` is the event that
    directly caused this one; ``correlation_id`` ties every event of one upstream submission.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    schema_version: int = 1
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    source: str = Field(description="the service or upstream system that produced the event")
    patient_key: str = Field(description="surrogate patient key (never a source identifier)")
    causation_id: UUID | None = None
    correlation_id: UUID
