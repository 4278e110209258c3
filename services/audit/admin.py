"""What the ``trialwatch audit`` tools may call: verify the chain, load a decision for replay.

The CLI reaches the audit service only through this module (never its tables or adapters), so
the store behind the chain can change without touching the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.record_queries import SqlRecordQueries
from services.audit.core.chain_walk import Expectations, VerificationReport
from services.audit.core.ports import SignatureCheck
from services.audit.core.replay import (
    EngineUnavailable,
    ReplayResult,
    engine_for_text,
    installed_engine,
    replay,
)
from services.audit.core.verify import verify_chain
from shared.infra.db import make_engine

__all__ = [
    "EngineUnavailable", "Expectations", "ReplayResult", "VerificationReport",
    "engine_for_text", "installed_engine", "load_for_replay", "replay", "verify",
]


async def verify(database_url: str, checkpoint_dir: Path, public_key: Path,
                 expectations: Expectations,
                 decision_keys: SignatureCheck | None = None) -> VerificationReport:
    """Walk the chain in the database at ``database_url`` against the checkpoints in
    ``checkpoint_dir`` signed by the Ed25519 key at ``public_key``; every record's evaluator
    signature is checked against ``decision_keys`` (None skips that check)."""
    engine = make_engine(database_url)
    try:
        archive = CheckpointFiles(checkpoint_dir, public_key)
        return await verify_chain(SqlChainStore(engine), archive, expectations, decision_keys)
    finally:
        await engine.dispose()


async def load_for_replay(database_url: str, decision_id: UUID,
                          ) -> tuple[dict[str, Any], str] | None:
    """The stored record (column name -> value) of ``decision_id`` and its input snapshot
    (canonical JSON); None when either is not stored."""
    engine = make_engine(database_url)
    try:
        queries = SqlRecordQueries(engine)
        row = await queries.by_decision_id(decision_id)
        if row is None:
            return None
        snapshot = await queries.snapshot(row["snapshot_hash"])
        return (row, snapshot) if snapshot is not None else None
    finally:
        await engine.dispose()
