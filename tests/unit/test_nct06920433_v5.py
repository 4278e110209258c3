"""NCT06920433 2025-11-14.5: E8 reads a detectable HIV-1 RNA; the reactive-screen reading is a
named parameter; E11 no longer names the unreachable RxNorm 1310520.

E8 excludes "individuals positive for human immunodeficiency virus (HIV)". Up to .4 only the
antigen/antibody presence tests (concept ``hiv``) were read: a detectable HIV-1 RNA (viral
load) was read by no criterion, so a patient whose antibody test was negative (the window
before seroconversion, CDC/APHL 2014 "acute HIV-1 infection") and whose newer viral load was
15,000 copies/mL stayed ELIGIBLE. In .5 a detectable RNA (above
``hiv_rna_positive_above_copies_ml`` in {copies}/mL, or coded Detected) excludes, and an
undetectable one is no evidence either way: it neither passes E8 nor hides an older positive
antibody test (on antiretroviral therapy a person living with HIV has an undetectable load).

Each case is the eligible vignette (as of 2026-03-01T09:00:00Z, negative 56888-1 on
2026-02-09) plus newer results sent as FHIR R4 Observations (valueQuantity with the UCUM unit
``{copies}/mL`` and a comparator for a censored result, or valueCodeableConcept with the SNOMED
CT qualifier a lab sends) or an HL7 v2.5.1 ORU^R01 OBX (NM with OBX-6 units, or CWE).
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import TRIALS_DIR, load_trial
from tests.unit.test_real_feed_examples import (
    AS_OF,
    SNOMED,
    UCUM,
    _add,
    _bundle,
    _observation,
    _oru,
    _problems,
    _reason,
    outcome,
)

V5 = "2025-11-14.5"
DETECTED = {"coding": [{"system": SNOMED, "code": "260373001", "display": "Detected"}]}
NOT_DETECTED = {"coding": [{"system": SNOMED, "code": "260415000", "display": "Not detected"}]}
REACTIVE = {"coding": [{"system": SNOMED, "code": "11214006", "display": "Reactive"}]}


def _decide(bundle: dict[str, Any], *messages: str, version: str = V5) -> Decision:
    updates = parse_fhir(bundle, source_system="test-ehr")
    for message in messages:
        updates += parse_hl7v2(message, source_system="test-lab")
    return evaluate(load_trial("NCT06920433", version), facts_from_updates(updates), AS_OF)


def _copies(value: float, comparator: str | None = None) -> dict[str, Any]:
    quantity: dict[str, Any] = {"value": value, "unit": "copies/mL", "system": UCUM,
                                "code": "{copies}/mL"}
    if comparator is not None:
        quantity["comparator"] = comparator
    return {"valueQuantity": quantity}


def _rna(resource_id: str, when: str, **value: Any) -> dict[str, Any]:
    # 20447-9 'HIV 1 RNA [#/volume] (viral load) in Serum or Plasma by NAA with probe detection'
    return _observation(resource_id, "20447-9", when, **value)


def _reactive_antibody(when: str = "2026-02-15T09:00:00Z") -> dict[str, Any]:
    return _observation("hiv-ab-reactive", "56888-1", when, valueCodeableConcept=REACTIVE)


def test_v5_is_the_latest_version() -> None:
    assert load_trial("NCT06920433").version == V5


@pytest.mark.parametrize("value", [_copies(15000), _copies(21), {"valueCodeableConcept": DETECTED}])
def test_an_older_negative_antibody_and_a_newer_detectable_rna_exclude(value: dict[str, Any]
                                                                       ) -> None:
    decision = _decide(_bundle(_add(_rna("vl-1", "2026-02-20T09:00:00Z", **value))))
    assert outcome(decision, "E8") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE
    assert "HIV-1 RNA (viral load) detected on" in _reason(decision, "E8")


def test_an_hl7_v2_viral_load_in_copies_per_ml_excludes() -> None:
    # HL7 v2.5.1 7.4.2: OBX-2 NM, OBX-5 the number, OBX-6 units (CWE, UCUM coding system)
    message = _oru(
        "VL-1",
        "OBX|1|NM|20447-9^HIV 1 RNA SerPl NAA+probe-aCnc^LN||48000|{copies}/mL^^UCUM|<20|H|||F"
        "|||20260228080000+0000",
        obr="OBR|1|ORD-8|FIL-8|20447-9^HIV 1 RNA^LN|||20260228080000+0000",
    )
    decision = _decide(_bundle(), message)
    assert outcome(decision, "E8") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("value", [{"valueCodeableConcept": NOT_DETECTED}, _copies(20, "<")])
def test_a_positive_antibody_and_a_newer_undetectable_rna_still_exclude(value: dict[str, Any]
                                                                        ) -> None:
    decision = _decide(_bundle(_add(
        _reactive_antibody(), _rna("vl-1", "2026-02-25T09:00:00Z", **value))))
    assert outcome(decision, "E8") == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


@pytest.mark.parametrize("value", [{"valueCodeableConcept": NOT_DETECTED}, _copies(20, "<")])
def test_a_negative_antibody_and_an_undetectable_rna_decide_as_the_antibody_alone(
        value: dict[str, Any]) -> None:
    alone = _decide(_bundle())
    decision = _decide(_bundle(_add(_rna("vl-1", "2026-02-25T09:00:00Z", **value))))
    assert outcome(alone, "E8") == outcome(decision, "E8") == Outcome.PASS
    assert decision.status == alone.status == Status.ELIGIBLE
    assert "not evidence of no infection" in _reason(decision, "E8")


def test_an_undetectable_rna_alone_never_passes_e8() -> None:
    # without the antibody/antigen result E8 stays unknown: a not-detected RNA settles nothing
    def drop_antibody(bundle: dict[str, Any]) -> None:
        bundle["entry"] = [e for e in bundle["entry"] if e["resource"].get("id") != "obs-24"]

    bundle = _bundle(drop_antibody)
    _add(_rna("vl-1", "2026-02-25T09:00:00Z", valueCodeableConcept=NOT_DETECTED))(bundle)
    decision = _decide(bundle)
    assert outcome(decision, "E8") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE


def test_an_rna_result_that_cannot_be_read_leaves_e8_unknown() -> None:
    # a number in a unit with no cut-off here and no reference range: neither detected nor not
    unreadable = {"valueQuantity": {"value": 3.2, "unit": "log copies/mL"}}
    decision = _decide(_bundle(_add(_rna("vl-1", "2026-02-25T09:00:00Z", **unreadable))))
    assert outcome(decision, "E8") == Outcome.UNKNOWN
    assert decision.status == Status.UNDETERMINED


def test_a_detectable_rna_older_than_the_serology_window_is_not_read() -> None:
    decision = _decide(_bundle(_add(_rna("vl-old", "2025-11-01T09:00:00Z", **_copies(15000)))))
    assert outcome(decision, "E8") == Outcome.PASS


def test_version_4_replays_unchanged_rna_is_not_read_there() -> None:
    decision = _decide(_bundle(_add(_rna("vl-1", "2026-02-20T09:00:00Z", **_copies(15000)))),
                       version="2025-11-14.4")
    assert outcome(decision, "E8") == Outcome.PASS
    assert decision.status == Status.ELIGIBLE


def test_the_reactive_screen_reading_is_a_named_parameter_of_e8() -> None:
    trial = load_trial("NCT06920433", V5)
    raw = yaml.safe_load((TRIALS_DIR / "NCT06920433" / f"{V5}.yaml").read_text("utf-8"))
    policy = raw["parameters"]["hiv_reactive_screen_policy"]
    assert "CDC" in policy["rationale"]
    assert "2014" in policy["rationale"]
    e8 = next(c for c in raw["criteria"] if c["id"] == "E8")
    assert {"hiv_reactive_screen_policy", "hiv_rna_positive_above_copies_ml"} <= set(
        e8["parameters"])
    decision = _decide(_bundle(_add(_reactive_antibody())))
    assert outcome(decision, "E8") == Outcome.FAIL
    assert "hiv_reactive_screen_policy" in decision.parameters
    assert trial.version == V5


def test_e11_no_longer_names_the_unreachable_rxnorm_1310520() -> None:
    text = (TRIALS_DIR / "NCT06920433" / f"{V5}.yaml").read_text("utf-8")
    assert '"1310520"' not in text
    assert '"27169": fact_leflunomide_washout_done' in text
    # the versions that were active keep it (immutable, replayed as they were)
    old = (TRIALS_DIR / "NCT06920433" / "2025-11-14.4.yaml").read_text("utf-8")
    assert '"1310520": fact_leflunomide_washout_done' in old


# ----------------------------------------------------------------------------------------------
# E1 "Subjects with a history of severe drug allergies or allergic tendencies" reads FHIR R4
# AllergyIntolerance (https://hl7.org/fhir/R4/allergyintolerance-definitions.html). Each case is
# the eligible vignette (its clinician attests no severe drug allergy) plus one AllergyIntolerance
# in Synthea's shape (``../shared/data/fhir-synthea``: clinicalStatus/verificationStatus codings
# of their HL7 code systems, ``type``, ``category`` and ``criticality`` as plain codes, the
# substance in ``code``, ``patient`` not ``subject``, ``recordedDate``), with the reaction a
# sender records.

E1 = "E1"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PENICILLIN_G = {"coding": [{"system": RXNORM, "code": "7980", "display": "Penicillin G"}],
                "text": "Penicillin G"}
SHELLFISH = {"coding": [{"system": SNOMED, "code": "300913006", "display": "Shellfish allergy"}],
             "text": "Shellfish allergy"}
ANAPHYLAXIS = {"coding": [{"system": SNOMED, "code": "39579001", "display": "Anaphylaxis"}]}
HIVES = {"coding": [{"system": SNOMED, "code": "247472004", "display": "Wheal (finding)"}]}
_AI_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
_AI_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def _allergy(resource_id: str = "allergy-1", *, clinical: str | None = "active",
             verification: str | None = "confirmed", category: str | None = "medication",
             code: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "AllergyIntolerance", "id": resource_id}
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": _AI_CLINICAL, "code": clinical}]}
    if verification is not None:
        resource["verificationStatus"] = {
            "coding": [{"system": _AI_VERIFICATION, "code": verification}]}
    resource["type"] = "allergy"
    if category is not None:
        resource["category"] = [category]
    resource["code"] = code or PENICILLIN_G
    resource["patient"] = {"reference": "Patient/vignette"}
    resource["recordedDate"] = "2019-05-02T10:00:00+00:00"
    resource.update(fields)
    return {"fullUrl": f"urn:uuid:{resource_id}", "resource": resource,
            "request": {"method": "PUT", "url": f"AllergyIntolerance/{resource_id}"}}


def _reaction(severity: str | None = None, manifestation: dict[str, Any] | None = None
              ) -> dict[str, Any]:
    reaction: dict[str, Any] = {"manifestation": [manifestation or HIVES]}
    if severity is not None:
        reaction["severity"] = severity
    return reaction


def test_the_eligible_vignette_passes_e1_on_its_attestation() -> None:
    assert outcome(_decide(_bundle()), E1) == Outcome.PASS


def test_a_high_criticality_medication_allergy_fails_e1() -> None:
    decision = _decide(_bundle(_add(_allergy(criticality="high"))))
    assert outcome(decision, E1) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE
    assert "criticality 'high'" in _reason(decision, E1)


def test_a_severe_reaction_to_a_drug_fails_e1_whatever_the_criticality() -> None:
    decision = _decide(_bundle(_add(_allergy(criticality="low",
                                             reaction=[_reaction("mild"), _reaction("severe")]))))
    assert outcome(decision, E1) == Outcome.FAIL


def test_a_resolved_anaphylaxis_to_a_drug_is_a_history_and_fails_e1() -> None:
    decision = _decide(_bundle(_add(_allergy(
        clinical="resolved", criticality="low",
        reaction=[_reaction("moderate", ANAPHYLAXIS)]))))
    assert outcome(decision, E1) == Outcome.FAIL


def test_a_severe_food_allergy_is_no_evidence_of_a_drug_allergy() -> None:
    decision = _decide(_bundle(_add(_allergy(category="food", code=SHELLFISH, criticality="high",
                                             reaction=[_reaction("severe", ANAPHYLAXIS)]))))
    assert outcome(decision, E1) == Outcome.PASS


@pytest.mark.parametrize("verification", ["refuted", "entered-in-error"])
def test_a_refuted_or_withdrawn_drug_allergy_is_no_evidence(verification: str) -> None:
    # FHIR R4 ait-2: clinicalStatus SHALL NOT be present if verificationStatus is
    # entered-in-error
    clinical = None if verification == "entered-in-error" else "inactive"
    decision = _decide(_bundle(_add(_allergy(clinical=clinical, verification=verification,
                                             criticality="high"))))
    assert outcome(decision, E1) == Outcome.PASS


def test_an_unassessed_drug_allergy_leaves_e1_unknown() -> None:
    decision = _decide(_bundle(_add(_allergy(criticality="unable-to-assess"))))
    assert outcome(decision, E1) == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    assert "unable-to-assess" in _reason(decision, E1)


def test_a_drug_allergy_sent_without_criticality_or_reaction_severity_leaves_e1_unknown() -> None:
    decision = _decide(_bundle(_add(_allergy(reaction=[_reaction()]))))
    assert outcome(decision, E1) == Outcome.UNKNOWN


def test_an_unconfirmed_severe_drug_allergy_leaves_e1_unknown() -> None:
    decision = _decide(_bundle(_add(_allergy(verification="unconfirmed", criticality="high"))))
    assert outcome(decision, E1) == Outcome.UNKNOWN
    assert "unconfirmed" in _reason(decision, E1)


def test_a_mild_low_criticality_drug_intolerance_is_no_evidence() -> None:
    decision = _decide(_bundle(_add(_allergy(criticality="low", reaction=[_reaction("mild")]))))
    assert outcome(decision, E1) == Outcome.PASS


def test_v4_does_not_read_allergy_intolerance() -> None:
    decision = _decide(_bundle(_add(_allergy(criticality="high"))), version="2025-11-14.4")
    assert outcome(decision, E1) == Outcome.PASS


@pytest.mark.parametrize(("field", "value", "where"), [
    ("criticality", "severe", "criticality"),
    ("category", ["drug"], "category[0]"),
    ("type", "allergic", "type"),
    ("reaction", [_reaction("anaphylactic")], "reaction[0].severity"),
])
def test_a_code_outside_a_required_binding_is_refused_at_its_path(
        field: str, value: Any, where: str) -> None:
    entry = _allergy(criticality="high")
    entry["resource"][field] = value
    problems = _problems(lambda: _decide(_bundle(_add(entry))))
    assert any(where in p and "required binding" in p for p in problems), problems


def test_a_clinical_status_of_another_system_is_refused() -> None:
    entry = _allergy(criticality="high")
    entry["resource"]["clinicalStatus"] = {"coding": [{"system": SNOMED, "code": "55561003"}]}
    problems = _problems(lambda: _decide(_bundle(_add(entry))))
    assert any("clinicalStatus" in p for p in problems), problems


def test_many_reactions_and_repeated_categories_fit_the_bounded_contract() -> None:
    """A sender repeating reactions (one per episode) and categories: the reading keeps each
    code of the required bindings once (AllergyReading.categories <= 4, reaction_severities
    <= 3: the contract bounds every list, test_contract_text_bounds), and E1 still fails on
    the severe one."""
    entry = _allergy(criticality="low",
                     reaction=[_reaction("mild") for _ in range(20)] + [_reaction("severe")])
    entry["resource"]["category"] = ["medication"] * 6 + ["food"] * 6
    updates = parse_fhir(_bundle(_add(entry)), source_system="lab")
    [reading] = [f.allergy for u in updates for f in u.facts if f.allergy is not None]
    assert reading.reaction_severities == ("mild", "severe")
    assert reading.categories == ("medication", "food")
    assert outcome(_decide(_bundle(_add(entry))), E1) == Outcome.FAIL


# ------------------------------------------------------------------ I6.2: Gilbert syndrome
# I6.2: total bilirubin <= 2 x ULN, relaxed to <= 3 x ULN with Gilbert syndrome (.5 parameter
# i62_gilbert_not_current_record). FHIR R4 Condition.clinicalStatus (condition-clinical,
# https://hl7.org/fhir/R4/codesystem-condition-clinical.html): 'inactive' "the subject is no
# longer experiencing the symptoms of the condition or there is no longer evidence of the
# condition", 'resolved' "the subject is no longer experiencing the symptoms of the condition
# and there is a negligible perceived risk of the symptoms returning". Gilbert syndrome is a
# lifelong genetic trait: such a record contradicts itself, so whether the relaxed limit
# applies cannot be told from it (probe round 6: .4 passed 2.4 x ULN on a resolved record).
I62 = "I6.2"
_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _gilbert(clinical: str | None = "active", verification: str = "confirmed",
             **fields: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Condition", "id": "gilbert-1"}
    if clinical is not None:
        resource["clinicalStatus"] = {"coding": [{"system": _CONDITION_CLINICAL,
                                                  "code": clinical}]}
    resource["verificationStatus"] = {"coding": [{"system": _CONDITION_VERIFICATION,
                                                  "code": verification}]}
    resource["code"] = {"coding": [{"system": ICD10CM, "code": "E80.4",
                                    "display": "Gilbert syndrome"}]}
    resource["subject"] = {"reference": "Patient/vignette"}
    resource["onsetDateTime"] = "2015-06-01T00:00:00Z"
    resource.update(fields)
    return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource,
            "request": {"method": "PUT", "url": f"Condition/{resource['id']}"}}


def _bilirubin_uln(multiple: float) -> dict[str, Any]:
    """A total bilirubin (LOINC 1975-2) newer than the vignette's, ``multiple`` x its own
    upper reference limit of 1.0 mg/dL (FHIR R4 Observation.referenceRange.high)."""
    return _observation(
        "bili-newer", "1975-2", "2026-02-28T09:00:00Z",
        valueQuantity={"value": multiple, "unit": "mg/dL", "system": UCUM, "code": "mg/dL"},
        referenceRange=[{"high": {"value": 1.0, "unit": "mg/dL", "system": UCUM,
                                  "code": "mg/dL"}}])


@pytest.mark.parametrize("clinical", ["resolved", "inactive"])
def test_a_gilbert_record_no_longer_current_leaves_the_relaxed_limit_unknown(clinical: str
                                                                           ) -> None:
    decision = _decide(_bundle(_add(_gilbert(clinical), _bilirubin_uln(2.4))))
    assert outcome(decision, I62) == Outcome.UNKNOWN, _reason(decision, I62)
    assert decision.status != Status.ELIGIBLE
    reason = _reason(decision, I62)
    assert f"Gilbert syndrome on record but recorded as {clinical}" in reason, reason
    assert "relaxed" in reason, reason


def test_a_gilbert_record_with_an_abatement_date_leaves_the_relaxed_limit_unknown() -> None:
    # con-4: an abated condition's clinicalStatus is inactive, resolved or remission
    decision = _decide(_bundle(_add(
        _gilbert("resolved", abatementDateTime="2020-01-01T00:00:00Z"), _bilirubin_uln(2.4))))
    assert outcome(decision, I62) == Outcome.UNKNOWN, _reason(decision, I62)
    assert decision.status != Status.ELIGIBLE


def test_an_active_gilbert_record_relaxes_the_bilirubin_limit() -> None:
    decision = _decide(_bundle(_add(_gilbert("active"), _bilirubin_uln(2.4))))
    assert outcome(decision, I62) == Outcome.PASS, _reason(decision, I62)


def test_without_gilbert_syndrome_bilirubin_above_twice_the_uln_fails() -> None:
    decision = _decide(_bundle(_add(_bilirubin_uln(2.4))))
    assert outcome(decision, I62) == Outcome.FAIL, _reason(decision, I62)
    assert decision.status == Status.INELIGIBLE


def test_a_withdrawn_gilbert_record_is_no_evidence() -> None:
    # FHIR R4 con-5: no clinicalStatus when verificationStatus is entered-in-error
    decision = _decide(_bundle(_add(_gilbert(None, "entered-in-error"), _bilirubin_uln(2.4))))
    assert outcome(decision, I62) == Outcome.FAIL, _reason(decision, I62)


def test_a_resolved_gilbert_record_does_not_matter_within_twice_the_uln() -> None:
    decision = _decide(_bundle(_add(_gilbert("resolved"), _bilirubin_uln(1.5))))
    assert outcome(decision, I62) == Outcome.PASS, _reason(decision, I62)


def test_a_resolved_gilbert_record_does_not_matter_above_three_times_the_uln() -> None:
    decision = _decide(_bundle(_add(_gilbert("resolved"), _bilirubin_uln(3.5))))
    assert outcome(decision, I62) == Outcome.FAIL, _reason(decision, I62)
    assert decision.status == Status.INELIGIBLE


def test_v4_still_reads_a_resolved_gilbert_record_as_gilbert_syndrome() -> None:
    decision = _decide(_bundle(_add(_gilbert("resolved"), _bilirubin_uln(2.4))),
                       version="2025-11-14.4")
    assert outcome(decision, I62) == Outcome.PASS, _reason(decision, I62)


@pytest.mark.parametrize("extra", [{"active_only": True}, {"within": "P5Y"}])
def test_inactive_unknown_does_not_combine_with_active_only_or_a_window(extra: dict[str, Any]
                                                                        ) -> None:
    from pydantic import ValidationError

    from shared.eligibility.primitives.records import ConditionArgs

    with pytest.raises(ValidationError, match="does not combine"):
        ConditionArgs(valueset="gilbert_syndrome", inactive="unknown", **extra)
    assert ConditionArgs(valueset="gilbert_syndrome", **extra).inactive == "present"
