"""What the ``trialwatch audit`` tools may call: verify the chain, load a decision for replay.

The CLI reaches the audit service only through this module (never its tables or adapters), so
the store behind the chain can change without touching the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.parallel_checks import ProcessRecordChecker
from services.audit.adapters.sql.access_log import AccessLog
from services.audit.adapters.sql.action_store import SqlActionStore
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.record_queries import SqlRecordQueries
from services.audit.adapters.verified_state import read_verified, write_verified
from services.audit.core.chain_walk import Expectations, VerificationReport
from services.audit.core.checkpoints import parse_checkpoint_key
from services.audit.core.ports import SignatureCheck
from services.audit.core.replay import (
    EngineUnavailable,
    ReplayResult,
    engine_for_text,
    installed_engine,
    recorded_tables_hash,
    replay,
)
from services.audit.core.verify import SignatureDepth, Verification
from services.audit.core.verify import verify as run_verify
from shared.infra.clock import utc_now
from shared.infra.signing import TrustedKeys
from shared.infra.sql_engine import make_engine

__all__ = [
    "EngineUnavailable", "Expectations", "ReplayResult", "Verification", "VerificationReport",
    "engine_for_text", "installed_engine", "load_for_replay", "parse_checkpoint_key",
    "recorded_tables_hash", "replay",
    "verify",
]


async def verify(database_url: str, checkpoint_dir: Path, public_key: Path,
                 expectations: Expectations,
                 decision_keys: SignatureCheck | None = None,
                 state: Path | None = None, full: bool = True,
                 workers: int = 1,
                 signatures: SignatureDepth = "unvouched",
                 intake_keys: SignatureCheck | None = None) -> Verification:
    """Walk the chain in the database at ``database_url`` against the checkpoints in
    ``checkpoint_dir`` signed by the Ed25519 key at ``public_key``; every record's evaluator
    signature is checked against ``decision_keys`` (None skips that check); the access log's
    hash chain is walked too (``core.access_chain``), and every coordinator action's
    signature, columns and hash chain (``core.action_chain``); every re-identification in the
    access log is checked against intake's signature kept with it, with ``intake_keys``
    (``core.access_signatures``; None: its columns against its stored event only).

    ``state``: the file where the last intact walk ended; unless ``full``, the walk resumes
    there (``core.verify``), and an intact walk moves it forward.

    ``workers``: processes that rehash records and check their signatures
    (``adapters.parallel_checks``) when ``decision_keys`` is ``TrustedKeys`` or None; 1 checks
    them in a thread of this process. ``signatures``: as ``core.verify.verify``."""
    resume = read_verified(state) if state is not None and not full else None
    engine = make_engine(database_url)
    checker = (ProcessRecordChecker(decision_keys, workers)
               if workers > 1 and (decision_keys is None or isinstance(decision_keys, TrustedKeys))
               else None)
    try:
        archive = CheckpointFiles(checkpoint_dir, public_key)
        verification = await run_verify(SqlChainStore(engine), archive, expectations,
                                        decision_keys, resume,
                                        access_log=AccessLog(engine, utc_now), checker=checker,
                                        signatures=signatures,
                                        actions=SqlActionStore(engine),
                                        intake_keys=intake_keys)
    finally:
        if checker is not None:
            checker.close()
        await engine.dispose()
    if state is not None and verification.verified_through is not None:
        write_verified(state, verification.verified_through)
    return verification


async def load_for_replay(database_url: str, decision_id: UUID,
                          ) -> tuple[dict[str, Any], str | None] | None:
    """The stored record (column name -> value) of ``decision_id`` and its input snapshot
    (canonical JSON, None when it is not stored); None when the record is not stored."""
    engine = make_engine(database_url)
    try:
        queries = SqlRecordQueries(engine)
        row = await queries.by_decision_id(decision_id)
        if row is None:
            return None
        snapshot = await queries.snapshot(row["snapshot_hash"])
        return row, snapshot
    finally:
        await engine.dispose()
