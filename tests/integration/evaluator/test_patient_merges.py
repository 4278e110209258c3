"""A record merged away is not screened as a separate patient: its data follows the survivor.

Real broker and database: PatientMerged moves the merged record's facts to the surviving key,
the merged key gets no decision and no alert again, and a late event for it is applied to the
survivor.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from services.evaluator.adapters.sql.tables import patient_merge, patient_state, trial_status
from shared.contracts.events import PatientMerged
from shared.eligibility.decision import Status
from shared.infra.sql_engine import make_engine
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


def merged(old: str, survivor: str, at: datetime) -> PatientMerged:
    return PatientMerged(event_id=uuid.uuid4(), occurred_at=at, recorded_at=at, source="intake",
                         patient_key=survivor, correlation_id=uuid.uuid4(), merged_key=old)


async def rows(database_url: str, table: object, key: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            column = table.c.merged_key if table is patient_merge else table.c.patient_key  # type: ignore[attr-defined]
            found = await connection.scalar(
                select(func.count()).select_from(table).where(column == key))  # type: ignore[arg-type]
            return int(found or 0)
    finally:
        await engine.dispose()


async def test_a_merged_record_moves_to_the_survivor_and_is_never_screened_again(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    old, survivor = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now = datetime.now(UTC)
    merge = merged(old, survivor, now)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [old, survivor]) as seen:
        low = lab_fact(50, now - timedelta(days=2), fact_id="old-lab")
        await publish(kafka_settings, [patient_updated(old, (low,), now)])
        assert await until(lambda: len(seen.decisions) == 1, 20)
        await publish(kafka_settings, [merge])
        assert await until(lambda: len(seen.decisions) == 2, 20)
        # the survivor now holds the merged record's lab: ineligible, decided on it
        on_merge = seen.decisions[1]
        assert on_merge.patient_key == survivor
        assert on_merge.decision.status is Status.INELIGIBLE
        assert {f.fact_id for f in seen.snapshots[on_merge.snapshot_hash].facts} == {"old-lab"}
        # a late event for the merged key is applied to the survivor, which becomes eligible
        high = lab_fact(150, now - timedelta(hours=1), fact_id="late-lab")
        await publish(kafka_settings, [patient_updated(old, (high,), now)])
        assert await until(lambda: len(seen.decisions) == 3 and len(seen.alerts) == 1, 20)
        await publish(kafka_settings, [merge])  # a redelivered merge adds nothing
        await until(lambda: False, 1.5)

    assert [d.patient_key for d in seen.decisions] == [old, survivor, survivor]
    assert seen.decisions[2].decision.status is Status.ELIGIBLE
    assert {f.fact_id for f in seen.snapshots[seen.decisions[2].snapshot_hash].facts} == {
        "old-lab", "late-lab"}
    assert [(a.patient_key, a.alert) for a in seen.alerts] == [(survivor, "newly-eligible")]
    assert await rows(database_url, patient_state, old) == 0
    assert await rows(database_url, trial_status, old) == 0
    assert await rows(database_url, patient_merge, old) == 1


async def test_an_eligible_record_merged_away_is_closed_and_its_survivor_alerted(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    old, survivor = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now = datetime.now(UTC)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [old, survivor]) as seen:
        high = lab_fact(150, now - timedelta(hours=1), fact_id="old-lab")
        await publish(kafka_settings, [patient_updated(old, (high,), now)])
        assert await until(lambda: len(seen.alerts) == 1, 20)
        await publish(kafka_settings, [merged(old, survivor, now)])
        assert await until(lambda: len(seen.alerts) == 3, 20)
        await until(lambda: False, 1.5)

    assert sorted((a.patient_key, a.alert) for a in seen.alerts) == sorted([
        (old, "newly-eligible"), (old, "closed"), (survivor, "newly-eligible")])
    [closed] = [a for a in seen.alerts if a.alert == "closed"]
    reason = f"record merged into {survivor}: screened as that patient from now on"
    assert closed.reasons == (reason,)
    assert closed.decision_id == seen.decisions[0].decision_id
    assert [d.patient_key for d in seen.decisions] == [old, survivor]
