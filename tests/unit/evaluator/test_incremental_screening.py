"""The evaluator's incremental screening (per patient: each trial's fact index and engine
state, kept between events) decides exactly what a full evaluation decides, for every shipped
trial, whatever arrives: new results, corrections of a result, demographics, time passing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.evaluator.adapters import criteria_engine
from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener
from shared.clinical.facts import ClinicalFact, Demographics, PatientFacts, PatientUpdate, Quantity
from shared.clinical.fhir import parse_fhir
from shared.clinical.state import apply_update, facts_from_updates
from shared.eligibility.engine import evaluate, evaluate_incremental
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF
from tests.unit.eligibility.more_trials import eligible_for_all
from tests.unit.eligibility.vignettes import VIGNETTES

SCREENER = CriteriaEngineScreener()
TRIALS = SCREENER.active_trials()
COMPILED = {t: load_trial(t.id, t.version) for t in TRIALS}


def _pool() -> tuple[Demographics, tuple[ClinicalFact, ...]]:
    everything = facts_from_updates([
        *parse_fhir(eligible_for_all().bundle(), source_system="pool-a"),
        *parse_fhir(VIGNETTES[0].build().lab("777-3", 15, "10*9/L", days=0.5)
                    .medication("121191", 130, 100).bundle(), source_system="pool-b"),
    ])
    corrections = tuple(
        f.model_copy(update={"value_quantity": Quantity(
            value=f.value_quantity.value * 3, unit=f.value_quantity.unit)})
        for f in everything.facts[:40] if f.value_quantity is not None)
    return everything.demographics, everything.facts + corrections


DEMOGRAPHICS, POOL = _pool()
ALIVE, DECEASED = DEMOGRAPHICS, DEMOGRAPHICS.model_copy(update={"deceased": True})


@settings(max_examples=40, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.lists(st.integers(0, len(POOL) - 1), min_size=0, max_size=4),  # what arrives
            st.integers(0, 60 * 24),  # minutes later
            st.booleans(),  # a deceased flag arrives with it
        ),
        min_size=1, max_size=8,
    ),
    patient=st.sampled_from(["pk-a", "pk-b"]),
)
def test_incremental_screening_equals_a_full_evaluation_for_every_trial(
    steps: list[tuple[list[int], int, bool]], patient: str,
) -> None:
    screener = CriteriaEngineScreener(max_patients=1)
    facts = PatientFacts(demographics=ALIVE)
    as_of = AS_OF - timedelta(days=20)
    for arriving, minutes, dies in steps:
        facts = apply_update(facts, PatientUpdate(
            source_system="test", demographics=DECEASED if dies else None,
            facts=tuple(POOL[i] for i in arriving)))
        as_of += timedelta(minutes=minutes)
        for trial in TRIALS:
            incremental = screener.evaluate(trial, facts, as_of, patient_key=patient)
            full = evaluate(COMPILED[trial], facts, as_of)
            assert incremental.model_dump() == full.model_dump(), trial


def test_a_patient_pushed_out_of_the_bounded_cache_is_evaluated_afresh_the_same() -> None:
    screener = CriteriaEngineScreener(max_patients=1)
    facts = PatientFacts(demographics=ALIVE, facts=POOL[:30])
    trial = TRIALS[0]
    first = screener.evaluate(trial, facts, AS_OF, patient_key="pk-a")
    screener.evaluate(trial, facts, AS_OF, patient_key="pk-b")  # pushes pk-a out
    more = PatientFacts(demographics=ALIVE, facts=POOL[:60])
    again = screener.evaluate(trial, more, AS_OF, patient_key="pk-a")

    assert first.model_dump() == evaluate(COMPILED[trial], facts, AS_OF).model_dump()
    assert again.model_dump() == evaluate(COMPILED[trial], more, AS_OF).model_dump()


def test_a_trial_version_compiled_again_from_other_text_is_evaluated_afresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry may hold other text for a version than the folder (``load_text``): what
    was kept from the old compilation must not answer for the new one."""
    screener = CriteriaEngineScreener(max_patients=10)
    trial = next(t for t in TRIALS if t.id == "NCT06920433")
    facts = PatientFacts(demographics=ALIVE, facts=POOL[:60])
    previous_states: list[object] = []

    def spy(*args: Any) -> Any:
        previous_states.append(args[3])
        return evaluate_incremental(*args)

    monkeypatch.setattr(criteria_engine, "evaluate_incremental", spy)
    screener.evaluate(trial, facts, AS_OF, patient_key="pk-a")
    screener.evaluate(trial, facts, AS_OF, patient_key="pk-a")
    text = screener.text_of(trial) or ""
    assert screener.load_text(text.replace("\ntrial:\n", "\n# re-encoded\ntrial:\n", 1)) == trial
    screener.evaluate(trial, facts, AS_OF, patient_key="pk-a")

    assert [state is None for state in previous_states] == [True, False, True]
