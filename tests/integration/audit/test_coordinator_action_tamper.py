"""Tampering with the stored coordinator actions (issue 14 probe, benchmarks/tamper_audit_copy.py).

Coordinator actions ("contacted", "not a candidate" with its reason, "enrolled", every
re-identification) are kept by audit in ``audit_coordinator_action``. ``audit verify`` once
checked only the decision chain, snapshots and access log, so an action's reason or actor
edited, an action deleted or one inserted by a database superuser passed as intact. Now each
action's evaluator signature and columns are checked, the actions are hash-chained, and the
signed checkpoints sign the actions' head (``services.audit.core.action_chain``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.action_store import SqlActionStore
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.cli.audit_tools import main as audit_tools
from shared.contracts.events import CoordinatorActed
from shared.infra.signing import load_or_create_signing_key
from shared.infra.sql_engine import make_engine
from tests.integration.audit.chain_setup import StoredChain, store_chain
from tests.unit.audit.factories import TEST_SIGNER

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture
async def chain(database_url: str, tmp_path: Path) -> StoredChain:
    chain = await store_chain(database_url, tmp_path, length=4, checkpoint_at=(4,), chained=True)
    event = CoordinatorActed.model_validate(TEST_SIGNER.signed(CoordinatorActed(
        event_id=uuid.uuid4(), occurred_at=NOW, recorded_at=NOW, source="evaluator",
        patient_key="pk_0", correlation_id=uuid.uuid4(), action_id=uuid.uuid4(),
        action="not-a-candidate", trial_id="NCT06920433", actor="dev-coordinator",
        reason="declined participation").model_dump(mode="json")))
    engine = make_engine(database_url)
    try:
        await SqlActionStore(engine).add([{
            "action_id": str(event.action_id), "patient_key": event.patient_key,
            "trial_id": event.trial_id, "action": event.action, "actor": event.actor,
            "reason": event.reason, "alert_id": None, "occurred_at": event.occurred_at,
            "recorded_at": NOW, "event": event.model_dump(mode="json")}])
        # the service's checkpoint writer signs the actions' head too
        key = load_or_create_signing_key(tmp_path / "signing.pem", tmp_path / "signing.pub.pem")
        writer = CheckpointWriter(SqlChainStore(engine), key, CheckpointFiles(
            chain.checkpoint_dir, key.public_key()), lambda: datetime.now(UTC),
            actions=SqlActionStore(engine))
        assert await writer.write_if_advanced() is not None
    finally:
        await engine.dispose()
    return chain


async def verify(chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json"])
    return code, json.loads(capsys.readouterr().out)


async def superuser(database_url: str, statement: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text("ALTER TABLE audit_coordinator_action "
                                              "DISABLE TRIGGER USER"))
            else:
                for (name,) in (await connection.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'audit_coordinator_action'"))).all():
                    await connection.execute(text(f"DROP TRIGGER {name}"))
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


async def test_an_untouched_action_verifies_intact(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = await verify(chain, capsys)
    assert (code, report["intact"]) == (0, True), report["summary"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_coordinator_action SET reason = 'forged reason'",
    "UPDATE audit_coordinator_action SET actor = 'dev-admin'",
    "DELETE FROM audit_coordinator_action",
    "INSERT INTO audit_coordinator_action (action_id, patient_key, trial_id, action, actor, "
    "reason, alert_id, occurred_at, recorded_at, event) "
    # another id: its first hex digit changed ('f' || ... alone keeps an id that starts with
    # 'f', one uuid4 in 16, and the "insert" then copied the row under its own id)
    "SELECT CASE WHEN substr(action_id, 1, 1) = 'f' THEN 'e' ELSE 'f' END "
    "|| substr(action_id, 2), patient_key, trial_id, "
    "'enrolled', actor, reason, alert_id, occurred_at, recorded_at, event "
    "FROM audit_coordinator_action",
    "UPDATE audit_coordinator_action SET prev_hash = NULL, entry_hash = NULL, chain_seq = NULL",
], ids=["reason-edited", "actor-edited", "deleted", "inserted", "unchained"])
async def test_a_tampered_coordinator_action_fails_verify(
        chain: StoredChain, capsys: pytest.CaptureFixture[str], statement: str) -> None:
    await superuser(chain.database_url, statement)
    code, report = await verify(chain, capsys)
    assert code == 1, report["summary"]
    assert report["actions_problem"]["kind"].startswith("actions-"), report["summary"]


async def test_an_edited_event_is_named_with_its_action_id(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    """The stored signed event edited (the reason inside it): its signature no longer verifies;
    the report names the action."""
    engine = make_engine(chain.database_url)
    try:
        async with engine.connect() as connection:
            action_id, event = (await connection.execute(text(
                "SELECT action_id, event FROM audit_coordinator_action"))).one()
    finally:
        await engine.dispose()
    event = json.loads(event) if isinstance(event, str) else event
    forged = json.dumps({**event, "reason": "forged reason"})
    await superuser(chain.database_url,
                    f"UPDATE audit_coordinator_action SET event = '{forged}'")
    code, report = await verify(chain, capsys)
    assert code == 1, report["summary"]
    assert report["actions_problem"]["kind"] == "actions-altered"
    assert report["actions_problem"]["action_id"] == action_id
    assert "signature" in report["actions_problem"]["detail"]
