"""CDS Hooks order-select: a selected draft order that would make a patient ineligible for a
trial they are eligible (or close) for gives a warning naming the trial and criterion; nothing
otherwise. Requests are the specification's order-select R4 example
(tests/fixtures/cds_hooks/order-select.json) and the same shape with a rituximab order."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener
from services.evaluator.adapters.http.cds_hooks import order_warnings, selected_orders
from shared.clinical.errors import InvalidInput
from shared.clinical.facts import PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Status, TrialRef
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, PatientBuilder, eligible_patient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cds_hooks"
SCREENER = CriteriaEngineScreener()
TRIAL = next(t for t in SCREENER.active_trials() if t.id == "NCT06920433")


def request(name: str) -> dict[str, Any]:
    return dict(json.loads((FIXTURES / name).read_text()))


def facts_of(builder: PatientBuilder) -> PatientFacts:
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="lab"))


def warnings_for(builder: PatientBuilder, body: dict[str, Any]) -> list[Any]:
    facts = facts_of(builder)
    now = SCREENER.evaluate(TRIAL, facts, AS_OF)
    unknown = sum(1 for c in now.criteria if c.outcome.value == "unknown")
    context = body["context"]
    orders = selected_orders(context["draftOrders"], context["selections"], "ehr", AS_OF)
    return order_warnings(SCREENER.evaluate, [(TRIAL, now.status, unknown)], facts, orders,
                          AS_OF)


def test_the_specifications_example_order_of_a_drug_trialwatch_cannot_identify_warns() -> None:
    # amoxicillin/clavulanate (RxNorm 617993, in neither rxnorm_products.yaml nor a drug value
    # set) and a pureed diet: E11's closed-world washout cannot say the product is no
    # immunosuppressant, so eligibility would become undetermined, naming the code (before
    # codesys: no warning, the order was read as no drug)
    [warning] = warnings_for(eligible_patient(), request("order-select.json"))
    assert warning.was is Status.ELIGIBLE
    assert warning.becomes is Status.UNDETERMINED
    [(criterion, said)] = warning.criteria
    assert criterion == "E11"
    assert "RxNorm code 617993 is not in the product table" in said


def test_a_rituximab_order_for_an_eligible_patient_names_the_trial_and_e11() -> None:
    [warning] = warnings_for(eligible_patient(), request("order-select-rituximab.json"))
    assert warning.trial == TRIAL
    assert warning.was is Status.ELIGIBLE
    [(criterion, said)] = warning.criteria
    assert criterion == "E11"
    assert said.startswith("immunosuppressant or biologic within five half-lives: this order: "
                           "rituximab 1 Mar, washout until at least ")


def test_a_patient_close_to_eligible_is_warned_too() -> None:
    close = eligible_patient().without(LOINC, "777-3")
    [warning] = warnings_for(close, request("order-select-rituximab.json"))
    assert warning.was is Status.UNDETERMINED


def test_a_patient_already_ineligible_gets_no_card() -> None:
    excluded = eligible_patient().medication("121191", start_days=40, end_days=30)
    assert warnings_for(excluded, request("order-select-rituximab.json")) == []


def test_only_the_selected_orders_count() -> None:
    body = request("order-select-rituximab.json")
    body["context"]["selections"] = ["NutritionOrder/pureeddiet-simple"]
    assert warnings_for(eligible_patient(), body) == []


def test_the_order_is_screened_as_if_signed_now_and_says_so() -> None:
    context = request("order-select-rituximab.json")["context"]
    [order] = selected_orders(context["draftOrders"], context["selections"], "ehr", AS_OF)
    assert order.status == "active"
    assert order.effective_start == order.effective_end == AS_OF  # a first dose at signing
    assert order.provenance.resource == "MedicationRequest/rituximab-draft-1"
    assert "as if signed" in order.notes[0].reason


def test_a_selected_order_that_cannot_be_read_is_refused_with_its_path() -> None:
    context = copy.deepcopy(request("order-select-rituximab.json")["context"])
    draft = context["draftOrders"]["entry"][2]["resource"]
    draft["medicationCodeableConcept"] = {"text": "rituximab"}  # no coding: nothing to match on
    with pytest.raises(InvalidInput) as refused:
        selected_orders(context["draftOrders"], context["selections"], "ehr", AS_OF)
    assert any("medicationCodeableConcept" in p.path for p in refused.value.problems)


def test_without_a_trial_the_patient_is_eligible_or_close_for_nothing_is_evaluated() -> None:
    def never(trial: TrialRef, facts: PatientFacts, at: object) -> Any:
        raise AssertionError("no trial to re-screen")

    context = request("order-select-rituximab.json")["context"]
    orders = selected_orders(context["draftOrders"], context["selections"], "ehr", AS_OF)
    assert order_warnings(never, [(TRIAL, Status.INELIGIBLE, 0)], PatientFacts(), orders,
                          AS_OF) == []


def test_an_order_that_leaves_an_eligible_patient_undecided_is_warned_too() -> None:
    """An order the engine cannot judge (here: a washout whose half-life is unknown) turns an
    eligible patient undetermined: eligibility is lost until someone settles the criterion,
    so the clinician is warned as for a failing criterion."""
    from services.evaluator.adapters.http.cds_hooks import _warning_card
    from shared.eligibility.decision import CriterionKind, CriterionResult, Decision, Outcome

    context = request("order-select-rituximab.json")["context"]
    orders = selected_orders(context["draftOrders"], context["selections"], "ehr", AS_OF)
    facts = facts_of(eligible_patient())

    def evaluate(trial: TrialRef, seen: PatientFacts, at: Any) -> Decision:
        ordered = len(seen.facts) > len(facts.facts)
        e11 = CriterionResult(
            id="E11", kind=CriterionKind.EXCLUSION,
            outcome=Outcome.UNKNOWN if ordered else Outcome.PASS, reason="E11",
            missing=("half_life of the ordered drug",) if ordered else ())
        i1 = CriterionResult(id="I1", kind=CriterionKind.INCLUSION, outcome=Outcome.PASS,
                             reason="I1")
        return Decision(trial=trial, as_of=at, criteria=(i1, e11), engine_version="fake",
                        status=Status.UNDETERMINED if ordered else Status.ELIGIBLE)

    [warning] = order_warnings(evaluate, [(TRIAL, Status.ELIGIBLE, 0)], facts, orders, AS_OF)
    assert warning.becomes is Status.UNDETERMINED
    [(criterion, said)] = warning.criteria
    assert criterion == "E11"
    assert said.endswith("could no longer be checked (needs half life of the ordered drug)")
    card = _warning_card(warning, "https://tw.example/ui/x", AS_OF)
    assert card["summary"] == ("This order would leave eligibility for trial NCT06920433 "
                               "undecided (E11 could no longer be checked)")
