"""What coordinators did and were told follows a merged patient: after PatientMerged, the
survivor's patient page lists the merged record's status history, alerts and actions, and the
merged record's page leads to the survivor's. Real broker and database (SQLite, PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.adapters.sql import coordination
from shared.contracts.events import PatientMerged
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration


async def test_alerts_actions_and_history_follow_a_merged_patient_to_the_survivor(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    old, survivor = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    try:
        async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
                collect(kafka_settings, [old, survivor]) as seen:
            high = lab_fact(150, now - timedelta(hours=1), fact_id="old-lab")
            await publish(kafka_settings, [patient_updated(old, (high,), now)])
            assert await until(lambda: len(seen.alerts) == 1, 20)
            trial = seen.alerts[0].trial.id
            async with sessions.begin() as db:  # a coordinator acknowledged it on the old key
                await coordination.act(
                    db, patient_key=old, trial_id=trial, action="acknowledged", actor="carol",
                    now=now, alert_id=str(seen.alerts[0].event_id))
            await publish(kafka_settings, [PatientMerged(
                event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="intake",
                patient_key=survivor, correlation_id=uuid.uuid4(), merged_key=old)])
            assert await until(lambda: len(seen.alerts) == 3, 20)

        async with sessions() as db:
            assert await coordination.survivor(db, old) == survivor
            assert await coordination.survivor(db, survivor) == survivor
            view = await coordination.pair_view(db, survivor, trial)
        assert view is not None
        assert [(a.action, a.taken_by) for a in view.actions] == [("acknowledged", "carol")]
        assert {a.patient_key for a in view.alerts} == {old, survivor}
        old_alert = next(a for a in view.alerts if a.kind == "newly-eligible"
                         and a.patient_key == old)
        assert old_alert.acknowledged_by == "carol"
        assert len(view.history) == 2, "the old record's decision and the survivor's"
    finally:
        await engine.dispose()
