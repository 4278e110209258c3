"""An admin's recorded registry decision survives the evaluator's folder sync: across a real
restart of the evaluator (its composition root, the real broker and database, SQLite and
PostgreSQL), and when the decision lands while a sync is under way.

The rule (docs/evaluator.md, "Trial registry"): the folder sync only adds versions the
registry has never seen, and activates a trial only while the registry has never recorded a
state for it; it never reverses a recorded human decision (a deactivation, a retirement, the
activation of another version). Every change stays recorded with who, when and the hash."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from services.evaluator.adapters.sql import amendments, trial_registry
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.tables import active_trial, registry_change
from services.evaluator.bootstrap import default_screener
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TRIALS_DIR
from shared.infra.clock import utc_now
from shared.infra.sql_engine import make_engine, make_sessionmaker
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    evaluator_in_process,
    fresh_settings,
    migrate,
    until,
)

pytestmark = pytest.mark.integration

TRIALS = ("NCT06920433", "NCT06946485", "TRIALX-323795")
ADMIN = {"Authorization": "Bearer admin-token"}
ACTOR = "api:registry-admin"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "trials"
    for trial_id in TRIALS:
        shutil.copytree(TRIALS_DIR / trial_id, folder / trial_id)
    return folder


def _newest(folder: Path, trial_id: str) -> str:
    return sorted(p.stem for p in (folder / trial_id).glob("*.yaml"))[-1]


class Registry:
    """Reads the registry tables directly (the test's own engine)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        immediate_sqlite_transactions(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        self.states: dict[str, tuple[str, str]] = {}
        self.changes: list[Any] = []

    async def read(self) -> None:
        async with self.sessions() as session:
            self.states = {r.trial_id: (r.version, r.state)
                           for r in await session.execute(select(active_trial))}
            self.changes = list(await session.execute(
                select(registry_change).order_by(registry_change.c.seq)))


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://evaluator",
                             headers=ADMIN, timeout=60)


async def test_an_admins_decisions_survive_a_restart_and_the_folder_only_adds(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    settings = await fresh_settings(database_url, kafka_settings, "registry-restart",
                                    trials_dir=folder, registry_poll_interval_s=0.2,
                                    tokens="admin-token=registry-admin:admin")
    older = sorted(p.stem for p in (folder / "NCT06920433").glob("*.yaml"))[-2]
    registry = Registry(database_url)

    async def synced() -> bool:
        await registry.read()
        return set(registry.states) == set(TRIALS) and not any(
            c.completed_at is None and c.action == "activate" for c in registry.changes)

    try:
        async with evaluator_in_process(settings, kafka_settings, default_screener(folder)) as app:
            assert await _until_async(synced, 60), registry.states
            assert {t: s for t, (_, s) in registry.states.items()} == dict.fromkeys(
                TRIALS, "active")
            async with _client(app) as admin:
                answer = await admin.post(f"/trials/NCT06920433/versions/{older}/activate")
                assert answer.status_code == 202, answer.text
                answer = await admin.post("/trials/NCT06946485/deactivate",
                                          json={"reason": "paused by the sponsor"})
                assert answer.status_code == 200, answer.text
                answer = await admin.post("/trials/TRIALX-323795/retire",
                                          json={"reason": "enrolment complete"})
                assert answer.status_code == 200, answer.text

            async def activated_older() -> bool:
                await registry.read()
                return registry.states["NCT06920433"] == (older, "active") and all(
                    c.completed_at is not None for c in registry.changes
                    if c.action == "activate")

            assert await _until_async(activated_older, 60), registry.states
        decided = {
            "NCT06920433": (older, "active"),
            "NCT06946485": (_newest(folder, "NCT06946485"), "inactive"),
            "TRIALX-323795": (_newest(folder, "TRIALX-323795"), "retired"),
        }
        assert registry.states == decided
        before = list(registry.changes)
        # the activation's re-screen runs in the background: it may be recorded after the others
        mine = sorted((c.action, c.trial_id, c.version) for c in before if c.actor == ACTOR)
        assert mine == [("activate", "NCT06920433", older),
                        ("deactivate", "NCT06946485", decided["NCT06946485"][0]),
                        ("retire", "TRIALX-323795", decided["TRIALX-323795"][0])]
        assert all(c.content_hash.startswith("sha256:") and c.at is not None
                   for c in before if c.actor == ACTOR)

        # while the evaluator is down, the folder gains a version the registry has never seen
        # of the deactivated trial (a shipped update)
        newest = _newest(folder, "NCT06946485")
        text = (folder / "NCT06946485" / f"{newest}.yaml").read_text(encoding="utf-8")
        new_version = newest + "9"
        (folder / "NCT06946485" / f"{new_version}.yaml").write_text(
            text.replace(f'version: "{newest}"', f'version: "{new_version}"'), encoding="utf-8")

        async with evaluator_in_process(settings, kafka_settings, default_screener(folder)):
            async def added() -> bool:
                await registry.read()
                return any(c.action == "add" and c.version == new_version
                           for c in registry.changes)

            assert await _until_async(added, 60), "the restarted evaluator's sync did not run"
            await until(lambda: False, 1.0)  # several more polls
            await registry.read()
        assert registry.states == decided, "the folder sync reversed an admin's decision"
        assert registry.changes[:len(before)] == before  # nothing recorded was rewritten
        after = [(c.action, c.actor, c.trial_id, c.version)
                 for c in registry.changes[len(before):]]
        assert after == [("add", "folder", "NCT06946485", new_version)]
    finally:
        await registry.engine.dispose()


async def test_a_decision_recorded_while_the_folder_sync_runs_is_not_reversed(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The sync reads which trials the registry has a state for, then activates the others one
    by one, each with a re-screen of every patient (minutes on a large site). An admin who
    activates another version of a trial meanwhile has recorded a decision: the sync, still
    holding its earlier reading, must not activate the folder's newest over it. (Seen in the
    e2e test of the live registry: the admin's changes interleaved with a later 'activate' by
    'folder' of the same trial.) The sync's reading is taken before the admin's change here by
    handing it the registry's states as they were then."""
    folder = _folder(tmp_path)
    await migrate(database_url)
    registry = Registry(database_url)
    screener = default_screener(folder)
    older = TrialRef(id="NCT06920433",
                     version=sorted(p.stem for p in (folder / "NCT06920433").glob("*.yaml"))[-2])
    real_states = trial_registry.trial_states

    async def states_before_the_admin(session: Any) -> dict[str, tuple[str, str]]:
        return {}  # the sync's reading: taken before the admin's activation committed

    try:
        await amendments.activate_and_rescreen(registry.sessions, screener, older, utc_now,
                                               actor=ACTOR)
        monkeypatch.setattr(trial_registry, "trial_states", states_before_the_admin)
        await amendments.sync_folder(registry.sessions, screener, folder, utc_now)
        monkeypatch.setattr(trial_registry, "trial_states", real_states)
        await registry.read()
        assert registry.states["NCT06920433"] == (older.version, "active"), \
            "the folder sync reversed the admin's activation"
        folder_activations = [(c.trial_id, c.version) for c in registry.changes
                              if c.actor == "folder" and c.action == "activate"]
        assert sorted(folder_activations) == [
            ("NCT06946485", _newest(folder, "NCT06946485")),
            ("TRIALX-323795", _newest(folder, "TRIALX-323795"))]
    finally:
        await registry.engine.dispose()


async def _until_async(predicate: Any, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.1)
    return bool(await predicate())
