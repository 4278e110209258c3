"""The service signs the chain head outside the database, only when the chain has grown."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.audit.adapters.checkpoint_files import CheckpointFiles, load_checkpoints
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from services.audit.core.checkpoint_writer import CheckpointWriter
from shared.infra.signing import load_or_create_signing_key, load_public_key
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.harness import (
    audit_app,
    audit_settings,
    migrate,
    running,
    start_group_at_end,
)
from tests.unit.audit.factories import decision_event

pytestmark = pytest.mark.integration


async def test_a_checkpoint_is_written_only_when_the_chain_has_grown(
        database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    key = load_or_create_signing_key(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    engine = make_engine(database_url)
    try:
        store = SqlChainStore(engine)
        writer = CheckpointWriter(store, key, CheckpointFiles(tmp_path / "cp", key.public_key()),
                                  lambda: datetime.now(UTC))
        assert await writer.write_if_advanced() is None
        for index in range(3):
            await DecisionChain(store).append(decision_event("pk_cp", index), datetime.now(UTC))
        written = await writer.write_if_advanced()
        assert written is not None
        assert (written.sequence, written.head_hash) == (3, (await store.head()).record_hash)
        assert await writer.write_if_advanced() is None
        restarted = CheckpointWriter(store, key, CheckpointFiles(tmp_path / "cp", key.public_key()),
                                  lambda: datetime.now(UTC))
        assert await restarted.write_if_advanced() is None  # resumes after the newest file
    finally:
        await engine.dispose()
    trusted, rejected = load_checkpoints(tmp_path / "cp", key.public_key())
    assert [c.sequence for c in trusted] == [3]
    assert rejected == []


async def test_the_service_signs_the_head_on_shutdown_with_a_key_it_created(
        database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-checkpoint")
    await start_group_at_end(kafka_settings, group)
    settings = audit_settings(database_url, tmp_path, group)
    async with running(audit_app(settings, kafka_settings)):
        engine = make_engine(database_url)
        try:
            await DecisionChain(SqlChainStore(engine)).append(decision_event("pk_cp", 0),
                                                              datetime.now(UTC))
        finally:
            await engine.dispose()
    assert settings.signing_key_path().stat().st_mode & 0o777 == 0o600
    trusted, _ = load_checkpoints(settings.checkpoint_dir,
                                  load_public_key(settings.verify_key_path()))
    assert [c.sequence for c in trusted] == [1]
