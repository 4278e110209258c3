"""Signing the chain head (and the access log's head) every ``checkpoint_interval_s``, into the
checkpoint archive."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.checkpoints import Checkpoint, sign_checkpoint
from services.audit.core.ports import (
    AccessLogHead,
    AuditTelemetry,
    ChainStore,
    CheckpointArchive,
    Unobserved,
)


class CheckpointWriter:
    def __init__(self, store: ChainStore, key: Ed25519PrivateKey, archive: CheckpointArchive,
                 clock: Callable[[], datetime], telemetry: AuditTelemetry | None = None,
                 access_log: AccessLogHead | None = None) -> None:
        """``archive`` must trust ``key``'s public half: the newest checkpoint it holds is the
        one the next checkpoint chains to. ``access_log``: its head is signed in every
        checkpoint, and a checkpoint is written when only the access log grew (None: the
        chain alone, as before the access log was covered)."""
        self._store = store
        self._key = key
        self._archive = archive
        self._clock = clock
        self._telemetry = telemetry or Unobserved()
        self._access_log = access_log
        trusted, _ = archive.load()
        self._last: Checkpoint | None = trusted[-1] if trusted else None
        self._last_sequence = trusted[-1].sequence if trusted else 0
        self._last_access = (trusted[-1].access_entry_id or 0) if trusted else 0

    async def write_if_advanced(self) -> Checkpoint | None:
        """Sign the current heads when the chain or the access log grew since the last
        checkpoint, chained to that checkpoint and listing the hash of every record since it."""
        head = await self._store.head()
        access = await self._access_log.head() if self._access_log is not None else None
        access_id = access.entry_id if access is not None else 0
        if head.sequence < self._last_sequence or (
                head.sequence == self._last_sequence and access_id <= self._last_access):
            return None
        hashes = await self._store.record_hashes(self._last_sequence, head.sequence)
        if len(hashes) != head.sequence - self._last_sequence or (
                hashes and hashes[-1] != head.record_hash):
            return None  # the head moved between the two reads: the next tick signs it
        checkpoint = sign_checkpoint(self._key, head.sequence, head.record_hash, self._clock(),
                                     previous=self._last, record_hashes=hashes, access=access)
        await asyncio.to_thread(self._archive.write, checkpoint)
        self._last = checkpoint
        self._last_sequence = head.sequence
        self._last_access = access_id
        self._telemetry.checkpoint_written(head.sequence)
        return checkpoint

    async def run_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.write_if_advanced()
            except Exception as error:  # the next tick retries; the chain itself is unaffected
                self._telemetry.checkpoint_failed(type(error).__name__)
