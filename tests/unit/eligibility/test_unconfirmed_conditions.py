"""A Condition whose verificationStatus is unconfirmed, provisional or differential.

FHIR R4 CodeSystem condition-ver-status (https://hl7.org/fhir/R4/codesystem-condition-ver-status.html):
``unconfirmed`` ("there is not sufficient diagnostic and/or clinical evidence to treat this as a
confirmed condition") is the parent of ``provisional`` and ``differential``; ``refuted`` and
``entered-in-error`` say it is not the diagnosis. A possible diagnosis on file may meet an
exclusion, so the exclusion cannot be checked (UNKNOWN, naming it); it never satisfies an
inclusion that needs the diagnosis (UNKNOWN, not PASS). The eligible NCT06920433 patient as of
2026-03-01, through the FHIR normaliser and the engine.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import CriterionResult, Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    LOINC,
    PatientBuilder,
    eligible_patient,
)

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
VER_STATUS = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
POSSIBLE = ("unconfirmed", "provisional", "differential")


def _verified(builder: PatientBuilder, verification: str) -> PatientBuilder:
    """The last Condition added, with ``verificationStatus`` coded as a sender codes it."""
    resource: dict[str, Any] = builder.resources[-1]
    resource["verificationStatus"] = {"coding": [{"system": VER_STATUS, "code": verification}]}
    return builder


def _decide(builder: PatientBuilder) -> Decision:
    return evaluate(TRIAL, facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr")),
                    AS_OF)


def _criterion(decision: Decision, criterion_id: str) -> CriterionResult:
    return next(c for c in decision.criteria if c.id == criterion_id)


def _esrd(verification: str) -> PatientBuilder:
    return _verified(eligible_patient().condition(ICD10CM, "N18.6", onset_days=200), verification)


@pytest.mark.parametrize("verification", POSSIBLE)
def test_a_possible_esrd_diagnosis_leaves_exclusion_e7_unknown(verification: str) -> None:
    decision = _decide(_esrd(verification))
    e7 = _criterion(decision, "E7")
    assert e7.outcome is Outcome.UNKNOWN, e7.reason
    assert f"verificationStatus {verification!r}" in e7.reason, e7.reason
    assert "end-stage renal failure on record only as a possible diagnosis" in e7.reason
    assert decision.status is not Status.ELIGIBLE


def test_a_confirmed_esrd_diagnosis_fails_e7() -> None:
    e7 = _criterion(_decide(_esrd("confirmed")), "E7")
    assert e7.outcome is Outcome.FAIL, e7.reason


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_a_refuted_esrd_diagnosis_is_not_the_diagnosis(verification: str) -> None:
    builder = _esrd(verification)
    if verification == "entered-in-error":  # FHIR R4 con-5: no clinicalStatus then
        del builder.resources[-1]["clinicalStatus"]
    decision = _decide(builder)
    assert _criterion(decision, "E7").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def _bilirubin_2_5_uln() -> PatientBuilder:
    """Total bilirubin 2.5 x ULN: I6.2 passes only with Gilbert syndrome on record."""
    return eligible_patient().without(LOINC, "1975-2").lab(
        "1975-2", 2.5, "mg/dL", days=3, ref_high=1.0)


def test_a_confirmed_gilbert_syndrome_lets_i6_2_pass() -> None:
    builder = _verified(_bilirubin_2_5_uln().condition(ICD10CM, "E80.4", onset_days=900),
                        "confirmed")
    assert _criterion(_decide(builder), "I6.2").outcome is Outcome.PASS


@pytest.mark.parametrize("verification", POSSIBLE)
def test_a_possible_gilbert_syndrome_does_not_satisfy_inclusion_i6_2(verification: str) -> None:
    builder = _verified(_bilirubin_2_5_uln().condition(ICD10CM, "E80.4", onset_days=900),
                        verification)
    decision = _decide(builder)
    i6_2 = _criterion(decision, "I6.2")
    assert i6_2.outcome is Outcome.UNKNOWN, i6_2.reason
    assert f"verificationStatus {verification!r}" in i6_2.reason, i6_2.reason
    assert "Gilbert syndrome on record only as a possible diagnosis" in i6_2.reason
    assert decision.status is not Status.ELIGIBLE
