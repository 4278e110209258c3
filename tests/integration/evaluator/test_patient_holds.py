"""Intake's holds reach the evaluator (issue 14), on the real embedded broker and SQLite /
PostgreSQL: a ``PatientUpdatesHeld`` on ``patient.holds.v1`` makes every decision of the patient
``undetermined`` with intake's reason and sends no alert, an update applied meanwhile changes
nothing; ``PatientUpdatesReleased`` re-screens the patient at once with the right decision and
alert; the same control events again, and a release read before its hold, change nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from services.evaluator import admin as evaluator_admin
from services.evaluator.adapters.sql.tables import patient_hold, trial_status
from shared.contracts.events import PatientMerged, PatientUpdatesHeld, PatientUpdatesReleased
from shared.contracts.topics import PATIENT_HOLDS, dead_letter
from shared.eligibility.decision import Status, TrialRef
from shared.infra.signing import EventSigner
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import EvaluatorSettings, KafkaSettings
from tests.conftest import unique_group
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
REASON = "MessageSizeTooLargeError: larger than the producer's max_request_size"


# intake's key in these tests: the evaluator trusts its public half (EVALUATOR_INTAKE_KEYS)
INTAKE_KEY = Ed25519PrivateKey.generate()
INTAKE_SIGNER = EventSigner(INTAKE_KEY)


async def _settings(database_url: str, kafka: KafkaSettings, tmp_path: Path) -> EvaluatorSettings:
    public = tmp_path / "intake-signing-key.pub.pem"
    public.write_bytes(INTAKE_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return await fresh_settings(database_url, kafka, "holds", timer_poll_interval_s=0.2,
                                intake_keys=str(public))


async def _control(kafka: KafkaSettings,
                   *events: PatientUpdatesHeld | PatientUpdatesReleased,
                   signer: EventSigner | None = INTAKE_SIGNER) -> None:
    """Produce hold notices straight onto ``patient.holds.v1`` with a plain aiokafka client,
    signed as intake's relay signs them (``signer``; None: unsigned)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            payload = event.model_dump(mode="json")
            if signer is not None:
                payload = signer.signed(payload)
            await producer.send_and_wait(PATIENT_HOLDS, json.dumps(payload).encode(),
                                         key=event.patient_key.encode())
    finally:
        await producer.stop()


def _held(patient: str, hold: uuid.UUID, at: datetime) -> PatientUpdatesHeld:
    return PatientUpdatesHeld(
        event_id=uuid.uuid5(hold, "held"), occurred_at=at, recorded_at=at, source="intake",
        patient_key=patient, correlation_id=hold, hold_id=hold, reason=REASON,
        first_held_event_id=uuid.uuid4())


def _released(patient: str, hold: uuid.UUID, at: datetime,
              through: uuid.UUID | None = None) -> PatientUpdatesReleased:
    return PatientUpdatesReleased(
        event_id=uuid.uuid5(hold, "released"), occurred_at=at, recorded_at=at,
        source="intake", patient_key=patient, correlation_id=hold, hold_id=hold,
        action="retry", through_event_id=through)


async def test_a_held_patient_is_undetermined_without_alerts_and_rescreened_on_release(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    settings = await _settings(database_url, kafka_settings, tmp_path)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    hold, early = uuid.uuid4(), uuid.uuid4()
    screener = OneLabScreener(trials=(TEST_TRIAL, SECOND_TRIAL))
    async with evaluator_in_process(settings, kafka_settings, screener), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(150, now - timedelta(hours=2)),), now)])
        assert await until(lambda: len(seen.decisions) == 2 and len(seen.alerts) == 2, 30)
        assert {d.decision.status for d in seen.decisions} == {Status.ELIGIBLE}

        # intake holds the patient's updates: undetermined at once, with the reason, no alert
        await _control(kafka_settings, _held(patient, hold, now))
        assert await until(lambda: len(seen.decisions) == 4, 30), "the hold re-screened nothing"
        on_hold = seen.decisions[2:]
        assert {d.decision.status for d in on_hold} == {Status.UNDETERMINED}
        assert {d.previous_status for d in on_hold} == {Status.ELIGIBLE}
        for decision in on_hold:
            [criterion] = decision.decision.criteria
            assert "intake holds updates for this patient" in criterion.reason
            assert REASON in criterion.reason

        # an update in flight lowers the lab: still held, no decision, no alert
        late = patient_updated(patient, (lab_fact(40, now - timedelta(minutes=5), "lab-2"),),
                               now)
        await publish(kafka_settings, [late])
        await until(lambda: False, 2.0)
        assert len(seen.decisions) == 4
        assert len(seen.alerts) == 2

        # released (the update it names was applied): re-screened at once, the right decision
        await _control(kafka_settings, _released(patient, hold, now, through=late.event_id))
        assert await until(lambda: len(seen.decisions) == 6, 30), "the release re-screened nothing"
        rescreened = seen.decisions[4:]
        assert {d.decision.status for d in rescreened} == {Status.INELIGIBLE}
        assert {d.previous_status for d in rescreened} == {Status.UNDETERMINED}
        # eligible before the hold, ineligible after: the coordinator is told it no longer holds
        assert await until(lambda: len(seen.alerts) == 4, 30)
        assert [a.alert for a in seen.alerts[2:]] == ["no-longer-eligible"] * 2

        # the same control events again, and a release read before its own hold: nothing
        await _control(kafka_settings, _held(patient, hold, now),
                       _released(patient, hold, now, through=late.event_id),
                       _released(patient, early, now), _held(patient, early, now))
        await until(lambda: False, 3.0)
        assert len(seen.decisions) == 6
        assert len(seen.alerts) == 4

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            holds = {r.hold_id: r for r in await session.execute(
                select(patient_hold).where(patient_hold.c.patient_key == patient))}
            statuses = {r.status for r in await session.execute(
                select(trial_status.c.status).where(trial_status.c.patient_key == patient))}
    finally:
        await engine.dispose()
    assert set(holds) == {str(hold), str(early)}
    assert all(h.released and h.awaiting_event_id is None for h in holds.values())
    assert holds[str(early)].reason is None  # a tombstone: its hold came after it
    assert statuses == {Status.INELIGIBLE.value}


async def test_a_release_waits_for_the_update_it_names_then_that_update_decides(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    settings = await _settings(database_url, kafka_settings, tmp_path)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    hold = uuid.uuid4()
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(50, now - timedelta(hours=2)),), now)])
        assert await until(lambda: len(seen.decisions) == 1, 30)
        await _control(kafka_settings, _held(patient, hold, now))
        assert await until(lambda: len(seen.decisions) == 2, 30)
        # the release arrives before the held update it names (two topics: no order between)
        held_update = patient_updated(
            patient, (lab_fact(150, now - timedelta(minutes=5), "lab-2"),), now)
        await _control(kafka_settings, _released(patient, hold, now,
                                                 through=held_update.event_id))
        await until(lambda: False, 2.0)
        assert len(seen.decisions) == 2  # still held: that update is not here yet
        assert seen.alerts == []
        await publish(kafka_settings, [held_update])
        assert await until(lambda: len(seen.decisions) == 3 and len(seen.alerts) == 1, 30)

    assert [d.decision.status for d in seen.decisions] == [
        Status.INELIGIBLE, Status.UNDETERMINED, Status.ELIGIBLE]
    assert [a.alert for a in seen.alerts] == ["newly-eligible"]


async def test_eligible_before_the_hold_and_after_the_release_alerts_once_only(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    """The hold's undetermined is not a status the coordinator was told: eligible before the
    hold and eligible after its release raises no second newly-eligible alert; the status
    before the hold is kept in the status row while held (``held_from``) and cleared after."""
    settings = await _settings(database_url, kafka_settings, tmp_path)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    hold = uuid.uuid4()
    engine = make_engine(database_url)

    async def held_from() -> set[str | None]:
        async with make_sessionmaker(engine)() as session:
            return {r.held_from for r in await session.execute(
                select(trial_status.c.held_from).where(trial_status.c.patient_key == patient))}

    try:
        async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
                collect(kafka_settings, [patient]) as seen:
            await publish(kafka_settings, [patient_updated(
                patient, (lab_fact(150, now - timedelta(hours=2)),), now)])
            assert await until(lambda: len(seen.decisions) == 1 and len(seen.alerts) == 1, 30)
            await _control(kafka_settings, _held(patient, hold, now))
            assert await until(lambda: len(seen.decisions) == 2, 30)
            assert await held_from() == {Status.ELIGIBLE.value}
            # still eligible on what was held: a higher platelet count, applied while held
            held_update = patient_updated(
                patient, (lab_fact(180, now - timedelta(minutes=5), "lab-2"),), now)
            await publish(kafka_settings, [held_update])
            await _control(kafka_settings, _released(patient, hold, now,
                                                     through=held_update.event_id))
            assert await until(lambda: len(seen.decisions) == 3, 30)
            await until(lambda: False, 2.0)
            assert await held_from() == {None}
        assert [d.decision.status for d in seen.decisions] == [
            Status.ELIGIBLE, Status.UNDETERMINED, Status.ELIGIBLE]
        assert [a.alert for a in seen.alerts] == ["newly-eligible"]  # not twice
    finally:
        await engine.dispose()


async def test_a_hold_on_a_record_merged_away_holds_the_survivor_until_its_release(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    """Intake holds the old record's updates, then merges it into the survivor (PatientMerged
    keyed by the survivor is not held behind the old key's dead letter): the survivor is held
    from the merge on, across transactions (the hold row moves to the survivor's key), and the
    release intake sends under the old key releases it."""
    settings = await _settings(database_url, kafka_settings, tmp_path)
    old, survivor = (f"pk-{uuid.uuid4().hex[:12]}" for _ in range(2))
    now = datetime.now(UTC)
    hold = uuid.uuid4()
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [old, survivor]) as seen:
        await publish(kafka_settings, [
            patient_updated(old, (lab_fact(50, now - timedelta(hours=3), "old-lab"),), now),
            patient_updated(survivor, (lab_fact(40, now - timedelta(hours=3)),), now)])
        assert await until(lambda: len(seen.decisions) == 2, 30)
        await _control(kafka_settings, _held(old, hold, now))
        assert await until(lambda: len(seen.decisions) == 3, 30)
        merge = PatientMerged(event_id=uuid.uuid4(), occurred_at=now, recorded_at=now,
                              source="intake", patient_key=survivor,
                              correlation_id=uuid.uuid4(), merged_key=old)
        await publish(kafka_settings, [merge])
        assert await until(lambda: len(seen.decisions) == 4, 30)
        assert seen.decisions[3].patient_key == survivor
        assert seen.decisions[3].decision.status is Status.UNDETERMINED  # held by the merge
        # the survivor's own update, read in a later transaction: still held, no alert
        await publish(kafka_settings, [patient_updated(
            survivor, (lab_fact(170, now - timedelta(hours=1), "lab-2"),), now)])
        await until(lambda: False, 2.0)
        assert len(seen.decisions) == 4
        assert seen.alerts == []
        # the release, under the old key: the survivor is re-screened at once, eligible
        await _control(kafka_settings, _released(old, hold, now))
        assert await until(lambda: len(seen.decisions) == 5 and len(seen.alerts) == 1, 30)
    assert seen.decisions[4].patient_key == survivor
    assert seen.decisions[4].decision.status is Status.ELIGIBLE
    assert [(a.patient_key, a.alert) for a in seen.alerts] == [(survivor, "newly-eligible")]
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            [row] = list(await session.execute(
                select(patient_hold).where(patient_hold.c.hold_id == str(hold))))
    finally:
        await engine.dispose()
    assert row.patient_key == survivor
    assert row.released


async def _dead_letters(kafka: KafkaSettings, key: str, expected: int) -> list[dict[str, Any]]:
    """The dead letters of ``key`` on ``patient.holds.v1``'s dead-letter topic."""
    consumer = AIOKafkaConsumer(
        dead_letter(PATIENT_HOLDS), bootstrap_servers=kafka.bootstrap_servers,
        group_id=unique_group("holds-dlq"), auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms)
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [json.loads(r.value) for r in records
                             if r.key is not None and r.key.decode() == key]
    finally:
        await consumer.stop()
    return seen


async def test_a_hold_notice_not_signed_by_intakes_key_holds_nobody(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    """A forged producer (a plain aiokafka client with access to the topic) cannot hold a
    patient: an unsigned notice, one signed by another key, and one altered after intake
    signed it are dead-lettered with the reason; the signed notice after them holds."""
    settings = await _settings(database_url, kafka_settings, tmp_path)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    unsigned, other_key, altered, genuine = (uuid.uuid4() for _ in range(4))
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(150, now - timedelta(hours=2)),), now)])
        assert await until(lambda: len(seen.decisions) == 1 and len(seen.alerts) == 1, 30)

        await _control(kafka_settings, _held(patient, unsigned, now), signer=None)
        await _control(kafka_settings, _held(patient, other_key, now),
                       signer=EventSigner(Ed25519PrivateKey.generate()))
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers,
                                    acks="all")
        await producer.start()
        try:
            signed = EventSigner(INTAKE_KEY).signed(
                _held(patient, altered, now).model_dump(mode="json"))
            await producer.send_and_wait(
                PATIENT_HOLDS, json.dumps({**signed, "reason": "changed after signing"}).encode(),
                key=patient.encode())
        finally:
            await producer.stop()
        letters = await _dead_letters(kafka_settings, patient, 3)
        assert len(seen.decisions) == 1  # nobody held: no re-screen
        assert [a.alert for a in seen.alerts] == ["newly-eligible"]

        # intake's own signed notice, behind them on the partition, holds the patient
        await _control(kafka_settings, _held(patient, genuine, now))
        assert await until(lambda: len(seen.decisions) == 2, 30)
        assert seen.decisions[1].decision.status is Status.UNDETERMINED

    reasons = sorted(letter["reason"] for letter in letters)
    assert [r.split(":")[1].strip() for r in reasons] == [
        "signature invalid", "signature missing", "signature unknown-key"]
    assert all(r.startswith("patient hold event refused") for r in reasons)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            holds = {r.hold_id for r in await session.execute(
                select(patient_hold.c.hold_id).where(patient_hold.c.patient_key == patient))}
    finally:
        await engine.dispose()
    assert holds == {str(genuine)}
    # the evaluator recorded the limit it ran with (what `trialwatch outbox release` checks)
    recorded = await evaluator_admin.recorded_max_request_size(database_url)
    assert recorded is not None
    assert recorded.value == str(kafka_settings.max_request_size)
