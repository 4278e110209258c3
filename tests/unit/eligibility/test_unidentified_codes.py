"""Conditions and medications TrialWatch cannot identify never let a closed-world exclusion pass.

Through the engine (NCT06920433, the eligible vignette as of 2026-03-01T09:00Z), with inputs as
real senders write them (notes/probe.md items 4 and 6):

- a Condition coded only in WHO ICD-10 (``http://hl7.org/fhir/sid/icd-10``; the system
  LinuxForHealth/hl7v2-fhir-converter#189 emitted) or ICD-10-GM
  (``http://fhir.de/CodeSystem/bfarm/icd-10-gm``, hl7germany/basisprofil-de-r4#191): the value
  sets list ICD-10-CM and SNOMED CT codes only, so which condition it is cannot be judged; every
  condition criterion it could fall under is UNKNOWN naming it, never FALSE;
- a medication coded only by NDC (``http://hl7.org/fhir/sid/ndc``) or ATC
  (``http://www.whocc.no/atc``), or by an RxNorm code in neither the product table nor a drug
  value set: the E11 washout cannot say it is no immunosuppressant; within the washout's
  look-back it makes E11 UNKNOWN naming the entry.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
ICD10_WHO = "http://hl7.org/fhir/sid/icd-10"
ICD10_GM = "http://fhir.de/CodeSystem/bfarm/icd-10-gm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
Json = dict[str, Any]


def _decide(*resources: Json) -> Decision:
    bundle = json.loads(VIGNETTE.read_text(encoding="utf-8"))
    for resource in resources:
        bundle["entry"].append(
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": copy.deepcopy(resource)})
    updates = parse_fhir(bundle, source_system="test-ehr")
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)


def _criterion(decision: Decision, criterion: str) -> Any:
    return next(result for result in decision.criteria if result.id == criterion)


def _condition(resource_id: str, *codings: tuple[str, str], status: str = "active",
               onset: str = "2025-06-01", abated: str | None = None) -> Json:
    resource: Json = {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": status}]},
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed"}]},
        "code": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "subject": {"reference": "Patient/vignette"},
        "onsetDateTime": onset,
    }
    if abated is not None:
        resource["abatementDateTime"] = abated
    return resource


def _administration(resource_id: str, *codings: tuple[str, str],
                    when: str = "2026-02-20T09:00:00Z") -> Json:
    return {
        "resourceType": "MedicationAdministration",
        "id": resource_id,
        "status": "completed",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "effectiveDateTime": when,
    }


def test_the_vignette_alone_is_eligible() -> None:
    assert _decide().status == Status.ELIGIBLE


@pytest.mark.parametrize(("system", "code"), [(ICD10_GM, "G40.9"), (ICD10_WHO, "G40.9")])
def test_epilepsy_in_who_icd10_or_icd10gm_makes_e3_unknown_naming_the_entry(
    system: str, code: str
) -> None:
    decision = _decide(_condition("c1", (system, code)))
    e3 = _criterion(decision, "E3")
    assert e3.outcome is Outcome.UNKNOWN
    assert decision.status is not Status.ELIGIBLE
    text = " ".join((e3.reason, *e3.missing))
    assert system in text
    assert code in text
    assert any(ev.fact_id for ev in e3.evidence)


def test_esrd_in_who_icd10_makes_e7_unknown() -> None:
    decision = _decide(_condition("c2", (ICD10_WHO, "N18.6")))
    assert _criterion(decision, "E7").outcome is Outcome.UNKNOWN
    assert decision.status is not Status.ELIGIBLE


def test_a_who_code_beside_an_icd10cm_coding_is_read_by_the_cm_coding() -> None:
    # the CodeableConcept's ICD-10-CM coding identifies it: E3 fails as with CM alone
    decision = _decide(_condition("c3", (ICD10_WHO, "G40.9"), (ICD10CM, "G40.909")))
    assert _criterion(decision, "E3").outcome is Outcome.FAIL
    decision = _decide(_condition("c4", (ICD10_GM, "I10"), (SNOMED, "38341003")))
    assert _criterion(decision, "E3").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_a_resolved_unidentified_condition_does_not_block_an_active_only_exclusion() -> None:
    # E4 reads only active heart failure: an entry resolved in 2020 cannot be one
    decision = _decide(_condition("c5", (ICD10_GM, "I50.9"), status="resolved",
                                  onset="2019-01-01", abated="2020-01-01"))
    assert _criterion(decision, "E4").outcome is Outcome.PASS
    # E3 (ever on record) cannot rule it out
    assert _criterion(decision, "E3").outcome is Outcome.UNKNOWN


@pytest.mark.parametrize(("system", "code", "why"), [
    (NDC, "50242-051-21", "not read"),
    (ATC, "L01FA01", "not read"),
    (RXNORM, "1864400", "not in"),
])
def test_rituximab_not_identifiable_within_washout_makes_e11_unknown(
    system: str, code: str, why: str
) -> None:
    decision = _decide(_administration("a1", (system, code)))
    e11 = _criterion(decision, "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert decision.status is not Status.ELIGIBLE
    text = " ".join((e11.reason, *e11.missing))
    assert code in text
    assert why in text


def test_rituximab_by_rxnorm_ingredient_still_fails_e11() -> None:
    decision = _decide(_administration("a2", (RXNORM, "121191")))
    assert _criterion(decision, "E11").outcome is Outcome.FAIL


def test_an_unidentified_medication_beyond_every_washout_does_not_block_e11() -> None:
    # the longest washout of the E11 drug classes is years, not decades: a dose in 1990 is
    # beyond it whatever the drug was
    decision = _decide(_administration("a3", (NDC, "50242-051-21"),
                                       when="1990-01-01T09:00:00Z"))
    assert _criterion(decision, "E11").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_an_ndc_coding_beside_a_known_rxnorm_code_is_read_by_the_rxnorm_code() -> None:
    decision = _decide(_administration("a4", (NDC, "50242-051-21"), (RXNORM, "121191")))
    assert _criterion(decision, "E11").outcome is Outcome.FAIL


@pytest.mark.parametrize("resource", [
    _condition("c6", (ICD10_GM, "G40.9")),
    _administration("a5", (NDC, "50242-051-21")),
])
def test_an_unidentified_entry_arriving_later_changes_the_incremental_decision(
    resource: Json,
) -> None:
    # the evaluator's path: the vignette evaluated, then the one new entry indexed and the
    # decision re-used where nothing it read changed
    from shared.eligibility.engine import build_index, evaluate_incremental
    trial = load_trial("NCT06920433")
    bundle = json.loads(VIGNETTE.read_text(encoding="utf-8"))
    index = build_index(trial, facts_from_updates(parse_fhir(bundle, source_system="test-ehr")))
    decision, state = evaluate_incremental(trial, index, AS_OF, None)
    assert decision.status is Status.ELIGIBLE
    new = facts_from_updates(parse_fhir(resource, source_system="test-ehr")).facts
    decision, _ = evaluate_incremental(trial, index.with_facts(new), AS_OF, state)
    assert decision.status is not Status.ELIGIBLE


def test_condition_systems_are_the_systems_the_condition_value_sets_use() -> None:
    from shared.eligibility.index import CONDITION_SYSTEMS
    from shared.eligibility.reference_tables import load_tables
    used = {
        system
        for concept in load_tables().concepts.values() if concept.resource == "Condition"
        for system in ({k.partition("|")[0] for k in concept.keys}
                       | {s for s, _ in concept.prefixes})
    }
    assert used == CONDITION_SYSTEMS


@pytest.mark.parametrize(("days", "eligible"), [(10, False), (50, True)])
def test_a_medication_coded_only_by_ndc_within_the_csf_window_makes_nct06946485_i6_unknown(
    days: int, eligible: bool
) -> None:
    # NCT06946485 I6.1 reads 'no colony-stimulating factor within the window' (med_within,
    # closed world with the reconciled-history attestation): filgrastim sent by its NDC alone
    # (Zarxio 61314-304-01, as a pharmacy feed codes it) cannot be told from no drug
    from tests.unit.eligibility.fhir_builder import AS_OF as BUILDER_AS_OF
    from tests.unit.eligibility.more_trials import CHT101, eligible_for_all
    builder = eligible_for_all().medication("61314-304-01", start_days=days + 2,
                                            end_days=days, system=NDC)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    decision = evaluate(load_trial(CHT101), patient, BUILDER_AS_OF)
    if eligible:
        assert decision.status is Status.ELIGIBLE
        return
    i6 = _criterion(decision, "I6.1")
    assert i6.outcome is Outcome.UNKNOWN
    assert "61314-304-01" in " ".join(i6.missing)
    assert decision.status is not Status.ELIGIBLE
