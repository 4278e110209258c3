"""The shipped RxNorm product -> ingredient table (``tables/rxnorm_products.yaml``) identifies
the ordinary product codes real feeds send for the drugs the criteria read.

Real EHR feeds code a medication by its clinical or branded drug (SCD/SBD), not its ingredient
(Synthea does). A product outside the table cannot be told from an immunosuppressant, so NCT06920433
E11 and NCT06946485 I6.1 (no colony-stimulating factor within the window) are ``unknown`` for
a patient on it. Every row cites a published RxNorm value set that names the code with the
product (its ``source``). Before: Neupogen 1 ML filgrastim 0.3 MG/ML Injection (1649944) within
the window left I6.1 unknown, and Rituxan 10 ML rituximab 10 MG/ML Injection (1657862) left
E11 unknown; 1657009, listed as a rituximab product, is in neither the CIBMTR nor the PEDSnet
list of RxNorm rituximab products and no longer identifies anything.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.eligibility.reference_tables import RXNORM, TABLES_DIR, load_tables

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
Json = dict[str, Any]


def _administration(code: str, when: str = "2026-02-20T09:00:00Z") -> Json:
    return {
        "resourceType": "MedicationAdministration", "id": f"adm-{code}", "status": "completed",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "effectiveDateTime": when,
    }


def _nct06920433(*resources: Json) -> Decision:
    bundle = json.loads(VIGNETTE.read_text(encoding="utf-8"))
    for resource in resources:
        bundle["entry"].append(
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": copy.deepcopy(resource)})
    return evaluate(load_trial("NCT06920433"),
                    facts_from_updates(parse_fhir(bundle, source_system="ehr")), AS_OF)


def _criterion(decision: Decision, criterion: str) -> Any:
    return next(result for result in decision.criteria if result.id == criterion)


def test_every_product_rolls_up_to_ingredients_a_value_set_reads_and_cites_a_source() -> None:
    # a product rolled up to an ingredient no value set lists would be "identified" as none of
    # the drugs: a biosimilar or a combination product must not slip through that way
    tables = load_tables()
    read = set().union(*(concept.keys for concept in tables.concepts.values()))
    raw = yaml.safe_load((TABLES_DIR / "rxnorm_products.yaml").read_text(encoding="utf-8"))
    for code, spec in raw["products"].items():
        assert all(f"{RXNORM}|{i}" in read for i in spec["ingredients"]), code
        assert not spec["verified"] or spec.get("source"), code


@pytest.mark.parametrize(("code", "drug"), [
    ("1657862", "10 ML rituximab 10 MG/ML Injection"),
    ("1657864", "10 ML rituximab 10 MG/ML Injection [Rituxan]"),
    ("1743720", "Methylprednisolone 500 MG Injection"),  # not in E11 (glucocorticoid)
])
def test_a_listed_product_is_identified_for_e11(code: str, drug: str) -> None:
    e11 = _criterion(_nct06920433(_administration(code)), "E11")
    assert e11.outcome is (Outcome.PASS if "prednisolone" in drug else Outcome.FAIL), drug


def test_1657009_is_no_longer_read_as_rituximab() -> None:
    e11 = _criterion(_nct06920433(_administration("1657009")), "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "1657009" in " ".join(e11.missing)


@pytest.mark.parametrize("code", ["1649944", "1605071", "727542", "2057209"])
def test_a_csf_product_within_the_window_fails_nct06946485_i6_1(code: str) -> None:
    # NCT06946485 I6.1: no colony-stimulating factor within the window (med_within); Neupogen,
    # Zarxio, Neulasta and Nivestym products as a pharmacy feed codes them
    from tests.unit.eligibility.fhir_builder import AS_OF as BUILDER_AS_OF
    from tests.unit.eligibility.more_trials import CHT101, eligible_for_all
    builder = eligible_for_all().medication(code, start_days=12, end_days=10)
    patient = facts_from_updates(parse_fhir(builder.bundle(), source_system="vignette"))
    decision = evaluate(load_trial(CHT101), patient, BUILDER_AS_OF)
    assert _criterion(decision, "I6.1").outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


@pytest.mark.parametrize(("code", "drug"), [
    ("205285", "leflunomide 20 MG Oral Tablet"),  # openFDA NDC 50090-7537: rxcui [205285]
    ("205284", "leflunomide 10 MG Oral Tablet"),  # openFDA NDC 72162-2409: rxcui [205284]
])
def test_leflunomide_tablets_as_feeds_code_them_are_identified_for_e11(
    code: str, drug: str
) -> None:
    # leflunomide's washout (5 x teriflunomide's half-life) is months: a tablet given nine days
    # before the screening fails E11. Before, the table rolled up 205493 instead, so the SCD
    # that FDA's NDC directory maps these products to left E11 unknown
    e11 = _criterion(_nct06920433(_administration(code)), "E11")
    assert e11.outcome is Outcome.FAIL, drug


def test_205493_is_not_read_as_leflunomide() -> None:
    # 205493 was listed as 'leflunomide 20 MG Oral Tablet' (unverified); RxNorm's SCD for that
    # product is 205285, so 205493 is another concept and identifies nothing here
    e11 = _criterion(_nct06920433(_administration("205493")), "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "205493" in " ".join(e11.missing)


def test_1092440_is_not_read_as_belimumab() -> None:
    # 1092440 was listed as 'belimumab 120 MG Injection' from memory (verified: false). No stored
    # source names it (2026-12-03: find_string '1092440'; openFDA's RxNorm codes for the Benlysta
    # SPL are 1656395, 1656398, 1656400, 1656402, 1939296, 1939299, 1939346, 1939348, none of
    # them 1092440), so a feed sending it is an unidentified drug: E11 unknown naming the code,
    # never read as belimumab (whose washout could then decide E11 either way)
    e11 = _criterion(_nct06920433(_administration("1092440")), "E11")
    assert e11.outcome is Outcome.UNKNOWN
    assert "1092440" in " ".join(e11.missing)


def test_every_product_row_is_verified() -> None:
    # a product row the project has not checked against a published source identifies a drug
    # from memory; rows are either cited (verified: true, source) or not in the table
    raw = yaml.safe_load((TABLES_DIR / "rxnorm_products.yaml").read_text(encoding="utf-8"))
    unverified = sorted(code for code, spec in raw["products"].items() if not spec["verified"])
    assert unverified == []


@pytest.mark.parametrize(("code", "drug"), [("1310520", "teriflunomide"), ("1092437", "belimumab")])
def test_an_unconfirmed_ingredient_code_is_an_unidentified_drug(code: str, drug: str) -> None:
    # 1310520 ('teriflunomide') and 1092437 ('belimumab') were in the immunosuppressants and
    # biologics value sets from memory; no stored source names either code (issue 12 VERIFY
    # markers, searched 2026-12-01..03), so they are out of every value set (concepts
    # 2026-12-03.7). A record coded with one is an unidentified drug: E11 unknown naming the
    # code, never read as the drug (which could count toward 'conventional therapy' or decide
    # a washout on a code nobody confirmed)
    e11 = _criterion(_nct06920433(_administration(code)), "E11")
    assert e11.outcome is Outcome.UNKNOWN, drug
    assert code in " ".join(e11.missing), drug
    read = set().union(*(concept.keys for concept in load_tables().concepts.values()))
    assert f"{RXNORM}|{code}" not in read, drug
