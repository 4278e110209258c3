"""The access log's hash chain on the in-memory fakes: ``core.verify`` walks it and names the
first deleted or edited entry (issue 14 section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY

from services.audit.adapters.telemetry import MetricsAndLogs
from services.audit.core.access_chain import access_entry_hash
from services.audit.core.audit_record import GENESIS_HASH
from services.audit.core.chain_walk import Expectations, VerificationReport
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.checkpoints import parse_checkpoint_key
from services.audit.core.verify import verify
from tests.unit.audit.fakes import InMemoryAccessLog, InMemoryChainStore, InMemoryCheckpoints

NOW = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)


def entry(index: int) -> dict[str, Any]:
    return {"accessed_at": NOW + timedelta(seconds=index), "client": "dev-auditor",
            "role": "auditor", "action": "query-decisions",
            "query": '{"trial_id":"NCT0000000' + str(index % 10) + '"}',
            "result_count": index}


def access_log(length: int, legacy: int = 0) -> InMemoryAccessLog:
    log = InMemoryAccessLog()
    for index in range(legacy):
        log.append(entry(index), chained=False)
    for index in range(legacy, legacy + length):
        log.append(entry(index))
    return log


async def check(log: InMemoryAccessLog) -> VerificationReport:
    verification = await verify(InMemoryChainStore(), InMemoryCheckpoints(),
                                Expectations(now=NOW), access_log=log)
    return verification.report


async def test_an_intact_access_log_verifies_and_every_entry_is_counted() -> None:
    log = access_log(12)
    assert log.entries[0]["prev_hash"] == GENESIS_HASH
    assert all(b["prev_hash"] == a["entry_hash"]
               for a, b in zip(log.entries, log.entries[1:], strict=False))
    report = await check(log)
    assert report.intact, report.summary
    assert (report.access_entries_checked, report.access_legacy_entries) == (12, 0)
    assert report.access_problem is None


async def test_a_deleted_entry_is_a_gap_named_at_the_entry_after_it() -> None:
    log = access_log(12)
    del log.entries[4]  # id 5
    report = await check(log)
    assert not report.intact
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == ("access-log-gap", 6)
    assert "access-log-gap" in report.summary


async def test_deleting_the_first_chained_entry_is_a_gap_too() -> None:
    log = access_log(5)
    del log.entries[0]
    report = await check(log)
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == ("access-log-gap", 2)


async def test_an_edited_entry_is_named_as_altered() -> None:
    log = access_log(12)
    log.entries[7]["client"] = "someone-else"  # id 8
    report = await check(log)
    assert not report.intact
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == (
        "access-log-altered", 8)


async def test_an_edit_with_its_own_hash_recomputed_breaks_the_next_link() -> None:
    log = access_log(12)
    edited = log.entries[7]
    edited["result_count"] = 0
    edited["entry_hash"] = access_entry_hash(edited)
    report = await check(log)
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == ("access-log-gap", 9)


async def test_legacy_entries_before_the_chain_are_counted_not_flagged() -> None:
    log = access_log(4, legacy=3)
    report = await check(log)
    assert report.intact, report.summary
    assert (report.access_entries_checked, report.access_legacy_entries) == (7, 3)
    assert log.entries[3]["prev_hash"] == GENESIS_HASH


async def test_an_entry_stripped_of_its_hash_after_the_chain_began_is_altered() -> None:
    log = access_log(6)
    log.entries[3].update(prev_hash=None, entry_hash=None)  # id 4 passed off as legacy
    report = await check(log)
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == (
        "access-log-altered", 4)


async def test_an_access_log_problem_does_not_blame_the_decision_chain() -> None:
    log = access_log(3)
    log.entries[1]["action"] = "verify"
    report = await check(log)
    assert report.access_problem is not None
    assert report.access_problem.kind == "access-log-altered"
    assert report.first_problem is None  # the (empty) decision chain itself is fine


# The access log's head under the signed checkpoints: what the chain alone cannot see.

KEY = Ed25519PrivateKey.generate()


async def checkpointed(log: InMemoryAccessLog, store: InMemoryChainStore | None = None,
                       archive: InMemoryCheckpoints | None = None,
                       ) -> tuple[InMemoryChainStore, InMemoryCheckpoints]:
    store = store or InMemoryChainStore()
    archive = archive or InMemoryCheckpoints()
    written = await CheckpointWriter(store, KEY, archive, lambda: NOW,
                                     access_log=log).write_if_advanced()
    assert written is not None
    return store, archive


async def check_signed(log: InMemoryAccessLog, store: InMemoryChainStore,
                       archive: InMemoryCheckpoints) -> VerificationReport:
    return (await verify(store, archive, Expectations(now=NOW), access_log=log)).report


async def test_a_checkpoint_signs_the_access_head_and_an_untouched_log_verifies() -> None:
    log = access_log(6, legacy=2)
    store, archive = await checkpointed(log)
    [signed] = archive.kept
    assert (signed.access_entry_id, signed.access_head, signed.access_entries) == (
        8, log.entries[-1]["entry_hash"], 8)
    report = await check_signed(log, store, archive)
    assert report.intact, report.summary


async def test_deleting_the_newest_access_entries_is_seen_as_truncated() -> None:
    log = access_log(10)
    store, archive = await checkpointed(log)
    del log.entries[7:]  # ids 8-10: the chain of what is left holds
    assert (await check(log)).intact  # the chain alone cannot see it
    report = await check_signed(log, store, archive)
    assert not report.intact
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == (
        "access-log-truncated", 8)
    assert "up to id 10" in report.access_problem.detail
    assert "access-log-truncated" in report.summary


async def test_truncating_then_appending_again_is_still_seen() -> None:
    log = access_log(10)
    store, archive = await checkpointed(log)
    del log.entries[7:]
    for index in range(50, 54):  # ids 8-11 again, linked to entry 7: a consistent chain
        log.append(entry(index))
    assert (await check(log)).intact
    report = await check_signed(log, store, archive)
    assert report.access_problem is not None
    assert (report.access_problem.kind, report.access_problem.sequence) == (
        "access-log-altered", 10)  # the id the checkpoint signed holds another entry now


async def test_deleting_legacy_entries_counted_by_a_checkpoint_is_a_gap() -> None:
    log = access_log(3, legacy=4)
    store, archive = await checkpointed(log)
    del log.entries[1]  # a legacy entry: nothing links to it
    assert (await check(log)).intact
    report = await check_signed(log, store, archive)
    assert report.access_problem is not None
    assert report.access_problem.kind == "access-log-gap"
    assert "7 access entries" in report.access_problem.detail


async def test_a_checkpoint_is_written_when_only_the_access_log_grew_and_chains() -> None:
    log = access_log(3)
    store, archive = await checkpointed(log)
    writer = CheckpointWriter(store, KEY, archive, lambda: NOW, access_log=log)
    assert await writer.write_if_advanced() is None  # nothing grew
    log.append(entry(9))
    second = await writer.write_if_advanced()
    assert second is not None
    assert second.sequence == 0
    assert second.access_entry_id == 4
    assert second.previous == archive.kept[0].digest()
    assert len(archive.kept) == 2  # the first one is not replaced
    del log.entries[3]
    report = await check_signed(log, store, archive)
    assert report.access_problem is not None
    assert report.access_problem.kind == "access-log-truncated"
    archive.kept.pop(0)  # the checkpoint before it deleted: a gap among the checkpoints
    report = await check_signed(access_log(4), store, archive)
    assert "checkpoint-gap" in report.summary


async def test_the_newest_checkpoint_deleted_with_the_entries_it_alone_signed_is_stale() -> None:
    """Checkpoint 1 signs 6 entries; entries 7-9 come (no record: the chain head stays 0) and
    checkpoint 2 signs them; then checkpoint 2 and entries 7-9 are deleted. The files left
    chain intact and sign everything left, and the record head the auditor knows still holds:
    only an outside expectation on the checkpoints (their file name's numbers) can see it."""
    log = access_log(6)
    store, archive = await checkpointed(log)
    for index in range(6, 9):
        log.append(entry(index))
    await checkpointed(log, store, archive)
    newest = archive.kept[-1]
    assert newest.order_key() == (0, 9, 0)
    archive.kept.pop()
    del log.entries[6:]

    def expecting(**expect: Any) -> Expectations:
        return Expectations(now=NOW, **expect)

    report = (await verify(store, archive, expecting(min_head=0), access_log=log)).report
    assert report.intact, report.summary  # the files and the record head alone cannot tell
    report = (await verify(store, archive, expecting(min_checkpoint=(0, 9, 0)),
                           access_log=log)).report
    assert not report.intact
    stale = [p for p in (report.first_problem, *report.other_problems)
             if p is not None and p.kind == "stale"]
    assert stale
    assert "signs (records, access entry, action) 0-6-0" in stale[0].detail
    assert "checkpoint 0-9-0 was expected" in stale[0].detail
    untouched = access_log(9)
    store, archive = await checkpointed(untouched)
    report = (await verify(store, archive, expecting(min_checkpoint=(0, 9, 0)),
                           access_log=untouched)).report
    assert report.intact, report.summary  # an untouched log meets the expectation


async def test_the_writer_publishes_the_newest_checkpoint_for_min_checkpoint() -> None:
    """What an operator scrapes to pass ``verify --min-checkpoint``: the checkpoint writer
    hands the telemetry the newest checkpoint's (records, access entry, action), and the
    metrics adapter sets ``trialwatch_audit_checkpoint_newest{part}`` from it."""
    log = access_log(5)
    store, archive = InMemoryChainStore(), InMemoryCheckpoints()
    written = await CheckpointWriter(store, KEY, archive, lambda: NOW, access_log=log,
                                     telemetry=MetricsAndLogs()).write_if_advanced()
    assert written is not None
    newest = {part: REGISTRY.get_sample_value("trialwatch_audit_checkpoint_newest",
                                              {"part": part})
              for part in ("sequence", "access_entry", "action")}
    assert newest == {"sequence": 0, "access_entry": 5, "action": 0}


@pytest.mark.parametrize(("given", "read"), [
    ("48", (48, 0, 0)), ("48-7", (48, 7, 0)), ("48-7-1", (48, 7, 1)),
    ("checkpoint-000000000048-000000000007.json", (48, 7, 0)),
    (f"{2**63 - 1}-0-{2**63 - 1}", (2**63 - 1, 0, 2**63 - 1))])
def test_a_checkpoint_key_is_read_from_its_numbers_or_file_name(
        given: str, read: tuple[int, int, int]) -> None:
    assert parse_checkpoint_key(given) == read


@pytest.mark.parametrize("given", [
    "", "x", "1-2-3-4", "-1", "1--2", "4.8", " 48", "48 ", "dir/checkpoint-48.json",
    str(2**63), f"1-{2**63}", "0" * 81, "١٢"])  # Arabic-Indic digits are not ASCII digits
def test_anything_else_is_refused_as_a_checkpoint_key(given: str) -> None:
    with pytest.raises(ValueError, match="not a checkpoint"):
        parse_checkpoint_key(given)
