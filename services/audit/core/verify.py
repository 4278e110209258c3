"""Verifying the chain: load the checkpoints first, then walk the records and the snapshots.

Checkpoints are read before the records so a checkpoint written while the walk runs can never
name a record the walk has not seen (the chain only grows).

A full walk rehashes every record and snapshot. An incremental one resumes at the newest
checkpoint an earlier walk found intact (``VerifiedThrough``), when that checkpoint is still
trusted: it rehashes only the records after it (and the snapshots they use), and the first of
them must link to the hash the checkpoint signed. What changed inside the part verified before
is seen only by a full walk, which is why the auditor runs one now and then (``--full``).
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Any, Literal

from services.audit.core.access_chain import AccessHead, AccessLogWalk
from services.audit.core.access_signatures import ReidentificationCheck
from services.audit.core.action_chain import action_walk
from services.audit.core.chain_walk import (
    ChainWalk,
    Expectations,
    Problem,
    RecordVerdict,
    VerificationReport,
    VerifiedThrough,
)
from services.audit.core.checkpoints import Checkpoint
from services.audit.core.ports import (
    AccessLogReader,
    ActionReader,
    ChainStore,
    CheckpointArchive,
    Clock,
    RecordChecker,
    SignatureCheck,
)

SignatureDepth = Literal["unvouched", "all"]
"""Which evaluator signatures a verify checks again (``verify``)."""


@dataclass(frozen=True)
class Verification:
    """A report, where the walk resumed (None: a full walk) and where the next may resume
    (None: nothing to resume from, or the chain is not intact)."""

    report: VerificationReport
    resumed_at: int | None
    verified_through: VerifiedThrough | None


async def verify_chain(store: ChainStore, archive: CheckpointArchive,
                       expectations: Expectations | None = None,
                       decision_keys: SignatureCheck | None = None,
                       access_log: AccessLogReader | None = None, *,
                       clock: Clock | None = None,
                       actions: ActionReader | None = None,
                       intake_keys: SignatureCheck | None = None) -> VerificationReport:
    """Walk every record and snapshot in ``store`` against the checkpoints ``archive`` trusts.

    ``decision_keys``: the evaluator keys (accepted and retired) each record's signature is
    checked against; None skips that check. ``access_log``: its hash chain is walked too (None
    skips it). ``clock``: the verifier's now when ``expectations`` is None (see ``verify``).
    ``actions``: the coordinator actions are checked too (see ``verify``). ``intake_keys``:
    each re-identification's signature in the access log is checked with them (see
    ``verify``)."""
    return (await verify(store, archive, expectations, decision_keys,
                         access_log=access_log, clock=clock, actions=actions,
                         intake_keys=intake_keys)).report


async def verify(store: ChainStore, archive: CheckpointArchive,
                 expectations: Expectations | None = None,
                 decision_keys: SignatureCheck | None = None,
                 resume: VerifiedThrough | None = None,
                 access_log: AccessLogReader | None = None, *,
                 clock: Clock | None = None,
                 checker: RecordChecker | None = None,
                 signatures: SignatureDepth = "unvouched",
                 actions: ActionReader | None = None,
                 intake_keys: SignatureCheck | None = None) -> Verification:
    """``resume``: walk only what follows that checkpoint, when it is still trusted (else the
    whole chain). ``access_log``: walk its whole hash chain as well (``core.access_chain``)
    and hold it against the access heads the trusted checkpoints signed, so deleting the newest
    entries is seen (``access-log-truncated``); a problem there makes the report not intact.
    ``checker``: where the per-record checks are made (None: in the walk's thread); it must
    check signatures against the same keys as ``decision_keys``. ``signatures``: "unvouched"
    verifies the Ed25519 signature of every signed record no trusted checkpoint vouches for
    (its writer checked it before signing its hash: ``Checkpoint.checked_up_to``; docs/audit.md
    "What a checkpoint vouches for"); "all" verifies every one. ``actions``: walk every
    coordinator action (``core.action_chain``): its evaluator signature against
    ``decision_keys``, its columns against the signed event, its hash chain, and the chain
    against the action heads the trusted checkpoints signed (``actions-*``; always a full walk).
    ``intake_keys``: with ``access_log``, intake's keys (accepted and retired) every
    re-identification entry's stored signature is checked against, its columns held against
    the signed event (``core.access_signatures``; None: the columns only); a forged or altered
    one is ``access-log-altered`` naming its entry and event id.

    ``expectations`` None means ``Expectations(now=clock())``: records stamped after the
    verifier's now are reported. Raises ``ValueError`` when neither is given, so that check is
    never dropped silently."""
    if expectations is None:
        if clock is None:
            raise ValueError("verify needs expectations or a clock (the verifier's now)")
        expectations = Expectations(now=clock())
    trusted, rejected = await asyncio.to_thread(archive.load)
    start = _still_trusted(trusted, resume)
    # Only the records after the resume point are fed: the vouched and signed hashes of the
    # part verified before are not needed (an incremental verify's cost then follows the new
    # records, not the whole chain's length).
    after = start.sequence if start else 0
    vouched = ({} if signatures == "all" or decision_keys is None
               else vouched_hashes(trusted, after))
    walk = ChainWalk((c.sequence for c in trusted), trusted, expectations,
                     require_snapshots=True, decision_keys=decision_keys,
                     resume_from=start, resumed=resume if start else None, vouched=vouched)
    # Hashing is CPU work: a worker thread keeps the service's event loop (and the consumer's
    # heartbeats) responsive while a long chain is verified. With a ``checker`` the per-record
    # checks (rehash, signature) are made apart (worker processes), several batches ahead;
    # the walk then only links the records, in order, so the links across the checker's
    # chunks are checked exactly as within them.
    pending: collections.deque[tuple[list[dict[str, Any]],
                                     asyncio.Future[list[RecordVerdict]]]] = collections.deque()
    try:
        async for batch in store.record_batches(after=start.sequence if start else 0):
            if checker is None:
                await asyncio.to_thread(_feed_records, walk, batch)
                continue
            pending.append((batch, asyncio.ensure_future(checker.verdicts(batch, vouched))))
            while len(pending) > checker.ahead:
                rows, verdicts = pending.popleft()
                await asyncio.to_thread(_feed_records, walk, rows, await verdicts)
        while pending:
            rows, verdicts = pending.popleft()
            await asyncio.to_thread(_feed_records, walk, rows, await verdicts)
    finally:
        for _, verdicts in pending:
            verdicts.cancel()
    if start is None:
        async for snapshots in store.snapshot_batches():
            await asyncio.to_thread(_feed_snapshots, walk, snapshots)
    else:
        used = await store.snapshots(walk.snapshots_used())
        await asyncio.to_thread(_feed_snapshots, walk, used)
    report = walk.report(trusted, rejected)
    if access_log is not None:
        report = await _with_access_log(report, access_log, _signed_access_heads(trusted),
                                        intake_keys)
    if actions is not None:
        report = await _with_actions(report, actions, _signed_action_heads(trusted),
                                     decision_keys)
    return Verification(report, start.sequence if start else None,
                        walk.verified_through(trusted) if report.intact else None)


def vouched_hashes(trusted: list[Checkpoint], after: int = 0) -> dict[int, str]:
    """Sequence -> record hash of every record after sequence ``after`` a trusted checkpoint's
    writer checked, evaluator signature included, before signing that hash."""
    vouched: dict[int, str] = {}
    for checkpoint in trusted:
        vouched.update(checkpoint.checked_hashes(after))
    return vouched


def _signed_access_heads(trusted: list[Checkpoint]) -> list[AccessHead]:
    return [AccessHead(c.access_entry_id, c.access_head, c.access_entries) for c in trusted
            if c.access_entry_id is not None and c.access_head is not None
            and c.access_entries is not None]


async def _with_access_log(report: VerificationReport, access_log: AccessLogReader,
                           signed: list[AccessHead],
                           intake_keys: SignatureCheck | None = None) -> VerificationReport:
    """Walk the access log's chain and hold it against the heads the checkpoints signed;
    check every re-identification entry against intake's signature."""
    reidentifications = ReidentificationCheck(intake_keys)
    walk = AccessLogWalk(signed, row_check=reidentifications)
    async for batch in access_log.entry_batches():
        await asyncio.to_thread(_feed_access, walk, batch)
    found = walk.result()
    problem = (None if found.problem is None else
               Problem(sequence=found.problem.entry_id, kind=found.problem.kind,
                       detail=found.problem.detail))
    update: dict[str, object] = {"access_entries_checked": found.checked,
                                 "access_legacy_entries": found.legacy,
                                 "reidentifications_checked": reidentifications.checked,
                                 "reidentifications_unsigned_legacy":
                                     reidentifications.unsigned_legacy,
                                 "access_problem": problem}
    if problem is not None:
        update["intact"] = False
        update["summary"] = (f"{problem.kind}: {problem.detail}" if report.intact
                             else f"{report.summary} | {problem.kind}: {problem.detail}")
    return report.model_copy(update=update)


def _signed_action_heads(trusted: list[Checkpoint]) -> list[AccessHead]:
    return [AccessHead(c.action_seq, c.action_head, c.action_entries) for c in trusted
            if c.action_seq is not None and c.action_head is not None
            and c.action_entries is not None]


async def _with_actions(report: VerificationReport, actions: ActionReader,
                        signed: list[AccessHead],
                        keys: SignatureCheck | None) -> VerificationReport:
    """Walk the coordinator actions and hold them against the heads the checkpoints signed."""
    walk = action_walk(signed, keys)
    async for batch in actions.action_batches():
        await asyncio.to_thread(_feed_access, walk, batch)
    found = walk.result()
    problem = (None if found.problem is None else
               Problem(sequence=found.problem.entry_id, kind=found.problem.kind,
                       detail=found.problem.detail, action_id=found.problem.ref))
    update: dict[str, object] = {"actions_checked": found.checked,
                                 "actions_legacy": found.legacy,
                                 "actions_problem": problem}
    if problem is not None:
        update["intact"] = False
        update["summary"] = (f"{problem.kind}: {problem.detail}" if report.intact
                             else f"{report.summary} | {problem.kind}: {problem.detail}")
    return report.model_copy(update=update)


def _feed_access(walk: AccessLogWalk, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        walk.feed(row)


def _still_trusted(trusted: list[Checkpoint],
                   resume: VerifiedThrough | None) -> Checkpoint | None:
    if resume is None:
        return None
    for checkpoint in trusted:
        if checkpoint.sequence == resume.sequence and checkpoint.digest() == resume.digest:
            return checkpoint
    return None


def _feed_records(walk: ChainWalk, rows: list[dict[str, Any]],
                  verdicts: list[RecordVerdict] | None = None) -> None:
    if verdicts is None:
        for row in rows:
            walk.feed(row)
        return
    for row, verdict in zip(rows, verdicts, strict=True):
        walk.feed(row, verdict)


def _feed_snapshots(walk: ChainWalk, snapshots: list[tuple[str, str]]) -> None:
    for snapshot_hash, body in snapshots:
        walk.feed_snapshot(snapshot_hash, body)
