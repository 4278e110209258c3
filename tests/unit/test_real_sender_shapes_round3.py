"""Probe round 3: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) with one entry changed or added as the cited sender writes it.
Before the fix each of these was read as something it is not and made her ELIGIBLE; now each
is read exactly, or kept unread so that the criterion reading it is ``unknown``. The round's
full table (shapes read, refused, unread) is in the probe's note.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import Json, _add, _bundle, _oru, decide, outcome

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PREDNISONE_5MG = {"coding": [{"system": RXNORM, "code": "312617"}]}
RITUXIMAB = {"coding": [{"system": RXNORM, "code": "121191"}]}
REFRACTORY = "I2"  # glucocorticoid + immunomodulator for 6 months, among others


def _entry(resource_type: str, resource_id: str, **fields: Any) -> Json:
    return {
        "fullUrl": f"urn:uuid:{resource_id}",
        "resource": {"resourceType": resource_type, "id": resource_id,
                     "subject": {"reference": "Patient/vignette"}, **fields},
        "request": {"method": "PUT", "url": f"{resource_type}/{resource_id}"},
    }


def _without(bundle: Json, *resource_ids: str) -> Json:
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") not in resource_ids]
    return bundle


def _instead_of_her_prednisone(entry: Json) -> Json:
    """The vignette with her prednisone statement (med-25, active since 2024-03) replaced."""
    return _without(_bundle(_add(entry)), "med-25")


# --- medication entries that record no use --------------------------------------------------

# FHIR R4 MedicationRequest.doNotPerform (0..1, a modifier: "this is a request for the
# medication not to be ordered or prescribed"). QI-Core's CQL patterns filter it ("doNotPerform
# is not true", cqframework/CQL-Formatting-and-Usage-Wiki#21); converters emit it
# (ballerina-platform/module-ballerinax-health.fhir.r4#250 maps '.doNotPerform = true'). A
# "do not give prednisone" order was read as prednisone use: I2 passed, ELIGIBLE.
def test_a_do_not_perform_prednisone_request_is_no_glucocorticoid_use() -> None:
    request = _entry("MedicationRequest", "pred-dnp", status="active", intent="order",
                     doNotPerform=True, medicationCodeableConcept=PREDNISONE_5MG,
                     authoredOn="2024-03-01T09:00:00Z")
    decision = decide(_instead_of_her_prednisone(request))
    assert outcome(decision, REFRACTORY) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == REFRACTORY)
    assert "doNotPerform" in reason


# FHIR R4 MedicationRequest.intent (1..1, a modifier, required binding medicationrequest-
# intent): "proposal" (a suggestion "without an intention to ensure it occurs"), "plan" (an
# intention, no authorisation), "directive", "option" (a choice inside a RequestGroup) are no
# order, and no record that the drug was given. GP Connect sends intent 'plan' for a repeat
# authorisation and 'order' for each issue (nhsconnect/gpconnect-provider-testing#290). A
# proposed prednisone was read as prednisone taken since 2024: I2 passed, ELIGIBLE.
@pytest.mark.parametrize("intent", ["proposal", "plan", "directive", "option"])
def test_a_prednisone_request_that_is_no_order_is_no_glucocorticoid_use(intent: str) -> None:
    request = _entry("MedicationRequest", "pred-plan", status="active", intent=intent,
                     medicationCodeableConcept=PREDNISONE_5MG, authoredOn="2024-03-01T09:00:00Z")
    decision = decide(_instead_of_her_prednisone(request))
    assert outcome(decision, REFRACTORY) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == REFRACTORY)
    assert f"intent '{intent}'" in reason


def test_a_prednisone_order_is_still_read_as_glucocorticoid_use() -> None:
    request = _entry("MedicationRequest", "pred-order", status="active", intent="order",
                     medicationCodeableConcept=PREDNISONE_5MG, authoredOn="2024-03-01T09:00:00Z")
    assert decide(_instead_of_her_prednisone(request)).status == Status.ELIGIBLE


# FHIR R4 medication-statement-status "intended": "the medication may be taken at some time in
# the future"; "unknown": "the state of the medication use is not currently known" (it may be
# not-taken). Neither records that she took it; both were read as prednisone use since 2024-03:
# I2 passed, ELIGIBLE. (GP Connect debates what its MedicationStatement.status carries,
# nhsconnect/gpconnect#1075, #1058.)
@pytest.mark.parametrize("status", ["intended", "unknown"])
def test_a_prednisone_statement_that_records_no_use_leaves_i2_unknown(status: str) -> None:
    statement = _entry("MedicationStatement", "pred-st", status=status,
                       medicationCodeableConcept=PREDNISONE_5MG,
                       effectivePeriod={"start": "2024-03-01T09:00:00Z"})
    decision = decide(_instead_of_her_prednisone(statement))
    assert outcome(decision, REFRACTORY) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == REFRACTORY)
    assert f"'{status}'" in reason


# The other direction is unchanged: a planned or intended rituximab is no exposure proven, but
# it may have been given, so the washout (E11) is never passed on it.
def test_a_rituximab_plan_never_passes_the_washout() -> None:
    request = _entry("MedicationRequest", "rtx-plan", status="active", intent="plan",
                     medicationCodeableConcept=RITUXIMAB, authoredOn="2026-02-20T09:00:00Z")
    decision = decide(_bundle(_add(request)))
    assert outcome(decision, "E11") != Outcome.PASS
    assert decision.status != Status.ELIGIBLE


# --- a condition that ended at a time not sent ------------------------------------------------

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
MALIGNANCY = "E6"  # history of malignancy within five years


def _breast_cancer(clinical_status: str, **fields: Any) -> Json:
    return _entry(
        "Condition", "ca-1",
        clinicalStatus={"coding": [{"system": CLINICAL, "code": clinical_status}]},
        code={"coding": [{"system": ICD10CM, "code": "C50.911"}]},
        onsetDateTime="2010-05-01", **fields)


# FHIR R4 Condition.abatement[x] (0..1): "The date or estimated date that the condition
# resolved or went into remission"; a problem list sends resolved and remission problems with
# no abatement (athenahealth: read clinicalStatus, onset[x], abatement[x] and recordedDate
# together, athenahealth/apiserver-athenaFlex#264; Cerner sends "Resolved date" only for
# problems, cerner/fhir.cerner.com#886), or as abatementString/Age/Range, which TrialWatch
# notes but does not date. A breast cancer of 2010, resolved or in remission at a time not
# sent, was read as ended at its onset: "no malignant neoplasm on record within 5 years", E6
# passed, ELIGIBLE, though it may have ended last year.
@pytest.mark.parametrize(
    ("status", "abatement"),
    [
        ("resolved", {}),
        ("remission", {}),
        ("inactive", {"abatementString": "after chemotherapy"}),
        ("resolved", {"abatementAge": {"value": 33, "unit": "a",
                                       "system": "http://unitsofmeasure.org", "code": "a"}}),
    ],
    ids=["resolved-no-abatement", "remission-no-abatement", "abatement-string", "abatement-age"],
)
def test_a_malignancy_that_ended_at_a_time_not_sent_leaves_e6_unknown(
    status: str, abatement: Json
) -> None:
    decision = decide(_bundle(_add(_breast_cancer(status, **abatement))))
    assert outcome(decision, MALIGNANCY) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == MALIGNANCY)
    assert "abatement" in reason


@pytest.mark.parametrize(
    ("abated", "expected"),
    [("2015-06-01", Outcome.PASS), ("2024-06-01", Outcome.FAIL)],
)
def test_a_malignancy_with_its_abatement_date_is_judged_by_it(
    abated: str, expected: Outcome
) -> None:
    decision = decide(_bundle(_add(_breast_cancer("resolved", abatementDateTime=abated))))
    assert outcome(decision, MALIGNANCY) == expected


# --- SI results under their own LOINC codes ---------------------------------------------------

CHEMISTRY = "OBR|1|ORD-7|FIL-7|24323-8^Comprehensive metabolic panel^LN|||20260228080000+0000"


def _chemistry(obx: str) -> str:
    return _oru("M-SI", obx, obr=CHEMISTRY)


# LOINC gives substance-concentration results their own codes: 14682-9 Creatinine
# [Moles/volume] in Serum or Plasma and 14631-6 Bilirubin.total [Moles/volume] in Serum or
# Plasma, reported in umol/L (the French hospital data warehouse IG fixes them so:
# aphp/IG-FHIR-EDSH-SOCLE-COMMUN, input/fsh/profiles/StructureDefinition-edsh-observation-
# laboratory-creat.fsh and -bilirubine-totale.fsh, value in UCUM umol/L). A newer creatinine
# of 500 umol/L (CrCl 13 mL/min) or bilirubin of 60 umol/L (3.5 x ULN) under them was read by
# no criterion and her older mass-unit results decided: I6.3 / I6.2 passed, ELIGIBLE.
@pytest.mark.parametrize(
    ("obx", "criterion"),
    [
        ("OBX|1|NM|14682-9^Creatinine [Moles/volume] in Serum or Plasma^LN||500|umol/L|45-90|H"
         "|||F|||20260228080000+0000", "I6.3"),
        ("OBX|1|NM|14631-6^Bilirubin.total [Moles/volume] in Serum or Plasma^LN||60|umol/L"
         "|3-17|H|||F|||20260228080000+0000", "I6.2"),
    ],
    ids=["creatinine-14682-9", "bilirubin-14631-6"],
)
def test_a_newer_si_result_under_its_moles_per_volume_loinc_decides(
    obx: str, criterion: str
) -> None:
    decision = decide(_bundle(), _chemistry(obx))
    assert outcome(decision, criterion) != Outcome.PASS
    assert decision.status != Status.ELIGIBLE


def test_a_bilirubin_in_umol_per_litre_under_14631_6_is_judged_against_its_own_range() -> None:
    obx = ("OBX|1|NM|14631-6^Bilirubin.total^LN||20|umol/L|3-17|H|||F|||"
           "20260228080000+0000")
    decision = decide(_bundle(), _chemistry(obx))
    assert outcome(decision, "I6.2") == Outcome.PASS  # 20 <= 2 x 17


# --- a flag in place of a number ----------------------------------------------------------------

V3_FLAG = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


# FHIR R4 Observation.interpretation is "a categorical assessment of an observation value"
# (ObservationInterpretation: LL "critically low"), not the value; flag-only results are what
# senders send for qualitative tests (read for hCG, test_real_sender_shapes), and a sender that
# suppresses a number keeps the flag. A newer platelet count sent as LL with no value[x] was
# skipped as "no result": the older 180 decided I6.1 and she was ELIGIBLE, though LL may be 8.
# The same result as HL7 v2 (OBX-8 LL, OBX-5 empty) was already kept unread.
def test_a_newer_platelet_count_sent_as_a_critically_low_flag_alone_leaves_i6_1_unknown() -> None:
    flag_only = {
        "fullUrl": "urn:uuid:plt-ll",
        "resource": {
            "resourceType": "Observation", "id": "plt-ll", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
            "subject": {"reference": "Patient/vignette"},
            "effectiveDateTime": "2026-02-28T09:00:00Z",
            "interpretation": [{"coding": [{"system": V3_FLAG, "code": "LL"}]}],
        },
        "request": {"method": "PUT", "url": "Observation/plt-ll"},
    }
    decision = decide(_bundle(_add(flag_only)))
    assert outcome(decision, "I6.1") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == "I6.1")
    assert "LL" in reason


# LOINC 59260-0 Hemoglobin [Moles/volume] in Blood, in mmol/L (of the monomer: Swiss lab order
# compendium, hl7ch/ch-lab-order observation-blood-hemoglobin.fsh, unit mmol/L, female adult
# range 7.4-9.9 mmol/L = 119-160 g/L). A newer hemoglobin of 3.4 mmol/L (55 g/L, below 60) under
# it was read by no criterion and the older 110 g/L passed I6.1: ELIGIBLE.
def test_a_newer_hemoglobin_in_mmol_per_litre_under_59260_0_decides() -> None:
    obx = ("OBX|1|NM|59260-0^Hemoglobin [Moles/volume] in Blood^LN||3.4|mmol/L|7.4-9.9|LL"
           "|||F|||20260228080000+0000")
    decision = decide(_bundle(), _oru("M-HB", obx))
    assert outcome(decision, "I6.1") == Outcome.FAIL
    reason = next(r.reason for r in decision.criteria if r.id == "I6.1")
    assert "hemoglobin 55 g/L (sent as 3.4 mmol/L)" in reason
