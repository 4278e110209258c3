"""A patient event is screened against every active trial; redelivery adds nothing."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from shared.eligibility.decision import Status, TrialRef
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration
SECOND_TRIAL = TrialRef(id="TEST-ONE-LAB-B", version="7")


async def test_a_new_lab_flips_a_patient_to_eligible_with_one_decision_per_trial_and_one_alert(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    screener = OneLabScreener(trials=(TEST_TRIAL, SECOND_TRIAL))
    async with evaluator_in_process(settings, kafka_settings, screener), \
            collect(kafka_settings, [patient]) as seen:
        low = lab_fact(50, now - timedelta(days=2))
        await publish(kafka_settings, [patient_updated(patient, (low,), now)])
        assert await until(lambda: len(seen.decisions) == 2, 20)
        assert {d.decision.status for d in seen.decisions} == {Status.INELIGIBLE}
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(150, now - timedelta(hours=1), fact_id="lab-2"),), now)])
        assert await until(lambda: len(seen.decisions) == 4 and len(seen.alerts) == 2, 20)
        await until(lambda: False, 1.5)  # anything extra would arrive now

    latest = seen.decisions[2:]
    assert Counter(d.decision.trial.id for d in latest) == {TEST_TRIAL.id: 1, SECOND_TRIAL.id: 1}
    assert all(d.decision.status is Status.ELIGIBLE for d in latest)
    assert all(d.previous_status is Status.INELIGIBLE for d in latest)
    assert all(d.state_version == 2 for d in latest)
    assert sorted(a.trial.id for a in seen.alerts) == sorted([TEST_TRIAL.id, SECOND_TRIAL.id])
    assert {a.alert for a in seen.alerts} == {"newly-eligible"}
    assert len(seen.decisions) == 4


async def test_the_same_event_delivered_twice_adds_no_decision_and_no_alert(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    event = patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [event])
        assert await until(lambda: len(seen.decisions) == 1 and len(seen.alerts) == 1, 20)
        await publish(kafka_settings, [event])
        await until(lambda: False, 2.0)

    assert len(seen.decisions) == 1
    assert len(seen.alerts) == 1
    assert seen.alerts[0].alert == "newly-eligible"


async def test_a_poison_message_is_dead_lettered_and_the_partition_keeps_flowing(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings,
                      [patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)],
                      raw=[])
        await publish(kafka_settings, [], raw=[(patient, b"{not json")])
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(20, now - timedelta(minutes=5), fact_id="lab-2"),), now)])
        assert await until(lambda: len(seen.decisions) == 2 and len(seen.alerts) == 2, 20)

    assert [d.decision.status for d in seen.decisions] == [Status.ELIGIBLE, Status.INELIGIBLE]
    assert [a.alert for a in seen.alerts] == ["newly-eligible", "no-longer-eligible"]


async def test_a_record_labelled_json_that_is_not_json_is_dead_lettered_not_redelivered_forever(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [], raw=[(patient, b"{not json")],
                      raw_headers=[("content-type", b"application/json")])
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(150, now - timedelta(hours=1)),), now)])
        assert await until(lambda: len(seen.decisions) == 1, 20), "the partition is blocked"

    assert [d.decision.status for d in seen.decisions] == [Status.ELIGIBLE]


async def test_the_real_criteria_engine_screens_a_patient_event_against_the_shipped_trial(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener
    from services.evaluator.bootstrap import default_screener

    screener = default_screener()
    assert isinstance(screener, CriteriaEngineScreener), "the shipped engine must load"
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with evaluator_in_process(settings, kafka_settings, screener), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [patient_updated(patient, (lab_fact(150, now),), now)])
        assert await until(lambda: len(seen.decisions) == len(screener.active_trials()), 20)

    [made] = [d for d in seen.decisions if d.decision.trial.id == "NCT06920433"]
    assert made.decision.trial == next(t for t in screener.active_trials()
                                       if t.id == "NCT06920433")
    assert made.decision.status is Status.UNDETERMINED  # almost nothing is known about them
    assert len(made.decision.criteria) > 10
    assert made.decision.engine_version not in {"engine-error", "engine-not-installed"}
    assert seen.alerts == []
