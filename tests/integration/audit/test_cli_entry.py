"""`trialwatch audit verify` through the real console entry point, as an auditor types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.integration.audit.chain_setup import store_chain, tamper

pytestmark = pytest.mark.integration


def trialwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], cwd=REPO_ROOT,
                          env=os.environ, capture_output=True, text=True, timeout=120,
                          check=False)


async def test_trialwatch_audit_verify_exits_0_intact_then_1_after_tampering(
        database_url: str, tmp_path: Path) -> None:
    chain = await store_chain(database_url, tmp_path, length=5, checkpoint_at=(5,))
    intact = trialwatch("audit", "verify", *chain.cli_args())
    assert intact.returncode == 0, intact.stderr
    assert "INTACT: intact up to record 5" in intact.stdout
    await tamper(database_url, "UPDATE audit_record SET patient_key = 'pk_x' WHERE sequence = 2")
    tampered = trialwatch("audit", "verify", *chain.cli_args())
    assert tampered.returncode == 1
    assert "TAMPERED: altered: record 2 no longer matches its hash" in tampered.stdout


def test_trialwatch_audit_verify_with_a_bad_option_exits_2() -> None:
    assert trialwatch("audit", "verify", "--no-such-option").returncode == 2
