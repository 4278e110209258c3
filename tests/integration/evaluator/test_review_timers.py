"""Time alone makes a patient eligible: durable review timers fire once due, never before, and
the decision is as of the timer's own instant. How soon after due it fires is printed (a
figure, not an assertion: it depends on the machine's load)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.eligibility.decision import Status
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import WASHOUT, OneLabScreener, drug_fact, lab_fact, patient_updated

pytestmark = pytest.mark.integration


def _washout_ending_in_5_s(patient: str) -> tuple[object, float, datetime]:
    now = datetime.now(UTC)
    stopped = now + timedelta(seconds=5) - WASHOUT
    facts = (lab_fact(150, now - timedelta(hours=1)), drug_fact(stopped))
    started = asyncio.get_running_loop().time()
    return patient_updated(patient, facts, now), started, stopped + WASHOUT


async def test_a_washout_ending_in_5_s_alerts_once_it_ends_as_of_its_end(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-timers", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        event, started, due = _washout_ending_in_5_s(patient)
        await publish(kafka_settings, [event])  # type: ignore[list-item]
        assert await until(lambda: len(seen.alerts) == 1, 10)
        await until(lambda: False, 1.0)

    assert [d.decision.status for d in seen.decisions] == [Status.INELIGIBLE, Status.ELIGIBLE]
    assert seen.alerts[0].alert == "newly-eligible"
    print(f"washout alert {seen.alert_seen_at[0] - started:.2f} s after the event")
    assert seen.alert_seen_at[0] - started >= 5.0  # never before the washout ends
    assert seen.decisions[1].decision.as_of == due
    assert seen.decisions[1].state_version == seen.decisions[0].state_version
    # the timer re-screened the same state: its snapshot (same id) is not published again
    assert [m["topic"] for m in seen.raw if m.get("event_type") == "eligibility.snapshot"] == [
        "eligibility.decisions.v1"]


async def test_a_washout_timer_survives_an_evaluator_restart(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-timers", timer_poll_interval_s=0.2)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    async with collect(kafka_settings, [patient]) as seen:
        async with evaluator_in_process(settings, kafka_settings, OneLabScreener()):
            event, started, due = _washout_ending_in_5_s(patient)
            await publish(kafka_settings, [event])  # type: ignore[list-item]
            assert await until(lambda: len(seen.decisions) == 1, 10)
        assert seen.alerts == []
        await asyncio.sleep(1.0)  # down for a while; the timer lives only in the database
        async with evaluator_in_process(settings, kafka_settings, OneLabScreener()):
            assert await until(lambda: len(seen.alerts) == 1, 10)
            await until(lambda: False, 1.0)

    assert [d.decision.status for d in seen.decisions] == [Status.INELIGIBLE, Status.ELIGIBLE]
    print(f"washout alert {seen.alert_seen_at[0] - started:.2f} s after the event")
    assert seen.alert_seen_at[0] - started >= 5.0  # never before the washout ends
    assert seen.decisions[1].decision.as_of == due
    assert len(seen.alerts) == 1
