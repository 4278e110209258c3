from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.core.chain_walk import ChainWalk, VerificationReport
from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint, sign_checkpoint
from tests.unit.audit.chain_fixtures import chain, rehash_from

KEY = Ed25519PrivateKey.generate()
SIGNED_AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def checkpoint_at(rows: list[dict[str, Any]], sequence: int) -> Checkpoint:
    return sign_checkpoint(KEY, sequence, rows[sequence - 1]["record_hash"], SIGNED_AT)


def verify(rows: list[dict[str, Any]], checkpoints: list[Checkpoint] = (),  # type: ignore[assignment]
           rejected: list[RejectedCheckpoint] = ()) -> VerificationReport:  # type: ignore[assignment]
    walk = ChainWalk(c.sequence for c in checkpoints)
    for row in rows:
        walk.feed(row)
    return walk.report(list(checkpoints), list(rejected))


def test_an_untouched_chain_is_intact_up_to_its_last_record() -> None:
    rows = chain(10)
    report = verify(rows, [checkpoint_at(rows, 5), checkpoint_at(rows, 10)])
    assert report.intact
    assert report.summary == "intact up to record 10"
    assert report.covered_by_checkpoint_up_to == 10


def test_an_empty_chain_is_intact() -> None:
    assert verify([]).summary == "intact up to record 0"


def test_one_altered_field_names_that_record() -> None:
    rows = chain(10)
    rows[6] = {**rows[6], "status": "ineligible"}
    report = verify(rows)
    assert not report.intact
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (7, "altered")
    assert report.verified_up_to == 6


def test_a_deleted_record_is_named_as_removed() -> None:
    rows = chain(10)
    del rows[3]
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (4, "removed")


def test_two_swapped_records_are_named_as_reordered() -> None:
    rows = chain(10)
    rows[3], rows[4] = {**rows[4], "sequence": 4}, {**rows[3], "sequence": 5}
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (4, "reordered")
    assert "written as record 5" in report.first_problem.detail


def test_an_altered_record_with_its_hash_recomputed_is_named_by_the_broken_link() -> None:
    rows = chain(10)
    forged = {**rows[2], "status": "ineligible"}
    rows[2] = rehash_from([*rows[:2], forged], 2)[2]
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (3, "altered")


def test_a_truncated_tail_is_caught_by_a_checkpoint() -> None:
    rows = chain(10)
    checkpoints = [checkpoint_at(rows, 8)]
    report = verify(rows[:6], checkpoints)
    assert not report.intact
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (7, "removed")


def test_a_truncated_tail_after_the_last_checkpoint_goes_unnoticed_by_design() -> None:
    rows = chain(10)
    assert verify(rows[:9], [checkpoint_at(rows, 8)]).intact


def test_a_whole_chain_rewrite_is_caught_by_the_checkpoints() -> None:
    rows = chain(10)
    checkpoints = [checkpoint_at(rows, 4), checkpoint_at(rows, 8)]
    rows[5] = {**rows[5], "status": "ineligible"}
    rewritten = rehash_from(rows, 5)
    assert verify(rewritten).intact  # consistent on its own: only the checkpoints know
    report = verify(rewritten, checkpoints)
    assert not report.intact
    assert report.first_problem is not None
    assert report.first_problem.kind == "rewritten"
    assert report.first_problem.sequence == 5  # somewhere in 5..8, after the last good checkpoint
    assert report.covered_by_checkpoint_up_to == 4


def test_the_earliest_problem_wins_between_chain_and_checkpoints() -> None:
    rows = chain(10)
    checkpoints = [checkpoint_at(rows, 3)]
    rewritten = rehash_from([*rows[:1], {**rows[1], "status": "ineligible"}, *rows[2:]], 1)
    rewritten[7] = {**rewritten[7], "patient_key": "pk_other"}
    report = verify(rewritten, checkpoints)
    assert report.first_problem is not None
    assert report.first_problem.sequence == 1
    assert report.first_problem.kind == "rewritten"


def test_a_rejected_checkpoint_makes_the_report_not_intact() -> None:
    rows = chain(3)
    report = verify(rows, [], [RejectedCheckpoint("checkpoint-000000000003.json",
                                                  "signature does not verify")])
    assert not report.intact
    assert "signature does not verify" in report.summary


def test_an_altered_snapshot_is_reported() -> None:
    walk = ChainWalk()
    walk.feed_snapshot("sha256:" + "0" * 64, '{"facts": []}')
    report = walk.report([], [])
    assert not report.intact
    assert report.snapshot_problem is not None


@pytest.mark.parametrize("index", [0, 4, 9])
def test_any_single_record_edit_is_found_at_its_own_sequence(index: int) -> None:
    rows = chain(10)
    rows[index] = {**rows[index], "trial_version": "forged"}
    report = verify(rows)
    assert report.first_problem is not None
    assert report.first_problem.sequence == index + 1


FIELDS = ("patient_key", "trial_id", "trial_version", "status", "evaluator_version",
          "engine_version", "snapshot_hash", "decision")


@settings(max_examples=60, deadline=None)
@given(length=st.integers(min_value=1, max_value=25), data=st.data())
def test_any_edit_of_any_field_of_any_record_is_named_at_that_record(
        length: int, data: st.DataObject) -> None:
    rows = chain(length)
    index = data.draw(st.integers(min_value=0, max_value=length - 1))
    field = data.draw(st.sampled_from(FIELDS))
    replacement = '{"status":"eligible"}' if field == "decision" else "forged"
    rows[index] = {**rows[index], field: replacement}
    report = verify(rows)
    assert report.first_problem is not None
    assert report.first_problem.sequence == index + 1
    assert report.verified_up_to == index


@settings(max_examples=30, deadline=None)
@given(length=st.integers(min_value=2, max_value=25), data=st.data())
def test_swapping_any_two_records_is_named_at_the_earlier_position(
        length: int, data: st.DataObject) -> None:
    rows = chain(length)
    first = data.draw(st.integers(min_value=0, max_value=length - 2))
    second = data.draw(st.integers(min_value=first + 1, max_value=length - 1))
    rows[first], rows[second] = ({**rows[second], "sequence": first + 1},
                                 {**rows[first], "sequence": second + 1})
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (first + 1, "reordered")


def test_a_record_whose_decision_is_no_longer_json_is_named_altered() -> None:
    rows = chain(4)
    rows[1] = {**rows[1], "decision": "{broken"}
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (2, "altered")


def test_a_record_renumbered_below_one_is_named_altered() -> None:
    rows = chain(4)
    rows = [{**rows[0], "sequence": -1}, *rows[1:]]
    report = verify(rows)
    assert report.first_problem is not None
    assert (report.first_problem.sequence, report.first_problem.kind) == (1, "altered")
