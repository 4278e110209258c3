"""``trialwatch dictionary --database-url``: the data dictionary of the trial versions the
registry screens now, an uploaded trial included, with the data elements the trials share.
SQLite and PostgreSQL (issue 12 item 4)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from services.evaluator.adapters.sql import trial_registry
from services.evaluator.bootstrap import default_screener
from shared.eligibility.loader import TRIALS_DIR, list_trials
from shared.eligibility.reference_tables import load_tables
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import REPO_ROOT, migrate

pytestmark = pytest.mark.integration
SOURCE = TRIALS_DIR / "TRIALX-323795" / "2025-12-01.1.yaml"


def _dictionary(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "dictionary", *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False)


async def test_the_dictionary_covers_every_active_trial_an_upload_included(
    database_url: str,
) -> None:
    await migrate(database_url)
    text = SOURCE.read_text(encoding="utf-8")
    uploaded = text.replace("id: TRIALX-323795", "id: UPLOADED-0001", 1)
    assert uploaded != text
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine).begin() as session:
            trial, digest, added = await trial_registry.add_version(
                session, uploaded, load_tables(), "api:author", "upload", datetime.now(UTC))
            assert added
            assert trial.id == "UPLOADED-0001"
            await trial_registry.activate(session, trial, datetime.now(UTC), "api:author", digest)
            # a shipped trial deactivated in the registry is not screened, so not listed
            shipped = next(t for t in default_screener().active_trials()
                           if t.id == "NCT06946485")
            change = await trial_registry.activate(session, shipped, datetime.now(UTC))
            await trial_registry.set_state(session, shipped, trial_registry.INACTIVE, change)
        async with make_sessionmaker(engine)() as session:
            active = await trial_registry.active_trial_versions(session, default_screener())
    finally:
        await engine.dispose()

    expected = sorted({*list_trials(), "UPLOADED-0001"} - {"NCT06946485"})
    assert [t.id for t in active] == expected

    listed = _dictionary("--database-url", database_url)
    one = _dictionary("--database-url", database_url, "--trial", "UPLOADED-0001")
    shipped_only = _dictionary()

    assert listed.returncode == 0, listed.stderr
    assert "## UPLOADED-0001 — version 2025-12-01.1" in listed.stdout
    assert "## NCT06920433 — version" in listed.stdout
    assert "## NCT06946485 —" not in listed.stdout
    assert "active in the evaluator's trial registry" in listed.stdout
    shared = listed.stdout.split("## Data elements shared between trials")[1].split("\n## ")[0]
    header = next(line for line in shared.splitlines() if line.startswith("| Data element |"))
    assert "UPLOADED-0001" in header
    assert "NCT06920433" in header
    # the upload reads what TRIALX-323795 reads: every element it reads is shared with it
    assert "| Platelets" in shared or "platelet" in shared.lower()
    assert one.returncode == 0, one.stderr
    assert one.stdout.count("\n## ") >= 1
    assert "## NCT06920433 —" not in one.stdout
    assert shipped_only.returncode == 0
    assert "## UPLOADED-0001" not in shipped_only.stdout
