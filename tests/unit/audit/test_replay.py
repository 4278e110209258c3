from __future__ import annotations

from datetime import datetime

from services.audit.core.replay import differences_between, replay
from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Decision, Outcome
from shared.hashing import canonical_json
from tests.unit.audit.factories import BASE_TIME, decision, snapshot


def engine_returning(result: Decision):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str, PatientFacts, datetime]] = []

    def evaluate(trial_id: str, version: str, patient: PatientFacts, as_of: datetime) -> Decision:
        calls.append((trial_id, version, patient, as_of))
        return result

    return evaluate, calls


def test_a_decision_the_engine_reproduces_is_identical() -> None:
    stored = decision()
    evaluate, calls = engine_returning(stored)
    result = replay(canonical_json(stored).decode(), canonical_json(snapshot()).decode(),
                    "NCT06920433", "2025-04-01", BASE_TIME, evaluate)
    assert result.identical
    assert result.differences == []
    assert calls == [("NCT06920433", "2025-04-01", snapshot(), BASE_TIME)]


def test_a_decision_the_engine_no_longer_reproduces_lists_each_difference() -> None:
    stored = decision(egfr_outcome=Outcome.PASS)
    evaluate, _ = engine_returning(decision(egfr_outcome=Outcome.UNKNOWN))
    result = replay(canonical_json(stored).decode(), canonical_json(snapshot()).decode(),
                    "NCT06920433", "2025-04-01", BASE_TIME, evaluate)
    assert not result.identical
    assert 'decision.status: stored "eligible", replayed "undetermined"' in result.differences
    assert any(d.startswith("decision.criteria[I4].outcome") for d in result.differences)


def test_differences_name_missing_and_added_keys_and_list_lengths() -> None:
    assert differences_between({"a": 1}, {"b": 1}) == [
        "decision.a: stored 1, replayed (absent)", "decision.b: stored (absent), replayed 1"]
    assert differences_between([1], [1, 2]) == ["decision: stored [1], replayed [1, 2]"]
    assert differences_between(1, 1.0) == ["decision: stored 1, replayed 1.0"]
