"""Tampering with the stored chain, as a database superuser would, is caught by verify."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text, update

from services.audit.adapters.sql.tables import records
from services.audit.core.audit_record import GENESIS_HASH, record_hash
from services.cli.audit_tools import main as audit_tools
from shared.infra.sql_engine import make_engine
from tests.integration.audit.chain_setup import (
    StoredChain,
    drop_append_only_triggers,
    every_batch_in_workers,  # noqa: F401 (fixture)
    store_chain,
    tamper,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_batch_in_workers")]


async def verify(chain: StoredChain,
                 capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    # The CLI runs its own event loop (asyncio.run): give it a thread, as a terminal would.
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture
async def chain(database_url: str, tmp_path: Path) -> StoredChain:
    return await store_chain(database_url, tmp_path, length=20, checkpoint_at=(10, 16))


async def test_an_untouched_chain_verifies_intact(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args()])
    out = capsys.readouterr().out
    assert code == 0
    assert "intact up to record 20" in out


async def test_one_field_changed_with_raw_sql_names_that_record(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper(chain.database_url,
                 "UPDATE audit_record SET status = 'ineligible' WHERE sequence = 7")
    code, report = await verify(chain, capsys)
    assert code == 1
    assert report["first_problem"]["sequence"] == 7
    assert report["first_problem"]["kind"] == "altered"
    assert report["verified_up_to"] == 6


async def test_a_deleted_record_is_reported_removed(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper(chain.database_url, "DELETE FROM audit_record WHERE sequence = 12")
    code, report = await verify(chain, capsys)
    assert code == 1
    assert (report["first_problem"]["sequence"], report["first_problem"]["kind"]) == \
        (12, "removed")


async def test_two_swapped_records_are_reported_reordered(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper(chain.database_url,
                 "UPDATE audit_record SET sequence = -5 WHERE sequence = 5",
                 "UPDATE audit_record SET sequence = 5 WHERE sequence = 6",
                 "UPDATE audit_record SET sequence = 6 WHERE sequence = -5")
    code, report = await verify(chain, capsys)
    assert code == 1
    assert (report["first_problem"]["sequence"], report["first_problem"]["kind"]) == \
        (5, "reordered")


async def test_a_truncated_tail_is_caught_by_the_checkpoints(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await tamper(chain.database_url, "DELETE FROM audit_record WHERE sequence > 13")
    code, report = await verify(chain, capsys)
    assert code == 1
    assert (report["first_problem"]["sequence"], report["first_problem"]["kind"]) == \
        (14, "removed")


async def test_a_recomputed_whole_chain_is_caught_by_the_checkpoints(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(chain.database_url)
    try:
        await drop_append_only_triggers(engine)
        async with engine.begin() as connection:
            rows = [dict(r) for r in (await connection.execute(
                select(records).order_by(records.c.sequence))).mappings()]
            prev = GENESIS_HASH
            for row in rows:
                if row["sequence"] == 3:
                    row["status"] = "eligible" if row["status"] != "eligible" else "ineligible"
                row["prev_hash"] = prev
                row["record_hash"] = record_hash(row)
                prev = row["record_hash"]
            # Unique hashes: move the old ones aside before writing the forged chain.
            await connection.execute(text(
                "UPDATE audit_record SET record_hash = 'x' || sequence, "
                "prev_hash = 'y' || sequence"))
            for row in rows:
                await connection.execute(update(records)
                                         .where(records.c.sequence == row["sequence"])
                                         .values(status=row["status"], prev_hash=row["prev_hash"],
                                                 record_hash=row["record_hash"]))
    finally:
        await engine.dispose()
    code, report = await verify(chain, capsys)
    assert code == 1
    assert report["first_problem"]["kind"] == "rewritten"
    assert report["first_problem"]["sequence"] == 1
    assert report["covered_by_checkpoint_up_to"] == 0


async def test_a_forged_checkpoint_is_rejected(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    path = chain.checkpoint_dir / "checkpoint-000000000016.json"
    body = json.loads(path.read_text())
    body["head_hash"] = "sha256:" + "0" * 64
    path.write_text(json.dumps(body))
    code, report = await verify(chain, capsys)
    assert code == 1
    assert report["rejected_checkpoints"] == [
        {"file": path.name, "reason": "signature does not verify"}]
    assert report["first_problem"] is None


async def test_a_malformed_checkpoint_is_rejected(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    (chain.checkpoint_dir / "checkpoint-000000000020.json").write_text("{\"sequence\": 20")
    code, report = await verify(chain, capsys)
    assert code == 1
    assert report["rejected_checkpoints"][0]["reason"].startswith("malformed")


async def test_an_altered_input_snapshot_is_reported(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(chain.database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(
                    "DROP TRIGGER audit_snapshot_append_only ON audit_snapshot"))
            else:
                await connection.execute(text("DROP TRIGGER audit_snapshot_no_update"))
            await connection.execute(text(
                "UPDATE audit_snapshot SET snapshot = replace(snapshot, 'female', 'male')"))
    finally:
        await engine.dispose()
    code, report = await verify(chain, capsys)
    assert code == 1
    assert report["snapshot_problem"]["kind"] == "snapshot-altered"


def test_verify_without_a_reachable_database_exits_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    assert audit_tools(["verify", "--database-url", url,
                        "--checkpoint-dir", str(tmp_path)]) == 2
    assert "could not verify" in capsys.readouterr().err
