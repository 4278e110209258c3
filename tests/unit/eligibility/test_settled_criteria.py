"""Criteria that fail for good, why the next automatic review happens, and what to send.

NCT06946485 I5 reads "Aged 18-65 years" (age >= 18 and age <= 65). A patient over 65 can never
meet it again: the decision stays ``ineligible``, but nothing is asked for and no review is
scheduled. A patient under 18 will meet it on their 18th birthday: that review stays, and says
why (as a look-back window or a washout does). What to send is grouped by kind.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import PERMANENT_NOTE, evaluate, permanent_failures
from shared.eligibility.loader import load_trial
from shared.eligibility.readable import (
    Need,
    concept_labels,
    need_groups,
    needs,
    review_reasons,
)
from tests.unit.eligibility.fhir_builder import AS_OF, PatientBuilder, eligible_patient

AGED_18_65 = load_trial("NCT06946485", "2025-10-03.2")
SLE_CAR_T = load_trial("NCT06920433", "2025-11-14.2")
PARIS = ZoneInfo("Europe/Paris")


def _decide(builder: PatientBuilder, trial: object = AGED_18_65) -> Decision:
    facts = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    return evaluate(trial, facts, AS_OF)  # type: ignore[arg-type]


def _i5(decision: Decision) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == "I5")


def _born(birth_date: str) -> PatientBuilder:
    builder = eligible_patient()
    builder.patient["birthDate"] = birth_date
    return builder


def test_over_the_upper_age_limit_fails_for_good_with_nothing_to_send_and_no_review() -> None:
    decision = _decide(_born("1950-01-01"))  # 76 at as-of (1 Mar 2026)
    assert decision.status is Status.INELIGIBLE, "the decision itself stays ineligible"
    assert _i5(decision).outcome is Outcome.FAIL
    assert _i5(decision).reason.endswith(PERMANENT_NOTE)
    assert [c.id for c in permanent_failures(decision)] == ["I5"]
    assert needs(decision) == (), "no data can make the patient eligible"
    assert decision.next_review_at is None, "no birthday review for a change that cannot help"


def test_under_the_lower_age_limit_is_not_permanent_and_the_review_says_which_birthday() -> None:
    decision = _decide(_born("2008-03-05"))  # 17 at as-of: 18 on 5 Mar 2026
    assert _i5(decision).outcome is Outcome.FAIL
    assert permanent_failures(decision) == ()
    # not permanent, but nothing sent can help before the 18th birthday (waiting_failures)
    assert needs(decision) == ()
    assert decision.next_review_at is not None
    assert decision.next_review_at.date().isoformat() == "2026-03-05"
    assert review_reasons(decision, {}, PARIS) == [
        "18th birthday: from then old enough for the age limit (I5)"]


def test_a_deceased_patient_has_nothing_to_send() -> None:
    builder = _born("1950-01-01")
    builder.patient["deceasedDateTime"] = "2010-06-01"
    decision = _decide(builder)
    assert [c.id for c in permanent_failures(decision)] == ["PATIENT-DECEASED"]
    assert needs(decision) == ()


def test_a_review_names_the_washout_or_the_look_back_that_sets_it() -> None:
    builder = eligible_patient().medication("121191", start_days=100, end_days=30)
    decision = _decide(builder, SLE_CAR_T)
    assert decision.status is Status.INELIGIBLE
    assert permanent_failures(decision) == (), "a washout ends: not permanent"
    labels = concept_labels((c.label, c.keys) for c in SLE_CAR_T.tables.concepts.values())
    # the hCG test of 27 Feb leaves its 7-day look-back before the rituximab washout ends
    assert review_reasons(decision, labels, PARIS) == [
        "when the hCG pregnancy test (urine or serum) negative on 27 Feb is more than 7 days "
        "old (I8, E12)"]
    e11 = next(c for c in decision.criteria if c.id == "E11")
    washout = next(e for e in e11.evidence if e.details.get("drug") == "rituximab")
    end = datetime.fromisoformat(str(washout.details["washout_end"]))
    at_washout_end = decision.model_copy(update={"next_review_at": end})
    assert review_reasons(at_washout_end, labels, PARIS) == [
        "when the rituximab washout ends (E11)"]
    assert review_reasons(decision.model_copy(update={"next_review_at": None}), labels,
                          PARIS) == []


def test_what_to_send_is_grouped_by_kind_said_once_and_most_useful_first() -> None:
    wanted = (
        Need(item="ANA >= 1:80 on HEp-2 cells at least once", unblocks=("I2",)),
        Need(item="record of systemic glucocorticoids use", unblocks=("I4",)),
        Need(item="record of systemic glucocorticoids use started at least 6 months ago",
             unblocks=("I2",)),
        Need(item="hemoglobin within 30 days", unblocks=("I6", "I6.1")),
        Need(item="clinician: lactating (documented within 30 days)", unblocks=("I8",)),
        Need(item="SLEDAI-2K total within 30 days", unblocks=("I3",)),
        Need(item="renal biopsy ISN/RPS 2018 class within 6 months", unblocks=("I2",)),
    )
    groups = need_groups(wanted)
    kinds = [kind for kind, _ in groups]
    # the merged glucocorticoid item and hemoglobin both settle two criteria: the tie goes
    # by KIND_ORDER (what the site's systems send first)
    assert kinds[:2] == ["Lab results and measurements", "Medication history"]
    assert set(kinds) == {"Lab results and measurements", "Medication history",
                          "Investigator or clinician statements", "Biopsy",
                          "Disease activity and classification scores"}
    labs = dict(groups)["Lab results and measurements"]
    assert [n.item for n in labs] == ["hemoglobin within 30 days",
                                      "ANA >= 1:80 on HEp-2 cells at least once"]
    [medication] = dict(groups)["Medication history"]
    assert medication.item.endswith("started at least 6 months ago"), "said once, the longer"
    assert medication.unblocks == ("I2", "I4"), "settles both"
    assert sum(len(g) for _, g in groups) == len(wanted) - 1
