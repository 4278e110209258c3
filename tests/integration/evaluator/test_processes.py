"""Real evaluator processes: a kill -9 mid-burst loses and repeats nothing; two processes in one
consumer group split the partitions and each event is screened exactly once."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.contracts.events import DecisionMade, PatientUpdated
from shared.infra.embedded_broker import free_port
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    Collected,
    collect,
    evaluator_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import (
    TEST_TRIAL,
    WASHOUT,
    drug_fact,
    lab_fact,
    patient_updated,
)

pytestmark = pytest.mark.integration
PATIENTS = 250
EVENTS_PER_PATIENT = 4


def _burst(patients: list[str]) -> list[PatientUpdated]:
    start = datetime.now(UTC) - timedelta(days=1)
    events = []
    for round_ in range(EVENTS_PER_PATIENT):
        for patient in patients:
            value = 150 if round_ % 2 == 0 else 50
            fact = lab_fact(value, start + timedelta(minutes=round_), fact_id=f"lab-{round_}")
            events.append(patient_updated(patient, (fact,), datetime.now(UTC)))
    return events


async def _ready(port: int, timeout_s: float = 30) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(int(timeout_s / 0.1)):
            try:
                if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(f"evaluator on port {port} never became ready")


async def _applied(port: int) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found = re.search(r'evaluator_patient_events_total\{outcome="applied"\} ([0-9.e+]+)', text)
    return float(found.group(1)) if found else 0.0


def _decided(seen: Collected) -> set[tuple[str, int]]:
    return {(d.patient_key, d.state_version) for d in seen.decisions}


def _distinct_per_event(decisions: list[DecisionMade]) -> Counter[tuple[str, int, str]]:
    unique = {d.decision_id: d for d in decisions}
    return Counter((d.patient_key, d.state_version, d.decision.trial.id) for d in unique.values())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def test_kill_9_during_a_burst_of_1000_events_loses_and_duplicates_no_decision(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-proc", port=free_port())
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(PATIENTS)]
    every_event = {(p, v) for p in patients for v in range(1, EVENTS_PER_PATIENT + 1)}
    async with collect(kafka_settings, patients) as seen:
        processes.append(evaluator_process(settings, kafka_settings, tmp_path / "first.log"))
        await _ready(settings.port)
        await publish(kafka_settings, _burst(patients))
        assert await until(lambda: len(seen.decisions) >= 150, 60)
        os.kill(processes[0].pid, signal.SIGKILL)
        processes[0].wait()
        killed_at = len(_decided(seen))
        processes.append(evaluator_process(settings, kafka_settings, tmp_path / "second.log"))
        await _ready(settings.port)
        assert await until(lambda: _decided(seen) >= every_event, 120)
        await until(lambda: False, 2.0)

    assert killed_at < len(every_event), "the kill must land mid-burst"
    assert _decided(seen) == every_event
    per_event = _distinct_per_event(seen.decisions)
    assert set(per_event.values()) == {1}, "one decision per event and trial, never a second"
    assert {trial for (_, _, trial) in per_event} == {TEST_TRIAL.id}
    alerts = {a.event_id: a for a in seen.alerts}
    assert len(alerts) == PATIENTS * EVENTS_PER_PATIENT  # 150, 50, 150, 50: every event crosses
    republished = len(seen.decisions) - len(per_event)
    print(f"kill -9 after {killed_at} decided events; republished duplicates: {republished}")
    assert republished == 0, "orphans already on the topic are not published again"


async def test_two_evaluator_processes_in_one_group_screen_every_patient_once(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-proc", port=free_port())
    other = settings.model_copy(update={"port": free_port()})
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(PATIENTS)]
    every_event = {(p, v) for p in patients for v in range(1, EVENTS_PER_PATIENT + 1)}
    async with collect(kafka_settings, patients) as seen:
        processes.append(evaluator_process(settings, kafka_settings, tmp_path / "a.log"))
        processes.append(evaluator_process(other, kafka_settings, tmp_path / "b.log"))
        await asyncio.gather(_ready(settings.port), _ready(other.port))
        await asyncio.sleep(3.0)  # both members joined and the partitions were split
        await publish(kafka_settings, _burst(patients))
        assert await until(lambda: _decided(seen) >= every_event, 120)
        await until(lambda: False, 2.0)
        applied = [await _applied(settings.port), await _applied(other.port)]

    per_event = _distinct_per_event(seen.decisions)
    assert _decided(seen) == every_event
    assert set(per_event.values()) == {1}
    assert len(seen.decisions) == len(per_event), "nothing published twice"
    assert sum(applied) == len(every_event)
    assert all(count > 0 for count in applied), f"both processes took partitions: {applied}"


async def test_two_evaluator_processes_fire_each_review_timer_once(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-proc", port=free_port())
    other = settings.model_copy(update={"port": free_port()})
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(50)]
    async with collect(kafka_settings, patients) as seen:
        processes.append(evaluator_process(settings, kafka_settings, tmp_path / "a.log"))
        processes.append(evaluator_process(other, kafka_settings, tmp_path / "b.log"))
        await asyncio.gather(_ready(settings.port), _ready(other.port))
        await asyncio.sleep(3.0)
        now = datetime.now(UTC)
        stopped = now + timedelta(seconds=3) - WASHOUT
        await publish(kafka_settings, [
            patient_updated(p, (lab_fact(150, now - timedelta(hours=1)), drug_fact(stopped)), now)
            for p in patients
        ])
        assert await until(lambda: len(seen.alerts) >= len(patients), 30)
        await until(lambda: False, 2.0)
        fired = [await _timers_fired(settings.port), await _timers_fired(other.port)]

    assert sorted(a.patient_key for a in seen.alerts) == sorted(patients)
    assert {a.alert for a in seen.alerts} == {"newly-eligible"}
    statuses = Counter((d.patient_key, d.decision.status) for d in seen.decisions)
    assert set(statuses.values()) == {1}
    assert len(statuses) == 2 * len(patients)
    assert sum(fired) == len(patients)


async def _timers_fired(port: int) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    found = re.search(r"evaluator_timers_fired_total ([0-9.e+]+)", text)
    return float(found.group(1)) if found else 0.0
