"""``CoordinatorDesk`` over the evaluator's tables: reads in one transaction each; an action is
stored with its outbox message in one transaction, then sent (``adapters.outbox``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.evaluator.adapters.outbox import EvaluatorOutbox
from services.evaluator.adapters.sql import coordination, trial_registry
from services.evaluator.adapters.sql.worklist import worklist
from services.evaluator.core.coordination import (
    Acknowledgement,
    AlertRow,
    PairView,
    TrialStop,
    WorklistEntry,
)
from services.evaluator.core.ports import Screener
from shared.contracts.events import CoordinatorActionKind, EnrolmentConfirmation
from shared.eligibility.decision import TrialRef
from shared.sites import SiteScope, site_visible


class SqlCoordinatorDesk:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], screener: Screener,
                 sender: EvaluatorOutbox) -> None:
        self._sessions = sessions
        self._screener = screener
        self._sender = sender

    async def active_trials(self) -> tuple[TrialRef, ...]:
        async with self._sessions() as db:
            return await trial_registry.active_trials(db, self._screener)

    async def alerts(self, trial_id: str | None, sites: SiteScope = None) -> list[AlertRow]:
        async with self._sessions() as db:
            return await coordination.alerts(db, trial_id, sites=sites)

    async def worklist(self, trial_id: str, limit: int,
                       sites: SiteScope = None) -> list[WorklistEntry]:
        async with self._sessions() as db:
            return await worklist(db, trial_id, limit, sites)

    async def patient_site(self, patient_key: str) -> str | None:
        async with self._sessions() as db:
            return await coordination.patient_site(db, patient_key)

    async def survivor(self, patient_key: str) -> str:
        async with self._sessions() as db:
            return await coordination.survivor(db, patient_key)

    async def pair_view(self, patient_key: str, trial_id: str) -> PairView | None:
        async with self._sessions() as db:
            return await coordination.pair_view(db, patient_key, trial_id)

    async def trial_stop(self, trial_id: str, patient_key: str | None = None
                         ) -> TrialStop | None:
        async with self._sessions() as db:
            return await coordination.trial_stop(db, trial_id, patient_key)

    async def acknowledge(self, alert_id: str, actor: str, now: datetime,
                          may_see_trial: Callable[[str], bool],
                          sites: SiteScope = None) -> Acknowledgement:
        async with self._sessions.begin() as db:
            found = await coordination.find_alert(db, alert_id)
            if found is None or not may_see_trial(found.trial_id):
                return Acknowledgement(recorded=False)
            if not site_visible(sites, found.site):
                return Acknowledgement(recorded=False, other_site_patient=found.patient_key)
            message = await coordination.act(
                db, patient_key=found.patient_key, trial_id=found.trial_id,
                action="acknowledged", actor=actor, now=now, alert_id=alert_id)
        await self._sender.send([message])
        return Acknowledgement(recorded=True)

    async def act(self, patient_key: str, trial_id: str, action: CoordinatorActionKind,
                  actor: str, now: datetime, reason: str | None,
                  confirmed_against: EnrolmentConfirmation | None = None) -> bool:
        async with self._sessions.begin() as db:
            if await coordination.pair_view(db, patient_key, trial_id) is None:
                return False
            message = await coordination.act(
                db, patient_key=patient_key, trial_id=trial_id, action=action, actor=actor,
                now=now, reason=reason, confirmed_against=confirmed_against)
        await self._sender.send([message])
        return True

    async def reidentified(self, patient_key: str, trial_id: str, actor: str, now: datetime,
                           reason: str) -> PairView | None:
        async with self._sessions.begin() as db:
            message = await coordination.act(
                db, patient_key=patient_key, trial_id=trial_id, action="reidentified",
                actor=actor, now=now, reason=reason)
            view = await coordination.pair_view(db, patient_key, trial_id)
        await self._sender.send([message])
        return view
