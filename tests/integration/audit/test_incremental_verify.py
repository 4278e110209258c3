"""`trialwatch audit verify --state FILE`: resumes where the last intact walk ended, on SQLite
and PostgreSQL; `--full` still rehashes everything."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from services.cli.audit_tools import main as audit_tools
from tests.integration.audit.chain_setup import StoredChain, store_chain, tamper

pytestmark = pytest.mark.integration


async def verify(chain: StoredChain, state: Path, capsys: pytest.CaptureFixture[str],
                 *extra: str) -> tuple[int, str]:
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(),
                                                 "--state", str(state), *extra])
    return code, capsys.readouterr().out


async def test_a_second_walk_resumes_at_the_last_verified_checkpoint_and_still_sees_new_edits(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = await store_chain(database_url, tmp_path, length=20, checkpoint_at=(10, 16),
                              chained=True)
    state = tmp_path / "auditor" / "verified.json"
    code, out = await verify(chain, state, capsys)
    assert code == 0, out
    assert "incremental" not in out
    assert json.loads(state.read_text())["sequence"] == 16
    code, out = await verify(chain, state, capsys)
    assert code == 0, out
    assert "records checked: 4;" in out
    assert "records 1..16 were verified by an earlier walk" in out
    await tamper(database_url, "UPDATE audit_record SET patient_key = 'pk_x' WHERE sequence = 18")
    code, out = await verify(chain, state, capsys)
    assert code == 1
    assert "record 18 no longer matches its hash" in out


async def test_an_edit_inside_the_verified_part_needs_full(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = await store_chain(database_url, tmp_path, length=12, checkpoint_at=(8,),
                              chained=True)
    state = tmp_path / "verified.json"
    assert (await verify(chain, state, capsys))[0] == 0
    await tamper(database_url, "UPDATE audit_record SET status = 'x' WHERE sequence = 3")
    assert (await verify(chain, state, capsys))[0] == 0  # by design: the part was verified
    code, out = await verify(chain, state, capsys, "--full")
    assert code == 1
    assert "record 3 no longer matches its hash" in out
    assert json.loads(state.read_text())["sequence"] == 8  # a tampered walk never moves it
