"""The registry loop's folder poll on a real database (SQLite and PostgreSQL): an unchanged
folder costs nothing (no sync, no activation, no re-screen, no registry change), a folder that
changed is synced: a new trial is activated and its patients re-screened, a new version of a
known trial is added."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from services.evaluator.adapters import loops
from services.evaluator.adapters.sql import amendments
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.adapters.sql.tables import active_trial, registry_change, trial_status
from services.evaluator.bootstrap import default_screener
from services.evaluator.core.patient_events import apply_patient_events
from shared.eligibility.loader import TRIALS_DIR
from shared.infra.clock import utc_now
from shared.infra.migrations import upgrade
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.unit.evaluator.fakes import patient_updated

pytestmark = pytest.mark.integration


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    calls: list[int] = []
    original: Callable[..., Awaitable[Any]] = getattr(amendments, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(amendments, name, counted)
    return calls


async def test_an_unchanged_folder_is_not_synced_and_a_changed_one_is(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "trials"
    for trial_id in ("NCT06920433", "NCT06946485"):
        shutil.copytree(TRIALS_DIR / trial_id, folder / trial_id)
    await asyncio.to_thread(upgrade, "evaluator", database_url)
    engine = make_engine(database_url)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    screener = default_screener(folder)

    async def changes() -> list[tuple[str, str, str]]:
        async with sessions() as session:
            return [(r.action, r.trial_id, r.version) for r in await session.execute(
                select(registry_change).order_by(registry_change.c.seq))]

    try:
        syncs = _counting(monkeypatch, "sync_folder")
        activations = _counting(monkeypatch, "activate_and_rescreen")
        rescreens = _counting(monkeypatch, "run_rescreen")
        step = loops.registry_step(sessions, screener, folder, utc_now)

        await step()  # first poll of a fresh database: both trials added and activated
        assert (len(syncs), len(activations)) == (1, 2)
        first = await changes()
        assert sorted(c for c in first if c[0] == "activate") == [
            ("activate", "NCT06920433", "2025-11-14.5"),
            ("activate", "NCT06946485", "2025-10-03.4")]

        # a known patient, screened against both trials
        now = datetime.now(UTC)
        async with SqlUnitOfWork(sessions, screener, utc_now) as work:
            await apply_patient_events(work, screening_context(screener, utc_now),
                                       [patient_updated("pk-folder-poll", (), now)])

        for _ in range(3):  # nothing changed: nothing is read, activated or re-screened
            await step()
        assert (len(syncs), len(activations), len(rescreens)) == (1, 2, 2)
        assert await changes() == first

        # a new trial in the folder: added, activated, and the known patient re-screened
        shutil.copytree(TRIALS_DIR / "TRIALX-323795", folder / "TRIALX-323795")
        await step()
        assert (len(syncs), len(activations), len(rescreens)) == (2, 3, 3)
        after = await changes()
        assert after[:len(first)] == first
        assert ("activate", "TRIALX-323795", "2025-12-01.5") in after[len(first):]
        async with sessions() as session:
            state = (await session.execute(select(active_trial.c.state).where(
                active_trial.c.trial_id == "TRIALX-323795"))).scalar_one()
            screened = await session.scalar(select(func.count()).select_from(trial_status).where(
                trial_status.c.patient_key == "pk-folder-poll",
                trial_status.c.trial_id == "TRIALX-323795"))
        assert (state, screened) == ("active", 1)

        # a new version of a known trial: added to the registry (activation stays a decision)
        amended = (folder / "TRIALX-323795" / "2025-12-01.5.yaml").read_text(encoding="utf-8")
        amended = amended.replace('version: "2025-12-01.5"', 'version: "2025-12-01.6"')
        (folder / "TRIALX-323795" / "2025-12-01.6.yaml").write_text(amended, encoding="utf-8")
        await step()
        assert (len(syncs), len(activations)) == (3, 3)
        assert ("add", "TRIALX-323795", "2025-12-01.6") in (await changes())[len(after):]

        await step()  # and unchanged again
        assert len(syncs) == 3
    finally:
        await engine.dispose()
