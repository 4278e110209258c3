"""The evaluator on the one outbox relay, on the real embedded broker, SQLite and PostgreSQL: an
outbox row larger than KAFKA_MAX_REQUEST_SIZE (a patient's input snapshot) is dead-lettered
with its reason, counted and logged without its payload, never retried; that patient's later
rows are held behind it; every other patient's decisions keep flowing."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from structlog.testing import capture_logs

from services.evaluator.adapters.sql.tables import outbox, outbox_dead_letters
from shared.contracts.topics import DECISIONS
from shared.infra.outbox import DEAD_LETTERS, HELD_ROWS
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

LIMIT = 65_536  # the smallest KAFKA_MAX_REQUEST_SIZE the settings accept (64 KiB)
MARKER = "fact-marker-q7z"  # in every fact id of the large patient: must never reach a log


async def _dead_letters(database_url: str) -> list[dict[str, object]]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(outbox_dead_letters))
            return [dict(r._mapping) for r in rows]
    finally:
        await engine.dispose()


async def _unpublished(database_url: str, key: str) -> int:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(
                select(func.count()).select_from(outbox)
                .where(outbox.c.key == key, outbox.c.published_at.is_(None))) or 0)
    finally:
        await engine.dispose()


async def test_a_snapshot_larger_than_the_producer_limit_is_dead_lettered_not_retried_and_other_patients_flow(  # noqa: E501
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-dead-letter",
                                    timer_poll_interval_s=0.2)
    small_limit = kafka_settings.model_copy(update={"max_request_size": LIMIT})
    large, other = f"pk-{uuid.uuid4().hex[:12]}", f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    # ~400 results: the input event fits the test producer's 1 MiB, its snapshot not 64 KiB
    history = tuple(lab_fact(50 + i % 10, now - timedelta(days=1, minutes=i),
                             fact_id=f"{MARKER}-{i}") for i in range(400))
    big_event = patient_updated(large, history, now)
    event_bytes = len(big_event.model_dump_json().encode())
    assert event_bytes > LIMIT
    dead_before = DEAD_LETTERS.labels("evaluator", DECISIONS)._value.get()

    with capture_logs() as logs:
        async with evaluator_in_process(settings, small_limit, OneLabScreener()), \
                collect(kafka_settings, [large, other]) as seen:
            started = time.monotonic()
            await publish(kafka_settings, [big_event])
            await publish(kafka_settings, [patient_updated(
                other, (lab_fact(150, now - timedelta(hours=1)),), now)])
            assert await until(lambda: any(d.patient_key == other for d in seen.decisions), 30)
            letters: list[dict[str, object]] = []
            deadline = time.monotonic() + 30
            while not letters and time.monotonic() < deadline:
                letters = await _dead_letters(database_url)
                await asyncio.sleep(0.05)
            time_to_dead_letter = time.monotonic() - started
            # a later result of the held patient: screened, staged, held behind the dead letter
            await publish(kafka_settings, [patient_updated(
                large, (lab_fact(150, now - timedelta(minutes=5), fact_id="lab-late"),), now)])
            await publish(kafka_settings, [patient_updated(
                other, (lab_fact(40, now - timedelta(minutes=5), fact_id="lab-2"),), now)])
            assert await until(lambda: sum(d.patient_key == other
                                           for d in seen.decisions) == 2, 30)
            # past the relay's 5 s grace and several relay rounds: nothing is tried again
            await asyncio.sleep(7.0)
            held = await _unpublished(database_url, large)
            held_gauge = HELD_ROWS.labels("evaluator")._value.get()

    [letter] = await _dead_letters(database_url)
    print(f"\nevaluator outbox dead letter: input event {event_bytes:,} bytes, limit {LIMIT:,}; "
          f"dead-lettered {time_to_dead_letter:.2f} s after the event was published; "
          f"{held} outbox rows of that patient unpublished (the dead row and "
          f"{held - 1} held behind it); held gauge {held_gauge:.0f}")
    assert letter["message_key"] == large
    assert letter["topic"] == DECISIONS
    assert str(letter["reason"]).startswith("MessageSizeTooLargeError: larger than the producer")
    assert letter["released_at"] is None
    # counted once, never retried by the relay loop or the later event of the same patient
    assert DEAD_LETTERS.labels("evaluator", DECISIONS)._value.get() == dead_before + 1
    dead_logs = [e for e in logs if e.get("event") == "outbox_row_dead_lettered"]
    assert len(dead_logs) == 1
    assert dead_logs[0]["log_level"] == "error"
    assert dead_logs[0]["key"] == large
    assert not any(MARKER in repr(entry) for entry in logs)  # no payload in any log line
    # nothing of the held patient reached the topic: no snapshot, no decision, no alert
    assert not [m for m in seen.raw if m.get("patient_key") == large]
    # the snapshot, its decision and the later event's snapshot and decision at least
    assert held >= 4
    assert held_gauge >= held
    # the other patient flowed: two decisions, each after its snapshot
    assert sum(d.patient_key == other for d in seen.decisions) == 2
    assert all(d.snapshot_hash in seen.snapshots for d in seen.decisions)
