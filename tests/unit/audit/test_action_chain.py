"""The coordinator actions' checks (``core.action_chain``, issue 14 section 4): each stored
action's evaluator signature and columns, its hash chain, and the signed heads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.audit.core.access_chain import AccessHead
from services.audit.core.action_chain import action_entry_hash, link_action, walk_actions
from shared.contracts.events import CoordinatorActed
from shared.infra.signing import TrustedKeys
from tests.unit.audit.factories import TEST_SIGNER, write_test_decision_key

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def fields(index: int) -> dict[str, Any]:
    at = NOW + timedelta(minutes=index)
    event = CoordinatorActed.model_validate(TEST_SIGNER.signed(CoordinatorActed(
        event_id=uuid.uuid4(), occurred_at=at, recorded_at=at, source="evaluator",
        patient_key=f"pk_{index}", correlation_id=uuid.uuid4(), action_id=uuid.uuid4(),
        action="not-a-candidate", trial_id="NCT06920433", actor="dev-coordinator",
        reason=f"reason {index}").model_dump(mode="json")))
    return {"action_id": str(event.action_id), "patient_key": event.patient_key,
            "trial_id": event.trial_id, "action": event.action, "actor": event.actor,
            "reason": event.reason, "alert_id": None, "occurred_at": event.occurred_at,
            "recorded_at": at, "event": event.model_dump(mode="json")}


def actions(length: int, legacy: int = 0) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    head: tuple[int, str] | None = None
    for index in range(legacy):
        rows.append({**fields(index), "chain_seq": None, "prev_hash": None, "entry_hash": None})
    for index in range(legacy, legacy + length):
        row = link_action(fields(index), head)
        head = (row["chain_seq"], row["entry_hash"])
        rows.append(row)
    return rows


def keys(tmp_path: Path) -> TrustedKeys:
    return TrustedKeys([write_test_decision_key(tmp_path)])


def head_of(rows: list[dict[str, Any]]) -> AccessHead:
    return AccessHead(rows[-1]["chain_seq"], rows[-1]["entry_hash"], len(rows))


def test_intact_actions_verify_legacy_ones_counted(tmp_path: Path) -> None:
    rows = actions(5, legacy=2)
    found = walk_actions(rows, [head_of(rows)], keys(tmp_path))
    assert (found.checked, found.legacy, found.problem) == (7, 2, None)


def test_an_edited_column_is_named_with_the_action_id(tmp_path: Path) -> None:
    rows = actions(5)
    rows[2]["reason"] = "forged reason"
    rows[2]["entry_hash"] = action_entry_hash(rows[2])  # even re-hashed
    found = walk_actions(rows, [head_of(rows)], keys(tmp_path))
    assert found.problem is not None
    assert (found.problem.kind, found.problem.ref) == ("actions-altered", rows[2]["action_id"])
    assert "reason" in found.problem.detail


def test_an_edited_legacy_event_fails_its_signature(tmp_path: Path) -> None:
    rows = actions(2, legacy=2)
    rows[1]["event"] = {**rows[1]["event"], "reason": "forged reason"}
    rows[1]["reason"] = "forged reason"
    found = walk_actions(rows, [], keys(tmp_path))
    assert found.problem is not None
    assert (found.problem.kind, found.problem.ref) == ("actions-altered", rows[1]["action_id"])
    assert "signature" in found.problem.detail


def test_a_deleted_action_is_a_gap_at_the_next(tmp_path: Path) -> None:
    rows = actions(5)
    del rows[2]
    found = walk_actions(rows, [], keys(tmp_path))
    assert found.problem is not None
    assert (found.problem.kind, found.problem.entry_id) == ("actions-gap", 4)


def test_deleting_the_newest_actions_is_seen_against_the_signed_head(tmp_path: Path) -> None:
    rows = actions(5)
    signed = head_of(rows)
    found = walk_actions(rows[:3], [signed], keys(tmp_path))
    assert found.problem is not None
    assert (found.problem.kind, found.problem.entry_id) == ("actions-truncated", 4)


def test_an_inserted_legacy_action_is_more_than_the_checkpoint_counted(tmp_path: Path) -> None:
    rows = actions(3, legacy=1)
    signed = head_of(rows)
    extra = {**fields(9), "chain_seq": None, "prev_hash": None, "entry_hash": None}
    found = walk_actions([extra, *rows], [signed], keys(tmp_path))
    assert found.problem is not None
    assert found.problem.kind == "actions-altered"
    assert "inserted" in found.problem.detail
