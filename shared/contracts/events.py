"""The events on each topic. Frozen, versioned, and free of PHI by construction."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts
from shared.contracts.envelope import Envelope
from shared.eligibility.decision import Decision, Status, TrialRef
from shared.time import UtcDatetime


class PatientUpdated(Envelope):
    """``patient.events.v1``: new or corrected clinical facts about one patient.

    Keyed by ``patient_key``, so one patient's events stay in order on one partition.
    """

    event_type: Literal["patient.updated"] = "patient.updated"
    demographics: Demographics | None = None
    facts: tuple[ClinicalFact, ...] = ()


class DecisionMade(Envelope):
    """``eligibility.decisions.v1``: one trial version evaluated for one patient at one instant.

    ``decision_id`` is deterministic from patient key, patient-state version, trial version
    and as-of time, so a redelivered patient event yields the same id and consumers can
    drop the duplicate. ``snapshot`` is the exact input; ``snapshot_hash`` its content hash.
    """

    event_type: Literal["eligibility.decided"] = "eligibility.decided"
    decision_id: UUID
    state_version: int
    evaluator_version: str
    decision: Decision
    previous_status: Status | None = None
    snapshot_hash: str
    snapshot: PatientFacts


AlertKind = Literal["newly-eligible", "no-longer-eligible"]


class EligibilityAlert(Envelope):
    """``eligibility.alerts.v1``: a patient crossed into, or out of, eligible for a trial."""

    event_type: Literal["eligibility.alert"] = "eligibility.alert"
    alert: AlertKind
    trial: TrialRef
    decision_id: UUID
    status: Status
    previous_status: Status | None = None
    reasons: tuple[str, ...] = ()


class DeadLetter(BaseModel):
    """``<topic>.dlq``: a message that could not be processed, kept with the reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dead_letter_id: UUID
    original_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str = Field(description="the original message value, as text (base64 if binary)")
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    reason: str
    failed_at: UtcDatetime
    service: str
