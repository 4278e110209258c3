"""The envelope every event carries: identity, time, origin, patient key and causality."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.time import UtcDatetime

# Every text field of every contract has a bound, so a consumer refuses an over-long value when
# it reads the event (and a boundary building one answers 422 naming the field), never a
# database error or a stalled partition later (issue 14 section 2;
# tests/unit/contracts/test_text_bounds.py walks every field).
SOURCE_MAX_LENGTH = 200
"""A service's name, or the sending system's (``PatientUpdated.source``: intake's
``source_system``, refused beyond 200 characters by the normaliser, the width of
``intake_patients.source_system``)."""
PATIENT_KEY_MAX_LENGTH = 128
"""A surrogate key (``pt_`` + 32 hex digits today); audit keeps it in a 128-character column."""
REASON_MAX_LENGTH = 500
"""A person's own words: a coordinator action's reason, a registry stop's reason, a
re-identification's reason; every boundary taking one (the coordinator app's forms, the
registry API and CLI, intake's re-identification API) refuses a longer one."""


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
    source: str = Field(max_length=SOURCE_MAX_LENGTH,
                        description="the service or upstream system that produced the event")
    patient_key: str = Field(max_length=PATIENT_KEY_MAX_LENGTH,
                             description="surrogate patient key (never a source identifier)")
    causation_id: UUID | None = None
    correlation_id: UUID
