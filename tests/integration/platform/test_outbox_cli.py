"""``trialwatch outbox`` as an operator runs it (a real CLI process) against the services'
databases (SQLite and PostgreSQL) and the real embedded broker: list a dead letter with the
rows held behind it, refuse a retry that cannot fit, retry it in its place once the limit is
raised, or drop it with a recorded reason so the held rows flow and no refill sends it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker
from sqlalchemy import insert

from services.evaluator.adapters.outbox import EvaluatorOutbox, OutboxMessage, stage
from services.intake import admin as intake_admin
from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.store import outbox_store as intake_outbox_store
from services.intake.adapters.sql.tables import outbox as intake_outbox
from shared.infra.clock import utc_now
from shared.infra.kafka import ensure_topics, make_broker
from shared.infra.migrations import upgrade
from shared.infra.outbox import OutboxRelay, OutboxRow
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.evaluator.harness import REPO_ROOT
from tests.integration.intake.harness import migrate, running_intake, settings_for

pytestmark = pytest.mark.integration

SMALL = 65_536  # the smallest KAFKA_MAX_REQUEST_SIZE the settings accept
LARGE = 4 * 1024 * 1024
BIG_NOTE = "x" * (SMALL + 10_000)


def _trialwatch(*args: str, limit: int = SMALL) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KAFKA_MAX_REQUEST_SIZE": str(limit), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "services.cli", "outbox", *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def _producer(kafka: KafkaSettings, limit: int) -> KafkaBroker:
    return make_broker(kafka.model_copy(update={"max_request_size": limit}),
                       client_id="outbox-cli-test")


async def _read(kafka: KafkaSettings, topic: str, expected: int) -> list[tuple[str, str]]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, group_id=unique_group(),
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms, max_partition_fetch_bytes=LARGE * 2,
        fetch_max_bytes=LARGE * 2)
    await consumer.start()
    seen: list[tuple[str, str]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [(r.key.decode(), json.loads(r.value)["note"][:10]) for r in records
                             if r.key is not None]
        await asyncio.sleep(1.0)  # anything more would arrive now
        for records in (await consumer.getmany(timeout_ms=500)).values():
            seen += [(r.key.decode(), json.loads(r.value)["note"][:10]) for r in records
                     if r.key is not None]
    finally:
        await consumer.stop()
    return seen


def _lines_of(listing: str, key: str) -> list[str]:
    return [line for line in listing.splitlines() if f" {key} " in line]


async def test_an_evaluator_dead_letter_is_listed_refused_while_too_large_and_retried_in_its_place(
    kafka_settings: KafkaSettings, database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    topic = f"outbox-cli-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    a, b = f"pt_{uuid.uuid4().hex[:10]}", f"pt_{uuid.uuid4().hex[:10]}"

    def message(key: str, note: str) -> OutboxMessage:
        event_id = str(uuid.uuid4())
        return OutboxMessage(event_id, topic, key, {"event_id": event_id, "note": note})

    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        await stage(session, [message(a, BIG_NOTE), message(a, "a2"), message(a, "a3"),
                              message(b, "b1")], utc_now())
    small, large = _producer(kafka_settings, SMALL), _producer(kafka_settings, LARGE)
    await small.connect()
    await large.connect()
    try:
        assert await EvaluatorOutbox(sessions, small, utc_now).publish_backlog() == 1  # b1

        listed = _trialwatch("list", "--service", "evaluator", "--database-url", database_url)
        assert listed.returncode == 0, listed.stderr
        [line] = _lines_of(listed.stdout, a)
        dead_id, key, shown_topic, size, unit, _, held = line.split()[:7]
        assert (key, shown_topic, unit, held) == (a, topic, "B", "2")
        assert int(size.replace(",", "")) > SMALL
        assert "MessageSizeTooLargeError" in line
        assert "xxxxxxxx" not in listed.stdout  # no payload, ever

        refused = _trialwatch("release", dead_id, "--service", "evaluator", "--database-url",
                              database_url, "--reason", "try again")
        assert refused.returncode == 2
        assert "more than the limit" in refused.stderr
        # no evaluator started on this database: the CLI's own value, said to be a fallback
        assert (f"checked against KAFKA_MAX_REQUEST_SIZE = {SMALL:,} bytes (as set in this "
                "command's environment; the evaluator service has recorded no limit in its "
                "database") in refused.stderr

        retried = _trialwatch("release", dead_id, "--service", "evaluator", "--database-url",
                              database_url, "--reason", "limit raised to 4 MiB",
                              "--actor", "ops:test", limit=LARGE)
        assert retried.returncode == 0, retried.stderr
        assert f"released #{dead_id}" in retried.stdout
        assert f"KAFKA_MAX_REQUEST_SIZE = {LARGE:,} bytes" in retried.stdout
        # the service restarted with the larger limit: the row goes out in its place
        assert await EvaluatorOutbox(sessions, large, utc_now).publish_backlog() == 3
    finally:
        await small.stop()
        await large.stop()
        await engine.dispose()

    sent = await _read(kafka_settings, topic, 4)
    assert [note for key, note in sent if key == a] == ["x" * 10, "a2", "a3"]
    assert [note for key, note in sent if key == b] == ["b1"]
    after = _trialwatch("list", "--service", "evaluator", "--database-url", database_url,
                        "--all")
    assert f"#{dead_id}: retry at" in after.stdout
    assert "by ops:test: limit raised to 4 MiB" in after.stdout


async def test_an_intake_dead_letter_dropped_with_a_reason_lets_the_held_rows_flow_and_stays_out_of_a_refill(  # noqa: E501
    kafka_settings: KafkaSettings, database_url: str,
) -> None:
    await asyncio.to_thread(upgrade, "intake", database_url)
    topic = f"outbox-cli-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    a = f"pt_{uuid.uuid4().hex[:10]}"
    engine = make_intake_engine(database_url)
    sessions = make_sessionmaker(engine)
    rows: list[dict[str, Any]] = [
        {"event_id": uuid.uuid4(), "topic": topic, "message_key": a,
         "payload": json.dumps({"note": note}), "created_at": utc_now()}
        for note in (BIG_NOTE, "a2", "a3")]
    async with sessions.begin() as session:
        await session.execute(insert(intake_outbox), rows)
    small = _producer(kafka_settings, SMALL)

    async def publish(row: OutboxRow) -> None:
        await small.publish(json.loads(row.payload), row.topic, key=row.key.encode())

    relay = OutboxRelay("intake", intake_outbox_store(sessions), publish, utc_now)
    await small.connect()
    try:
        assert await relay.relay_once() == 0  # dead-lettered, a2 and a3 held
        listed = _trialwatch("list", "--service", "intake", "--database-url", database_url)
        [line] = _lines_of(listed.stdout, a)
        dead_id, held = line.split()[0], line.split()[6]
        assert held == "2"
        dropped = _trialwatch("release", dead_id, "--service", "intake", "--database-url",
                              database_url, "--drop", "--reason",
                              "INC-7: the sender re-sent it in smaller parts")
        assert dropped.returncode == 0, dropped.stderr
        assert "The 2 row(s) held behind it" in dropped.stdout
        assert await relay.relay_once() == 2
    finally:
        await small.stop()
        await engine.dispose()

    assert await _read(kafka_settings, topic, 2) == [(a, "a2"), (a, "a3")]
    after = _trialwatch("list", "--service", "intake", "--database-url", database_url, "--all")
    assert f"#{dead_id}: drop at" in after.stdout
    assert "INC-7: the sender re-sent it in smaller parts" in after.stdout
    assert "0 unresolved" in after.stdout
    # a fresh broker's refill sends a2 and a3 again, never the dropped row
    assert await intake_admin.requeue_outbox(database_url) == 2


async def test_a_retry_is_checked_against_the_limit_the_running_intake_recorded_not_the_cli_env(
    kafka_settings: KafkaSettings, database_url: str,
) -> None:
    """Intake records the KAFKA_MAX_REQUEST_SIZE it runs with in its database at start; the
    CLI, run with another value in its own environment, checks a retry against the recorded
    one and says so; before any start recorded one, it falls back to its own and says that."""
    await migrate(database_url)
    topic = f"outbox-cli-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_settings, [topic])
    a = f"pt_{uuid.uuid4().hex[:10]}"
    engine = make_intake_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        await session.execute(insert(intake_outbox), [
            {"event_id": uuid.uuid4(), "topic": topic, "message_key": a,
             "payload": json.dumps({"note": BIG_NOTE}), "created_at": utc_now()}])
    small = _producer(kafka_settings, SMALL)

    async def publish(row: OutboxRow) -> None:
        await small.publish(json.loads(row.payload), row.topic, key=row.key.encode())

    await small.connect()
    try:
        assert await OutboxRelay("intake", intake_outbox_store(sessions), publish,
                                 utc_now).relay_once() == 0  # dead-lettered
    finally:
        await small.stop()
        await engine.dispose()
    [line] = _lines_of(_trialwatch("list", "--service", "intake", "--database-url",
                                   database_url).stdout, a)
    dead_id = line.split()[0]

    # no start recorded a limit yet: this command's own, said to be a fallback (refused)
    fallback = _trialwatch("release", dead_id, "--service", "intake", "--database-url",
                           database_url, "--reason", "r")
    assert fallback.returncode == 2
    assert "the intake service has recorded no limit in its database" in fallback.stderr

    # intake starts with the small limit: the CLI's large one no longer lets the retry pass
    async with running_intake(settings_for(database_url),
                              kafka_settings.model_copy(update={"max_request_size": SMALL})):
        pass
    recorded = await intake_admin.recorded_max_request_size(database_url)
    assert recorded is not None
    assert recorded.value == str(SMALL)
    refused = _trialwatch("release", dead_id, "--service", "intake", "--database-url",
                          database_url, "--reason", "r", limit=LARGE)
    assert refused.returncode == 2, refused.stdout
    assert "more than the limit" in refused.stderr
    assert (f"checked against KAFKA_MAX_REQUEST_SIZE = {SMALL:,} bytes (recorded by the intake "
            "service in its database when it started at ") in refused.stderr

    # restarted with a large limit: the CLI's small one does not refuse the retry
    async with running_intake(settings_for(database_url),
                              kafka_settings.model_copy(update={"max_request_size": LARGE})):
        pass
    retried = _trialwatch("release", dead_id, "--service", "intake", "--database-url",
                          database_url, "--reason", "limit raised to 4 MiB", limit=SMALL)
    assert retried.returncode == 0, retried.stderr
    assert f"KAFKA_MAX_REQUEST_SIZE = {LARGE:,} bytes (recorded by the intake service" in (
        retried.stdout)
