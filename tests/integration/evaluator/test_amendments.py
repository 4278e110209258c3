"""A protocol amendment re-screens every known patient; the running evaluator publishes it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from services.evaluator.adapters.outbox import EvaluatorOutbox
from services.evaluator.adapters.sql.amendments import UnknownTrialVersion, activate_and_rescreen
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.core.patient_events import apply_patient_events
from shared.contracts.events import DecisionMade
from shared.eligibility.decision import TrialRef
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    migrate,
    publish,
    until,
)
from tests.integration.evaluator.test_outbox_recovery import ProducerPublisher
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration
AMENDED = TrialRef(id=TEST_TRIAL.id, version="2")


async def test_activating_a_new_version_rescreens_every_known_patient_with_that_version(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-amend")
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    now = datetime.now(UTC)
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    progress: list[tuple[int, int]] = []
    try:
        async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
                collect(kafka_settings, patients) as seen:
            await publish(kafka_settings, [
                patient_updated(p, (lab_fact(150, now - timedelta(hours=1)),), now)
                for p in patients
            ])
            assert await until(lambda: len(seen.decisions) == 3, 20)
            count = await activate_and_rescreen(
                make_sessionmaker(engine), OneLabScreener(), AMENDED, utc_now,
                lambda done, total: progress.append((done, total)),
            )
            assert await until(lambda: len(seen.decisions) == 6, 20)
            await until(lambda: False, 1.0)
    finally:
        await engine.dispose()

    assert count == 3
    assert progress[0] == (0, 3)
    assert progress[-1] == (3, 3)
    assert {d.decision.trial for d in seen.decisions[:3]} == {TEST_TRIAL}
    assert {d.decision.trial for d in seen.decisions[3:]} == {AMENDED}
    assert sorted(d.patient_key for d in seen.decisions[3:]) == sorted(patients)
    assert len(seen.alerts) == 3  # eligible under v1; still eligible under v2: no new alert


async def test_an_activation_publishes_its_rescreen_decisions_in_its_own_flush(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """The evaluator's own activations (registry loop, registry API) hand the re-screen's rows
    to the outbox like every writer does, right after each chunk commits. Before, nobody sent
    them: they waited for the relay loop's 5 s grace and its topic scan. Here the relay loop
    never runs and its grace is a day, so only the activation's own send can publish them; it
    has done so, and marked them, by the time the activation returns."""
    await migrate(database_url)
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    screener = OneLabScreener()
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    now = datetime.now(UTC)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers, acks="all")
    await producer.start()
    try:
        sender = EvaluatorOutbox(sessions, ProducerPublisher(producer), utc_now,
                                 grace=timedelta(days=1))
        async with SqlUnitOfWork(sessions, screener, utc_now) as work:  # known patients
            await apply_patient_events(work, screening_context(screener, utc_now), [
                patient_updated(p, (lab_fact(150, now - timedelta(hours=1)),), now)
                for p in patients])
        await sender.publish_backlog()  # their first decisions, sent before collecting
        async with collect(kafka_settings, patients) as seen:
            count = await activate_and_rescreen(sessions, screener, AMENDED, utc_now,
                                                send=sender.send)
            # sent and marked in the activation's own flush, no relay round
            assert await sender.store.pending_count() == 0
            # (the collector may also catch the first decisions, just published: not counted)
            assert await until(lambda: len(_of(AMENDED, seen.decisions)) >= 3, 20)
    finally:
        await producer.stop()
        await engine.dispose()

    assert count == 3
    rescreened = _of(AMENDED, seen.decisions)
    assert sorted(d.patient_key for d in rescreened) == sorted(patients)
    assert {d.registry_change.action for d in rescreened if d.registry_change} == {"activate"}


def _of(trial: TrialRef, decisions: list[DecisionMade]) -> list[DecisionMade]:
    return [d for d in decisions if d.decision.trial == trial]


async def test_activating_a_version_the_engine_does_not_have_is_refused(database_url: str) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        with pytest.raises(UnknownTrialVersion):
            await activate_and_rescreen(
                make_sessionmaker(engine), OneLabScreener(), TrialRef(id="NOPE", version="1"),
                utc_now,
            )
    finally:
        await engine.dispose()
