"""Intake says when it holds a patient's updates (issue 14): on the real embedded broker and
SQLite / PostgreSQL, a patient update the broker cannot take is dead-lettered and, in the same
transaction, ``PatientUpdatesHeld`` is staged on ``patient.holds.v1`` and published while the
patient's later updates stay held; an operator's drop (or retry) stages
``PatientUpdatesReleased`` naming the last update that was waiting, published after it; a
broker refill sends both again with the same ids."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from pydantic import TypeAdapter
from sqlalchemy import insert

from services.intake import admin as intake_admin
from services.intake.adapters.messaging import signing_publisher
from services.intake.adapters.sql.database import make_intake_engine
from services.intake.adapters.sql.store import outbox_store
from services.intake.adapters.sql.tables import outbox
from services.intake.core.holds import hold_id
from shared.contracts.events import PatientHoldEvent, PatientUpdatesHeld, PatientUpdatesReleased
from shared.contracts.signatures import event_digest
from shared.contracts.topics import PATIENT_EVENTS, PATIENT_HOLDS
from shared.infra.clock import utc_now
from shared.infra.kafka import make_broker
from shared.infra.migrations import upgrade
from shared.infra.outbox import OutboxRelay, OutboxRow
from shared.infra.signing import TrustedKeys, public_key_path
from shared.infra.sql_engine import make_sessionmaker
from shared.settings import IntakeSettings, KafkaSettings
from tests.conftest import unique_group

pytestmark = pytest.mark.integration

SMALL = 65_536
_HOLD: TypeAdapter[PatientUpdatesHeld | PatientUpdatesReleased] = TypeAdapter(PatientHoldEvent)


async def _read(kafka: KafkaSettings, topic: str, key: str, expected: int) -> list[dict[str, Any]]:
    """Every record of ``key`` on ``topic``, in order, once ``expected`` arrived (+1 s)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=kafka.bootstrap_servers, group_id=unique_group(),
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms)
    await consumer.start()
    seen: list[dict[str, Any]] = []

    async def drain(timeout_ms: int) -> None:
        for records in (await consumer.getmany(timeout_ms=timeout_ms)).values():
            seen.extend(json.loads(r.value) for r in records
                        if r.key is not None and r.key.decode() == key)
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                await drain(500)
        await asyncio.sleep(1.0)
        await drain(500)
    finally:
        await consumer.stop()
    return seen


async def test_a_dead_lettered_patient_update_publishes_held_then_released_after_the_held_rows(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path,
) -> None:
    await asyncio.to_thread(upgrade, "intake", database_url)
    key = f"pt_{uuid.uuid4().hex}"
    ids = [uuid.uuid4() for _ in range(3)]
    notes = ["x" * (SMALL + 10_000), "u2", "u3"]
    engine = make_intake_engine(database_url)
    sessions = make_sessionmaker(engine)
    async with sessions.begin() as session:
        await session.execute(insert(outbox), [
            {"event_id": i, "topic": PATIENT_EVENTS, "message_key": key,
             "payload": json.dumps({"event_id": str(i), "note": n}), "created_at": utc_now()}
            for i, n in zip(ids, notes, strict=True)])
    small = make_broker(kafka_settings.model_copy(update={"max_request_size": SMALL}),
                        client_id="patient-holds-test")

    # what intake's relay publishes through (bootstrap): hold notices signed by its key
    key_file = tmp_path / "intake-signing-key.pem"
    publisher = signing_publisher(small, IntakeSettings(signing_key_file=key_file))

    async def publish(row: OutboxRow) -> None:
        await publisher.publish(json.loads(row.payload), row.topic, key=row.key.encode())

    relay = OutboxRelay("intake", outbox_store(sessions), publish, utc_now)
    await small.connect()
    try:
        # the first update is dead-lettered: the held notice goes out, u2 and u3 stay held
        assert await relay.relay_once() == 0
        assert await relay.relay_once() == 1
        assert await relay.relay_once() == 0
        [letter] = await intake_admin.outbox_dead_letters(database_url)
        assert letter.held_behind == 2  # the notice is not counted as held
        entry = await intake_admin.resolve_outbox_dead_letter(
            database_url, letter.id, "drop", reason="INC-9: re-sent in parts", by="ops:test",
            at=utc_now())
        assert entry.id == letter.id
        assert await relay.relay_once() == 3  # u2, u3, then the release
    finally:
        await small.stop()
        await engine.dispose()

    raw_notices = await _read(kafka_settings, PATIENT_HOLDS, key, 2)
    notices = [_HOLD.validate_python(v) for v in raw_notices]
    # each notice carries intake's signature over its own JSON, which the evaluator checks
    trusted = TrustedKeys([public_key_path(key_file)])
    for raw, notice in zip(raw_notices, notices, strict=True):
        assert notice.signature is not None
        assert trusted.refusal(notice.signature, event_digest(raw)) is None
    assert [type(n) for n in notices] == [PatientUpdatesHeld, PatientUpdatesReleased]
    held, released = notices
    assert isinstance(held, PatientUpdatesHeld)
    assert isinstance(released, PatientUpdatesReleased)
    assert held.hold_id == released.hold_id == hold_id(letter.id)
    assert held.first_held_event_id == ids[0]
    assert held.reason.startswith("MessageSizeTooLargeError")
    assert "xxxx" not in held.reason
    assert (released.action, released.through_event_id) == ("drop", ids[2])
    updates = await _read(kafka_settings, PATIENT_EVENTS, key, 2)
    assert [u["note"] for u in updates] == ["u2", "u3"]
    assert all("signature" not in u for u in updates)  # patient events pass through as staged

    # a refill of a fresh broker sends the notices again, as the same events
    assert await intake_admin.requeue_outbox(database_url) == 4
