"""Verification against a live database: load the checkpoints first, then walk the chain.

Checkpoints are read before the records so a checkpoint written while the walk runs can never
name a record the walk has not seen (the chain only grows).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.audit.adapters.sql.chain_store import ChainStore
from services.audit.core.chain_walk import ChainWalk, Expectations, VerificationReport
from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint, load_checkpoints
from services.audit.core.decision_ingest import SignatureCheck
from shared.infra.signing import load_public_key


def trusted_checkpoints(checkpoint_dir: Path, public_key_path: Path,
                        ) -> tuple[list[Checkpoint], list[RejectedCheckpoint]]:
    if public_key_path.exists():
        return load_checkpoints(checkpoint_dir, load_public_key(public_key_path))
    files = sorted(checkpoint_dir.glob("checkpoint-*.json")) if checkpoint_dir.exists() else []
    return [], [RejectedCheckpoint(f.name, f"no public key at {public_key_path} to check it")
                for f in files]


async def verify_chain(store: ChainStore, checkpoint_dir: Path,
                       public_key_path: Path,
                       expectations: Expectations | None = None,
                       decision_keys: SignatureCheck | None = None) -> VerificationReport:
    """``decision_keys``: the evaluator keys (accepted and retired) each record's signature is
    checked against; None skips that check."""
    trusted, rejected = await asyncio.to_thread(trusted_checkpoints, checkpoint_dir,
                                                public_key_path)
    walk = ChainWalk((c.sequence for c in trusted), trusted,
                     expectations or Expectations(now=datetime.now(UTC)),
                     require_snapshots=True, decision_keys=decision_keys)
    # Hashing is CPU work: a worker thread keeps the service's event loop (and the consumer's
    # heartbeats) responsive while a long chain is verified.
    async for batch in store.iter_record_batches():
        await asyncio.to_thread(_feed_records, walk, batch)
    async for snapshots in store.iter_snapshot_batches():
        await asyncio.to_thread(_feed_snapshots, walk, snapshots)
    return walk.report(trusted, rejected)


def _feed_records(walk: ChainWalk, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        walk.feed(row)


def _feed_snapshots(walk: ChainWalk, snapshots: list[tuple[str, str]]) -> None:
    for snapshot_hash, body in snapshots:
        walk.feed_snapshot(snapshot_hash, body)
