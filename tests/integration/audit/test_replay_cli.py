"""`trialwatch audit replay`: the real criteria engine re-run on a stored decision's inputs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from services.cli.audit_tools import main as audit_tools
from services.evaluator.adapters.sql.trial_registry import add_version
from shared.contracts.events import DecisionMade
from shared.eligibility.decision import TrialRef
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TRIALS_DIR, load_trial
from shared.eligibility.reference_tables import load_tables
from shared.eligibility.trial_text import compile_text
from shared.hashing import content_hash
from shared.infra.migrations import upgrade
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.audit.harness import migrate
from tests.unit.audit.factories import BASE_TIME, decision, decision_event, snapshot

pytestmark = pytest.mark.integration

TRIAL_ID, VERSION = "NCT06920433", "2025-11-14.1"


def engine_decision_event(patient_key: str) -> DecisionMade:
    facts = snapshot()
    made = evaluate(load_trial(TRIAL_ID, VERSION), facts, BASE_TIME)
    return DecisionMade(
        event_id=uuid.uuid4(), occurred_at=BASE_TIME, recorded_at=BASE_TIME,
        source="evaluator", patient_key=patient_key, causation_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(), decision_id=uuid.uuid4(), state_version=1,
        evaluator_version="test", decision=made, snapshot_hash=content_hash(facts),
        snapshot=facts,
    )


async def _store(database_url: str, *events: DecisionMade) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    try:
        for event in events:
            await DecisionChain(SqlChainStore(engine)).append(event, datetime.now(UTC))
    finally:
        await engine.dispose()


async def replay(database_url: str, decision_id: uuid.UUID) -> int:
    return await asyncio.to_thread(audit_tools, ["replay", str(decision_id),
                                                 "--database-url", database_url])


async def test_a_decision_the_engine_made_replays_identically(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = engine_decision_event("pk_replay")
    await _store(database_url, event)
    assert await replay(database_url, event.decision_id) == 0
    assert capsys.readouterr().out.startswith("IDENTICAL")


async def test_a_decision_the_engine_would_not_make_is_reported_with_its_differences(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    event = decision_event("pk_replay", 0, as_of=BASE_TIME)
    stored = event.model_copy(update={"decision": decision(
        BASE_TIME, trial=TrialRef(id=TRIAL_ID, version=VERSION))})
    await _store(database_url, stored)
    assert await replay(database_url, stored.decision_id) == 1
    out = capsys.readouterr().out
    assert out.startswith("DIFFERENT")
    assert 'decision.engine_version: stored "test-engine-1"' in out


async def test_replaying_an_unknown_decision_exits_2(
        database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    await _store(database_url)
    assert await replay(database_url, uuid.uuid4()) == 2
    assert "no stored decision" in capsys.readouterr().err


async def test_a_decision_made_with_an_uploaded_trial_version_replays_from_the_registry_text(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The version exists only in the evaluator's registry (uploaded, never shipped): replay
    finds it by id, version and content hash."""
    text = (TRIALS_DIR / TRIAL_ID / f"{VERSION}.yaml").read_text(encoding="utf-8")
    text = text.replace(f'version: "{VERSION}"', 'version: "2099-01-01.1"').replace(
        "  sledai_min:\n    value: 8", "  sledai_min:\n    value: 9")
    registry_url = f"sqlite+aiosqlite:///{tmp_path / 'evaluator.db'}"
    await asyncio.to_thread(upgrade, "evaluator", registry_url)
    engine = make_engine(registry_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            trial, digest, _ = await add_version(session, text, load_tables(), "api:admin",
                                                 "upload", datetime.now(UTC))
    finally:
        await engine.dispose()
    facts = snapshot()
    made = evaluate(compile_text(text, load_tables()), facts, BASE_TIME)
    event = DecisionMade(
        event_id=uuid.uuid4(), occurred_at=BASE_TIME, recorded_at=BASE_TIME,
        source="evaluator", patient_key="pk_uploaded", causation_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(), decision_id=uuid.uuid4(), state_version=1,
        evaluator_version="test", decision=made, snapshot_hash=content_hash(facts),
        snapshot=facts, trial_content_hash=digest,
    )
    await _store(database_url, event)

    found = await asyncio.to_thread(audit_tools, [
        "replay", str(event.decision_id), "--database-url", database_url,
        "--registry-database-url", registry_url])
    assert found == 0, capsys.readouterr().err
    assert capsys.readouterr().out.startswith("IDENTICAL")
    assert trial.version == "2099-01-01.1"

    missing = await asyncio.to_thread(audit_tools, [
        "replay", str(event.decision_id), "--database-url", database_url,
        "--registry-database-url", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"])
    assert missing == 2
    assert "with hash sha256:" in capsys.readouterr().err


async def test_an_old_decision_replays_against_the_tables_it_was_made_with(
        database_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The evaluator stored its reference tables (then holding LOINC 778-1 in ``platelets``)
    and a decision read a 778-1 platelet count; the code has since left the value set. Replay
    reads the tables the decision names from the registry database and reproduces it; with no
    such tables anywhere it says so and exits 2. Audit and registry in one database (each
    service has its own alembic version table), SQLite and PostgreSQL."""
    from sqlalchemy import select, update
    from sqlalchemy.exc import DBAPIError

    from services.evaluator.adapters.criteria_engine import default_screener
    from services.evaluator.adapters.sql.tables import reference_tables
    from services.evaluator.bootstrap import store_reference_tables
    from shared.eligibility.reference_tables import tables_from_texts
    from tests.unit.audit.test_replay_tables import manual_platelets, older_texts

    older = tables_from_texts(older_texts())
    text = (TRIALS_DIR / TRIAL_ID / f"{VERSION}.yaml").read_text(encoding="utf-8")
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        screener = default_screener()  # as the evaluator starts, with the tables of then
        screener.tables = older
        assert await store_reference_tables(sessions, screener, datetime.now(UTC))
        assert await store_reference_tables(sessions, screener, datetime.now(UTC))  # idempotent
        async with sessions.begin() as session:
            _, digest, _ = await add_version(session, text, older, "folder", "folder",
                                             datetime.now(UTC))
            rows = (await session.execute(select(reference_tables.c.content_hash))).all()
        assert [r.content_hash for r in rows] == [older.content_hash]
        with pytest.raises(DBAPIError):
            async with sessions.begin() as session:
                await session.execute(update(reference_tables).values(texts="{}"))
    finally:
        await engine.dispose()
    facts = manual_platelets()
    made = evaluate(compile_text(text, older), facts, BASE_TIME)
    event = DecisionMade(
        event_id=uuid.uuid4(), occurred_at=BASE_TIME, recorded_at=BASE_TIME,
        source="evaluator", patient_key="pk_old_tables", causation_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(), decision_id=uuid.uuid4(), state_version=1,
        evaluator_version="test", decision=made, snapshot_hash=content_hash(facts),
        snapshot=facts, trial_content_hash=digest,
    )
    await _store(database_url, event)
    assert compile_text(text, load_tables()).parameters != made.parameters  # tables differ

    found = await asyncio.to_thread(audit_tools, [
        "replay", str(event.decision_id), "--database-url", database_url,
        "--registry-database-url", database_url])
    out = capsys.readouterr().out
    assert found == 0, out
    assert out.startswith("IDENTICAL")
    assert f"reference tables: {older.content_hash}, as recorded by the decision" in out

    missing = await asyncio.to_thread(audit_tools, [
        "replay", str(event.decision_id), "--database-url", database_url,
        "--registry-database-url", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"])
    assert missing == 2
    err = capsys.readouterr().err
    assert f"compiled against the reference tables {older.content_hash}, found neither" in err
