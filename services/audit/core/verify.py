"""Verifying the chain: load the checkpoints first, then walk the records and the snapshots.

Checkpoints are read before the records so a checkpoint written while the walk runs can never
name a record the walk has not seen (the chain only grows).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from services.audit.core.chain_walk import ChainWalk, Expectations, VerificationReport
from services.audit.core.ports import ChainStore, CheckpointArchive, SignatureCheck


async def verify_chain(store: ChainStore, archive: CheckpointArchive,
                       expectations: Expectations | None = None,
                       decision_keys: SignatureCheck | None = None) -> VerificationReport:
    """Walk every record and snapshot in ``store`` against the checkpoints ``archive`` trusts.

    ``decision_keys``: the evaluator keys (accepted and retired) each record's signature is
    checked against; None skips that check."""
    trusted, rejected = await asyncio.to_thread(archive.load)
    walk = ChainWalk((c.sequence for c in trusted), trusted,
                     expectations or Expectations(now=datetime.now(UTC)),
                     require_snapshots=True, decision_keys=decision_keys)
    # Hashing is CPU work: a worker thread keeps the service's event loop (and the consumer's
    # heartbeats) responsive while a long chain is verified.
    async for batch in store.record_batches():
        await asyncio.to_thread(_feed_records, walk, batch)
    async for snapshots in store.snapshot_batches():
        await asyncio.to_thread(_feed_snapshots, walk, snapshots)
    return walk.report(trusted, rejected)


def _feed_records(walk: ChainWalk, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        walk.feed(row)


def _feed_snapshots(walk: ChainWalk, snapshots: list[tuple[str, str]]) -> None:
    for snapshot_hash, body in snapshots:
        walk.feed_snapshot(snapshot_hash, body)
