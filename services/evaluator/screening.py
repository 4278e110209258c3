"""Screen one patient against trial versions at one instant, inside the caller's transaction.

Stages a DecisionMade per trial, an EligibilityAlert on a status transition (plus its webhook
deliveries), updates the current status used for transitions and the worklist, and keeps at
most one pending review timer per patient and trial at the decision's ``next_review_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import structlog
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.evaluator import decisions, webhooks
from services.evaluator.db import upsert
from services.evaluator.metrics import ENGINE_FAILURES
from services.evaluator.outbox import OutboxMessage, stage
from services.evaluator.patient_store import PatientState
from services.evaluator.placeholder_screener import engine_failed
from services.evaluator.screener import Screener
from services.evaluator.tables import review_timer, trial_status
from shared.contracts.events import DecisionMade, EligibilityAlert
from shared.contracts.topics import ALERTS, DECISIONS
from shared.eligibility.decision import Decision, Outcome, Status, TrialRef

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Trigger:
    """Why and when a screening happens: a patient event, a timer, or an amendment."""

    as_of: datetime
    correlation_id: UUID
    causation_id: UUID | None = None


async def screen(
    session: AsyncSession,
    screener: Screener,
    state: PatientState,
    trials: Iterable[TrialRef],
    trigger: Trigger,
    now: datetime,
) -> list[OutboxMessage]:
    messages: list[OutboxMessage] = []
    for trial in trials:
        messages.extend(await _screen_one(session, screener, state, trial, trigger, now))
    await stage(session, messages, now)
    return messages


async def _screen_one(
    session: AsyncSession,
    screener: Screener,
    state: PatientState,
    trial: TrialRef,
    trigger: Trigger,
    now: datetime,
) -> list[OutboxMessage]:
    decision = _evaluate(screener, trial, state, trigger.as_of)
    previous = await _current_status(session, state.patient_key, trial.id)
    made = decisions.decision_made(
        patient_key=state.patient_key,
        state_version=state.version,
        decision=decision,
        snapshot=state.facts,
        previous_status=previous,
        causation_id=trigger.causation_id,
        correlation_id=trigger.correlation_id,
        recorded_at=now,
    )
    await _record_status(session, made)
    await _schedule_review(session, made)
    out = [_message(DECISIONS, made)]
    kind = decisions.transition(previous, decision.status)
    if kind is not None:
        alert = decisions.eligibility_alert(made, kind)
        out.append(_message(ALERTS, alert))
        await webhooks.enqueue_deliveries(session, alert, now)
    return out


def _evaluate(
    screener: Screener, trial: TrialRef, state: PatientState, as_of: datetime
) -> Decision:
    """An engine failure on one patient must not lose their update nor block other trials:
    the decision is undetermined (never eligible), and the failure is logged and counted."""
    try:
        return screener.evaluate(trial, state.facts, as_of)
    except Exception as error:
        ENGINE_FAILURES.inc()
        log.exception("criteria engine failed", trial=trial.id, version=trial.version)
        return engine_failed(trial, as_of, error)


def _message(topic: str, event: DecisionMade | EligibilityAlert) -> OutboxMessage:
    return OutboxMessage(
        message_id=str(event.event_id),
        topic=topic,
        key=event.patient_key,
        payload=event.model_dump(mode="json"),
    )


async def _current_status(session: AsyncSession, patient_key: str, trial_id: str) -> Status | None:
    row = (
        await session.execute(
            select(trial_status.c.status).where(
                trial_status.c.patient_key == patient_key, trial_status.c.trial_id == trial_id
            )
        )
    ).first()
    return Status(row.status) if row else None


async def _record_status(session: AsyncSession, made: DecisionMade) -> None:
    decision = made.decision
    await upsert(
        session,
        trial_status,
        {
            "patient_key": made.patient_key,
            "trial_id": decision.trial.id,
            "trial_version": decision.trial.version,
            "status": decision.status.value,
            "decision_id": str(made.decision_id),
            "state_version": made.state_version,
            "as_of": decision.as_of,
            "unknown_criteria": sum(c.outcome is Outcome.UNKNOWN for c in decision.criteria),
            "missing": decisions.missing_data(decision),
        },
        keys=("patient_key", "trial_id"),
    )


async def _schedule_review(session: AsyncSession, made: DecisionMade) -> None:
    """Replace the pending timer: the newest decision alone knows when it could next change."""
    decision = made.decision
    due = decision.next_review_at
    if due is not None and due > decision.as_of:
        await upsert(
            session,
            review_timer,
            {"patient_key": made.patient_key, "trial_id": decision.trial.id, "due_at": due},
            keys=("patient_key", "trial_id"),
        )
        return
    await session.execute(
        delete(review_timer).where(
            review_timer.c.patient_key == made.patient_key,
            review_timer.c.trial_id == decision.trial.id,
        )
    )
