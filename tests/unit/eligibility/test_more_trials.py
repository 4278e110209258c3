"""NCT06946485 and TRIALX-323795 vignettes: hand-written FHIR patients through the CLI's path.

FHIR Bundle -> parse_fhir -> facts_from_updates -> evaluate, as for NCT06920433.
"""

from __future__ import annotations

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import list_trials, load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, TW, PatientBuilder
from tests.unit.eligibility.more_trials import (
    CATCH_ALL_CHT101,
    CATCH_ALL_LN,
    CHT101,
    CHT101_VIGNETTES,
    CONSENT_LN,
    CONTRACEPTION_1Y,
    FAILED_TWO_LN,
    LN,
    LN_VIGNETTES,
    NO_NEAR_MISS,
    RELAPSE_LN,
    SHARED_CATCH_ALL,
    UNCURED_INFECTION,
    TrialVignette,
    eligible_for_all,
    fact,
)

VIGNETTES = CHT101_VIGNETTES + LN_VIGNETTES


def decide(trial_id: str, builder: PatientBuilder) -> Decision:
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    return evaluate(load_trial(trial_id), patient, AS_OF)


@pytest.mark.parametrize("vignette", VIGNETTES, ids=[f"{v.trial}: {v.name}" for v in VIGNETTES])
def test_vignette(vignette: TrialVignette) -> None:
    decision = decide(vignette.trial, vignette.build())
    outcomes = {c.id: c.outcome for c in decision.criteria}
    expected = {cid: vignette.expect.get(cid, Outcome.PASS) for cid in outcomes}
    assert outcomes == expected, {
        c.id: c.reason for c in decision.criteria if c.outcome != expected[c.id]
    }
    assert decision.status is vignette.status
    for criterion_id, fragment in vignette.missing.items():
        result = next(c for c in decision.criteria if c.id == criterion_id)
        assert any(fragment in m for m in result.missing), result.missing


@pytest.mark.parametrize("trial_id", [CHT101, LN])
def test_every_criterion_has_a_near_miss_that_fails_it_and_a_variant_that_lacks_its_data(
    trial_id: str,
) -> None:
    trial = load_trial(trial_id)
    seen: dict[str, set[Outcome]] = {c.id: set() for c in trial.criteria}
    for vignette in VIGNETTES:
        if vignette.trial == trial_id:
            for criterion, outcome in vignette.expect.items():
                seen[criterion].add(outcome)
    lacking = {
        cid: sorted({Outcome.FAIL, Outcome.UNKNOWN} - got - {NO_NEAR_MISS.get((trial_id, cid))})
        for cid, got in seen.items()
    }
    assert {cid: miss for cid, miss in lacking.items() if miss} == {}


def test_one_patient_screened_against_the_three_shipped_trials_gets_three_eligible_decisions() -> (
    None
):
    assert sorted(list_trials()) == ["NCT06920433", "NCT06946485", "TRIALX-323795"]
    decisions = [decide(trial_id, eligible_for_all()) for trial_id in sorted(list_trials())]
    assert [d.trial.id for d in decisions] == sorted(list_trials())
    assert all(d.status is Status.ELIGIBLE for d in decisions), {
        d.trial.id: [c.reason for c in d.criteria if c.outcome is not Outcome.PASS]
        for d in decisions
    }


def test_a_patient_whose_data_is_removed_piece_by_piece_is_never_eligible_by_mistake() -> None:
    """Dropping any one resource can only keep or lose eligibility, for every trial."""
    base = eligible_for_all()
    for index in range(len(base.resources)):
        builder = base.copy()
        builder.resources.pop(index)
        for trial_id in (CHT101, LN):
            decision = decide(trial_id, builder)
            if decision.status is Status.ELIGIBLE:
                assert all(c.outcome is Outcome.PASS for c in decision.criteria)


@pytest.mark.parametrize(("onset_days", "expected"), [
    (6 * 365, Status.UNDETERMINED),  # Synthea: "Normal pregnancy" active since 2020, never closed
    (100, Status.INELIGIBLE),  # a pregnancy in progress
])
def test_a_pregnancy_record_changes_only_the_trial_that_reads_it_one_decision_per_trial(
    onset_days: int, expected: Status
) -> None:
    builder = eligible_for_all()
    builder.condition("http://snomed.info/sct", "72892002", onset_days=onset_days)
    decisions = {trial_id: decide(trial_id, builder) for trial_id in sorted(list_trials())}
    assert sorted(decisions) == sorted(list_trials())
    first = decisions.pop("NCT06920433")
    assert first.trial.version == "2025-11-14.5"
    assert first.status is expected
    assert [c.id for c in first.criteria if c.outcome is not Outcome.PASS] == ["E12"]
    assert all(d.status is Status.ELIGIBLE for d in decisions.values())


def test_cht101_versions_1_and_2_replay_i7_on_the_6_month_attestation() -> None:
    """NCT06946485 .1/.2 read the shared 6-month contraception attestation and are kept as they
    decided (replay); .3, the newest, reads its own one-year attestation only."""
    assert load_trial(CHT101).version == "2025-10-03.4"
    builder = eligible_for_all().without(TW, CONTRACEPTION_1Y)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    for version, outcome in (("2025-10-03.1", Outcome.PASS), ("2025-10-03.2", Outcome.PASS),
                             ("2025-10-03.3", Outcome.UNKNOWN), ("2025-10-03.4", Outcome.UNKNOWN)):
        decision = evaluate(load_trial(CHT101, version), patient, AS_OF)
        assert next(c for c in decision.criteria if c.id == "I7").outcome is outcome, version


def test_earlier_versions_replay_the_shared_catch_all_and_uncontrolled_infection() -> None:
    """NCT06946485 .1-.3 E1 and TRIALX-323795 .1-.3 E5/E3 read the shared answers and are kept as
    they decided (replay); the .4 versions read only answers worded for their own trial."""
    assert (load_trial(CHT101).version, load_trial(LN).version) == ("2025-10-03.4", "2025-12-01.5")
    builder = eligible_for_all()
    for code, value in ((CATCH_ALL_CHT101, None), (CATCH_ALL_LN, None), (UNCURED_INFECTION, None),
                        (SHARED_CATCH_ALL, False)):
        fact(code, value)(builder)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    cases = [(CHT101, f"2025-10-03.{n}", {"E1": Outcome.PASS}) for n in (1, 2, 3)]
    cases += [(LN, f"2025-12-01.{n}", {"E3": Outcome.PASS, "E5": Outcome.PASS}) for n in (1, 2, 3)]
    cases += [(CHT101, "2025-10-03.4", {"E1": Outcome.UNKNOWN}),
              (LN, "2025-12-01.4", {"E3": Outcome.UNKNOWN, "E5": Outcome.UNKNOWN}),
              (LN, "2025-12-01.5", {"E3": Outcome.UNKNOWN, "E5": Outcome.UNKNOWN})]
    for trial_id, version, expected in cases:
        decision = evaluate(load_trial(trial_id, version), patient, AS_OF)
        got = {c.id: c.outcome for c in decision.criteria if c.id in expected}
        assert got == expected, (trial_id, version)


def test_trialx_versions_1_to_4_replay_i4_and_i7_on_the_shared_answers() -> None:
    """TRIALX-323795 .1-.4 I4/I7 read NCT06920433's answers (consent recorded per patient,
    'conventional treatment ineffective for more than 6 months') and are kept as they decided
    (replay); .5, the newest, reads only answers worded as its own text."""
    assert load_trial(LN).version == "2025-12-01.5"
    builder = eligible_for_all()
    for code in (CONSENT_LN, FAILED_TWO_LN, RELAPSE_LN):
        fact(code, None)(builder)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    for version, outcome in [(f"2025-12-01.{n}", Outcome.PASS) for n in (1, 2, 3, 4)] + [
        ("2025-12-01.5", Outcome.UNKNOWN)
    ]:
        decision = evaluate(load_trial(LN, version), patient, AS_OF)
        got = {c.id: c.outcome for c in decision.criteria if c.id in ("I4", "I7")}
        assert got == {"I4": outcome, "I7": outcome}, version
