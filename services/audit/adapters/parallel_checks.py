"""The per-record checks of ``trialwatch audit verify`` in worker processes (issue 13).

A full walk with signatures is bound by one rehash and one Ed25519 verification per record
(``core.chain_walk.record_verdicts``), work that needs nothing but the record and the keys.
``ProcessRecordChecker`` splits each batch the walk reads into one chunk per worker process
(``concurrent.futures.ProcessPoolExecutor``) and verifies each chunk's signatures there, as a
batch; the walk, in the calling process, then only links the records in order, so a link
between two chunks is checked exactly as one inside a chunk. The workers get the trusted
evaluator keys' raw public bytes once, at start; a key a worker does not know is checked
again by the walk against its own keys (which reload their files).

Batches smaller than ``min_rows`` (an incremental walk's few records) are checked in a
thread of this process: starting processes would cost more than it saves.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import os
from collections.abc import Mapping
from typing import Any

from services.audit.core.chain_walk import RecordVerdict, record_verdicts
from shared.infra.signing import TrustedKeys

PARALLEL_MIN_ROWS = 256

_KEYS: TrustedKeys | None = None


def _start_worker(public_keys: list[bytes] | None) -> None:
    global _KEYS
    _KEYS = None if public_keys is None else TrustedKeys.from_public_bytes(public_keys)


def _verdicts_in_worker(rows: list[dict[str, Any]],
                        vouched: dict[int, str]) -> list[RecordVerdict]:
    return record_verdicts(rows, _KEYS, vouched)


class ProcessRecordChecker:
    """A ``core.ports.RecordChecker`` over ``workers`` processes (at least 1). ``keys``: the
    walk's evaluator keys (None: signatures are not checked); ``close`` ends the processes."""

    def __init__(self, keys: TrustedKeys | None, workers: int | None = None, *,
                 min_rows: int | None = None) -> None:
        self._keys = keys
        self.workers = max(1, workers or min(4, os.cpu_count() or 1))
        self.ahead = 2  # batches read while the workers check the ones before
        self._min_rows = PARALLEL_MIN_ROWS if min_rows is None else min_rows
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def verdicts(self, rows: list[dict[str, Any]],
                       vouched: Mapping[int, str] | None = None) -> list[RecordVerdict]:
        """One verdict per row, in order (``vouched``: as ``record_verdicts``)."""
        vouched = vouched or {}
        if self.workers < 2 or len(rows) < self._min_rows:
            return await asyncio.to_thread(record_verdicts, rows, self._keys, vouched)
        pool = self._started()
        loop = asyncio.get_running_loop()
        size = -(-len(rows) // self.workers)
        chunks = await asyncio.gather(*(
            loop.run_in_executor(pool, _verdicts_in_worker, rows[start:start + size],
                                 _vouched_for(rows[start:start + size], vouched))
            for start in range(0, len(rows), size)))
        return [verdict for chunk in chunks for verdict in chunk]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _started(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            public = None if self._keys is None else self._keys.public_bytes()
            # forkserver, not fork: this process runs threads (the event loop's executor,
            # aiosqlite, aiokafka), and a child forked while one of them holds a lock hangs
            self._pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker, initargs=(public,))
        return self._pool


def _vouched_for(rows: list[dict[str, Any]], vouched: Mapping[int, str]) -> dict[int, str]:
    """The part of ``vouched`` a chunk of rows needs (what is sent to its worker)."""
    found = {}
    for row in rows:
        sequence = row.get("sequence")
        if isinstance(sequence, int) and sequence in vouched:
            found[sequence] = vouched[sequence]
    return found
