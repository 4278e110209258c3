"""The access log's hash chain on real SQLite and PostgreSQL (issue 14 section 4): entries
appended by the service's adapter, then an entry edited or deleted in the database with the
append-only triggers dropped, as a superuser would; ``trialwatch audit verify`` names it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.access_log import AccessLog
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.access_chain import walk_access_log
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.cli.audit_tools import main as audit_tools
from shared.infra.auth import Principal, Role
from shared.infra.signing import load_or_create_signing_key
from shared.infra.sql_engine import make_engine
from tests.integration.audit.chain_setup import StoredChain, store_chain

pytestmark = pytest.mark.integration

AUDITOR = Principal(client="dev-auditor", role=Role.AUDITOR)
ENTRIES = 8


@pytest.fixture
async def chain(database_url: str, tmp_path: Path) -> StoredChain:
    stored = await store_chain(database_url, tmp_path, length=4, checkpoint_at=(4,),
                               chained=True)
    engine = make_engine(database_url)
    try:
        log = AccessLog(engine, lambda: datetime.now(UTC))
        for index in range(ENTRIES):
            await log.record(AUDITOR, "query-decisions", {"trial_id": f"NCT{index:08d}"},
                             index)
    finally:
        await engine.dispose()
    return stored


async def verify(chain: StoredChain, capsys: pytest.CaptureFixture[str],
                 ) -> tuple[int, dict[str, Any]]:
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json"])
    return code, json.loads(capsys.readouterr().out)


async def tamper_access(database_url: str, statement: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(
                    "DROP TRIGGER audit_access_append_only ON audit_access"))
            else:
                await connection.execute(text("DROP TRIGGER audit_access_no_update"))
                await connection.execute(text("DROP TRIGGER audit_access_no_delete"))
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def test_an_untouched_access_log_verifies_intact(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (0, True), report["summary"]
    assert report["access_entries_checked"] == ENTRIES
    assert report["access_problem"] is None


async def test_a_deleted_access_entry_is_reported_as_a_gap(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper_access(chain.database_url, "DELETE FROM audit_access WHERE id = 3")
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (1, False)
    assert report["access_problem"]["kind"] == "access-log-gap"
    assert report["access_problem"]["sequence"] == 4
    assert "access-log-gap" in report["summary"]


async def test_an_edited_access_entry_is_reported_as_altered(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper_access(chain.database_url,
                        "UPDATE audit_access SET client = 'nobody' WHERE id = 5")
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (1, False)
    assert report["access_problem"]["kind"] == "access-log-altered"
    assert report["access_problem"]["sequence"] == 5


async def test_concurrent_appends_do_not_fork_the_access_log(database_url: str,
                                                             tmp_path: Path) -> None:
    """Two writers append at once: on PostgreSQL two engines (as two audit processes, serialised
    by the advisory lock); on SQLite one engine and its write lock, as the service runs."""
    await store_chain(database_url, tmp_path, length=1, checkpoint_at=())
    postgres = not database_url.startswith("sqlite")
    engines = [make_engine(database_url)] + ([make_engine(database_url)] if postgres else [])
    try:
        lock = asyncio.Lock()
        logs = [AccessLog(engine, lambda: datetime.now(UTC), None if postgres else lock)
                for engine in engines]
        await asyncio.gather(*(logs[index % len(logs)].record(AUDITOR, "verify", {}, index)
                               for index in range(20)))
        rows = [row async for batch in logs[0].entry_batches() for row in batch]
    finally:
        for engine in engines:
            await engine.dispose()
    check = walk_access_log(rows)
    assert (check.checked, check.problem) == (20, None)
    assert len({row["prev_hash"] for row in rows}) == 20


async def sign_heads(chain: StoredChain, database_url: str) -> None:
    """What the service's checkpoint writer does on its next tick: sign the chain head and the
    access log's head (only the access log grew since the fixture's checkpoint)."""
    engine = make_engine(database_url)
    try:
        key = load_or_create_signing_key(chain.public_key.parent / "signing.pem",
                                         chain.public_key)
        writer = CheckpointWriter(SqlChainStore(engine), key,
                                  CheckpointFiles(chain.checkpoint_dir, key.public_key()),
                                  lambda: datetime.now(UTC),
                                  access_log=AccessLog(engine, lambda: datetime.now(UTC)))
        written = await writer.write_if_advanced()
        assert written is not None
        assert written.access_entry_id == ENTRIES
    finally:
        await engine.dispose()


async def test_deleting_the_newest_access_entries_is_seen_against_the_signed_head(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await sign_heads(chain, chain.database_url)
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (0, True), report["summary"]
    await tamper_access(chain.database_url,
                        f"DELETE FROM audit_access WHERE id > {ENTRIES - 3}")
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (1, False)
    assert report["access_problem"]["kind"] == "access-log-truncated"
    assert report["access_problem"]["sequence"] == ENTRIES - 2
    assert f"up to id {ENTRIES}" in report["summary"]


async def test_a_truncated_access_log_written_on_again_is_still_seen(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    """The attacker deletes the newest entries and lets the service append again: the new
    entries link to what is left, so the chain alone holds; the signed head does not."""
    await sign_heads(chain, chain.database_url)
    await tamper_access(chain.database_url, f"DELETE FROM audit_access WHERE id > {ENTRIES - 3}")
    engine = make_engine(chain.database_url)
    try:
        log = AccessLog(engine, lambda: datetime.now(UTC))
        for index in range(4):
            await log.record(AUDITOR, "verify", {}, index)
    finally:
        await engine.dispose()
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (1, False)
    assert report["access_problem"]["kind"] in ("access-log-altered", "access-log-gap")
    assert report["access_problem"]["sequence"] == ENTRIES


async def test_the_newest_checkpoint_deleted_with_the_entries_it_alone_signed_is_stale(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    """The newest checkpoint was written because only the access log grew (the record head
    stayed at 4): deleting it with every entry it alone signed leaves an older checkpoint
    signing all 4 records, so ``--min-head 4`` holds; ``--min-checkpoint`` with the newest
    checkpoint's file name, noted off the audit host, does not."""
    await sign_heads(chain, chain.database_url)
    newest = chain.checkpoint_dir / f"checkpoint-{4:012d}-{ENTRIES:012d}.json"
    newest.unlink()
    await tamper_access(chain.database_url, "DELETE FROM audit_access")
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (0, True), report["summary"]
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json",
                                                 "--min-head", "4"])
    assert code == 0  # the record head an auditor scraped cannot tell
    capsys.readouterr()
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json",
                                                 "--min-head", "4",
                                                 "--min-checkpoint", newest.name])
    report = json.loads(capsys.readouterr().out)
    assert (code, report["intact"]) == (1, False)
    assert "stale" in report["summary"]
    assert f"checkpoint 4-{ENTRIES}-0 was expected" in report["summary"]
