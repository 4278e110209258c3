"""A migrated audit database holding a known chain and signed checkpoints, for tamper tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.audit.adapters import parallel_checks
from services.audit.adapters.checkpoint_files import CheckpointFiles, write_checkpoint
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.checkpoints import sign_checkpoint
from shared.infra.signing import TrustedKeys, load_or_create_signing_key
from shared.infra.sql_engine import make_engine
from tests.integration.audit.harness import migrate
from tests.unit.audit.factories import (
    TEST_DECISION_KEY,
    decision_event,
    write_test_decision_key,
)


@dataclass(frozen=True)
class StoredChain:
    database_url: str
    checkpoint_dir: Path
    public_key: Path

    def cli_args(self) -> list[str]:
        return ["--database-url", self.database_url, "--checkpoint-dir", str(self.checkpoint_dir),
                "--public-key", str(self.public_key),
                "--decision-key", str(self.public_key.parent / "keys" / "test-evaluator.pub.pem"),
                # two worker processes: with every_batch_in_workers the tamper tests hold
                # the parallel per-record checks (adapters/parallel_checks.py) to every kind
                "--workers", "2"]


async def store_chain(database_url: str, tmp_path: Path, length: int,
                      checkpoint_at: tuple[int, ...], *, chained: bool = False) -> StoredChain:
    """``chained``: checkpoints as the service writes them (``CheckpointWriter`` with the
    evaluator keys: each names the previous one, lists every record hash since and vouches for
    the signatures it checked); otherwise head-only checkpoints, which vouch for none."""
    await migrate(database_url)
    write_test_decision_key(tmp_path / "keys")
    key = load_or_create_signing_key(tmp_path / "signing.pem", tmp_path / "signing.pub.pem")
    engine = make_engine(database_url)
    store = SqlChainStore(engine)
    writer = CheckpointWriter(store, key, CheckpointFiles(tmp_path / "checkpoints",
                                                         key.public_key()),
                              lambda: datetime.now(UTC),
                              decision_keys=TrustedKeys.of([TEST_DECISION_KEY.public_key()]))
    try:
        for index in range(length):
            appended = await DecisionChain(store).append(decision_event(f"pk_{index % 4}", index),
                                          datetime.now(UTC))
            assert appended.record is not None
            if chained and appended.record.sequence in checkpoint_at:
                assert await writer.write_if_advanced() is not None
            elif appended.record.sequence in checkpoint_at:
                write_checkpoint(tmp_path / "checkpoints", sign_checkpoint(
                    key, appended.record.sequence, appended.record.record_hash,
                    datetime.now(UTC)))
    finally:
        await engine.dispose()
    return StoredChain(database_url, tmp_path / "checkpoints", tmp_path / "signing.pub.pem")


async def drop_append_only_triggers(engine: AsyncEngine) -> None:
    """What a database superuser can do: remove the guard before tampering."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text(
                "DROP TRIGGER audit_record_append_only ON audit_record"))
        else:
            await connection.execute(text("DROP TRIGGER audit_record_no_update"))
            await connection.execute(text("DROP TRIGGER audit_record_no_delete"))


async def tamper(database_url: str, *statements: str) -> None:
    engine = make_engine(database_url)
    try:
        await drop_append_only_triggers(engine)
        async with engine.begin() as connection:
            for statement in statements:
                await connection.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def every_batch_in_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a 20-record chain is rehashed and its signatures checked in worker processes."""
    monkeypatch.setattr(parallel_checks, "PARALLEL_MIN_ROWS", 1)
