"""Intake's ``DeadLetterNotices``: a held or released patient, staged in the outbox with the
dead letter or the operator's decision (``services.intake.core.holds``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake.adapters.sql.tables import outbox, outbox_dead_letters
from services.intake.core import holds
from shared.contracts.events import PatientUpdatesHeld, PatientUpdatesReleased
from shared.contracts.topics import PATIENT_EVENTS, PATIENT_HOLDS
from shared.infra.outbox import OutboxRow
from shared.infra.outbox_sql import ReleaseAction


class PatientHoldNotices:
    """Only a dead letter on ``patient.events.v1`` holds a patient; other topics say nothing."""

    async def held(self, session: AsyncSession, letter_id: int, row: OutboxRow, reason: str,
                   at: datetime) -> None:
        if row.topic != PATIENT_EVENTS:
            return
        await _stage(session, holds.updates_held(
            letter_id, patient_key=row.key, held_event_id=uuid.UUID(row.message_id),
            reason=reason, at=at))

    async def released(self, session: AsyncSession, letter_id: int, key: str,
                       action: ReleaseAction, at: datetime) -> None:
        topic = await session.scalar(select(outbox_dead_letters.c.topic)
                                     .where(outbox_dead_letters.c.id == letter_id))
        if topic != PATIENT_EVENTS:
            return
        # the patient's last update still waiting (a dropped row is already marked gone)
        last = await session.scalar(
            select(outbox.c.event_id)
            .where(outbox.c.message_key == key, outbox.c.topic == PATIENT_EVENTS,
                   outbox.c.published_at.is_(None))
            .order_by(outbox.c.id.desc()).limit(1))
        await _stage(session, holds.updates_released(
            letter_id, patient_key=key, action=action, through_event_id=last, at=at))


async def _stage(session: AsyncSession,
                 event: PatientUpdatesHeld | PatientUpdatesReleased) -> None:
    await session.execute(insert(outbox).values(
        event_id=event.event_id, topic=PATIENT_HOLDS, message_key=event.patient_key,
        payload=event.model_dump_json(), created_at=event.recorded_at))
