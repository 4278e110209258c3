"""A site's medication crosswalk (``CLINICAL_MEDICATION_CODES_FILE``): NDC, ATC and local drug
codes read as RxNorm drugs and ingredients.

FHIR R4 terminologies-systems names the code systems a feed uses for drugs: RxNorm
``http://www.nlm.nih.gov/research/umls/rxnorm``, NDC ``http://hl7.org/fhir/sid/ndc``, WHO ATC
``http://www.whocc.no/atc``; HL7 v2.5.1 table 0396 ``NDC`` and local ``L``/``99zzz``. No
criterion reads an NDC, an ATC code or a pharmacy's own code, and an RxNorm drug outside the
product table has no known ingredients: NCT06920433 E11 (immunosuppressants or biologics within
five half-lives) cannot say such a drug is none of them, so it is ``unknown`` for a patient on
an ordinary drug. A site maps its drug codes once, with who and why; a mapped drug is screened,
an unmapped one still keeps every closed-world drug criterion ``unknown``.

Before: a patient given rituximab coded by ATC L01FA01 was ``unknown`` on E11 (not FAIL), and a
patient on metformin coded by the pharmacy's own code was ``unknown`` on E11 (never eligible).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.medication_codes import (
    INGREDIENT_SYSTEM,
    medication_crosswalk,
    parse_medication_crosswalk,
    use_medication_crosswalk,
)
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Decision, Outcome, Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from shared.infra.local_codes import LocalCodesFileError
from shared.infra.medication_codes import install_site_medication_codes
from shared.settings import ClinicalSettings

AS_OF = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
PHARMACY = "https://pharmacy.example-hospital.org/fhir/CodeSystem/formulary"
Json = dict[str, Any]

# Codes: rituximab RxNorm ingredient 121191 (concepts.yaml biologics, CPIC drug table); ATC
# L01FA01 rituximab, NDC 50242-051-21 (Rituxan), as tests/unit/eligibility/
# test_unidentified_codes.py sends them; 1657862 '10 ML rituximab 10 MG/ML Injection' (NMDP
# CIBMTR IG value set med-mobilizing-agents-vs); metformin RxNorm ingredient 6809 (an RxNorm
# MRCONSO row '6809|RXNORM|IN|metformin', as public RxNorm test fixtures carry it)
CROSSWALK = f"""
medications:
  - system: {ATC}
    code: L01FA01
    ingredients: ["121191"]
    by: "P. Ruiz, pharmacy informatics"
    why: "WHO ATC/DDD index: L01FA01 rituximab; RxNorm ingredient 121191 rituximab"
  - system: {NDC}
    code: "50242-051-21"
    rxnorm: "1657862"
    by: "P. Ruiz, pharmacy informatics"
    why: "RxNav NDC properties: 50242-051-21 (Rituxan 100 mg/10 mL)"
  - system: {RXNORM}
    code: "1657862"
    ingredients: ["121191"]
    by: "P. Ruiz, pharmacy informatics"
    why: "RxNorm: 10 ML rituximab 10 MG/ML Injection has ingredient rituximab"
  - system: {PHARMACY}
    code: MET500
    ingredients: ["6809"]
    by: "P. Ruiz, pharmacy informatics"
    why: "formulary 2026-01: MET500 is metformin 500 mg tablet (ingredient metformin 6809)"
  - source: CITY-PHARM
    system: L
    code: RTX100
    rxnorm: "1657862"
    by: "P. Ruiz, pharmacy informatics"
    why: "CITY-PHARM drug dictionary: RTX100 is rituximab 100 mg/10 mL vial"
"""


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    use_medication_crosswalk({})


def _install(text: str = CROSSWALK) -> None:
    use_medication_crosswalk(parse_medication_crosswalk(text, "site-medications.yaml"))


def _administration(resource_id: str, *codings: tuple[str, str],
                    when: str = "2026-02-20T09:00:00Z") -> Json:
    """A FHIR R4 MedicationAdministration given 9 days before as-of, coded as sent."""
    return {
        "resourceType": "MedicationAdministration",
        "id": resource_id,
        "status": "completed",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "effectiveDateTime": when,
    }


def _statement(resource_id: str, *codings: tuple[str, str]) -> Json:
    """A FHIR R4 MedicationStatement of an ongoing drug (active, started 2025-06-01)."""
    return {
        "resourceType": "MedicationStatement",
        "id": resource_id,
        "status": "active",
        "subject": {"reference": "Patient/vignette"},
        "medicationCodeableConcept": {"coding": [{"system": s, "code": c} for s, c in codings]},
        "effectivePeriod": {"start": "2025-06-01"},
    }


def _decide(*resources: Json) -> Decision:
    bundle = json.loads(VIGNETTE.read_text(encoding="utf-8"))
    for resource in resources:
        bundle["entry"].append(
            {"fullUrl": f"urn:uuid:{resource['id']}", "resource": copy.deepcopy(resource)})
    updates = parse_fhir(bundle, source_system="test-ehr")
    return evaluate(load_trial("NCT06920433"), facts_from_updates(updates), AS_OF)


def _e11(decision: Decision) -> Any:
    return next(result for result in decision.criteria if result.id == "E11")


def test_metformin_by_a_pharmacy_code_is_unknown_without_the_crosswalk() -> None:
    decision = _decide(_statement("m1", (PHARMACY, "MET500")))
    assert _e11(decision).outcome is Outcome.UNKNOWN
    assert decision.status is not Status.ELIGIBLE


def test_metformin_mapped_to_its_ingredient_is_screened_and_the_patient_eligible() -> None:
    _install()
    decision = _decide(_statement("m1", (PHARMACY, "MET500")))
    assert _e11(decision).outcome is Outcome.PASS
    assert decision.status is Status.ELIGIBLE


@pytest.mark.parametrize("codings", [
    ((ATC, "L01FA01"),),
    ((NDC, "50242-051-21"),),
])
def test_rituximab_by_atc_or_ndc_through_the_crosswalk_fails_e11(
    codings: tuple[tuple[str, str], ...]
) -> None:
    assert _e11(_decide(_administration("a1", *codings))).outcome is Outcome.UNKNOWN
    _install()
    decision = _decide(_administration("a1", *codings))
    assert _e11(decision).outcome is Outcome.FAIL
    assert decision.status is Status.INELIGIBLE


def test_a_drug_the_crosswalk_does_not_map_still_makes_e11_unknown() -> None:
    _install()
    decision = _decide(_administration("a2", (NDC, "61314-304-01")))
    assert _e11(decision).outcome is Outcome.UNKNOWN
    assert "61314-304-01" in " ".join(_e11(decision).missing)
    assert decision.status is not Status.ELIGIBLE


def test_an_rxnorm_drug_mapped_without_ingredients_stays_unidentified() -> None:
    # a row names an RxNorm drug the product table does not list (2105831 '10 ML rituximab-abbs
    # 10 MG/ML Injection [Truxima]', CIBMTR IG value set med-mobilizing-agents-vs): with no
    # ingredient list for it, which ingredients it has is still unknown
    _install(f"""
medications:
  - system: {PHARMACY}
    code: TRX100
    rxnorm: "2105831"
    by: "P. Ruiz"
    why: "formulary 2026-01: TRX100 is Truxima 100 mg/10 mL"
""")
    decision = _decide(_administration("a3", (PHARMACY, "TRX100")))
    assert _e11(decision).outcome is Outcome.UNKNOWN
    assert "2105831" in " ".join(_e11(decision).missing)


def test_the_mapping_is_noted_on_the_fact_with_the_row_and_who_mapped_it() -> None:
    _install()
    [update] = parse_fhir(_administration("a4", (NDC, "50242-051-21")), source_system="ehr")
    [fact] = update.facts
    assert (RXNORM, "1657862") in {(c.system, c.code) for c in fact.codes}
    assert (INGREDIENT_SYSTEM, "121191") in {(c.system, c.code) for c in fact.codes}
    assert (NDC, "50242-051-21") in {(c.system, c.code) for c in fact.codes}  # as sent, kept
    reasons = " ".join(n.reason for n in fact.notes
                       if n.path.endswith("medicationCodeableConcept"))
    assert "CLINICAL_MEDICATION_CODES_FILE" in reasons
    assert "line " in reasons
    assert "P. Ruiz" in reasons


def test_a_sender_rxnorm_code_is_read_as_sent_with_the_ndc_rows_drug_beside_it() -> None:
    # the sender's coding is kept first and never replaced; the site's drug for the NDC is
    # added beside it so that the engine can tell whether both name one drug (here: yes,
    # rituximab 1657862 has the crosswalk ingredient 121191)
    _install()
    [update] = parse_fhir(_administration("a5", (NDC, "50242-051-21"), (RXNORM, "121191")),
                          source_system="ehr")
    [fact] = update.facts
    assert [c.code for c in fact.codes if c.system == RXNORM] == ["121191", "1657862"]
    assert any("the sender's coding is read, with RxNorm 1657862 beside it" in n.reason
               for n in fact.notes)


def test_an_hl7v2_rxa_coded_by_a_local_pharmacy_code_is_read_through_the_crosswalk() -> None:
    _install()
    message = "\r".join([
        "MSH|^~\\&|PHARM|CITY-PHARM|TW|TW|20260220100000+0000||RAS^O17^RAS_O17|M-9|P|2.5.1",
        "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F",
        "ORC|RE|P-1|F-1",
        "|".join(["RXA", "0", "1", "20260220090000+0000", "", "RTX100^Rituximab 100 mg/10 mL^L",
                  "1000", "mg^milligram^UCUM", *[""] * 12, "CP", "A"]),  # RXA-8..19 empty
    ]) + "\r"
    [update] = parse_hl7v2(message)
    [fact] = update.facts
    codes = {(c.system, c.code) for c in fact.codes}
    assert (RXNORM, "1657862") in codes
    assert (INGREDIENT_SYSTEM, "121191") in codes
    assert any("RTX100" in n.reason and "RXA" in n.path for n in fact.notes)


def test_conflicting_rows_map_nothing_and_say_so() -> None:
    _install(f"""
medications:
  - system: {ATC}
    code: L01FA01
    ingredients: ["121191"]
    by: "P. Ruiz"
    why: "WHO ATC index"
  - system: {PHARMACY}
    code: MET500
    ingredients: ["6809"]
    by: "P. Ruiz"
    why: "formulary"
""")
    [update] = parse_fhir(_administration("a6", (ATC, "L01FA01"), (PHARMACY, "MET500")),
                          source_system="ehr")
    [fact] = update.facts
    assert not [c for c in fact.codes if c.system == INGREDIENT_SYSTEM]
    assert any("different ingredient lists" in n.reason for n in fact.notes)


@pytest.mark.parametrize(("row", "reason"), [
    (f"system: {NDC}\n    code: '50242051'\n    rxnorm: '1657862'", "not written as an NDC"),
    (f"system: {NDC}\n    code: 50242-051-21\n    ingredients: ['121191']", "give 'rxnorm'"),
    (f"system: {ATC}\n    code: L01FA\n    ingredients: ['121191']", "5th-level"),
    (f"system: {ATC}\n    code: L01FA01\n    rxnorm: '121191'", "give 'ingredients'"),
    (f"system: {RXNORM}\n    code: '1657862'\n    rxnorm: '121191'", "'ingredients'"),
    (f"system: {RXNORM}\n    code: 'abc'\n    ingredients: ['121191']", "not an RxNorm"),
    (f"system: {RXNORM}\n    code: '1657862'\n    ingredients: []", "non-empty list"),
    ("system: NDC\n    code: 50242-051-21\n    rxnorm: '1657862'", NDC),
    ("system: urn:oid:2.16.840.1.113883.6.73\n    code: L01FA01\n    ingredients: ['1']", ATC),
    ("system: http://loinc.org\n    code: 777-3\n    rxnorm: '1'", "not a drug code system"),
    ("system: L\n    code: RTX100\n    rxnorm: '1657862'", "'source' is required"),
    (f"system: {PHARMACY}\n    code: X\n    rxnorm: '1'\n    ingredients: ['2']", "exactly one"),
    (f"system: {PHARMACY}\n    code: X\n    rxnorm: '1'\n    dose: 5", "unknown field"),
])
def test_a_wrong_row_is_refused_with_its_line_and_reason(row: str, reason: str) -> None:
    # a comment and blank lines before the row: the line is the file's, not the row's index
    text = ("medications:\n  # this site's drug codes\n\n\n"
            f"  - {row}\n    by: P. Ruiz\n    why: formulary\n")
    with pytest.raises(ValueError, match="line ") as refused:
        parse_medication_crosswalk(text, "site-medications.yaml")
    message = str(refused.value)
    assert "line 5 " in message
    assert reason in message
    assert "site-medications.yaml" in message


def test_a_missing_who_or_why_and_a_duplicate_are_refused() -> None:
    with pytest.raises(ValueError, match="'why' is required"):
        parse_medication_crosswalk(
            f"medications:\n  - system: {ATC}\n    code: L01FA01\n    ingredients: ['121191']\n"
            "    by: P. Ruiz\n", "f.yaml")
    row = (f"  - system: {ATC}\n    code: L01FA01\n    ingredients: ['121191']\n"
           "    by: P. Ruiz\n    why: WHO ATC index\n")
    with pytest.raises(ValueError, match=r"line 7 .*mapped twice \(first at line 2\)"):
        parse_medication_crosswalk("medications:\n" + row + row, "f.yaml")


def test_the_setting_installs_the_file_and_a_bad_file_stops_the_start_up(tmp_path: Path) -> None:
    good = tmp_path / "meds.yaml"
    good.write_text(CROSSWALK, encoding="utf-8")
    install_site_medication_codes(ClinicalSettings(medication_codes_file=good))
    assert len(medication_crosswalk()) == 5
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"medications:\n  - system: {ATC}\n    code: L01\n    ingredients: ['1']\n"
                   "    by: a\n    why: b\n", encoding="utf-8")
    with pytest.raises(LocalCodesFileError, match=r"bad\.yaml: line 2 .*5th-level"):
        install_site_medication_codes(ClinicalSettings(medication_codes_file=bad))
    install_site_medication_codes(ClinicalSettings(medication_codes_file=None))
    assert medication_crosswalk() == ()


# FHIR R4 CodeableConcept: the codings are one concept. The site says NDC 50242-051-21 is
# RxNorm 1657862 (rituximab 10 MG/ML, whose crosswalk ingredient is 121191); a sender coding
# the same drug as RxNorm 312617 (predniSONE 5 MG Oral Tablet) beside that NDC has named two
# drugs. Before, the crosswalk row was not applied when the sender coded RxNorm itself: read as
# prednisone only, the ongoing rituximab it may be was never seen and E11 passed (ELIGIBLE).
# Now the crosswalk's drug is added beside the sender's and the engine finds they differ:
# unread, E11 unknown, both named.
def test_an_ndc_the_site_maps_to_another_drug_than_the_senders_rxnorm_leaves_e11_unknown() -> None:
    _install()
    statement = _statement("m-ndc", (RXNORM, "312617"), (NDC, "50242-051-21"))
    e11 = _e11(_decide(statement))
    assert e11.outcome is Outcome.UNKNOWN
    assert "312617" in str(e11.reason)
    assert "1657862" in str(e11.reason)


def test_an_ndc_the_site_maps_to_the_senders_drug_still_reads() -> None:
    _install()
    given = _administration("a-same", (RXNORM, "121191"), (NDC, "50242-051-21"))
    assert _e11(_decide(given)).outcome is Outcome.FAIL  # rituximab 9 days ago
