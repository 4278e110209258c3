"""NCT06920433 E6 "History of malignancy within five years": what a neoplasm record says.

Versions 2025-11-14.3 and later (parameter e6_in_situ_uncertain_neoplasm): a malignant neoplasm
(ICD-10-CM chapter C, SNOMED malignant disorders) excludes; an in situ neoplasm (ICD-10-CM D00-D09,
SNOMED 92691004 'Carcinoma in situ of prostate') or one of uncertain or unstated behaviour
(D37-D49, SNOMED 126906006 'Neoplasm of prostate') within five years leaves E6 unknown until the
investigator says whether it counts (tw 'uncertain-neoplasm-is-malignancy'). Versions .1/.2 read
the two SNOMED codes as malignancies (FAIL) and no D code at all (PASS on the attestation).
"""

from __future__ import annotations

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.trial import TrialVersion
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    ICD10,
    SNOMED,
    PatientBuilder,
    eligible_patient,
)

LATEST = load_trial("NCT06920433")
V2 = load_trial("NCT06920433", "2025-11-14.2")
ANSWER = "uncertain-neoplasm-is-malignancy"

UNCERTAIN = [
    (SNOMED, "92691004"),  # Carcinoma in situ of prostate (Synthea)
    (SNOMED, "126906006"),  # Neoplasm of prostate (Synthea): behaviour not stated
    (ICD10, "D05.11"),  # Intraductal carcinoma in situ of right breast (D00-D09 in situ)
    (ICD10, "D40.0"),  # Neoplasm of uncertain behavior of prostate
    (ICD10, "D49.2"),  # Neoplasm of unspecified behavior of bone, soft tissue, and skin
]


def decide(builder: PatientBuilder, trial: TrialVersion = LATEST) -> Decision:
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    return evaluate(trial, patient, AS_OF)


def e6(decision: Decision) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == "E6")


def test_the_latest_version_is_the_one_that_reads_neoplasm_behaviour() -> None:
    assert LATEST.version >= "2025-11-14.3"  # .3 introduced it; .4 (E3) keeps it
    assert "e6_in_situ_uncertain_neoplasm" in LATEST.parameters


@pytest.mark.parametrize("code", UNCERTAIN, ids=[c for _, c in UNCERTAIN])
def test_an_in_situ_or_uncertain_neoplasm_within_five_years_leaves_e6_unknown(
    code: tuple[str, str],
) -> None:
    decision = decide(eligible_patient().condition(*code, onset_days=400))
    criterion = e6(decision)
    assert criterion.outcome is Outcome.UNKNOWN, criterion.reason
    assert any("counts as a malignancy" in need for need in criterion.missing), criterion.missing
    assert decision.status is Status.UNDETERMINED


@pytest.mark.parametrize("code", UNCERTAIN, ids=[c for _, c in UNCERTAIN])
def test_the_investigators_answer_settles_it_either_way(code: tuple[str, str]) -> None:
    counts = eligible_patient().condition(*code, onset_days=400).fact(ANSWER, True)
    assert e6(decide(counts)).outcome is Outcome.FAIL
    assert decide(counts).status is Status.INELIGIBLE
    does_not = eligible_patient().condition(*code, onset_days=400).fact(ANSWER, False)
    assert e6(decide(does_not)).outcome is Outcome.PASS, e6(decide(does_not)).reason
    assert decide(does_not).status is Status.ELIGIBLE


def test_the_answer_does_not_clear_an_invasive_malignancy_on_record() -> None:
    builder = eligible_patient().condition(ICD10, "C50.911", onset_days=400)
    builder.condition(SNOMED, "92691004", onset_days=400).fact(ANSWER, False)
    assert e6(decide(builder)).outcome is Outcome.FAIL


def test_an_in_situ_neoplasm_that_ended_over_five_years_ago_does_not_count() -> None:
    builder = eligible_patient().condition(SNOMED, "92691004", onset_days=2500,
                                           status="resolved", abated_days=2000)
    assert e6(decide(builder)).outcome is Outcome.PASS
    assert decide(builder).status is Status.ELIGIBLE


def test_malignant_codes_still_exclude() -> None:
    for code in ((SNOMED, "254837009"), (SNOMED, "363346000"), (ICD10, "C61")):
        decision = decide(eligible_patient().condition(*code, onset_days=400))
        assert e6(decision).outcome is Outcome.FAIL, code
        assert decision.status is Status.INELIGIBLE


def test_version_2_replays_as_it_decided() -> None:
    """.2 keeps the concept 'malignancy': Synthea's in situ and behaviour-unstated prostate
    codes excluded there, and a D code was not read (E6 rested on the attestation)."""
    for code in ((SNOMED, "92691004"), (SNOMED, "126906006")):
        assert e6(decide(eligible_patient().condition(*code, onset_days=400), V2)).outcome \
            is Outcome.FAIL
    d05 = decide(eligible_patient().condition(ICD10, "D05.11", onset_days=400), V2)
    assert e6(d05).outcome is Outcome.PASS
