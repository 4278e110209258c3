"""PatientUpdated events built from one normalised update and its surrogate key."""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import cache
from typing import Any, get_args
from uuid import UUID

from pydantic import BaseModel

from services.intake.core.pseudonyms import without_source_identifier, without_source_record_id
from shared.clinical.excerpts import without_excerpts
from shared.clinical.facts import ClinicalFact, PatientUpdate, ReadingNote
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
        facts=tuple(_no_excerpts(without_source_record_id(fact)) for fact in update.facts),
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


def _no_excerpts(model: Any) -> Any:
    """``model`` (a fact, and anything in it) with every reading note's reason as it may leave
    intake (``shared.clinical.excerpts.without_excerpts``: no quoted free input); the receipt
    keeps the sender's own values. Only the fields whose type can hold a note are visited
    (:func:`_note_fields`); unchanged parts are the same objects."""
    if isinstance(model, ReadingNote):
        said = without_excerpts(model.reason)
        return model if said == model.reason else model.model_copy(update={"reason": said})
    if isinstance(model, BaseModel):
        changed = {}
        for name in _note_fields(type(model)):
            value = getattr(model, name)
            scrubbed = _no_excerpts(value)
            if scrubbed is not value:
                changed[name] = scrubbed
        return model.model_copy(update=changed) if changed else model
    if isinstance(model, tuple):
        items = tuple(_no_excerpts(item) for item in model)
        return items if any(a is not b for a, b in zip(items, model, strict=True)) else model
    return model


@cache
def _note_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``cls`` whose declared type is, contains or nests a ``ReadingNote``."""
    return tuple(name for name, field in cls.model_fields.items()
                 if _holds_note(field.annotation, frozenset({cls})))


def _holds_note(annotation: Any, seen: frozenset[type]) -> bool:
    if annotation is ReadingNote:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:  # a model nesting itself (a fact's components): visit it
            return True
        return any(_holds_note(field.annotation, seen | {annotation})
                   for field in annotation.model_fields.values())
    return any(_holds_note(arg, seen) for arg in get_args(annotation))
