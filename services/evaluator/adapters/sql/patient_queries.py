"""``PatientStatusQueries`` over the evaluator's tables (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql.tables import (
    patient_fact,
    patient_merge,
    patient_state,
    trial_status,
)
from services.evaluator.core.ports import ScreenedPatient, TrialStanding
from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts
from shared.eligibility.decision import Decision, Status, TrialRef


class SqlPatientStatusQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def standings(self, patient_key: str) -> list[TrialStanding]:
        async with self._sessions() as session:
            rows = (await session.execute(
                select(trial_status.c.trial_id, trial_status.c.status,
                       trial_status.c.unknown_criteria, trial_status.c.decision)
                .where(trial_status.c.patient_key == patient_key)
                .order_by(trial_status.c.trial_id))).all()
        return [TrialStanding(
            r.trial_id, Status(r.status), r.unknown_criteria,
            Decision.model_validate(r.decision) if r.decision is not None else None)
            for r in rows]

    async def patient_site(self, patient_key: str) -> str | None:
        async with self._sessions() as session:
            survivor = (await session.execute(select(patient_merge.c.surviving_key).where(
                patient_merge.c.merged_key == patient_key))).scalar_one_or_none()
            site: str | None = (await session.execute(select(patient_state.c.site).where(
                patient_state.c.patient_key == (survivor or patient_key)))).scalar_one_or_none()
        return site

    async def screened_patient(self, patient_key: str) -> ScreenedPatient:
        async with self._sessions() as session:
            survivor = (await session.execute(select(patient_merge.c.surviving_key).where(
                patient_merge.c.merged_key == patient_key))).scalar_one_or_none()
            key = survivor or patient_key
            state = (await session.execute(select(patient_state.c.demographics).where(
                patient_state.c.patient_key == key))).scalar_one_or_none()
            facts = tuple(ClinicalFact.model_validate(f) for f in (await session.execute(
                select(patient_fact.c.fact).where(patient_fact.c.patient_key == key))).scalars())
            rows = (await session.execute(
                select(trial_status.c.trial_id, trial_status.c.trial_version,
                       trial_status.c.status, trial_status.c.unknown_criteria)
                .where(trial_status.c.patient_key == key)
                .order_by(trial_status.c.trial_id))).all()
        demographics = Demographics.model_validate(state) if state is not None else Demographics()
        return ScreenedPatient(key, PatientFacts(demographics=demographics, facts=facts), [
            (TrialRef(id=r.trial_id, version=r.trial_version), Status(r.status),
             r.unknown_criteria) for r in rows])
