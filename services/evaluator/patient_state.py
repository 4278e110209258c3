"""The evaluator's view of one patient: facts, a version bumped per applied event, and the last
instant it was evaluated at (evaluation instants never go backwards for a patient)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.tables import patient_state
from shared.clinical.facts import ClinicalFact, PatientFacts


@dataclass(frozen=True, slots=True)
class PatientState:
    patient_key: str
    version: int
    facts: PatientFacts
    last_as_of: datetime | None


def ordered(facts: tuple[ClinicalFact, ...]) -> tuple[ClinicalFact, ...]:
    """A stable order makes the snapshot, and so its hash, independent of arrival order."""
    return tuple(sorted(facts, key=lambda f: f.fact_id))


async def all_patient_keys(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(patient_state.c.patient_key).order_by("patient_key"))
    return [r.patient_key for r in rows]
