"""The background task that signs the chain head every ``checkpoint_interval_s``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit import metrics
from services.audit.adapters.sql.chain_store import ChainStore
from services.audit.core.checkpoints import (
    Checkpoint,
    load_checkpoints,
    sign_checkpoint,
    write_checkpoint,
)

log = structlog.get_logger(__name__)


class CheckpointWriter:
    def __init__(self, store: ChainStore, key: Ed25519PrivateKey, directory: Path,
                 clock: Callable[[], datetime]) -> None:
        self._store = store
        self._key = key
        self._directory = directory
        self._clock = clock
        trusted, _ = load_checkpoints(directory, key.public_key())
        self._last: Checkpoint | None = trusted[-1] if trusted else None
        self._last_sequence = trusted[-1].sequence if trusted else 0

    async def write_if_advanced(self) -> Checkpoint | None:
        """Sign the current head when the chain grew since the last checkpoint, chained to that
        checkpoint and listing the hash of every record since it."""
        head = await self._store.head()
        if head.sequence <= self._last_sequence:
            return None
        hashes = await self._store.record_hashes(self._last_sequence, head.sequence)
        if len(hashes) != head.sequence - self._last_sequence or hashes[-1] != head.record_hash:
            return None  # the head moved between the two reads: the next tick signs it
        checkpoint = sign_checkpoint(self._key, head.sequence, head.record_hash, self._clock(),
                                     previous=self._last, record_hashes=hashes)
        await asyncio.to_thread(write_checkpoint, self._directory, checkpoint)
        self._last = checkpoint
        self._last_sequence = head.sequence
        metrics.CHECKPOINTS_WRITTEN.inc()
        log.info("checkpoint written", sequence=head.sequence)
        return checkpoint

    async def run_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.write_if_advanced()
            except Exception as error:  # the next tick retries; the chain itself is unaffected
                log.warning("checkpoint failed", error=type(error).__name__)
