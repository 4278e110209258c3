"""Tampering that also removes its own traces (issue 14 section 4), on real SQLite and PostgreSQL.

Each case: a chain of 20 records with the checkpoints the service writes (at 10 and 16, each
naming the previous one and signing every record hash since), the append-only triggers
dropped as a database superuser would, then ``trialwatch audit verify`` with the public key
pinned. A forged DecisionMade produced onto the topic is refused at ingest (it carries no
trusted evaluator signature): tests/e2e/test_walking_skeleton.py, against the real evaluator.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text, update

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.tables import records
from services.audit.core.audit_record import GENESIS_HASH, record_hash
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.cli.audit_tools import main as audit_tools
from shared.contracts.signatures import decision_digest
from shared.infra.signing import EventSigner, TrustedKeys, load_or_create_signing_key
from shared.infra.sql_engine import make_engine
from tests.integration.audit.chain_setup import (  # noqa: F401 (a fixture)
    StoredChain,
    drop_append_only_triggers,
    every_batch_in_workers,
    store_chain,
)
from tests.unit.audit.factories import TEST_DECISION_KEY

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_batch_in_workers")]


@pytest.fixture
async def chain(database_url: str, tmp_path: Path) -> StoredChain:
    return await store_chain(database_url, tmp_path, length=20, checkpoint_at=(10, 16),
                             chained=True)


async def verify(chain: StoredChain, capsys: pytest.CaptureFixture[str],
                 *extra: str) -> tuple[int, dict[str, Any]]:
    code = await asyncio.to_thread(audit_tools, ["verify", *chain.cli_args(), "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


def kinds(report: dict[str, Any]) -> dict[str, int | None]:
    found = [report["first_problem"], report["snapshot_problem"], *report["other_problems"]]
    return {p["kind"]: p["sequence"] for p in found if p is not None}


async def rewrite_consistently(database_url: str, sequence: int, **changes: Any) -> None:
    """Change one record and recompute every hash from it on: the chain walk alone passes."""
    engine = make_engine(database_url)
    try:
        await drop_append_only_triggers(engine)
        async with engine.begin() as connection:
            rows = [dict(r) for r in (await connection.execute(
                select(records).order_by(records.c.sequence))).mappings()]
            previous = GENESIS_HASH
            for row in rows:
                if row["sequence"] == sequence:
                    row.update(changes)
                row["prev_hash"] = previous
                row["record_hash"] = record_hash(row)
                previous = row["record_hash"]
            await connection.execute(text(
                "UPDATE audit_record SET record_hash = 'x' || sequence, "
                "prev_hash = 'y' || sequence"))
            for row in rows:
                await connection.execute(
                    update(records).where(records.c.sequence == row["sequence"]).values(
                        **{k: row[k] for k in ("status", "recorded_at", "signature",
                                                "prev_hash", "record_hash")}))
    finally:
        await engine.dispose()


async def test_the_service_checkpoints_verify_intact(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = await verify(chain, capsys, "--min-head", "16", "--max-age", "1h")
    assert (code, report["intact"]) == (0, True), report["summary"]


async def test_a_consistent_rewrite_with_the_later_checkpoints_deleted_names_the_record(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await rewrite_consistently(chain.database_url, 3, status="forged-status")
    (chain.checkpoint_dir / "checkpoint-000000000016.json").unlink()
    code, report = await verify(chain, capsys)
    assert code == 1
    assert (report["first_problem"]["kind"], report["first_problem"]["sequence"]) == (
        "rewritten", 3)


async def test_a_rewrite_after_the_last_kept_checkpoint_is_seen_as_a_stale_head(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await rewrite_consistently(chain.database_url, 12, status="forged-status")
    (chain.checkpoint_dir / "checkpoint-000000000016.json").unlink()
    code, report = await verify(chain, capsys, "--min-head", "16")
    assert code == 1
    assert kinds(report)["stale"] == 11


async def test_a_deleted_middle_checkpoint_is_a_gap(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    (chain.checkpoint_dir / "checkpoint-000000000010.json").unlink()
    code, report = await verify(chain, capsys)
    assert code == 1
    assert kinds(report)["checkpoint-gap"] == 1


async def test_an_old_newest_checkpoint_is_stale_against_the_expected_age(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.sleep(1.2)
    code, report = await verify(chain, capsys, "--max-age", "1s")
    assert code == 1
    assert "stale" in kinds(report)


async def test_a_deleted_input_snapshot_names_the_first_record_that_used_it(
        chain: StoredChain, capsys: pytest.CaptureFixture[str]) -> None:
    engine = make_engine(chain.database_url)
    try:
        async with engine.connect() as connection:
            snapshot = (await connection.execute(text(
                "SELECT snapshot_hash FROM audit_record WHERE sequence = 5"))).scalar_one()
            first = (await connection.execute(text(
                "SELECT min(sequence) FROM audit_record WHERE snapshot_hash = :h"),
                {"h": snapshot})).scalar_one()
            dialect = connection.dialect.name
        if dialect == "postgresql":
            async with engine.begin() as connection:
                # A superuser skips triggers and foreign keys alike.
                await connection.execute(text("SET LOCAL session_replication_role = replica"))
                await connection.execute(text(
                    "DELETE FROM audit_snapshot WHERE snapshot_hash = :h"), {"h": snapshot})
    finally:
        await engine.dispose()
    if dialect == "sqlite":
        await asyncio.to_thread(_delete_sqlite_snapshot, chain.database_url, snapshot)
    code, report = await verify(chain, capsys)
    assert code == 1
    assert kinds(report)["snapshot-missing"] == first


def _delete_sqlite_snapshot(database_url: str, snapshot: str) -> None:
    connection = sqlite3.connect(database_url.split(":///", 1)[1])
    try:
        connection.execute("PRAGMA foreign_keys = OFF")
        for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_snapshot'").fetchall():
            connection.execute(f"DROP TRIGGER {name}")
        connection.execute("DELETE FROM audit_snapshot WHERE snapshot_hash = ?", (snapshot,))
        connection.commit()
    finally:
        connection.close()


@pytest.mark.parametrize(("shift", "kind"), [(timedelta(days=2), "time-future"),
                                             (-timedelta(days=2), "time-reversed")])
async def test_a_record_stamped_in_the_future_or_before_its_predecessor_is_flagged(
        chain: StoredChain, capsys: pytest.CaptureFixture[str], shift: timedelta, kind: str,
) -> None:
    # Record 20 is newer than every checkpoint: only its time can give the rewrite away.
    await rewrite_consistently(chain.database_url, 20, recorded_at=datetime.now(UTC) + shift)
    code, report = await verify(chain, capsys)
    assert code == 1
    assert kinds(report)[kind] == 20


async def test_a_record_forged_before_the_service_signs_it_is_not_vouched_for(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 13: the service's checkpoint writer checks each record's evaluator signature
    before it signs the record's hash, and vouches only for those that check; the routine
    verify (which does not verify vouched signatures again) still names a record forged in
    the database between the appends and the next checkpoint."""
    chain = await store_chain(database_url, tmp_path, length=20, checkpoint_at=(10,),
                              chained=True)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            row = dict((await connection.execute(
                select(records).where(records.c.sequence == 12))).mappings().one())
    finally:
        await engine.dispose()
    forged = EventSigner(Ed25519PrivateKey.generate()).sign(decision_digest(row)).value
    await rewrite_consistently(database_url, 12, signature=forged)
    key = load_or_create_signing_key(tmp_path / "signing.pem", tmp_path / "signing.pub.pem")
    engine = make_engine(database_url)
    try:
        written = await CheckpointWriter(
            SqlChainStore(engine), key, CheckpointFiles(chain.checkpoint_dir, key.public_key()),
            lambda: datetime.now(UTC),
            decision_keys=TrustedKeys.of([TEST_DECISION_KEY.public_key()]),
        ).write_if_advanced()
    finally:
        await engine.dispose()
    assert written is not None
    assert (written.sequence, written.checked_up_to) == (20, 11)
    code, report = await verify(chain, capsys, "--workers", "1")
    assert code == 1
    assert kinds(report) == {"signature-invalid": 12}, report["summary"]
    assert report["signatures_vouched"] == 11
