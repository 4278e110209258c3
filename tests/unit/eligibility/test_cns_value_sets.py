"""Each CNS criterion reads the value set its registry text names (not one shared 'cns_disease').

NCT06920433 E3 (2025-11-14.4): "central nervous system diseases ... (including epilepsy,
psychosis, organic brain syndrome, cerebral vascular accidents, encephalitis, central nervous
system vasculitis)": encephalitis is also coded outside G04, in the categories ICD-10-CM G05
lists as Excludes1 (A85.0, A85.1, B05.0, B00.4, A32.12, A39.81, B26.2, B01.1-, B06.01, B58.2,
B02.0; ICD-10-CM 2026 G05, payerready.com/codes/icd10/G05) and in G05 itself and the viral
encephalitis categories A83-A86.

TRIALX-323795 E1 (2025-12-01.2): "History of craniocerebral trauma, conscious disturbance,
epilepsy, cerebrovascular ischemia, and cerebrovascular hemorrhagic diseases": it names no
psychosis and no encephalitis, so those records leave E1 to the clinician's attestation.

Older versions (NCT06920433 .1-.3, TRIALX-323795 .1) keep reading 'cns_disease' (replay).
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
    TW,
    PatientBuilder,
    eligible_patient,
)
from tests.unit.eligibility.more_trials import eligible_for_all

NCT = load_trial("NCT06920433")
NCT_V3 = load_trial("NCT06920433", "2025-11-14.3")
LN = load_trial("TRIALX-323795")
LN_V1 = load_trial("TRIALX-323795", "2025-12-01.1")

ENCEPHALITIS_OUTSIDE_G04 = [
    "G05.3",  # Encephalitis and encephalomyelitis in diseases classified elsewhere
    "A86",  # Unspecified viral encephalitis
    "A85.0",  # Enteroviral encephalitis
    "A83.1",  # Western equine encephalitis
    "A84.0",  # Far Eastern tick-borne encephalitis
    "B00.4",  # Herpesviral encephalitis
    "B02.0",  # Zoster encephalitis
    "A32.12",  # Listerial encephalitis
    "A39.81",  # Meningococcal encephalitis
    "B05.0",  # Measles complicated by encephalitis
    "B26.2",  # Mumps encephalitis
    "B01.11",  # Varicella encephalitis and encephalomyelitis
    "B06.01",  # Rubella encephalitis
    "B58.2",  # Toxoplasma meningoencephalitis
]
NOT_IN_LN_E1 = [
    (ICD10, "F20.9"),  # Schizophrenia, unspecified (psychosis)
    (ICD10, "F06.2"),  # Psychotic disorder with delusions due to known physiological condition
    (SNOMED, "69322001"),  # Psychotic disorder
    (ICD10, "G04.90"),  # Encephalitis and encephalomyelitis, unspecified
    (SNOMED, "45170000"),  # Encephalitis
    (ICD10, "I67.7"),  # Cerebral arteritis (CNS vasculitis: not named by E1)
]
IN_LN_E1 = [
    (ICD10, "G40.909"),  # Epilepsy, unspecified
    (SNOMED, "84757009"),  # Epilepsy
    (ICD10, "I63.9"),  # Cerebral infarction, unspecified (ischemia)
    (ICD10, "I61.9"),  # Nontraumatic intracerebral hemorrhage, unspecified
    (ICD10, "I60.9"),  # Nontraumatic subarachnoid hemorrhage, unspecified
    (ICD10, "G45.9"),  # Transient cerebral ischemic attack, unspecified
    (SNOMED, "230690007"),  # Cerebrovascular accident
]


def decide(builder: PatientBuilder, trial: TrialVersion) -> Decision:
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    return evaluate(trial, patient, AS_OF)


def criterion(decision: Decision, cid: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == cid)


def test_the_latest_versions_are_the_ones_with_their_own_value_sets() -> None:
    assert NCT.version == "2025-11-14.5"  # .5 (E8 HIV-1 RNA) keeps .4's E3
    assert LN.version == "2025-12-01.5"  # .3-.5: own attestations (I6; E3, E5; I4, I7), E1 as .2


@pytest.mark.parametrize("code", ENCEPHALITIS_OUTSIDE_G04)
def test_nct06920433_e3_excludes_encephalitis_coded_outside_g04(code: str) -> None:
    decision = decide(eligible_patient().condition(ICD10, code, onset_days=400), NCT)
    assert criterion(decision, "E3").outcome is Outcome.FAIL, criterion(decision, "E3").reason
    assert decision.status is Status.INELIGIBLE


@pytest.mark.parametrize("code", NOT_IN_LN_E1, ids=[c for _, c in NOT_IN_LN_E1])
def test_trialx_e1_does_not_exclude_what_its_text_does_not_name(code: tuple[str, str]) -> None:
    decision = decide(eligible_for_all().condition(*code, onset_days=400), LN)
    assert criterion(decision, "E1").outcome is Outcome.PASS, criterion(decision, "E1").reason
    # NCT06920433 E3 names psychosis, encephalitis and CNS vasculitis: it still excludes
    assert criterion(decide(eligible_patient().condition(*code, onset_days=400), NCT),
                     "E3").outcome is Outcome.FAIL


@pytest.mark.parametrize("code", IN_LN_E1, ids=[c for _, c in IN_LN_E1])
def test_trialx_e1_excludes_epilepsy_and_cerebrovascular_ischaemia_or_haemorrhage(
    code: tuple[str, str],
) -> None:
    decision = decide(eligible_for_all().condition(*code, onset_days=400), LN)
    assert criterion(decision, "E1").outcome is Outcome.FAIL, criterion(decision, "E1").reason


def test_trialx_e1_still_needs_the_attestation_when_nothing_is_coded() -> None:
    builder = eligible_for_all().without(TW, "cns-trauma-or-cerebrovascular-history")
    assert criterion(decide(builder, LN), "E1").outcome is Outcome.UNKNOWN


def test_older_versions_replay_as_they_decided() -> None:
    """NCT06920433 .3 did not read G05 (E3 passed on the attestation); TRIALX-323795 .1
    excluded a schizophrenia record under E1."""
    g05 = decide(eligible_patient().condition(ICD10, "G05.3", onset_days=400), NCT_V3)
    assert criterion(g05, "E3").outcome is Outcome.PASS
    f20 = decide(eligible_for_all().condition(ICD10, "F20.9", onset_days=400), LN_V1)
    assert criterion(f20, "E1").outcome is Outcome.FAIL
