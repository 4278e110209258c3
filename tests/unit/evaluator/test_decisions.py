from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.evaluator.core import decisions
from services.evaluator.core.decisions import engine_failed
from shared.clinical.facts import PatientFacts
from shared.eligibility.decision import Status, TrialRef
from shared.eligibility.readable import needs
from shared.hashing import content_hash
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener, drug_fact, lab_fact

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_decision_id_is_the_same_for_the_same_state_version_trial_version_and_instant() -> None:
    first = decisions.decision_id("pk-1", 3, TEST_TRIAL, AS_OF)
    again = decisions.decision_id("pk-1", 3, TEST_TRIAL, AS_OF.astimezone())
    assert first == again


def test_a_decision_id_changes_with_state_version_trial_version_instant_or_patient() -> None:
    base = decisions.decision_id("pk-1", 3, TEST_TRIAL, AS_OF)
    assert base != decisions.decision_id("pk-1", 4, TEST_TRIAL, AS_OF)
    assert base != decisions.decision_id("pk-1", 3, TrialRef(id=TEST_TRIAL.id, version="2"), AS_OF)
    assert base != decisions.decision_id("pk-1", 3, TEST_TRIAL, AS_OF + timedelta(seconds=1))
    assert base != decisions.decision_id("pk-2", 3, TEST_TRIAL, AS_OF)


def test_only_crossing_the_eligible_line_raises_an_alert() -> None:
    assert decisions.transition(None, Status.ELIGIBLE) == "newly-eligible"
    assert decisions.transition(Status.UNDETERMINED, Status.ELIGIBLE) == "newly-eligible"
    assert decisions.transition(Status.ELIGIBLE, Status.INELIGIBLE) == "no-longer-eligible"
    assert decisions.transition(Status.ELIGIBLE, Status.UNDETERMINED) == "no-longer-eligible"
    assert decisions.transition(Status.ELIGIBLE, Status.ELIGIBLE) is None
    assert decisions.transition(Status.INELIGIBLE, Status.UNDETERMINED) is None
    assert decisions.transition(None, Status.INELIGIBLE) is None


def test_a_decision_event_references_its_snapshot_by_content_hash_only() -> None:
    facts = PatientFacts(facts=(lab_fact(150, AS_OF - timedelta(days=1)),))
    decision = OneLabScreener().evaluate(TEST_TRIAL, facts, AS_OF)
    correlation = uuid.uuid4()
    made = decisions.decision_made(
        patient_key="pk-1", state_version=2, decision=decision, snapshot=facts,
        previous_status=Status.INELIGIBLE, causation_id=None, correlation_id=correlation,
        recorded_at=AS_OF,
    )
    assert made.decision_id == decisions.decision_id("pk-1", 2, TEST_TRIAL, AS_OF)
    assert made.snapshot_hash == content_hash(facts)
    assert (made.schema_version, made.snapshot) == (2, None)
    assert made.occurred_at == AS_OF
    alert = decisions.eligibility_alert(made, "newly-eligible")
    assert alert.event_id == decisions.alert_id(made.decision_id)
    assert alert.reasons == ("I1: test lab 150.0 >= 100.0", "E1: no washout pending")


def test_a_not_eligible_alert_gives_only_the_criteria_in_the_way() -> None:
    facts = PatientFacts(facts=(lab_fact(150, AS_OF - timedelta(days=1)),
                                drug_fact(AS_OF - timedelta(seconds=1))))
    decision = OneLabScreener().evaluate(TEST_TRIAL, facts, AS_OF)
    assert decision.status is Status.INELIGIBLE
    assert decisions.reasons(decision) == ("E1: test drug washout not complete",)


def test_missing_data_lists_what_unknown_criteria_need_once() -> None:
    facts = PatientFacts(facts=(drug_fact(None), drug_fact(None, fact_id="drug-2")))
    decision = OneLabScreener().evaluate(TEST_TRIAL, facts, AS_OF)
    assert decision.status is Status.UNDETERMINED
    assert decisions.missing_data(decision) == ["test lab within 30 days", "test drug stop date"]


def test_an_engine_failure_becomes_an_undetermined_decision_that_says_so() -> None:
    decision = engine_failed(TEST_TRIAL, AS_OF, KeyError("x"))
    assert decision.status is Status.UNDETERMINED
    assert "KeyError" in decision.criteria[0].reason


def test_decisions_of_one_event_share_one_snapshot_hash_equal_to_hashing_it_alone() -> None:
    facts = PatientFacts(facts=(lab_fact(150, AS_OF - timedelta(days=1)),))
    decision = OneLabScreener().evaluate(TEST_TRIAL, facts, AS_OF)
    common = {"patient_key": "pk-1", "state_version": 2, "decision": decision, "snapshot": facts,
              "previous_status": None, "causation_id": None, "correlation_id": uuid.uuid4(),
              "recorded_at": AS_OF}
    alone = decisions.decision_made(**common)
    shared = decisions.decision_made(**common, snapshot_hash=content_hash(facts))
    assert shared.snapshot_hash == alone.snapshot_hash == content_hash(facts)
    assert shared.model_dump() == alone.model_dump()


def test_missing_data_is_the_same_whether_worked_out_or_remembered() -> None:
    screener = OneLabScreener()
    first = screener.evaluate(TEST_TRIAL, PatientFacts(), AS_OF)
    later = screener.evaluate(TEST_TRIAL, PatientFacts(), AS_OF + timedelta(days=1))
    other = screener.evaluate(TEST_TRIAL, PatientFacts(facts=(drug_fact(None),)), AS_OF)

    assert decisions.missing_data(first) == [n.item for n in needs(first)]
    assert decisions.missing_data(later) == decisions.missing_data(first)
    assert decisions.missing_data(other) == [n.item for n in needs(other)]
    assert decisions.missing_data(other) != decisions.missing_data(first)


def test_the_snapshot_event_carries_the_input_once_with_an_id_fixed_by_state_and_hash() -> None:
    facts = PatientFacts(facts=(lab_fact(150, AS_OF - timedelta(days=1)),))
    common = {"patient_key": "pk-1", "state_version": 2, "snapshot": facts,
              "snapshot_hash": content_hash(facts), "causation_id": None,
              "correlation_id": uuid.uuid4()}
    first = decisions.patient_snapshot(**common, as_of=AS_OF, recorded_at=AS_OF)
    later = decisions.patient_snapshot(**common, as_of=AS_OF + timedelta(days=1),
                                       recorded_at=AS_OF + timedelta(days=1))
    assert first.snapshot == facts
    assert first.event_id == later.event_id  # a timer re-screen stages no new snapshot
