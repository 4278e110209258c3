"""The fast record hash is byte for byte the reference (``shared.hashing``): on every golden
engine decision, on generated values, and on tampered records verify must still catch."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.core.audit_record import (
    GENESIS_HASH,
    build_record,
    hash_matches,
    hashed_form,
    record_hash,
    signed_digest,
)
from services.audit.core.chain_walk import ChainWalk
from services.audit.core.record_hashing import fast_hash
from shared.contracts.signatures import decision_digest
from shared.eligibility.decision import Decision
from shared.hashing import canonical_json, content_hash
from shared.infra.signing import TrustedKeys
from tests.unit.audit.factories import BASE_TIME, TEST_DECISION_KEY, decision_event

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden_decisions"

SCALARS = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
                    st.text(st.characters(exclude_categories=("Cs",))))
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
              st.floats(allow_nan=False, allow_infinity=False)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(), inner, max_size=4)),
    max_leaves=20)


def golden_decisions() -> list[Decision]:
    found = []
    for path in sorted(GOLDEN.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            found += [Decision.model_validate_json(json.loads(line)["decision"]) for line in lines]
    return found


def test_every_golden_decision_is_hashed_exactly_as_the_reference_hashes_it() -> None:
    decisions = golden_decisions()
    assert len(decisions) > 500
    prev = GENESIS_HASH
    for index, decision in enumerate(decisions):
        event = decision_event(index=index).model_copy(update={"decision": decision})
        record = build_record(event, index + 1, prev, BASE_TIME)
        columns = record.columns()
        assert record.record_hash == content_hash(hashed_form(columns)) == record_hash(columns)
        assert hash_matches(columns)
        prev = record.record_hash


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(st.characters(exclude_categories=("Cs",))), SCALARS,
                       max_size=12))
def test_orjson_writes_strings_integers_and_nulls_as_the_reference_does(
        form: dict[str, Any]) -> None:
    assert fast_hash(form, {}) == content_hash(form)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "decision", "z", "é", "registry_change"]),
                       SCALARS, max_size=5), JSON, JSON)
def test_a_canonical_text_spliced_in_hashes_as_the_value_it_stands_for(
        form: dict[str, Any], decision: Any, change: Any) -> None:
    texts = {"decision": canonical_json(decision).decode(),
             "registry_change": canonical_json(change).decode()}
    whole = form | {"decision": decision, "registry_change": change}
    assert fast_hash(form | dict.fromkeys(texts), texts) == content_hash(whole)


def test_a_float_takes_the_reference_path() -> None:
    assert fast_hash({"a": 1e-05}, {}) is None  # orjson writes 0.00001, json 1e-05


@settings(max_examples=200, deadline=None)
@given(field=st.sampled_from(["patient_key", "trial_id", "status", "previous_status",
                              "evaluator_version", "decision", "registry_change",
                              "snapshot_hash", "state_version", "sequence"]),
       value=st.one_of(st.text(st.characters(exclude_categories=("Cs",))), st.integers(),
                       st.none()))
def test_hash_matches_gives_the_reference_answer_for_any_edit_of_a_record(
        field: str, value: Any) -> None:
    columns = build_record(decision_event(index=1), 1, GENESIS_HASH, BASE_TIME).columns()
    edited = {**columns, field: value}
    try:
        expected = record_hash(edited) == edited["record_hash"]
    except (ValueError, TypeError, KeyError, AttributeError):
        expected = False
    assert hash_matches(edited) is expected


@pytest.mark.parametrize("text", [
    ' {"x":1}',  # white space: not canonical, the reference reads it as the same value
    '{"x":1},"patient_key":"pk_other"',  # not one JSON value: never spliced
    "NaN",
])
def test_a_stored_text_that_is_not_canonical_json_is_judged_by_the_reference(
        text: str) -> None:
    columns = build_record(decision_event(index=1), 1, GENESIS_HASH, BASE_TIME).columns()
    edited = {**columns, "decision": text}
    try:
        expected = record_hash(edited) == edited["record_hash"]
    except ValueError:
        expected = False
    assert hash_matches(edited) is expected


def test_a_decision_stored_with_other_white_space_still_matches_as_before() -> None:
    columns = build_record(decision_event(index=1), 1, GENESIS_HASH, BASE_TIME).columns()
    spaced = json.dumps(json.loads(columns["decision"]), indent=2)
    assert hash_matches({**columns, "decision": spaced})


def test_the_signed_digest_of_a_stored_record_is_the_reference_digest() -> None:
    for index, decision in enumerate(golden_decisions()[:60]):
        event = decision_event(index=index).model_copy(update={"decision": decision})
        columns = build_record(event, index + 1, GENESIS_HASH, BASE_TIME).columns()
        assert signed_digest(columns) == decision_digest(columns)


def test_a_signed_record_stored_with_other_white_space_still_verifies_as_before() -> None:
    columns = build_record(decision_event(index=1), 1, GENESIS_HASH, BASE_TIME).columns()
    spaced = {**columns, "decision": json.dumps(json.loads(columns["decision"]), indent=1)}
    walk = ChainWalk(decision_keys=TrustedKeys.of([TEST_DECISION_KEY.public_key()]))
    walk.feed(spaced)
    report = walk.report([], [])
    assert report.intact, report.summary
