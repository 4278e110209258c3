from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.audit.core.audit_record import GENESIS_HASH, build_record, hashed_form, record_hash
from shared.contracts.events import DecisionMade, RegistryChangeRef
from tests.unit.audit.factories import decision_event

RECORDED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_a_record_keeps_the_decision_its_inputs_and_its_cause() -> None:
    event = decision_event(index=2)
    record = build_record(event, 1, GENESIS_HASH, RECORDED)
    assert record.decision_id == event.decision_id
    assert record.causation_id == event.causation_id
    assert record.trial_id == event.decision.trial.id
    assert record.trial_version == event.decision.trial.version
    assert record.status == event.decision.status.value
    assert record.evaluator_version == event.evaluator_version
    assert record.as_of == event.decision.as_of
    assert record.decided_at == event.occurred_at
    assert record.snapshot_hash == event.snapshot_hash
    assert record.prev_hash == GENESIS_HASH


def test_the_record_hash_is_the_same_when_recomputed_from_stored_columns() -> None:
    record = build_record(decision_event(), 1, GENESIS_HASH, RECORDED)
    assert record_hash(record.columns()) == record.record_hash


def test_the_same_instant_in_another_offset_hashes_the_same() -> None:
    columns = build_record(decision_event(), 1, GENESIS_HASH, RECORDED).columns()
    shifted = {**columns, "recorded_at": RECORDED.astimezone(timezone(timedelta(hours=2)))}
    assert record_hash(shifted) == record_hash(columns)


@pytest.mark.parametrize(("field", "value"), [
    ("sequence", 2), ("patient_key", "pk_other"), ("status", "ineligible"),
    ("trial_version", "2099-01-01"), ("prev_hash", "sha256:" + "1" * 64),
    ("snapshot_hash", "sha256:" + "2" * 64), ("recorded_at", RECORDED + timedelta(seconds=1)),
    ("decision", '{"status":"eligible"}'), ("site", "site-b"),
])
def test_changing_any_stored_field_changes_the_record_hash(field: str, value: object) -> None:
    columns = build_record(decision_event(), 1, GENESIS_HASH, RECORDED).columns()
    assert record_hash({**columns, field: value}) != record_hash(columns)


def test_the_hashed_form_excludes_only_the_hash_itself() -> None:
    columns = build_record(_from_registry(decision_event(site="site-a")), 1, GENESIS_HASH,
                           RECORDED).columns()
    assert set(hashed_form(columns)) == set(columns) - {"record_hash"}


def test_a_record_without_registry_fields_hashes_as_before_the_registry_existed() -> None:
    columns = build_record(decision_event(), 1, GENESIS_HASH, RECORDED).columns()
    assert set(hashed_form(columns)) == set(columns) - {
        "record_hash", "trial_content_hash", "registry_change", "site"}


def test_a_decision_of_a_site_keeps_it_hashed_and_one_without_hashes_as_before() -> None:
    stamped = build_record(decision_event(site="site-a"), 1, GENESIS_HASH, RECORDED)
    assert stamped.site == "site-a"
    assert hashed_form(stamped.columns())["site"] == "site-a"
    assert record_hash(stamped.columns()) == stamped.record_hash
    plain = build_record(decision_event(), 1, GENESIS_HASH, RECORDED).columns()
    assert "site" not in hashed_form(plain)
    assert record_hash({**plain, "site": None}) == record_hash(
        {k: v for k, v in plain.items() if k != "site"})


def test_the_registry_change_behind_a_decision_is_recorded_and_chained() -> None:
    event = _from_registry(decision_event())
    record = build_record(event, 1, GENESIS_HASH, RECORDED)
    assert record.trial_content_hash == "sha256:" + "ab" * 32
    assert record.registry_change is not None
    assert '"actor":"cli:author"' in record.registry_change
    plain = build_record(decision_event(), 1, GENESIS_HASH, RECORDED)
    altered = {**record.columns(), "registry_change": record.registry_change.replace(
        "cli:author", "cli:someone-else")}
    assert record_hash(altered) != record.record_hash
    assert plain.registry_change is None


def _from_registry(event: DecisionMade) -> DecisionMade:
    change = RegistryChangeRef(
        change_id=uuid.uuid4(), action="activate", actor="cli:author", at=RECORDED,
        trial=event.decision.trial, content_hash="sha256:" + "ab" * 32)
    return event.model_copy(update={"trial_content_hash": change.content_hash,
                                    "registry_change": change})
