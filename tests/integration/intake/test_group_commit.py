"""Group commit on the real databases (SQLite and PostgreSQL): concurrent submissions share one
transaction and one commit, a member that fails is rolled back alone, and no member returns
before the commit that makes it durable (issue 13)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services.intake.adapters.sql.database import WriteTurns, make_intake_engine
from services.intake.adapters.sql.group_commit import GroupCommit
from services.intake.core.accept import Submission, accept
from services.intake.core.media import MediaType
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_sessionmaker
from tests.integration.intake.harness import migrate

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "intake"
FHIR = MediaType("fhir-r4", "utf-8")


def observation(patient: str, n: int) -> bytes:
    resource = json.loads((FIXTURES / "observation_hemoglobin.json").read_text())
    resource["id"] = f"group-{n}"
    resource["subject"]["reference"] = f"Patient/{patient}"
    return json.dumps(resource).encode()


def submission(body: bytes) -> Submission:
    return Submission(body=body, media=FHIR, client="lab-a", received_at=utc_now())


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await migrate(database_url)
    engine = make_intake_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


def group_commit(engine: AsyncEngine, database_url: str, **options: Any) -> GroupCommit:
    return GroupCommit(make_sessionmaker(engine), utc_now, WriteTurns.for_url(database_url),
                       **options)


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text(f"SELECT count(*) FROM {table}")) or 0)


async def test_concurrent_submissions_share_commits_and_every_one_is_durable(
    engine: AsyncEngine, database_url: str
) -> None:
    transaction = group_commit(engine, database_url)
    results = await asyncio.gather(*(
        accept(submission(observation(f"p-{n % 7}", n)), transaction, utc_now)
        for n in range(48)))
    assert len({r.receipt.receipt_id for r in results}) == 48
    assert transaction.commits < 48
    assert await count(engine, "intake_receipts") == 48
    assert await count(engine, "intake_outbox") == 48
    assert await count(engine, "intake_patients") == 7


async def test_the_same_content_in_one_group_is_replayed_not_stored_twice(
    engine: AsyncEngine, database_url: str
) -> None:
    transaction = group_commit(engine, database_url)
    body = observation("same", 1)
    results = await asyncio.gather(*(accept(submission(body), transaction, utc_now)
                                     for _ in range(16)))
    assert len({r.receipt.receipt_id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await count(engine, "intake_outbox") == 1


async def test_a_member_that_fails_is_rolled_back_alone(
    engine: AsyncEngine, database_url: str
) -> None:
    transaction = group_commit(engine, database_url)

    async def failing() -> None:
        async with transaction() as store:
            await store.link_names("lab-a", ["will-vanish"], "pt_" + "f" * 32)
            raise RuntimeError("the member's own failure")

    outcomes = await asyncio.gather(
        failing(), *(accept(submission(observation(f"q-{n}", n)), transaction, utc_now)
                     for n in range(8)), return_exceptions=True)
    assert isinstance(outcomes[0], RuntimeError)
    assert not any(isinstance(o, BaseException) for o in outcomes[1:])
    assert await count(engine, "intake_receipts") == 8
    async with engine.connect() as connection:
        vanished = await connection.scalar(text(
            "SELECT count(*) FROM intake_patient_aliases WHERE alias = 'will-vanish'"))
    assert vanished == 0


async def test_when_the_commit_fails_no_member_returns_a_receipt(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    transaction = group_commit(engine, database_url)
    original = AsyncSession.commit

    async def failing_commit(self: AsyncSession) -> None:
        raise OSError("disk full")

    def failing_sync_commit(self: Connection) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(AsyncSession, "commit", failing_commit)
    # the SQLite group commit's worker thread commits on a synchronous connection
    monkeypatch.setattr(Connection, "commit", failing_sync_commit)
    outcomes = await asyncio.gather(*(
        accept(submission(observation(f"r-{n}", n)), transaction, utc_now) for n in range(8)),
        return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes)
    monkeypatch.setattr(AsyncSession, "commit", original)
    monkeypatch.undo()
    assert await count(engine, "intake_receipts") == 0
    assert await count(engine, "intake_outbox") == 0
    # the next group works again
    await accept(submission(observation("r-after", 99)), transaction, utc_now)
    assert await count(engine, "intake_receipts") == 1


async def test_on_sqlite_a_group_is_written_by_one_worker_thread_call(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL groups run on the async session (asyncpg has no thread)")
    calls: list[int] = []
    original = GroupCommit._run_works

    def counted(self: GroupCommit, works: list[Any], now: Any) -> Any:
        calls.append(len(works))
        return original(self, works, now)

    monkeypatch.setattr(GroupCommit, "_run_works", counted)
    transaction = group_commit(engine, database_url)
    try:
        results = await asyncio.gather(*(
            accept(submission(observation(f"t-{n % 5}", n)), transaction, utc_now)
            for n in range(40)))
    finally:
        transaction.close()
    assert len({r.receipt.receipt_id for r in results}) == 40
    assert sum(calls) == 40
    assert len(calls) == transaction.commits < 40
    assert await count(engine, "intake_outbox") == 40
