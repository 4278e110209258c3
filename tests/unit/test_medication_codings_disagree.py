"""A drug's codings that name different drugs are never read as one of them (fidelity).

FHIR R4 datatypes, CodeableConcept.coding: "A reference to a code defined by a terminology
system"; the codings of one CodeableConcept are alternative representations of the same
concept (Coding semantics, 2.24.0.12: each coding "may be a translation" of the others). HL7
v2.5.1 2A.3.13 CWE (and CE, 2A.3.8): components 4-6 are "an alternate code for the same
concept" as components 1-3 (RXE-2 give code, RXA-5 administered code). A sender whose
codings of one drug resolve, through the project's own tables (``tables/concepts.yaml`` drug
value sets of RxNorm ingredients and the ``tables/rxnorm_products.yaml`` SCD/SBD -> IN
roll-up), to different drugs has said two things at once: which drug was taken is unknown.

Before, every coding a value set knew was read: a MedicationStatement coded RxNorm 8640
(prednisone) together with RxNorm 979092 (hydroxychloroquine 200 MG Oral Tablet) proved
glucocorticoid use on its prednisone coding, so NCT06920433 I2 passed on a drug that may be
hydroxychloroquine, and the patient whose only glucocorticoid record it was stood ELIGIBLE.
Now the medication is kept unread (``ClinicalFact.unread`` at its ``medication[x]`` / RXE-2 /
RXA-5), naming both codes: an unread entry proves no use and has an unknown washout, so I2 and
E11 are unknown. Codings of one drug at different granularity (the ingredient IN and an
SCD/SBD product of it, two products of it) still read.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from shared.clinical.facts import ClinicalFact, PatientFacts
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF, RXNORM, ago, eligible_patient, iso

PREDNISONE_SCD = "312617"  # predniSONE 5 MG Oral Tablet (rxnorm_products.yaml, PDDI source)
# a real EHR's medication codings: the product, its ingredient, with version and display
PREDNISONE = {"system": RXNORM, "version": "07072025", "code": "8640", "display": "predniSONE"}
PREDNISONE_TABLET = {"system": RXNORM, "version": "07072025", "code": PREDNISONE_SCD,
                     "display": "predniSONE 5 MG Oral Tablet"}
HCQ_TABLET = {"system": RXNORM, "version": "07072025", "code": "979092",
              "display": "hydroxychloroquine sulfate 200 MG Oral Tablet"}
RITUXIMAB = {"system": RXNORM, "version": "07072025", "code": "121191", "display": "rituximab"}


def _patient(*resources: dict[str, Any]) -> PatientFacts:
    """The eligible patient without her prednisone statement, plus ``resources``."""
    builder = eligible_patient().without(RXNORM, PREDNISONE_SCD)
    builder.resources.extend(copy.deepcopy(list(resources)))
    return facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))


def _decide(patient: PatientFacts) -> Decision:
    return evaluate(load_trial("NCT06920433", "2025-11-14.1"), patient, AS_OF)


def _criterion(decision: Decision, criterion: str) -> Any:
    return next(c for c in decision.criteria if c.id == criterion)


def _use(resource_type: str, concept: dict[str, Any], **fields: Any) -> dict[str, Any]:
    timings: dict[str, dict[str, Any]] = {
        "MedicationStatement": {"status": "active",
                                "effectivePeriod": {"start": iso(ago(730))}},
        "MedicationRequest": {"status": "active", "intent": "order",
                              "authoredOn": iso(ago(730))},
        "MedicationAdministration": {"status": "completed",
                                     "effectiveDateTime": iso(ago(20))},
        "MedicationDispense": {"status": "completed", "whenHandedOver": iso(ago(20))},
    }
    timing = timings[resource_type]
    return {"resourceType": resource_type, "id": f"{resource_type.lower()}-1",
            "subject": {"reference": "Patient/vignette"}, **timing, **concept, **fields}


def _unread(patient: PatientFacts) -> list[ClinicalFact]:
    return [f for f in patient.facts if f.unread is not None]


@pytest.mark.parametrize("resource_type", ["MedicationStatement", "MedicationRequest"])
def test_prednisone_and_hydroxychloroquine_codings_of_one_drug_never_prove_glucocorticoid_use(
    resource_type: str,
) -> None:
    concept = {"medicationCodeableConcept": {
        "coding": [PREDNISONE, HCQ_TABLET], "text": "predniSONE 5 mg tablet"}}
    decision = _decide(_patient(_use(resource_type, concept)))
    i2 = _criterion(decision, "I2")
    assert i2.outcome is not Outcome.PASS
    assert decision.status is not Status.ELIGIBLE
    assert "8640" in str(i2.reason)
    assert "979092" in str(i2.reason)


# an administration or dispense 20 days ago coded rituximab and prednisone: read as rituximab
# it failed E11 (the right answer only if it was rituximab); it may have been prednisone
@pytest.mark.parametrize("resource_type", ["MedicationAdministration", "MedicationDispense"])
def test_an_exposure_coded_as_rituximab_and_prednisone_leaves_the_washout_unknown(
    resource_type: str,
) -> None:
    concept = {"medicationCodeableConcept": {"coding": [RITUXIMAB, PREDNISONE],
                                             "text": "rituximab"}}
    e11 = _criterion(_decide(_patient(_use(resource_type, concept))), "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "121191" in str(e11.reason)
    assert "8640" in str(e11.reason)


def test_rituximab_and_prednisone_codings_leave_the_washout_and_the_use_unknown() -> None:
    concept = {"medicationCodeableConcept": {"coding": [RITUXIMAB, PREDNISONE]}}
    decision = _decide(_patient(_use("MedicationStatement", concept)))
    assert _criterion(decision, "I2").outcome is Outcome.UNKNOWN
    e11 = _criterion(decision, "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "121191" in str(e11.reason)
    assert "8640" in str(e11.reason)
    assert decision.status is not Status.ELIGIBLE


def test_the_unread_note_names_the_medication_element_and_both_drugs() -> None:
    concept = {"medicationCodeableConcept": {"coding": [PREDNISONE, HCQ_TABLET]}}
    patient = _patient(_use("MedicationStatement", concept))
    index_facts = [f for f in patient.facts if any(c.code == "8640" for c in f.codes)]
    assert index_facts  # the normaliser keeps both codings as sent
    i2 = _criterion(_decide(patient), "I2")
    assert "codings name different drugs: RxNorm 8640; RxNorm 979092 (ingredients 5521)" in str(
        i2.reason)
    paths = {e.details.get("unread_path") for e in i2.evidence if e.details}
    assert "MedicationStatement/medicationstatement-1.medication[x]" in paths


# a contained Medication (FHIR R4 DomainResource.contained, referenced as '#m1') and one in
# the bundle: Medication.code is the same CodeableConcept
@pytest.mark.parametrize("where", ["contained", "bundle"])
def test_a_referenced_medication_whose_codings_name_different_drugs_is_unread(where: str) -> None:
    medication = {"resourceType": "Medication", "id": "m1",
                  "code": {"coding": [PREDNISONE_TABLET, HCQ_TABLET]}}
    if where == "contained":
        statement = _use("MedicationStatement", {"medicationReference": {"reference": "#m1"}},
                         contained=[medication])
        patient = _patient(statement)
    else:
        statement = _use("MedicationStatement",
                         {"medicationReference": {"reference": "Medication/m1"}})
        patient = _patient(medication, statement)
    decision = _decide(patient)
    assert _criterion(decision, "I2").outcome is not Outcome.PASS
    assert decision.status is not Status.ELIGIBLE


@pytest.mark.parametrize(
    "codings",
    [[PREDNISONE, PREDNISONE_TABLET], [PREDNISONE_TABLET, PREDNISONE],
     [PREDNISONE_TABLET, {"system": RXNORM, "code": "312615",
                          "display": "predniSONE 20 MG Oral Tablet"}]],
    ids=["ingredient-then-product", "product-then-ingredient", "two-products"],
)
def test_codings_of_one_drug_at_different_granularity_still_read(
    codings: list[dict[str, Any]],
) -> None:
    concept = {"medicationCodeableConcept": {"coding": codings}}
    patient = _patient(_use("MedicationStatement", concept))
    assert not [f for f in _unread(patient) if f.kind == "medication"]
    decision = _decide(patient)
    assert _criterion(decision, "I2").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_a_coding_no_table_knows_beside_a_known_one_is_read_as_the_known_drug() -> None:
    # an NDC (not read without the site crosswalk) beside the RxNorm product: nothing says
    # it is another drug; the RxNorm coding decides as before
    ndc = {"system": "http://hl7.org/fhir/sid/ndc", "code": "0054-4728-25",
           "display": "PredniSONE 5 MG Tablet"}
    concept = {"medicationCodeableConcept": {"coding": [PREDNISONE_TABLET, ndc]}}
    decision = _decide(_patient(_use("MedicationStatement", concept)))
    assert _criterion(decision, "I2").outcome is Outcome.PASS


@pytest.mark.parametrize("unidentified", [
    # hydroxychloroquine's WHO ATC code: no site crosswalk row maps it, so TrialWatch does not
    # know it is another drug; the sender asserts it is the same concept
    {"system": "http://www.whocc.no/atc", "code": "P01BA02"},
    # an NDC no crosswalk maps, sent before the RxNorm coding (order carries no meaning: FHIR R4
    # CodeableConcept.coding "Ordering of codings is undefined and SHALL NOT be used to infer
    # meaning")
    {"system": "http://hl7.org/fhir/sid/ndc", "code": "63629-1234-1"},
    # an RxNorm code in neither the product table nor a drug value set
    {"system": RXNORM, "code": "2599541", "display": "a product TrialWatch's table lacks"},
], ids=["atc-without-crosswalk", "ndc-first", "rxnorm-not-in-tables"])
def test_an_unidentified_coding_is_not_compared_and_the_identified_drug_reads(
    unidentified: dict[str, Any],
) -> None:
    """The codings of one CodeableConcept (FHIR R4 datatypes 2.24.0.12/13) and a CWE's
    alternate identifier (HL7 v2.5.1 2A.3.13) are the sender's assertion of one concept: a
    coding the tables cannot identify is not evidence of another drug, so the identified one
    decides (``shared.eligibility.index.drugs_disagree``'s comment at the decision)."""
    concept = {"medicationCodeableConcept": {"coding": [unidentified, PREDNISONE_TABLET]}}
    patient = _patient(_use("MedicationStatement", concept))
    assert not [f for f in _unread(patient) if f.kind == "medication"]
    decision = _decide(patient)
    assert _criterion(decision, "I2").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


# --- HL7 v2: RXE-2 / RXA-5 identifier and alternate identifier (2A.3.13 CWE-4..6) ----------

MSH_RDE = ("MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20260301080000+0000||RDE^O11^RDE_O11"
           "|RDE-ALT1|P|2.5.1")
MSH_RAS = ("MSH|^~\\&|PHARM|CITY-HOSP|TRIALWATCH|CITY-HOSP|20260301080000+0000||RAS^O17^RAS_O17"
           "|RAS-ALT1|P|2.5.1")
PID = "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900412|F"


def _ts(days: float) -> str:
    return ago(days).strftime("%Y%m%d%H%M%S+0000")


def _with_hl7(message: str) -> PatientFacts:
    builder = eligible_patient().without(RXNORM, PREDNISONE_SCD)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="ehr"))
    sent = tuple(f for u in parse_hl7v2(message, source_system="pharmacy") for f in u.facts)
    return PatientFacts(demographics=patient.demographics, facts=(*patient.facts, *sent))


def _rde(give_code: str) -> str:
    return "\r".join([
        MSH_RDE, PID,
        f"ORC|NW|PL-1^EHR|FL-1^PHARM||IP||||{_ts(730)}",
        f"RXE||{give_code}|5||mg^milligram^UCUM|TAB^tablet^HL70292",
        f"TQ1|1||Q24H||||{_ts(730)}",
    ]) + "\r"


def _ras(code: str) -> str:
    rxa = ["RXA", "0", "1", _ts(20), "", code, "500", "mg^milligram^UCUM", *[""] * 12,
           "CP", "A"]
    return "\r".join([MSH_RAS, PID, f"ORC|RE|PL-2^EHR|FL-2^PHARM||CM||||{_ts(20)}",
                      "|".join(rxa)]) + "\r"


def test_an_rxe_2_whose_alternate_names_another_drug_never_proves_glucocorticoid_use() -> None:
    decision = _decide(_with_hl7(_rde(
        "312617^predniSONE 5 MG Oral Tablet^RXN^979092^Hydroxychloroquine 200 mg^RXN")))
    i2 = _criterion(decision, "I2")
    assert i2.outcome is not Outcome.PASS
    assert "312617" in str(i2.reason)
    assert "979092" in str(i2.reason)
    assert decision.status is not Status.ELIGIBLE


def test_an_rxe_2_whose_alternate_is_the_same_drug_reads() -> None:
    give_code = "312617^predniSONE 5 MG Oral Tablet^RXN^8640^predniSONE^RXN"
    decision = _decide(_with_hl7(_rde(give_code)))
    assert _criterion(decision, "I2").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_an_rxe_2_whose_alternate_is_an_ndc_no_crosswalk_maps_reads_as_its_identifier() -> None:
    # HL7 v2.5.1 2A.3.13 CWE-4..6 "an alternate code for the same concept": not compared
    give_code = "312617^predniSONE 5 MG Oral Tablet^RXN^63629123401^a tablet^NDC"
    decision = _decide(_with_hl7(_rde(give_code)))
    assert _criterion(decision, "I2").outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


def test_an_rxa_5_naming_rituximab_and_prednisone_leaves_the_washout_unknown() -> None:
    patient = _with_hl7(_ras("121191^rituximab^RXN^8640^predniSONE^RXN"))
    e11 = _criterion(_decide(patient), "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "121191" in str(e11.reason)
    assert "8640" in str(e11.reason)


def test_a_new_fact_whose_codings_disagree_is_unread_in_an_index_built_incrementally() -> None:
    # the evaluator adds a new fact to the index it holds (FactIndex.with_facts): the same
    # reading as a full build
    from shared.eligibility.engine import build_index, evaluate_index

    trial = load_trial("NCT06920433", "2025-11-14.1")
    base = _patient()
    concept = {"medicationCodeableConcept": {"coding": [PREDNISONE, HCQ_TABLET]}}
    (new,) = [f for f in _patient(_use("MedicationStatement", concept)).facts
              if any(c.code == "8640" for c in f.codes)]
    index = build_index(trial, base).with_facts([new])
    incremental = evaluate_index(trial, index, AS_OF)
    full = _decide(PatientFacts(demographics=base.demographics, facts=(*base.facts, new)))
    assert _criterion(incremental, "I2").outcome is _criterion(full, "I2").outcome
    assert _criterion(incremental, "I2").outcome is not Outcome.PASS
