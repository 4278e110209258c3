"""The registry's guarantees in the database: stored text is immutable and kept, an
activation's re-screen resumes where an interrupted run stopped, and the CLI validates and adds
files. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy import text as text_sql
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.evaluator.adapters.sql import amendments, trial_registry
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.adapters.sql.tables import outbox, registry_change, trial_version
from services.evaluator.bootstrap import default_screener
from services.evaluator.core.screening import Screening
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TRIALS_DIR
from shared.eligibility.reference_tables import load_tables
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import REPO_ROOT, migrate
from tests.unit.evaluator.fakes import lab_fact, patient_updated

pytestmark = pytest.mark.integration
CHT101 = TRIALS_DIR / "NCT06946485" / "2025-10-03.1.yaml"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_version_once_active_can_be_neither_rewritten_nor_deleted(
    database_url: str,
) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    text = CHT101.read_text(encoding="utf-8")
    try:
        async with sessions.begin() as session:
            trial, digest, added = await trial_registry.add_version(
                session, text, load_tables(), "cli:author", "test", datetime.now(UTC)
            )
            assert added
            await trial_registry.activate(session, trial, datetime.now(UTC), "cli:author", digest)
        for statement in (
            update(trial_version)
            .where(trial_version.c.trial_id == trial.id)
            .values(text=text + "# changed\n"),
            delete(trial_version).where(trial_version.c.trial_id == trial.id),
        ):
            with pytest.raises((IntegrityError, DBAPIError)):
                async with sessions.begin() as session:
                    await session.execute(statement)
        async with sessions.begin() as session:
            with pytest.raises(trial_registry.RegistryRefused, match="new version id"):
                await trial_registry.add_version(
                    session,
                    text.replace("Nanjing", "Nanjing "),
                    load_tables(),
                    "cli:author",
                    "test",
                    datetime.now(UTC),
                )
            stored = await trial_registry.stored_text(session, trial)
            changes = (
                await session.execute(
                    select(registry_change.c.action, registry_change.c.actor).order_by(
                        registry_change.c.seq
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert stored == (text, digest)
    assert [tuple(c) for c in changes] == [("add", "cli:author"), ("activate", "cli:author")]


async def test_two_processes_adding_the_same_version_at_once_store_it_once_without_an_error(
    database_url: str,
) -> None:
    """The folder sync of a running evaluator and ``trialwatch trials add`` (or two evaluator
    processes) may add one version concurrently: both pass the "not stored yet" check, and the
    second insert used to fail on the duplicate key (PostgreSQL). It now waits for the first
    and reports the version as already stored."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers (BEGIN IMMEDIATE): no two adds can interleave")
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    text = CHT101.read_text(encoding="utf-8")
    now = datetime.now(UTC)
    try:
        async with sessions.begin() as first:
            added_first = await trial_registry.add_version(
                first, text, load_tables(), "folder", "folder:test", now)
            second = asyncio.create_task(_add_in_own_transaction(sessions, text, now))
            await _until_a_transaction_waits_for_a_lock(engine)  # the second is at its INSERT
        added_second = await second
        async with sessions() as session:
            versions = (await session.execute(select(trial_version.c.version))).all()
            adds = (await session.execute(
                select(registry_change).where(registry_change.c.action == "add"))).all()
    finally:
        await engine.dispose()
    assert added_first[2] is True
    assert added_second == (added_first[0], added_first[1], False)
    assert len(versions) == 1
    assert len(adds) == 1


async def _add_in_own_transaction(
    sessions: async_sessionmaker[AsyncSession], text: str, now: datetime,
) -> tuple[TrialRef, str, bool]:
    async with sessions.begin() as session:
        return await trial_registry.add_version(
            session, text, load_tables(), "cli:author", "cli:test", now)


async def _until_a_transaction_waits_for_a_lock(engine: AsyncEngine) -> None:
    """Until PostgreSQL shows a backend of this database waiting on a lock (never a timing
    assertion: it fails only if no backend ever waits within a minute)."""
    for _ in range(600):
        async with engine.connect() as connection:
            waiting = (await connection.execute(text_sql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))).scalar_one()
        if waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the second add never waited for the first one's insert")


async def test_an_interrupted_rescreen_is_finished_by_the_registry_loop_once_its_lease_lapses(
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(amendments, "CHUNK", 2)
    await migrate(database_url)
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    screener = default_screener()
    clock = Clock()
    patients = sorted(f"pk-{uuid.uuid4().hex[:12]}" for _ in range(5))
    trial = TrialRef(id="NCT06946485", version="2025-10-03.1")

    def interrupt_after_first_chunk(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    try:
        async with SqlUnitOfWork(sessions, screener, clock) as uow:
            screening = Screening(uow, screening_context(screener, clock))
            await screening.load(patients)
            for patient in patients:
                screening.apply_event(
                    patient_updated(
                        patient, (lab_fact(150, clock.now - timedelta(hours=1)),), clock.now
                    ),
                    (),
                    clock.now,
                )
            await screening.flush()
        with pytest.raises(KeyboardInterrupt):
            await amendments.activate_and_rescreen(
                sessions, screener, trial, clock, interrupt_after_first_chunk, actor="cli:a"
            )
        async with sessions() as session:
            job = (
                await session.execute(
                    select(registry_change).where(registry_change.c.action == "activate")
                )
            ).one()
        assert (job.rescreen_done, job.rescreen_total, job.completed_at) == (2, 5, None)

        assert await amendments.resume_unfinished(sessions, screener, clock) == 0  # leased
        clock.now += amendments.LEASE + timedelta(seconds=1)
        assert await amendments.resume_unfinished(sessions, screener, clock) == 1
        async with sessions() as session:
            job = (
                await session.execute(
                    select(registry_change).where(registry_change.c.action == "activate")
                )
            ).one()
    finally:
        await engine.dispose()
    assert (job.rescreen_done, job.rescreen_total) == (5, 5)
    assert job.completed_at is not None
    assert job.rescreen_after_key == patients[-1]


async def test_an_activation_is_leased_from_its_first_commit_and_a_resumer_reads_its_text(
    database_url: str,
) -> None:
    # a version added through the CLI (registry text only): the activating runner stops right
    # after the activation's commit; the evaluator that resumes the job has no file for it
    await migrate(database_url)
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    clock = Clock()
    patients = sorted(f"pk-{uuid.uuid4().hex[:12]}" for _ in range(5))
    text = CHT101.read_text(encoding="utf-8").replace(
        'version: "2025-10-03.1"', 'version: "2025-10-03.9"')

    def interrupt_once_activated(done: int, total: int) -> None:
        raise KeyboardInterrupt  # progress(0, total): the activation committed, no chunk yet

    try:
        async with sessions.begin() as session:
            trial, _, _ = await trial_registry.add_version(
                session, text, load_tables(), "cli:author", "cli:test", clock.now)
        async with SqlUnitOfWork(sessions, default_screener(), clock) as uow:
            screening = Screening(uow, screening_context(default_screener(), clock))
            await screening.load(patients)
            for patient in patients:
                screening.apply_event(patient_updated(
                    patient, (lab_fact(150, clock.now - timedelta(hours=1)),), clock.now),
                    (), clock.now)
            await screening.flush()
        with pytest.raises(KeyboardInterrupt):
            await amendments.activate_and_rescreen(
                sessions, default_screener(), trial, clock, interrupt_once_activated,
                actor="cli:a")
        resumer = default_screener()  # the evaluator's: no file for 2025-10-03.9
        assert not resumer.has_version(trial)
        # before: unleased until its first chunk, so a running evaluator took the job at once
        assert await amendments.resume_unfinished(sessions, resumer, clock) == 0
        clock.now += amendments.LEASE + timedelta(seconds=1)
        assert await amendments.resume_unfinished(sessions, resumer, clock) == 1
        async with sessions() as session:
            rows = (await session.execute(select(outbox.c.payload))).scalars().all()
    finally:
        await engine.dispose()
    made = [r for r in rows if r.get("event_type") == "eligibility.decided"
            and r["decision"]["trial"]["version"] == "2025-10-03.9"]
    assert sorted(r["patient_key"] for r in made) == patients
    # before: the resumer's decisions were the engine's failure (no such version), unhashed
    assert all(r["trial_content_hash"] for r in made)
    assert all(r["decision"]["engine_version"] != "engine-error" for r in made)


def _trialwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "trials", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_cli_validates_with_line_and_column_and_adds_a_file_once(
    database_url: str,
    tmp_path: Path,
) -> None:
    await migrate(database_url)
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        CHT101.read_text(encoding="utf-8").replace(
            "lookback: $bilag_lookback", "lookback: 30 days"
        ),
        encoding="utf-8",
    )
    line = next(
        i
        for i, text in enumerate(broken.read_text().splitlines(), 1)
        if "lookback: 30 days" in text
    )

    invalid = _trialwatch("validate", str(broken))
    valid = _trialwatch("validate", str(CHT101))
    added = _trialwatch("add", str(CHT101), "--database-url", database_url, "--actor", "cli:me")
    again = _trialwatch("add", str(CHT101), "--database-url", database_url)
    refused = _trialwatch("add", str(broken), "--database-url", database_url)
    listed = _trialwatch("list", "--database-url", database_url)

    assert invalid.returncode == 1
    assert f"{broken}:{line}:" in invalid.stdout
    assert "[I3]" in invalid.stdout
    assert "ISO-8601 duration" in invalid.stdout
    assert valid.returncode == 0, valid.stdout
    assert added.returncode == 0, added.stderr
    assert "NCT06946485 version 2025-10-03.1 added (sha256:" in added.stdout
    assert "already stored" in again.stdout
    assert refused.returncode == 1
    [row] = [
        r for r in listed.stdout.splitlines() if r.startswith("NCT06946485 ") and "stored" in r
    ]
    assert row.split()[:3] == ["NCT06946485", "2025-10-03.1", "stored"]
    assert "cli:me add NCT06946485 2025-10-03.1 sha256:" in listed.stdout
