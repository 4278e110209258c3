"""The evaluator's patient state: facts per surrogate key, a version bumped per applied event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.db import upsert
from services.evaluator.tables import patient_fact, patient_state
from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts, PatientUpdate
from shared.clinical.state import apply_update
from shared.time import as_utc


@dataclass(frozen=True, slots=True)
class PatientState:
    patient_key: str
    version: int
    facts: PatientFacts
    last_as_of: datetime | None


def _ordered(facts: tuple[ClinicalFact, ...]) -> tuple[ClinicalFact, ...]:
    # A stable order makes the snapshot, and so its hash, independent of arrival order.
    return tuple(sorted(facts, key=lambda f: f.fact_id))


async def load(session: AsyncSession, patient_key: str, *, lock: bool = True) -> PatientState:
    """The current state; ``lock`` holds the patient's row (PostgreSQL) until the commit."""
    query = select(patient_state).where(patient_state.c.patient_key == patient_key)
    row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        return PatientState(patient_key, 0, PatientFacts(), None)
    fact_rows = await session.execute(
        select(patient_fact.c.fact).where(patient_fact.c.patient_key == patient_key)
    )
    facts = tuple(ClinicalFact.model_validate(r.fact) for r in fact_rows)
    return PatientState(
        patient_key=patient_key,
        version=row.state_version,
        facts=PatientFacts(
            demographics=Demographics.model_validate(row.demographics), facts=_ordered(facts)
        ),
        last_as_of=as_utc(row.last_as_of) if row.last_as_of else None,
    )


async def apply(
    session: AsyncSession, state: PatientState, change: PatientUpdate, now: datetime,
    as_of: datetime,
) -> PatientState:
    """Merge ``change`` into ``state`` (shared.clinical.state rules) and store it as version + 1,
    to be evaluated at ``as_of``."""
    merged = apply_update(state.facts, change)
    kept = {f.fact_id: f for f in merged.facts}
    for fact in change.facts:
        if kept.get(fact.fact_id) is fact:
            await upsert(
                session,
                patient_fact,
                {
                    "patient_key": state.patient_key,
                    "fact_id": fact.fact_id,
                    "fact": fact.model_dump(mode="json"),
                    "effective_start": fact.effective_start,
                    "received_at": fact.provenance.received_at,
                },
                keys=("patient_key", "fact_id"),
            )
    version = state.version + 1
    demographics = merged.demographics.model_dump(mode="json")
    if state.version == 0:
        await session.execute(
            insert(patient_state).values(
                patient_key=state.patient_key, state_version=version, demographics=demographics,
                last_as_of=as_of, updated_at=now,
            )
        )
    else:
        await session.execute(
            update(patient_state)
            .where(patient_state.c.patient_key == state.patient_key)
            .values(state_version=version, demographics=demographics, last_as_of=as_of,
                    updated_at=now)
        )
    facts = PatientFacts(demographics=merged.demographics, facts=_ordered(merged.facts))
    return PatientState(state.patient_key, version, facts, as_of)


async def record_evaluation_instant(
    session: AsyncSession, patient_key: str, as_of: datetime
) -> None:
    await session.execute(
        update(patient_state)
        .where(patient_state.c.patient_key == patient_key)
        .values(last_as_of=as_of)
    )


async def all_patient_keys(session: AsyncSession) -> list[str]:
    rows = await session.execute(select(patient_state.c.patient_key).order_by("patient_key"))
    return [r.patient_key for r in rows]
