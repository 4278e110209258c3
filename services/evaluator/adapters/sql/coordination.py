"""What coordinators read and do: alerts (and their acknowledgement), one patient's status for
one trial with its history, and the actions taken on it. Each action is stored with an outbox
message (``coordinator.actions.v1``) in the same transaction, so audit keeps every one."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator.adapters.outbox import OutboxMessage, stage
from services.evaluator.adapters.sql.tables import (
    active_trial,
    alert,
    coordinator_action,
    patient_merge,
    patient_state,
    registry_change,
    status_change,
    trial_status,
)
from services.evaluator.core.coordination import (
    ActionRow,
    AlertRow,
    HistoryRow,
    PairView,
    TrialStop,
)
from services.evaluator.core.decisions import SOURCE
from shared.contracts.events import (
    CoordinatorActed,
    CoordinatorActionKind,
    EnrolmentConfirmation,
)
from shared.contracts.topics import COORDINATOR_ACTIONS
from shared.eligibility.decision import Decision
from shared.sites import SiteScope
from shared.time import as_utc


def _alert(r: Any) -> AlertRow:
    return AlertRow(r.alert_id, r.patient_key, r.trial_id, r.kind, r.headline, as_utc(r.as_of),
                    as_utc(r.acknowledged_at) if r.acknowledged_at else None, r.acknowledged_by,
                    r.site)


async def alerts(session: AsyncSession, trial_id: str | None, limit: int = 200,
                 sites: SiteScope = None) -> list[AlertRow]:
    """Newest first; one trial's or every trial's; ``sites``: only alerts of patients of
    these sites (None: every site)."""
    query = select(alert).order_by(alert.c.as_of.desc(), alert.c.alert_id).limit(limit)
    if trial_id is not None:
        query = query.where(alert.c.trial_id == trial_id)
    if sites is not None:
        query = query.where(alert.c.site.in_(sorted(sites)))
    return [_alert(r) for r in await session.execute(query)]


async def patient_site(session: AsyncSession, patient_key: str) -> str | None:
    """The site held with the patient's screening state (None: no site, or no such patient)."""
    site: str | None = (await session.execute(select(patient_state.c.site).where(
        patient_state.c.patient_key == patient_key))).scalar_one_or_none()
    return site


async def survivor(session: AsyncSession, patient_key: str) -> str:
    """The key this patient's record lives under now: itself, or the record it was merged into
    (PatientMerged; followed along a chain of merges)."""
    key, seen = patient_key, {patient_key}
    while True:
        into = (await session.execute(select(patient_merge.c.surviving_key).where(
            patient_merge.c.merged_key == key))).scalar_one_or_none()
        if into is None or into in seen:
            return key
        key = into
        seen.add(key)


async def merged_into(session: AsyncSession, patient_key: str) -> list[str]:
    """Every key merged into ``patient_key``, directly or along a chain of merges."""
    found: list[str] = []
    frontier = [patient_key]
    while frontier:
        rows = await session.execute(select(patient_merge.c.merged_key).where(
            patient_merge.c.surviving_key.in_(frontier)))
        frontier = [k for k in rows.scalars() if k != patient_key and k not in found]
        found.extend(frontier)
    return found


async def pair_view(session: AsyncSession, patient_key: str, trial_id: str) -> PairView | None:
    """None when the evaluator has never screened this patient for this trial. The history,
    actions and alerts of records merged into this one follow it (a merge moves a patient's
    data to the survivor; what coordinators did and were told stays with the person)."""
    status = (await session.execute(select(trial_status).where(
        trial_status.c.patient_key == patient_key, trial_status.c.trial_id == trial_id))).first()
    if status is None:
        return None
    keys = [patient_key, *await merged_into(session, patient_key)]
    history = await session.execute(
        select(status_change).where(status_change.c.patient_key.in_(keys),
                                    status_change.c.trial_id == trial_id)
        .order_by(status_change.c.seq.desc()))
    actions = await session.execute(
        select(coordinator_action).where(coordinator_action.c.patient_key.in_(keys),
                                         coordinator_action.c.trial_id == trial_id)
        .order_by(coordinator_action.c.taken_at.desc()))
    raised = await session.execute(
        select(alert).where(alert.c.patient_key.in_(keys), alert.c.trial_id == trial_id)
        .order_by(alert.c.as_of.desc()))
    return PairView(
        patient_key=patient_key, trial_id=trial_id,
        decision=Decision.model_validate(status.decision) if status.decision else None,
        history=[HistoryRow(h.status, h.previous_status, as_utc(h.as_of), h.headline,
                            h.trial_version) for h in history],
        actions=[ActionRow(a.action, a.reason, a.taken_by, as_utc(a.taken_at),
                           _confirmation(a.confirmed_against)) for a in actions],
        alerts=[_alert(a) for a in raised],
        decision_id=status.decision_id,
    )


def _confirmation(stored: object) -> EnrolmentConfirmation | None:
    """The stored JSON of ``coordinator_action.confirmed_against`` (0015), else None."""
    return EnrolmentConfirmation.model_validate(stored) if stored is not None else None


async def trial_stop(session: AsyncSession, trial_id: str,
                     patient_key: str | None = None) -> TrialStop | None:
    """How ``trial_id`` stopped being screened (its latest deactivate or retire change) when
    the registry holds it inactive or retired; None when it is screened or never was stopped.
    With ``patient_key``, that patient's status history for the trial (merged records'
    included), kept after the stop (``amendments.stop_screening`` removes the statuses only)."""
    state = (await session.execute(select(active_trial.c.state).where(
        active_trial.c.trial_id == trial_id))).scalar_one_or_none()
    if state not in ("inactive", "retired"):
        return None
    change = (await session.execute(
        select(registry_change)
        .where(registry_change.c.trial_id == trial_id,
               registry_change.c.action.in_(("deactivate", "retire")))
        .order_by(registry_change.c.seq.desc()).limit(1))).first()
    if change is None:
        return None
    history: list[HistoryRow] = []
    if patient_key is not None:
        keys = [patient_key, *await merged_into(session, patient_key)]
        rows = await session.execute(
            select(status_change).where(status_change.c.patient_key.in_(keys),
                                        status_change.c.trial_id == trial_id)
            .order_by(status_change.c.seq.desc()))
        history = [HistoryRow(h.status, h.previous_status, as_utc(h.as_of), h.headline,
                              h.trial_version) for h in rows]
    return TrialStop(trial_id=trial_id, version=change.version,
                     retired=state == "retired", at=as_utc(change.at), actor=change.actor,
                     reason=change.reason, history=tuple(history))


async def find_alert(session: AsyncSession, alert_id: str) -> AlertRow | None:
    row = (await session.execute(select(alert).where(alert.c.alert_id == alert_id))).first()
    return _alert(row) if row else None


async def act(
    session: AsyncSession, *, patient_key: str, trial_id: str, action: CoordinatorActionKind,
    actor: str, now: datetime, reason: str | None = None, alert_id: str | None = None,
    confirmed_against: EnrolmentConfirmation | None = None,
) -> OutboxMessage:
    """Store the action (and an acknowledgement on its alert) and stage its event; the caller
    commits, then sends the returned message. ``confirmed_against``: the not-eligible decision
    an enrolment was confirmed against, carried by the event audit keeps."""
    action_id = uuid.uuid4()
    await session.execute(coordinator_action.insert().values(
        action_id=str(action_id), patient_key=patient_key, trial_id=trial_id, action=action,
        reason=reason, alert_id=alert_id, taken_by=actor, taken_at=now,
        confirmed_against=(confirmed_against.model_dump(mode="json")
                           if confirmed_against is not None else None)))
    if action == "acknowledged" and alert_id is not None:
        await session.execute(update(alert).where(
            alert.c.alert_id == alert_id, alert.c.acknowledged_at.is_(None),
        ).values(acknowledged_at=now, acknowledged_by=actor))
    event = CoordinatorActed(
        event_id=action_id, occurred_at=now, recorded_at=now, source=SOURCE,
        patient_key=patient_key, correlation_id=action_id, action_id=action_id, action=action,
        trial_id=trial_id, actor=actor, reason=reason,
        alert_id=uuid.UUID(alert_id) if alert_id else None, confirmed_against=confirmed_against,
    )
    message = OutboxMessage(message_id=str(action_id), topic=COORDINATOR_ACTIONS,
                            key=patient_key, payload=event.model_dump(mode="json"))
    await stage(session, [message], now)
    return message
