"""Signing the chain head (and the access log's and coordinator actions' heads) every
``checkpoint_interval_s``, into the checkpoint archive.

With the evaluator keys (``decision_keys``) the writer checks each record it is about to sign,
as a full verify would (its hash and its evaluator signature, the columns copied out of the
signed decision), and signs how far that check held (``Checkpoint.checked_up_to``). A routine
verify then need not verify those signatures again: the record hash the checkpoint signs pins
the checked bytes (docs/audit.md "What a checkpoint vouches for"). A record failing the check
(written into the database past ingest) is never vouched for: its hash is still signed, the
check stops before it, and verify checks it (and the rest of that range) itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.chain_walk import record_verdicts
from services.audit.core.checkpoints import Checkpoint, sign_checkpoint
from services.audit.core.ports import (
    AccessLogHead,
    ActionHead,
    AuditTelemetry,
    ChainStore,
    CheckpointArchive,
    SignatureCheck,
    Unobserved,
)


class CheckpointWriter:
    def __init__(self, store: ChainStore, key: Ed25519PrivateKey, archive: CheckpointArchive,
                 clock: Callable[[], datetime], telemetry: AuditTelemetry | None = None,
                 access_log: AccessLogHead | None = None,
                 decision_keys: SignatureCheck | None = None,
                 actions: ActionHead | None = None) -> None:
        """``archive`` must trust ``key``'s public half: the newest checkpoint it holds is the
        one the next checkpoint chains to. ``access_log``: its head is signed in every
        checkpoint, and a checkpoint is written when only the access log grew (None: the
        chain alone, as before the access log was covered). ``decision_keys``: the evaluator
        keys (accepted and retired) each record is checked against before it is signed
        (None: nothing is checked and the checkpoint vouches for no signature). ``actions``:
        the coordinator actions' head, signed like the access log's."""
        self._store = store
        self._key = key
        self._archive = archive
        self._clock = clock
        self._telemetry = telemetry or Unobserved()
        self._access_log = access_log
        self._decision_keys = decision_keys
        trusted, _ = archive.load()
        self._last: Checkpoint | None = trusted[-1] if trusted else None
        self._last_sequence = trusted[-1].sequence if trusted else 0
        self._last_access = (trusted[-1].access_entry_id or 0) if trusted else 0
        self._actions = actions
        self._last_action = (trusted[-1].action_seq or 0) if trusted else 0

    async def write_if_advanced(self) -> Checkpoint | None:
        """Sign the current heads when the chain or the access log grew since the last
        checkpoint, chained to that checkpoint and listing the hash of every record since it."""
        head = await self._store.head()
        access = await self._access_log.head() if self._access_log is not None else None
        access_id = access.entry_id if access is not None else 0
        actions = await self._actions.head() if self._actions is not None else None
        action_seq = actions.entry_id if actions is not None else 0
        if head.sequence < self._last_sequence or (
                head.sequence == self._last_sequence and access_id <= self._last_access
                and action_seq <= self._last_action):
            return None
        checked_up_to: int | None = None
        if self._decision_keys is None:
            hashes = await self._store.record_hashes(self._last_sequence, head.sequence)
        else:
            hashes, checked_up_to = await self._checked_hashes(head.sequence)
        if len(hashes) != head.sequence - self._last_sequence or (
                hashes and hashes[-1] != head.record_hash):
            return None  # the head moved between the two reads: the next tick signs it
        checkpoint = sign_checkpoint(self._key, head.sequence, head.record_hash, self._clock(),
                                     previous=self._last, record_hashes=hashes, access=access,
                                     checked_up_to=checked_up_to, actions=actions)
        await asyncio.to_thread(self._archive.write, checkpoint)
        self._last = checkpoint
        self._last_sequence = head.sequence
        self._last_access = access_id
        self._last_action = action_seq
        self._telemetry.checkpoint_written(head.sequence, signed=checkpoint.order_key())
        return checkpoint

    async def _checked_hashes(self, upto: int) -> tuple[list[str], int | None]:
        """The hashes of records after the last checkpoint up to ``upto``, as read, and the
        last record of the unbroken run from the first whose hash and evaluator signature hold
        (None: not even the first)."""
        rows: list[dict[str, Any]] = []
        async for batch in self._store.record_batches(after=self._last_sequence):
            rows += [row for row in batch if int(row["sequence"]) <= upto]
            if int(batch[-1]["sequence"]) >= upto:
                break
        verdicts = await asyncio.to_thread(record_verdicts, rows, self._decision_keys)
        checked_up_to = None
        for expected, (row, verdict) in enumerate(zip(rows, verdicts, strict=True),
                                                  start=self._last_sequence + 1):
            if int(row["sequence"]) != expected or not verdict.hash_ok or \
                    verdict.signature_problem is not None or verdict.recheck:
                self._telemetry.record_unvouched(
                    int(row["sequence"]),
                    verdict.signature_problem or "its hash or sequence does not hold")
                break
            checked_up_to = expected
        return [str(row["record_hash"]) for row in rows], checked_up_to

    async def run_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.write_if_advanced()
            except Exception as error:  # the next tick retries; the chain itself is unaffected
                self._telemetry.checkpoint_failed(type(error).__name__)
