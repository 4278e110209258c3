"""The audit core on in-memory fakes of its ports: appending, linking, checkpoints and
verification, with every tamper kind verify reports (no database, no files)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.audit_record import GENESIS_HASH, build_record, record_hash
from services.audit.core.chain import DecisionChain
from services.audit.core.chain_walk import Expectations, VerificationReport, VerifiedThrough
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.checkpoints import RejectedCheckpoint
from services.audit.core.ports import StoreUnavailable
from services.audit.core.verify import verify, verify_chain
from tests.unit.audit.chain_fixtures import rehash_from
from tests.unit.audit.factories import BASE_TIME, decision_event
from tests.unit.audit.fakes import InMemoryChainStore, InMemoryCheckpoints

KEY = Ed25519PrivateKey.generate()
NOW = BASE_TIME + timedelta(days=1)


def recorded(index: int) -> datetime:
    return BASE_TIME + timedelta(minutes=index, seconds=1)


async def filled(count: int, checkpoint_every: int = 0,
                 ) -> tuple[InMemoryChainStore, InMemoryCheckpoints]:
    store, archive = InMemoryChainStore(), InMemoryCheckpoints()
    chain = DecisionChain(store)
    writer = CheckpointWriter(store, KEY, archive, lambda: NOW)
    for index in range(count):
        await chain.append(decision_event(f"pk_{index % 3}", index), recorded(index))
        if checkpoint_every and (index + 1) % checkpoint_every == 0:
            await writer.write_if_advanced()
    return store, archive


async def verified(store: InMemoryChainStore, archive: InMemoryCheckpoints,
                   **expect: Any) -> VerificationReport:
    return await verify_chain(store, archive, Expectations(now=NOW, **expect))


def kinds(report: VerificationReport) -> set[str]:
    found = {p.kind for p in report.other_problems}
    for problem in (report.first_problem, report.snapshot_problem):
        if problem is not None:
            found.add(problem.kind)
    return found


async def test_records_are_numbered_from_one_and_each_links_to_the_one_before() -> None:
    store, _ = await filled(5)
    assert [r["sequence"] for r in store.records] == [1, 2, 3, 4, 5]
    assert store.records[0]["prev_hash"] == GENESIS_HASH
    for before, after in zip(store.records, store.records[1:], strict=False):
        assert after["prev_hash"] == before["record_hash"]
    assert all(record_hash(r) == r["record_hash"] for r in store.records)
    assert (await store.head()).sequence == 5


async def test_a_redelivered_decision_is_stored_once_within_a_batch_and_across_batches() -> None:
    store = InMemoryChainStore()
    chain = DecisionChain(store)
    first, second = decision_event(index=0), decision_event(index=1)
    results = await chain.append_many([first, second, first], NOW)
    assert [r.duplicate for r in results] == [False, False, True]
    again = await chain.append_many([second], NOW)
    assert again[0].duplicate
    assert len(store.records) == 2


async def test_a_snapshot_shared_by_decisions_is_stored_once() -> None:
    store = InMemoryChainStore()
    events = [decision_event(index=i) for i in (0, 3, 6)]  # the same eGFR: the same snapshot
    assert len({e.snapshot_hash for e in events}) == 1
    await DecisionChain(store).append_many(events, NOW)
    assert len(store.records) == 3
    assert list(store.snapshot_bodies) == [events[0].snapshot_hash]


async def test_an_unavailable_store_keeps_nothing_of_the_batch() -> None:
    store = InMemoryChainStore(failures=[StoreUnavailable("down")])
    with pytest.raises(StoreUnavailable):
        await DecisionChain(store).append_many([decision_event(index=0)], NOW)
    assert store.records == []
    assert store.snapshot_bodies == {}


class RacedStore(InMemoryChainStore):
    """Another process appends a record while the first transaction is open."""

    def __init__(self) -> None:
        super().__init__()
        self.raced = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Any]:
        async with super().transaction() as transaction:
            yield transaction
            if not self.raced:
                self.raced = True
                other = build_record(decision_event("pk_other", 99), 1, GENESIS_HASH, NOW)
                self.records.append(other.columns())


async def test_a_writer_that_lost_a_race_reads_the_head_again_and_appends_after_it() -> None:
    store = RacedStore()
    [appended] = await DecisionChain(store).append_many([decision_event(index=0)], NOW)
    assert appended.record is not None
    assert appended.record.sequence == 2
    assert store.transactions == 2
    assert store.records[1]["prev_hash"] == store.records[0]["record_hash"]


async def test_a_checkpoint_is_signed_only_when_the_chain_grew_and_chains_to_the_last() -> None:
    store, archive = InMemoryChainStore(), InMemoryCheckpoints()
    chain = DecisionChain(store)
    writer = CheckpointWriter(store, KEY, archive, lambda: NOW)
    assert await writer.write_if_advanced() is None
    for index in range(3):
        await chain.append(decision_event(index=index), recorded(index))
    first = await writer.write_if_advanced()
    assert first is not None
    assert first.sequence == 3
    assert first.first_sequence == 1
    assert first.record_hashes == [r["record_hash"] for r in store.records]
    assert await writer.write_if_advanced() is None
    await chain.append(decision_event(index=3), recorded(3))
    restarted = CheckpointWriter(store, KEY, archive, lambda: NOW)
    second = await restarted.write_if_advanced()
    assert second is not None
    assert second.previous == first.digest()
    assert second.first_sequence == 4
    assert second.record_hashes == [store.records[3]["record_hash"]]


async def test_an_untouched_chain_with_its_checkpoints_verifies_intact() -> None:
    store, archive = await filled(12, checkpoint_every=4)
    report = await verified(store, archive, min_head=12)
    assert report.intact, report.summary
    assert (report.verified_up_to, report.covered_by_checkpoint_up_to) == (12, 12)
    assert report.snapshots_checked == 3


async def test_an_altered_field_is_named_at_its_record() -> None:
    store, archive = await filled(8, checkpoint_every=4)
    store.records[4]["status"] = "eligible" if store.records[4]["status"] != "eligible" else "x"
    report = await verified(store, archive)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.sequence) == ("altered", 5)


async def test_a_removed_record_is_named() -> None:
    store, archive = await filled(8, checkpoint_every=4)
    del store.records[2]
    report = await verified(store, archive)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.sequence) == ("removed", 3)


async def test_two_swapped_records_are_named_as_reordered() -> None:
    store, archive = await filled(8, checkpoint_every=4)
    rows = store.records
    rows[2], rows[3] = ({**rows[3], "sequence": 3}, {**rows[2], "sequence": 4})
    report = await verified(store, archive)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.sequence) == ("reordered", 3)


async def test_a_consistent_rewrite_is_named_at_the_first_rewritten_record() -> None:
    store, archive = await filled(8, checkpoint_every=4)
    rows = store.records
    rows[5] = {**rows[5], "patient_key": "pk_forged"}
    store.records = rehash_from(rows, 5)
    report = await verified(store, archive)
    assert report.first_problem is not None
    assert (report.first_problem.kind, report.first_problem.sequence) == ("rewritten", 6)


async def test_an_altered_snapshot_is_reported() -> None:
    store, archive = await filled(4, checkpoint_every=4)
    digest, body = next(iter(store.snapshot_bodies.items()))
    store.snapshot_bodies[digest] = body.replace("72", "99", 1)
    assert "snapshot-altered" in kinds(await verified(store, archive))


async def test_a_deleted_snapshot_is_reported_missing_at_the_first_record_using_it() -> None:
    store, archive = await filled(4, checkpoint_every=4)
    del store.snapshot_bodies[store.records[1]["snapshot_hash"]]
    report = await verified(store, archive)
    missing = [p for p in report.other_problems if p.kind == "snapshot-missing"]
    assert not report.intact
    assert missing[0].sequence == 2


async def test_a_deleted_middle_checkpoint_is_a_gap() -> None:
    store, archive = await filled(12, checkpoint_every=4)
    archive.kept = [c for c in archive.kept if c.sequence != 8]
    assert "checkpoint-gap" in kinds(await verified(store, archive))


async def test_deleted_newest_checkpoints_are_stale_against_a_known_head() -> None:
    store, archive = await filled(12, checkpoint_every=4)
    archive.kept = [c for c in archive.kept if c.sequence <= 4]
    assert (await verified(store, archive)).intact  # the files alone cannot tell
    assert "stale" in kinds(await verified(store, archive, min_head=12))


async def test_records_stamped_backwards_or_in_the_future_are_flagged() -> None:
    store, archive = await filled(4)
    store.records[2]["recorded_at"] = recorded(0) - timedelta(hours=1)
    assert "time-reversed" in kinds(await verified(store, archive))
    store, archive = await filled(4)
    store.records[3]["recorded_at"] = NOW + timedelta(days=2)
    assert "time-future" in kinds(await verified(store, archive))


async def test_without_expectations_the_given_clock_is_the_verifiers_now() -> None:
    store, archive = await filled(4)
    store.records[3]["recorded_at"] = NOW + timedelta(days=2)
    assert "time-future" in kinds(await verify_chain(store, archive, clock=lambda: NOW))
    later = NOW + timedelta(days=3)
    assert "time-future" not in kinds(await verify_chain(store, archive, clock=lambda: later))


async def test_verify_refuses_to_run_with_neither_expectations_nor_a_clock() -> None:
    store, archive = await filled(2)
    with pytest.raises(ValueError, match="clock"):
        await verify_chain(store, archive)


async def test_a_rejected_checkpoint_file_makes_the_chain_not_intact() -> None:
    store, archive = await filled(4, checkpoint_every=4)
    archive.rejected.append(RejectedCheckpoint("checkpoint-000000000009.json",
                                               "signature does not verify"))
    report = await verified(store, archive)
    assert not report.intact
    assert "rejected" in report.summary


async def test_a_record_whose_decision_is_no_longer_json_is_named_altered() -> None:
    store, archive = await filled(4)
    store.records[1]["decision"] = json.dumps({"x": 1})[:-1]
    report = await verified(store, archive)
    assert report.first_problem is not None
    assert report.first_problem.sequence == 2


async def test_an_incremental_walk_rehashes_only_the_records_after_the_last_verified_point(
        ) -> None:
    store, archive = await filled(12, checkpoint_every=4)
    first = await verify(store, archive, Expectations(now=NOW))
    assert first.resumed_at is None
    assert first.verified_through is not None
    assert first.verified_through.sequence == 12
    chain = DecisionChain(store)
    writer = CheckpointWriter(store, KEY, archive, lambda: NOW)
    for index in range(12, 15):
        await chain.append(decision_event(f"pk_{index % 3}", index), recorded(index))
    await writer.write_if_advanced()
    second = await verify(store, archive, Expectations(now=NOW), resume=first.verified_through)
    assert second.resumed_at == 12
    assert second.report.intact, second.report.summary
    assert second.report.records_checked == 3
    assert second.report.verified_up_to == 15
    assert second.verified_through is not None
    assert second.verified_through.sequence == 15


async def test_a_rewrite_reaching_back_before_the_resume_point_breaks_the_link() -> None:
    store, archive = await filled(12, checkpoint_every=4)
    at_8 = next(c for c in archive.kept if c.sequence == 8)
    rows = store.records
    rows[7] = {**rows[7], "patient_key": "pk_forged"}  # record 8, then every hash after it
    store.records = rehash_from(rows, 7)
    resumed = await verify(store, archive, Expectations(now=NOW),
                           resume=VerifiedThrough(8, at_8.digest()))
    assert resumed.resumed_at == 8
    assert resumed.report.first_problem is not None
    assert (resumed.report.first_problem.kind, resumed.report.first_problem.sequence) == (
        "altered", 8)


async def test_a_change_inside_the_verified_part_is_seen_by_a_full_walk_only() -> None:
    store, archive = await filled(12, checkpoint_every=4)
    first = await verify(store, archive, Expectations(now=NOW))
    store.records[2]["status"] = "x"
    resumed = await verify(store, archive, Expectations(now=NOW), resume=first.verified_through)
    assert resumed.report.intact  # by design: --full exists for this
    full = await verify(store, archive, Expectations(now=NOW))
    assert full.report.first_problem is not None
    assert full.report.first_problem.sequence == 3
    assert full.verified_through is None


async def test_a_resume_point_that_names_no_trusted_checkpoint_means_a_full_walk() -> None:
    store, archive = await filled(8, checkpoint_every=4)
    forged = VerifiedThrough(8, "sha256:" + "0" * 64)
    store.records[1]["status"] = "x"
    result = await verify(store, archive, Expectations(now=NOW), resume=forged)
    assert result.resumed_at is None
    assert result.report.first_problem is not None
    assert result.report.first_problem.sequence == 2
