"""Walking the chain and holding it against the signed checkpoints (pure: no I/O here).

Feed records in sequence order, then the trusted and rejected checkpoints; the report says
"intact up to record N" or names the first record that was altered, removed or reordered.
A consistent rewrite of the whole chain passes the walk but not the checkpoints: the record a
checkpoint names no longer hashes to the signed value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.audit.checkpoints import Checkpoint, RejectedCheckpoint
from services.audit.records import GENESIS_HASH, record_hash
from shared.canonical import content_hash
from shared.time import iso_z

ProblemKind = Literal["altered", "removed", "reordered", "rewritten", "snapshot-altered"]
_REORDER_WINDOW = 64


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    sequence: int | None
    kind: ProblemKind
    detail: str


class RejectedCheckpointOut(BaseModel):
    file: str
    reason: str


class VerificationReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    intact: bool
    summary: str
    verified_up_to: int
    records_checked: int
    head_sequence: int
    checkpoints_trusted: int
    covered_by_checkpoint_up_to: int
    first_problem: Problem | None = None
    snapshot_problem: Problem | None = None
    snapshots_checked: int = 0
    rejected_checkpoints: list[RejectedCheckpointOut] = []


class ChainWalk:
    def __init__(self, checkpoint_sequences: Iterable[int] = ()) -> None:
        self._watched = set(checkpoint_sequences)
        self._hashes_at: dict[int, str] = {}
        self._expected = 1
        self._prev_hash = GENESIS_HASH
        self._last_good = 0
        self._checked = 0
        self._head = 0
        self._problem: Problem | None = None
        self._snapshot_problem: Problem | None = None
        self._snapshots_checked = 0

    def feed(self, row: Mapping[str, Any]) -> None:
        self._checked += 1
        sequence = int(row["sequence"])
        self._head = max(self._head, sequence)
        if self._problem is None:
            self._problem = self._check(row, sequence)

    def _check(self, row: Mapping[str, Any], sequence: int) -> Problem | None:
        if sequence < self._expected:
            return Problem(sequence=self._expected, kind="altered",
                           detail=f"a record numbered {sequence} precedes record "
                                  f"{self._expected}")
        if sequence > self._expected:
            return Problem(sequence=self._expected, kind="removed",
                           detail=f"records {self._expected}..{sequence - 1} are missing")
        if _hash_or_none(row) != row["record_hash"]:
            written_as = _written_position(row, sequence)
            if written_as is not None:
                return Problem(sequence=sequence, kind="reordered",
                               detail=f"record {sequence} was written as record {written_as}")
            return Problem(sequence=sequence, kind="altered",
                           detail=f"record {sequence} no longer matches its hash")
        if row["prev_hash"] != self._prev_hash:
            return Problem(sequence=sequence - 1, kind="altered",
                           detail=f"record {sequence} does not link to record {sequence - 1}: "
                                  f"record {sequence - 1} was replaced and its hash recomputed")
        self._prev_hash = row["record_hash"]
        self._last_good = sequence
        self._expected += 1
        if sequence in self._watched:
            self._hashes_at[sequence] = row["record_hash"]
        return None

    def feed_snapshot(self, snapshot_hash: str, body: str) -> None:
        self._snapshots_checked += 1
        if self._snapshot_problem is None and _snapshot_hash(body) != snapshot_hash:
            self._snapshot_problem = Problem(
                sequence=None, kind="snapshot-altered",
                detail=f"input snapshot {snapshot_hash} no longer matches its hash")

    def report(self, checkpoints: list[Checkpoint],
               rejected: list[RejectedCheckpoint]) -> VerificationReport:
        problem, covered = self._against_checkpoints(checkpoints)
        verified = (problem.sequence - 1 if problem and problem.sequence is not None
                    else self._last_good)
        intact = problem is None and self._snapshot_problem is None and not rejected
        return VerificationReport(
            intact=intact,
            summary=_summary(intact, verified, problem, self._snapshot_problem, rejected),
            verified_up_to=max(verified, 0),
            records_checked=self._checked,
            head_sequence=self._head,
            checkpoints_trusted=len(checkpoints),
            covered_by_checkpoint_up_to=covered,
            first_problem=problem,
            snapshot_problem=self._snapshot_problem,
            snapshots_checked=self._snapshots_checked,
            rejected_checkpoints=[RejectedCheckpointOut(file=r.file, reason=r.reason)
                                  for r in rejected],
        )

    def _against_checkpoints(self, checkpoints: list[Checkpoint]) -> tuple[Problem | None, int]:
        problem = self._problem
        matched = 0
        for checkpoint in sorted(checkpoints, key=lambda c: c.sequence):
            if checkpoint.sequence == 0:
                continue
            if checkpoint.sequence > self._last_good:
                if problem is None:
                    problem = Problem(
                        sequence=self._last_good + 1, kind="removed",
                        detail=f"checkpoint of {iso_z(checkpoint.created_at)} was signed at "
                               f"{checkpoint.sequence} records; the chain ends at "
                               f"{self._last_good}")
                break
            if self._hashes_at.get(checkpoint.sequence) != checkpoint.head_hash:
                rewritten = Problem(
                    sequence=matched + 1, kind="rewritten",
                    detail=f"record {checkpoint.sequence} does not hash to the value signed in "
                           f"the checkpoint of {iso_z(checkpoint.created_at)}: records "
                           f"{matched + 1}..{checkpoint.sequence} were rewritten")
                if problem is None or (problem.sequence or 0) >= matched + 1:
                    problem = rewritten
                break
            matched = checkpoint.sequence
        return problem, matched


def _hash_or_none(row: Mapping[str, Any]) -> str | None:
    """The record's hash, or None when a field was altered beyond reading (e.g. broken JSON)."""
    try:
        return record_hash(dict(row))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _written_position(row: Mapping[str, Any], sequence: int) -> int | None:
    """A record moved to another position still hashes right with its original sequence."""
    for candidate in range(max(1, sequence - _REORDER_WINDOW), sequence + _REORDER_WINDOW + 1):
        if candidate != sequence and _hash_or_none({**row, "sequence": candidate}) == \
                row["record_hash"]:
            return candidate
    return None


def _snapshot_hash(body: str) -> str | None:
    try:
        return content_hash(json.loads(body))
    except ValueError:
        return None


def _summary(intact: bool, verified: int, problem: Problem | None,
             snapshot_problem: Problem | None, rejected: list[RejectedCheckpoint]) -> str:
    if intact:
        return f"intact up to record {verified}"
    parts = []
    if problem is not None:
        parts.append(f"{problem.kind}: {problem.detail}; intact up to record {max(verified, 0)}")
    if snapshot_problem is not None:
        parts.append(snapshot_problem.detail)
    if rejected:
        parts.append(f"{len(rejected)} checkpoint file(s) rejected: "
                     + "; ".join(f"{r.file}: {r.reason}" for r in rejected[:5]))
    return " | ".join(parts)
