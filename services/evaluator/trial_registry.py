"""Which trial versions are active: the engine's shipped versions, overridden by amendments.

``trialwatch trials activate`` records a version here; until then a trial is screened at the
version the engine ships as current. Several trials are active at once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.db import upsert
from services.evaluator.screener import Screener
from services.evaluator.tables import active_trial
from shared.eligibility.decision import TrialRef


async def active_trials(session: AsyncSession, screener: Screener) -> tuple[TrialRef, ...]:
    registered = {
        r.trial_id: TrialRef(id=r.trial_id, version=r.version)
        for r in await session.execute(select(active_trial))
    }
    shipped = {t.id: t for t in screener.active_trials()}
    return tuple(sorted({**shipped, **registered}.values(), key=lambda t: t.id))


async def activate(session: AsyncSession, trial: TrialRef, now: datetime) -> None:
    await upsert(
        session,
        active_trial,
        {"trial_id": trial.id, "version": trial.version, "activated_at": now},
        keys=("trial_id",),
    )
