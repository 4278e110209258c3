"""Intake's holds reach the evaluator (issue 14), on the real embedded broker and SQLite /
PostgreSQL: a ``PatientUpdatesHeld`` on ``patient.holds.v1`` makes every decision of the patient
``undetermined`` with intake's reason and sends no alert, an update applied meanwhile changes
nothing; ``PatientUpdatesReleased`` re-screens the patient at once with the right decision and
alert; the same control events again, and a release read before its hold, change nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select

from services.evaluator.adapters.sql.tables import patient_hold, trial_status
from shared.contracts.events import PatientMerged, PatientUpdatesHeld, PatientUpdatesReleased
from shared.contracts.topics import PATIENT_HOLDS
from shared.eligibility.decision import Status, TrialRef
from shared.infra.sql_engine import make_engine, make_sessionmaker
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
REASON = "MessageSizeTooLargeError: larger than the producer's max_request_size"


async def _control(kafka: KafkaSettings,
                   *events: PatientUpdatesHeld | PatientUpdatesReleased) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(PATIENT_HOLDS, event.model_dump_json().encode(),
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
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "holds",
                                    timer_poll_interval_s=0.2)
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
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "holds",
                                    timer_poll_interval_s=0.2)
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
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """The hold's undetermined is not a status the coordinator was told: eligible before the
    hold and eligible after its release raises no second newly-eligible alert; the status
    before the hold is kept in the status row while held (``held_from``) and cleared after."""
    settings = await fresh_settings(database_url, kafka_settings, "holds",
                                    timer_poll_interval_s=0.2)
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
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """Intake holds the old record's updates, then merges it into the survivor (PatientMerged
    keyed by the survivor is not held behind the old key's dead letter): the survivor is held
    from the merge on, across transactions (the hold row moves to the survivor's key), and the
    release intake sends under the old key releases it."""
    settings = await fresh_settings(database_url, kafka_settings, "holds",
                                    timer_poll_interval_s=0.2)
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
