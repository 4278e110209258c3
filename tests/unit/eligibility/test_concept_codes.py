"""Codes added to the shipped value sets (issue 12, trials as data), each read where it belongs.

13955-0 "Hepatitis C virus Ab [Presence] in Serum or Plasma by Immunoassay" (LOINC table copy,
concepts.yaml source) is a presence screen: a negative one settles the HCV branch of E8 as
16128-1 does. 33799-8 (Mayo ADNA, dsDNA IgG Ab in IU/mL) is a number: it joins anti_dsdna,
never a presence set. 5198-7 and 48159-8 are deliberately not in any value set.
"""

from __future__ import annotations

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import list_trials, load_trial
from shared.eligibility.reference_tables import load_tables
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, NEGATIVE, ago, eligible_patient

TRIAL = load_trial("NCT06920433", "2025-11-14.1")


def test_a_negative_hcv_antibody_by_immunoassay_13955_0_settles_the_hcv_branch() -> None:
    b = eligible_patient().without(LOINC, "16128-1")
    b.observation(LOINC, "13955-0", ago(20), coded=NEGATIVE)
    decision = evaluate(TRIAL, facts_from_updates(parse_fhir(b.bundle(), source_system="v")),
                        AS_OF)
    e8 = next(c for c in decision.criteria if c.id == "E8")
    assert e8.outcome is Outcome.PASS, e8.missing
    assert decision.status is Status.ELIGIBLE


def test_dsdna_igg_33799_8_is_a_number_in_the_anti_dsdna_concept_only() -> None:
    for trial_id in list_trials():
        tables = load_trial(trial_id).tables
        holding = [name for name in tables.concepts
                   if f"{LOINC}|33799-8" in tables.concept(name).keys]
        assert holding == ["anti_dsdna"]
        concept = tables.concept("anti_dsdna")
        assert concept.unit == "[IU]/mL"


def test_codes_left_out_on_purpose_are_in_no_value_set() -> None:
    for trial_id in list_trials():
        tables = load_trial(trial_id).tables
        for code in ("5198-7", "48159-8"):
            assert not [n for n in tables.concepts if f"{LOINC}|{code}" in tables.concept(n).keys]


def test_rxnorm_products_roll_up_as_the_published_rxnorm_value_sets_name_them() -> None:
    """200060 is 'mycophenolate mofetil 500 MG Oral Tablet' and 1734919 'cyclophosphamide 1000
    MG Injection' (NMDP CIBMTR IG med-gvhd-prophylaxis-vs); 311867, mapped to mycophenolate
    mofetil before, is not that product in any source found, so it rolls up to nothing."""
    tables = load_trial("NCT06920433").tables
    assert tables.product_ingredients["200060"] == ("68149",)
    assert "311867" not in tables.product_ingredients
    assert tables.product_names["1734919"] == "cyclophosphamide 1000 MG Injection"
    assert tables.product_ingredients["1734917"] == ("3002",)


def _e8_with_hbv_dna(code: str, value: float, unit: str) -> Outcome:
    from tests.unit.eligibility.fhir_builder import POSITIVE

    b = eligible_patient().without(LOINC, "13952-7")
    b.observation(LOINC, "13952-7", ago(20), coded=POSITIVE)  # HBcAb positive
    b.lab(code, value, unit, days=20)
    decision = evaluate(TRIAL, facts_from_updates(parse_fhir(b.bundle(), source_system="v")),
                        AS_OF)
    return next(c for c in decision.criteria if c.id == "E8").outcome


def test_hbv_dna_in_copies_29615_2_is_never_judged_by_the_iu_cut_off() -> None:
    """29615-2 is [#/volume] (copies/mL), 42595-9 [Units/volume] (IU/mL; concepts.yaml hbv_dna).
    The trial's cut-off is 20 IU/mL: 500 IU/mL excludes; 500 copies/mL with no reference range
    is not a number in IU and is not compared with it, so E8 stays unknown (never passed)."""
    assert _e8_with_hbv_dna("42595-9", 500, "[IU]/mL") is Outcome.FAIL
    assert _e8_with_hbv_dna("29615-2", 500, "{copies}/mL") is Outcome.UNKNOWN


def test_alzheimers_disease_coded_in_icd_10_cm_g30_is_a_dementia_for_e9() -> None:
    """ICD-10-CM G30.9 'Alzheimer's disease, unspecified' is in the mCODE Elixhauser dementia
    value set beside F01-F03; psychiatric_cognitive read its SNOMED twin 26929004 but not G30,
    so a G30.9 record left E9 to the attestation (E9 passed, patient eligible)."""
    from tests.unit.eligibility.fhir_builder import ICD10

    b = eligible_patient().condition(ICD10, "G30.9", onset_days=400)
    decision = evaluate(TRIAL, facts_from_updates(parse_fhir(b.bundle(), source_system="v")),
                        AS_OF)
    e9 = next(c for c in decision.criteria if c.id == "E9")
    assert e9.outcome is Outcome.FAIL, e9.reason
    assert decision.status is Status.INELIGIBLE


@pytest.mark.parametrize(("concept", "cited"), [
    ("bilirubin_total", "ngiger/elexis-jubula"),          # LOINC 14631-6 in a LOINC table copy
    ("anti_dsdna", "mchslacrosse.testcatalog.org/show/DSDNA"),  # LOINC 33799-8, Mayo catalogues
    ("malignant_neoplasm", "BHFDSC/CCU002_06"),            # SNOMED 424132000, 254632001
    ("malignancy", "malignant_neoplasm's source"),
])
def test_codes_checked_in_issue_12_cite_their_source_and_carry_no_verify_marker(
    concept: str, cited: str
) -> None:
    # issue 12: a code stays in a value set only with a citable source saying what it is
    source = load_tables().concept(concept).source
    assert cited in source
    assert "VERIFY" not in source
