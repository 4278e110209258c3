"""A decision as a person reads it: needs once each, human units, what changed."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import (
    CriterionKind,
    CriterionResult,
    Decision,
    Evidence,
    Outcome,
    Status,
    TrialRef,
)
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import (
    clean_reason,
    concept_labels,
    headline,
    human_unit,
    human_value,
    needs,
)
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
LABELS = concept_labels((c.label, c.keys) for c in TRIAL.tables.concepts.values())
PARIS = ZoneInfo("Europe/Paris")


def _decide(builder, at: datetime = AS_OF) -> Decision:  # type: ignore[no-untyped-def]
    return evaluate(TRIAL, facts_from_updates(parse_fhir(builder.bundle(), source_system="t")), at)


def test_units_are_written_as_on_a_lab_report() -> None:
    # UCUM 2.1 section 2.3.4: "10*9" is ten to the ninth
    assert human_unit("10*9/L") == "x10^9/L"
    assert human_unit("[IU]/mL") == "IU/mL"
    assert human_unit("umol/L") == "µmol/L"
    assert human_unit("g/L") == "g/L"
    assert human_value(150.0, "10*9/L") == "150 x10^9/L"
    assert human_value(0.5, "g/L") == "0.5 g/L"
    assert human_value("260385009") == "negative"  # SNOMED CT 260385009 |Negative|
    assert human_value(True) == "yes"


def test_each_missing_item_is_listed_once_with_every_criterion_it_settles() -> None:
    decision = _decide(eligible_patient().without(LOINC, "777-3"))
    listed = needs(decision)
    assert [n.item for n in listed] == ["platelet count within 30 days"]
    assert listed[0].unblocks == ("I6", "I6.1")


def test_a_repeated_clause_is_said_once_and_no_file_path_is_shown() -> None:
    reason = ("x: cannot be decided — drug A on record; ULN 40 U/L (default table "
              "(tables/uln_defaults.yaml)); drug A on record; 0.5 10*9/L. needs: y")
    assert clean_reason(reason) == (
        "x: cannot be decided — drug A on record; ULN 40 U/L (default table); 0.5 x10^9/L."
        " needs: y")


def test_the_headline_of_a_newly_eligible_patient_names_the_result_that_changed_it() -> None:
    before = _decide(eligible_patient().without(LOINC, "777-3"))
    after = _decide(eligible_patient().without(LOINC, "777-3").lab("777-3", 150, "10*9/L", 1))
    assert after.status is Status.ELIGIBLE
    assert headline(before, after, LABELS, PARIS) == (
        "now eligible: I6, I6.1 met, platelet count 150 x10^9/L on 28 Feb")


def test_the_headline_of_a_washout_names_the_drug_and_when_it_ends() -> None:
    before = _decide(eligible_patient())
    rituximab = eligible_patient().medication("121191", start_days=100, end_days=89)
    after = _decide(rituximab)
    assert after.status is Status.INELIGIBLE
    said = headline(before, after, LABELS, PARIS)
    assert said.startswith("no longer eligible: E11 rituximab 2 Dec 2025, washout until ")
    assert "2027" in said or "2026" in said


def test_without_a_change_the_headline_is_just_the_status() -> None:
    decision = _decide(eligible_patient().without(LOINC, "777-3"))
    assert headline(decision, decision, LABELS, PARIS) == "undetermined"


def test_an_unknown_criterion_without_missing_items_still_needs_something() -> None:
    decision = Decision(
        trial=TrialRef(id="T", version="1"), as_of=datetime(2026, 1, 1, tzinfo=UTC),
        status=Status.UNDETERMINED, engine_version="e",
        criteria=(CriterionResult(id="I1", kind=CriterionKind.INCLUSION, outcome=Outcome.UNKNOWN,
                                  reason="age: birth date not recorded",
                                  evidence=(Evidence(value=1.0, unit="1"),)),),
    )
    assert needs(decision)[0].item == "age: birth date not recorded"
    assert needs(decision)[0].unblocks == ("I1",)
