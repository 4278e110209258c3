"""The evaluator's in-memory patients (``PatientCache``) never hide what the database says:
a patient another process screened meanwhile is read again from the rows, and a transaction
that did not commit leaves nothing in memory. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.adapters.patient_cache import PatientCache
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.core.patient_events import apply_patient_events
from shared.contracts.events import DecisionMade, PatientSnapshot, PatientUpdated
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate
from tests.unit.evaluator.fakes import OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration
PATIENT = "pk-cache"


class Process:
    """One evaluator process: its own patient cache over the shared database."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        immediate_sqlite_transactions(self.engine)
        self.cache = PatientCache()
        self.screener = OneLabScreener()
        self.now = datetime.now(UTC)

    async def apply(self, event: PatientUpdated) -> list[tuple[DecisionMade, PatientSnapshot]]:
        """Each decision staged, with the input snapshot it references by hash."""
        uow = SqlUnitOfWork(make_sessionmaker(self.engine), self.screener, lambda: self.now,
                            self.cache)
        async with uow:
            applied = await apply_patient_events(
                uow, screening_context(self.screener, lambda: self.now), [event])
        snapshots = {e.snapshot_hash: e for e in applied.staged
                     if isinstance(e, PatientSnapshot)}
        return [(e, snapshots[e.snapshot_hash]) for e in applied.staged
                if isinstance(e, DecisionMade)]


async def test_a_patient_screened_by_another_process_meanwhile_is_read_again(
    database_url: str,
) -> None:
    await migrate(database_url)
    first, second = Process(database_url), Process(database_url)
    now = first.now
    try:
        await first.apply(patient_updated(
            PATIENT, (lab_fact(150, now - timedelta(hours=3), "a"),), now))
        await first.apply(patient_updated(
            PATIENT, (lab_fact(160, now - timedelta(hours=2), "b"),), now))
        assert first.cache.hits == 1  # its own write, served from memory
        await second.apply(patient_updated(  # after a rebalance, say
            PATIENT, (lab_fact(20, now - timedelta(hours=1), "c"),), now))
        # a newer 170 makes the patient eligible again; the decision it replaces is the other
        # process's (ineligible on its 20), not this process's cached eligible one
        [(made, snapshot)] = await first.apply(patient_updated(
            PATIENT, (lab_fact(170, now - timedelta(minutes=30), "d"),), now))
    finally:
        await first.engine.dispose()
        await second.engine.dispose()
    assert {f.fact_id for f in snapshot.snapshot.facts} == {"a", "b", "c", "d"}
    assert made.state_version == 4
    assert made.decision.status.value == "eligible"
    assert made.previous_status is not None
    assert made.previous_status.value == "ineligible"  # the other process's decision


async def test_a_transaction_that_did_not_commit_leaves_nothing_in_memory(
    database_url: str,
) -> None:
    await migrate(database_url)
    process = Process(database_url)
    now = process.now
    try:
        await process.apply(patient_updated(
            PATIENT, (lab_fact(150, now - timedelta(hours=3), "a"),), now))
        with pytest.raises(ConnectionError):
            await _apply_then_lose_the_database(process, now)
        [(made, snapshot)] = await process.apply(patient_updated(
            PATIENT, (lab_fact(160, now - timedelta(hours=2), "b"),), now))
    finally:
        await process.engine.dispose()
    assert {f.fact_id for f in snapshot.snapshot.facts} == {"a", "b"}
    assert made.state_version == 2


async def _apply_then_lose_the_database(process: Process, now: datetime) -> None:
    uow = SqlUnitOfWork(make_sessionmaker(process.engine), process.screener, lambda: now,
                        process.cache)
    async with uow:
        await apply_patient_events(uow, screening_context(process.screener, lambda: now), [
            patient_updated(PATIENT, (lab_fact(20, now - timedelta(hours=1), "lost"),), now)])
        raise ConnectionError("the database went away before the commit")
