"""``trialwatch trials``: list versions; activate one and watch every patient re-screened."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.bootstrap import default_screener
from services.evaluator.core.screening import Screening
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import REPO_ROOT, migrate
from tests.unit.evaluator.fakes import lab_fact, patient_updated

pytestmark = pytest.mark.integration


def _trialwatch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", "trials", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_activating_the_shipped_version_rescreens_every_known_patient_with_a_progress_bar(
    database_url: str,
) -> None:
    screener = default_screener()
    assert isinstance(screener, CriteriaEngineScreener), "the shipped engine must load"
    [trial] = [t for t in screener.active_trials() if t.id == "NCT06920433"]
    await migrate(database_url)
    engine = make_engine(database_url)
    now = datetime.now(UTC)
    patients = [f"pk-{uuid.uuid4().hex[:12]}" for _ in range(3)]
    try:
        async with SqlUnitOfWork(make_sessionmaker(engine), screener, utc_now) as uow:
            screening = Screening(uow, screening_context(screener, utc_now))
            await screening.load(patients)
            for patient in patients:
                event = patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)
                screening.apply_event(event, (), now)
            await screening.flush()
    finally:
        await engine.dispose()

    listed = _trialwatch("list", "--database-url", database_url)
    activated = _trialwatch("activate", "--trial", trial.id, "--version", trial.version,
                            "--database-url", database_url)
    refused = _trialwatch("activate", "--trial", trial.id, "--version", "0-no-such-version",
                          "--database-url", database_url)
    relisted = _trialwatch("list", "--database-url", database_url)

    assert listed.returncode == 0, listed.stderr
    assert f"{trial.id}" in listed.stdout
    assert "in folder" in listed.stdout
    assert activated.returncode == 0, activated.stderr
    assert "3 patients re-screened" in activated.stdout
    assert "3/3 patients 100%" in activated.stderr
    assert refused.returncode == 2
    assert "no NCT06920433 version 0-no-such-version" in refused.stderr
    assert f"{trial.id:<16} {trial.version:<16} active" in relisted.stdout
    assert f"activate {trial.id} {trial.version} sha256:" in relisted.stdout
    assert "re-screened 3/3" in relisted.stdout
