"""PatientUpdated events built from one normalised update and its surrogate key."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from services.intake.core.pseudonyms import without_source_identifier, without_source_record_id
from shared.clinical.facts import ClinicalFact, PatientUpdate
from shared.contracts.events import PatientMerged, PatientUpdated


def occurred_at(facts: tuple[ClinicalFact, ...], received_at: datetime) -> datetime:
    """The latest clinical time among the facts; the receipt time when none carries one."""
    times = [t for fact in facts for t in (fact.effective_end, fact.effective_start) if t]
    return max(times, default=received_at)


def patient_updated(
    update: PatientUpdate,
    *,
    patient_key: str,
    receipt_id: UUID,
    received_at: datetime,
    recorded_at: datetime,
    site: str | None = None,
) -> PatientUpdated | None:
    """``None`` when the update says nothing eligibility can use (no facts, no demographics)."""
    if not update.facts and update.demographics is None:
        return None
    demographics = (
        without_source_identifier(update.demographics, patient_key)
        if update.demographics is not None
        else None
    )
    return PatientUpdated(
        event_id=uuid.uuid4(),
        occurred_at=occurred_at(update.facts, received_at),
        recorded_at=recorded_at,
        source=update.source_system,
        patient_key=patient_key,
        correlation_id=receipt_id,
        demographics=demographics,
        facts=tuple(without_source_record_id(fact) for fact in update.facts),
        site=site,
    )


def patient_merged(
    merged_key: str,
    surviving_key: str,
    reason: str,
    *,
    receipt_id: UUID,
    at: datetime,
    recorded_at: datetime,
) -> PatientMerged:
    """``merged_key`` merged into ``surviving_key`` (surrogate keys only), keyed by the survivor."""
    return PatientMerged(
        event_id=uuid.uuid4(),
        occurred_at=at,
        recorded_at=recorded_at,
        source="intake",
        patient_key=surviving_key,
        correlation_id=receipt_id,
        merged_key=merged_key,
        reason="source-merge" if reason == "source-merge" else "same-patient",
    )
