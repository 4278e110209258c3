"""The access log's hash chain on the in-memory fakes: ``core.verify`` walks it and names the
first deleted or edited entry (issue 14 section 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.audit.core.access_chain import access_entry_hash
from services.audit.core.audit_record import GENESIS_HASH
from services.audit.core.chain_walk import Expectations, VerificationReport
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
