"""Walking the chain and holding it against the signed checkpoints (pure: no I/O here).

Feed records in sequence order, then the trusted and rejected checkpoints; the report says
"intact up to record N" or names the first record that was altered, removed or reordered.
A consistent rewrite of the whole chain passes the walk but not the checkpoints: the record a
checkpoint names no longer hashes to the signed value.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from services.audit.core.audit_record import (
    GENESIS_HASH,
    hash_matches,
    record_hash,
    signed_digest,
)
from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint
from services.audit.core.ports import SignatureCheck
from shared.contracts.signatures import EventSignature, decision_digest
from shared.hashing import content_hash
from shared.time import as_utc, iso_z

ProblemKind = Literal["altered", "removed", "reordered", "rewritten", "snapshot-altered",
                      "snapshot-missing", "checkpoint-gap", "stale", "time-reversed",
                      "time-future", "signature-invalid", "signature-missing",
                      "access-log-altered", "access-log-gap", "access-log-truncated",
                      "actions-altered", "actions-gap", "actions-truncated"]
_REORDER_WINDOW = 64
FUTURE_TOLERANCE = timedelta(minutes=5)


class Problem(BaseModel):
    """``sequence``: the record (for the ``access-log-*`` kinds: the access entry id; for the
    ``actions-*`` kinds: the action's chain position, 0 for an unchained legacy one, with its
    ``action_id``)."""

    model_config = ConfigDict(frozen=True)

    sequence: int | None
    kind: ProblemKind
    detail: str
    action_id: str | None = None


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
    other_problems: list[Problem] = []
    access_entries_checked: int = 0
    access_legacy_entries: int = 0
    """Access entries written before the access log was chained (not protected)."""
    access_problem: Problem | None = None
    reidentifications_checked: int = 0
    """Re-identification entries of the access log whose intake signature was checked again
    (``core.access_signatures``)."""
    reidentifications_unsigned_legacy: int = 0
    """Re-identification entries appended before audit kept their signature (migration 0012),
    before the first signed one: not signature-checked."""
    signatures_vouched: int = 0
    """Signed records whose Ed25519 signature was not verified again because a trusted
    checkpoint vouches for it (its writer checked it before signing the record's hash)."""
    actions_checked: int = 0
    actions_legacy: int = 0
    """Coordinator actions stored before they were chained (signature-checked, not linked)."""
    actions_problem: Problem | None = None


@dataclass(frozen=True)
class Expectations:
    """What the auditor knows from outside the database and the checkpoint directory.

    ``min_head``: the chain had at least this many records (noted earlier, or from a replica);
    ``max_age``: the newest checkpoint must be younger than this (a few checkpoint intervals);
    ``min_checkpoint``: (record sequence, access entry id, coordinator action chain_seq) of a
    checkpoint known to have been written (its file name's numbers, noted off the audit host):
    a newest trusted checkpoint signing fewer records, access entries or actions than it means
    later checkpoints were deleted, e.g. with the access entries or actions they alone signed,
    which ``min_head`` cannot see when no record was appended after them;
    ``now``: the verifier's clock, also for records stamped in the future.
    """

    now: datetime | None = None
    min_head: int | None = None
    max_age: timedelta | None = None
    min_checkpoint: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class VerifiedThrough:
    """Where an earlier verification found the chain intact, to resume from: the trusted
    checkpoint at ``sequence`` (its ``digest``), and since which record decisions are signed
    (None: none were by then)."""

    sequence: int
    digest: str
    signed_since: int | None = None
    recorded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecordVerdict:
    """The checks of one record that need only the record and the evaluator keys, made
    apart from the walk (``record_verdicts``: in worker processes for a long chain), so the
    walk itself only links records in order.

    ``hash_ok``: the record still hashes to its ``record_hash``; ``signature_problem``: why
    its evaluator signature fails (None: valid, or the record carries none); ``recheck``:
    the signing key was unknown where the verdict was made (the walk checks it again against
    its own keys, which may have been reloaded); ``vouched``: the signature was not verified
    again because a trusted checkpoint vouches for it (see ``record_verdicts``)."""

    hash_ok: bool
    signature_problem: str | None = None
    recheck: bool = False
    vouched: bool = False


def record_verdicts(rows: Sequence[Mapping[str, Any]], keys: SignatureCheck | None,
                    vouched: Mapping[int, str] | None = None) -> list[RecordVerdict]:
    """``RecordVerdict`` of each row, in order (pure; CPU-bound: a rehash, and an Ed25519
    verification per signed record not vouched for).

    ``vouched``: sequence -> record hash for the records a trusted checkpoint's writer checked
    (signature included) before signing that hash (``Checkpoint.checked_hashes``). A row whose
    stored content still hashes to exactly that hash is those checked bytes (SHA-256), so its
    Ed25519 signature and copied columns are not checked again; only that its key is still
    among ``keys`` (a key dropped since is checked in full, as unknown). Any other row (its
    hash differs from the vouched one, or it does not hash right) is checked in full."""
    vouched = vouched or {}
    verdicts = []
    for row in rows:
        hash_ok = hash_matches(row)
        if keys is None or row.get("signature") is None:
            verdicts.append(RecordVerdict(hash_ok))
            continue
        if hash_ok and vouched.get(int(row["sequence"])) == row["record_hash"]:
            trusted = keys.trusts(str(row.get("signed_by")))
            verdicts.append(RecordVerdict(hash_ok, recheck=not trusted, vouched=trusted))
            continue
        problem, unknown = _signature_problem(row, int(row["sequence"]), keys)
        verdicts.append(RecordVerdict(hash_ok, problem, unknown))
    return verdicts


def _signature_problem(row: Mapping[str, Any], sequence: int,
                       keys: SignatureCheck) -> tuple[str | None, bool]:
    """Why a signed record's signature fails (None: valid), and whether its key was unknown."""
    signature = EventSignature.model_construct(key_id=str(row.get("signed_by")),
                                               value=str(row["signature"]))
    try:
        refusal = keys.refusal(signature, signed_digest(row), new_event=False)
        if refusal is not None and refusal.kind == "invalid":
            # The fast digest splices the stored text as it is; the reference reads it.
            refusal = keys.refusal(signature, decision_digest(row), new_event=False)
        mismatch = _columns_against_decision(row)
    except (ValueError, TypeError, KeyError):
        return f"record {sequence} cannot be read to check its signature", False
    if refusal is not None:
        return f"record {sequence}: {refusal.detail}", refusal.kind == "unknown-key"
    if mismatch:
        return (f"record {sequence}: column {mismatch} differs from the signed decision",
                False)
    return None, False


class ChainWalk:
    def __init__(self, checkpoint_sequences: Iterable[int] = (),
                 checkpoints: Iterable[Checkpoint] = (),
                 expectations: Expectations | None = None,
                 require_snapshots: bool = False,
                 decision_keys: SignatureCheck | None = None,
                 resume_from: Checkpoint | None = None,
                 resumed: VerifiedThrough | None = None,
                 vouched: Mapping[int, str] | None = None) -> None:
        """``require_snapshots``: every record's snapshot must have been fed (a verifier over a
        whole database sets it; a walk over records alone cannot). ``decision_keys``: check
        each record's evaluator signature against these keys (accepted and retired); once one
        record is signed, an unsigned record after it is a problem too. ``vouched``: records
        whose signature a trusted checkpoint vouches for (``record_verdicts``; None or empty:
        every signature is verified).

        ``resume_from``/``resumed``: records up to that trusted checkpoint were verified before
        (``resumed``): feed only the records after it. The first must link to the hash the
        checkpoint signed, so a rewrite reaching back before it is still seen; a change inside
        the verified part is seen only by a full walk."""
        self._require_snapshots = require_snapshots
        self._decision_keys = decision_keys
        self._vouched = vouched or {}
        self._signatures_vouched = 0
        self._signed_since: int | None = None
        self._signature_problem: Problem | None = None
        self._signed: dict[int, str] = {}
        # Resumed, only records after the resume point are fed: the signed hashes of the part
        # verified before are not needed (the walk's set-up then follows the new records).
        after = resume_from.sequence if resume_from is not None and resumed is not None else 0
        for checkpoint in checkpoints:
            if checkpoint.record_hashes is not None and checkpoint.first_sequence is not None:
                first = checkpoint.first_sequence
                skip = max(0, after + 1 - first)
                for offset, signed in enumerate(checkpoint.record_hashes[skip:], skip):
                    self._signed[first + offset] = signed
        self._expect = expectations or Expectations()
        self._last_recorded_at: datetime | None = None
        self._time_problem: Problem | None = None
        self._snapshot_first_use: dict[str, int] = {}
        self._stored_snapshots: set[str] = set()
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
        self._recorded_at: dict[int, datetime] = {}
        if resume_from is not None and resumed is not None:
            self._expected = resume_from.sequence + 1
            self._prev_hash = resume_from.head_hash
            self._last_good = self._head = resume_from.sequence
            self._signed_since = resumed.signed_since
            self._last_recorded_at = resumed.recorded_at
            for checkpoint in checkpoints:
                if checkpoint.sequence <= resume_from.sequence:
                    self._hashes_at[checkpoint.sequence] = checkpoint.head_hash

    def snapshots_used(self) -> set[str]:
        """The snapshot hashes of the records fed."""
        return set(self._snapshot_first_use)

    def verified_through(self, checkpoints: list[Checkpoint]) -> VerifiedThrough | None:
        """The newest checkpoint this walk matched, to resume from next time (None: none)."""
        _, covered = self._against_checkpoints(checkpoints)
        matched = [c for c in checkpoints if c.sequence == covered and covered > 0]
        if not matched:
            return None
        return VerifiedThrough(covered, matched[0].digest(), self._signed_since,
                               self._recorded_at.get(covered))

    def feed(self, row: Mapping[str, Any], verdict: RecordVerdict | None = None) -> None:
        """The next record in sequence order; ``verdict``: its ``record_verdicts`` entry when
        made apart (else the walk makes those checks itself)."""
        if verdict is None:
            [verdict] = record_verdicts([row], self._decision_keys, self._vouched)
        self._checked += 1
        sequence = int(row["sequence"])
        self._head = max(self._head, sequence)
        self._snapshot_first_use.setdefault(str(row["snapshot_hash"]), sequence)
        if self._time_problem is None:
            self._time_problem = self._check_time(row, sequence)
        if self._signature_problem is None and self._decision_keys is not None:
            self._signature_problem = self._check_signature(row, sequence, self._decision_keys,
                                                            verdict)
        if self._problem is None:
            self._problem = self._check(row, sequence, verdict)

    def _check_time(self, row: Mapping[str, Any], sequence: int) -> Problem | None:
        recorded_at = row.get("recorded_at")
        if not isinstance(recorded_at, datetime):
            return None
        recorded_at = as_utc(recorded_at)
        previous, self._last_recorded_at = self._last_recorded_at, recorded_at
        if previous is not None and recorded_at < previous:
            return Problem(sequence=sequence, kind="time-reversed",
                           detail=f"record {sequence} was recorded at {iso_z(recorded_at)}, "
                                  f"before the record preceding it ({iso_z(previous)})")
        now = self._expect.now
        if now is not None and recorded_at > now + FUTURE_TOLERANCE:
            return Problem(sequence=sequence, kind="time-future",
                           detail=f"record {sequence} was recorded at {iso_z(recorded_at)}, "
                                  f"after the verifier's now ({iso_z(now)})")
        return None

    def _check_signature(self, row: Mapping[str, Any], sequence: int,
                         keys: SignatureCheck,
                         verdict: RecordVerdict | None = None) -> Problem | None:
        if row.get("signature") is None:
            if self._signed_since is None:
                return None  # stored before the evaluator signed decisions
            return Problem(sequence=sequence, kind="signature-missing",
                           detail=f"record {sequence} carries no evaluator signature, although "
                                  f"records are signed since record {self._signed_since}")
        if self._signed_since is None:
            self._signed_since = sequence
        if verdict is not None and verdict.vouched:
            self._signatures_vouched += 1
            return None
        if verdict is not None and not verdict.recheck:
            detail = verdict.signature_problem
        else:
            detail, _ = _signature_problem(row, sequence, keys)
        if detail is None:
            return None
        return Problem(sequence=sequence, kind="signature-invalid", detail=detail)

    def _check(self, row: Mapping[str, Any], sequence: int,
               verdict: RecordVerdict | None = None) -> Problem | None:
        if sequence < self._expected:
            return Problem(sequence=self._expected, kind="altered",
                           detail=f"a record numbered {sequence} precedes record "
                                  f"{self._expected}")
        if sequence > self._expected:
            return Problem(sequence=self._expected, kind="removed",
                           detail=f"records {self._expected}..{sequence - 1} are missing")
        if not (verdict.hash_ok if verdict is not None else hash_matches(row)):
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
        signed = self._signed.get(sequence)
        if signed is not None and signed != row["record_hash"]:
            return Problem(sequence=sequence, kind="rewritten",
                           detail=f"record {sequence} does not hash to the value a checkpoint "
                                  "signed for it: it was rewritten (and every hash after it "
                                  "recomputed)")
        self._prev_hash = row["record_hash"]
        self._last_good = sequence
        self._expected += 1
        if sequence in self._watched:
            self._hashes_at[sequence] = row["record_hash"]
            if isinstance(row.get("recorded_at"), datetime):
                self._recorded_at[sequence] = as_utc(row["recorded_at"])
        return None

    def feed_snapshot(self, snapshot_hash: str, body: str) -> None:
        self._snapshots_checked += 1
        self._stored_snapshots.add(snapshot_hash)
        if self._snapshot_problem is None and not _snapshot_matches(snapshot_hash, body):
            self._snapshot_problem = Problem(
                sequence=None, kind="snapshot-altered",
                detail=f"input snapshot {snapshot_hash} no longer matches its hash")

    def report(self, checkpoints: list[Checkpoint],
               rejected: list[RejectedCheckpoint]) -> VerificationReport:
        problem, covered = self._against_checkpoints(checkpoints)
        verified = (problem.sequence - 1 if problem and problem.sequence is not None
                    else self._last_good)
        others = [p for p in (self._missing_snapshot(), *_checkpoint_gaps(checkpoints),
                              self._staleness(checkpoints), self._time_problem,
                              self._signature_problem) if p is not None]
        intact = (problem is None and self._snapshot_problem is None and not rejected
                  and not others)
        return VerificationReport(
            intact=intact,
            summary=_summary(intact, verified, problem, self._snapshot_problem, rejected,
                             others),
            verified_up_to=max(verified, 0),
            records_checked=self._checked,
            signatures_vouched=self._signatures_vouched,
            head_sequence=self._head,
            checkpoints_trusted=len(checkpoints),
            covered_by_checkpoint_up_to=covered,
            first_problem=problem,
            snapshot_problem=self._snapshot_problem,
            snapshots_checked=self._snapshots_checked,
            rejected_checkpoints=[RejectedCheckpointOut(file=r.file, reason=r.reason)
                                  for r in rejected],
            other_problems=others,
        )

    def _missing_snapshot(self) -> Problem | None:
        if not self._require_snapshots:
            return None
        missing = [(sequence, snapshot) for snapshot, sequence in self._snapshot_first_use.items()
                   if snapshot not in self._stored_snapshots]
        if not missing:
            return None
        sequence, snapshot = min(missing)
        return Problem(sequence=sequence, kind="snapshot-missing",
                       detail=f"record {sequence}'s input snapshot {snapshot} is not stored "
                              f"({len(missing)} snapshot(s) missing)")

    def _staleness(self, checkpoints: list[Checkpoint]) -> Problem | None:
        newest = max(checkpoints, key=Checkpoint.order_key, default=None)
        signed = newest.sequence if newest else 0
        if self._expect.min_head is not None and signed < self._expect.min_head:
            return Problem(sequence=signed + 1, kind="stale",
                           detail=f"the newest trusted checkpoint signs {signed} records; at "
                                  f"least {self._expect.min_head} were expected: later "
                                  "checkpoints (and what they covered) may have been deleted")
        expected = self._expect.min_checkpoint
        have = newest.order_key() if newest else (0, 0, 0)
        if expected is not None and any(h < e for h, e in zip(have, expected, strict=True)):
            return Problem(sequence=signed + 1, kind="stale",
                           detail="the newest trusted checkpoint signs (records, access entry, "
                                  f"action) {'-'.join(map(str, have))}; checkpoint "
                                  f"{'-'.join(map(str, expected))} was expected: later "
                                  "checkpoints (and what they alone covered) may have been "
                                  "deleted")
        now, max_age = self._expect.now, self._expect.max_age
        if max_age is not None and now is not None and (
            newest is None or now - newest.created_at > max_age
        ):
            made = iso_z(newest.created_at) if newest else "never"
            return Problem(sequence=signed + 1, kind="stale",
                           detail=f"the newest trusted checkpoint was made {made}, older than "
                                  f"the {max_age} expected: later checkpoints may have been "
                                  "deleted")
        return None
    def _against_checkpoints(self, checkpoints: list[Checkpoint]) -> tuple[Problem | None, int]:
        problem = self._problem
        matched = 0
        for checkpoint in sorted(checkpoints, key=Checkpoint.order_key):
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


def _columns_against_decision(row: Mapping[str, Any]) -> str | None:
    """The first column copied out of the (signed) decision JSON that no longer says the same."""
    try:
        decision = orjson.loads(row["decision"])
    except orjson.JSONDecodeError:  # NaN, integers beyond 64 bits: what json reads
        decision = json.loads(row["decision"])
    copied = {"trial_id": decision["trial"]["id"], "trial_version": decision["trial"]["version"],
              "status": decision["status"], "engine_version": decision["engine_version"]}
    for column, value in copied.items():
        if row[column] != value:
            return column
    as_of = row["as_of"]
    if isinstance(as_of, datetime) and iso_z(as_of) != iso_z(
            datetime.fromisoformat(decision["as_of"])):
        return "as_of"
    return None


def _snapshot_matches(snapshot_hash: str, body: str) -> bool:
    """Whether the stored snapshot still hashes to its key. Stored as canonical JSON, its own
    bytes hash right when unchanged; only otherwise is it read and serialised again (the
    reference), so a snapshot stored with other white space still counts as unchanged."""
    try:
        if "sha256:" + hashlib.sha256(body.encode()).hexdigest() == snapshot_hash:
            return True
        return content_hash(json.loads(body)) == snapshot_hash
    except ValueError:
        return False


def _checkpoint_gaps(checkpoints: list[Checkpoint]) -> list[Problem]:
    """Each signed checkpoint names the one before it: a deleted or replaced one is a gap."""
    ordered = sorted(checkpoints, key=Checkpoint.order_key)
    for before, after in zip([None, *ordered], ordered, strict=False):
        if after.previous is None:
            continue
        if before is None or after.previous != before.digest():
            since = before.sequence if before else 0
            return [Problem(sequence=since + 1, kind="checkpoint-gap",
                            detail=f"the checkpoint signed at {after.sequence} records names a "
                                   f"previous checkpoint that is not among the trusted files "
                                   f"(after the one at {since} records): it was deleted or "
                                   "replaced")]
    return []


def _summary(intact: bool, verified: int, problem: Problem | None,
             snapshot_problem: Problem | None, rejected: list[RejectedCheckpoint],
             others: list[Problem] | None = None) -> str:
    if intact:
        return f"intact up to record {verified}"
    parts = []
    if problem is not None:
        parts.append(f"{problem.kind}: {problem.detail}; intact up to record {max(verified, 0)}")
    if snapshot_problem is not None:
        parts.append(snapshot_problem.detail)
    parts.extend(f"{p.kind}: {p.detail}" for p in others or ())
    if rejected:
        parts.append(f"{len(rejected)} checkpoint file(s) rejected: "
                     + "; ".join(f"{r.file}: {r.reason}" for r in rejected[:5]))
    return " | ".join(parts)
