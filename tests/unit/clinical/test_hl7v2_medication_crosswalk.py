"""The site medication crosswalk reads HL7 v2 pharmacy codes exactly as FHIR Medication* codes.

HL7 v2.5.1 ch. 4A: RXA-5 administered code (RAS^O17) and RXE-2 give code (RDE^O11) are CE
fields, identifier^text^name of coding system in components 1-3 and the alternate triplet in
components 4-6. Table 0396 (coding system) names the drug code systems ``RXN`` (RxNorm),
``NDC`` (National Drug Code) and ``WC`` (WHO ATC: HL7 Terminology NamingSystem v3-WC, OID
2.16.840.1.113883.6.73, URI ``http://www.whocc.no/atc``; table 0396 ``ATC`` is the American
Type Culture Collection, not the WHO classification), and local ``L``/``99zzz``. A crosswalk
row names the system by its FHIR R4 URI (terminologies-systems), so an HL7 v2 code must reach
it under the same URI as the FHIR Coding would.

Before: an RXA or RXE coded ``L01FA01^rituximab^WC`` kept the system ``WC``, the site's ATC row
(``http://www.whocc.no/atc`` L01FA01 -> RxNorm ingredient 121191) was never applied, and
rituximab given within NCT06920433 E11's washout was ``unknown`` over HL7 v2 while the same
code in a FHIR MedicationAdministration made E11 FAIL.

RDS^O13 (RXD dispense) and OMP^O09 (RXO order) messages are not read at all: refused whole at
MSH.9 (``shared.clinical.hl7v2``), so no medication from them bypasses the crosswalk; an RXO
inside an RDE^O11 is the order as placed, the RXE that follows is what is read.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.clinical.facts import ClinicalFact
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from shared.clinical.medication_codes import INGREDIENT_SYSTEM, use_medication_crosswalk
from tests.unit.clinical.test_medication_crosswalk import (
    ATC,
    NDC,
    RXNORM,
    _administration,
    _install,
)

MSH_RAS = "MSH|^~\\&|PHARM|CITY-PHARM|TW|TW|20260220100000+0000||RAS^O17^RAS_O17|M-9|P|2.5.1"
MSH_RDE = "MSH|^~\\&|PHARM|CITY-PHARM|TW|TW|20260220100000+0000||RDE^O11^RDE_O11|M-10|P|2.5.1"
PID = "PID|1||MRN-0042^^^CITY^MR||Roe^Jane||19900510|F"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    yield
    use_medication_crosswalk({})


def _rxa(code: str) -> ClinicalFact:
    rxa = "|".join(["RXA", "0", "1", "20260220090000+0000", "", code, "1000",
                    "mg^milligram^UCUM", *[""] * 12, "CP", "A"])  # RXA-8..19 empty
    [update] = parse_hl7v2("\r".join([MSH_RAS, PID, "ORC|RE|P-1|F-1", rxa]) + "\r")
    [fact] = update.facts
    return fact


def _rxe(code: str) -> ClinicalFact:
    segments = [MSH_RDE, PID, "ORC|NW|P-2|F-2||IP||||20260210090000+0000",
                f"RXE|^^^20260210090000+0000|{code}|500|500|mg^milligram^UCUM",
                "TQ1|1||Q12H|||||20260210090000+0000"]
    [update] = parse_hl7v2("\r".join(segments) + "\r")
    [fact] = update.facts
    return fact


def _codes(fact: ClinicalFact) -> set[tuple[str, str]]:
    return {(c.system, c.code) for c in fact.codes}


def _fhir(*codings: tuple[str, str]) -> ClinicalFact:
    [update] = parse_fhir(_administration("a1", *codings), source_system="CITY-PHARM")
    [fact] = update.facts
    return fact


@pytest.mark.parametrize("read", [_rxa, _rxe], ids=["RXA-5", "RXE-2"])
def test_an_atc_code_of_table_0396_wc_is_read_through_the_crosswalk(read: object) -> None:
    _install()
    fact = read("L01FA01^rituximab^WC")  # type: ignore[operator]
    assert (ATC, "L01FA01") in _codes(fact)
    assert (INGREDIENT_SYSTEM, "121191") in _codes(fact)
    assert any("L01FA01" in n.reason and "medication crosswalk" in n.reason
               for n in fact.notes)


@pytest.mark.parametrize("read", [_rxa, _rxe], ids=["RXA-5", "RXE-2"])
def test_an_atc_code_in_the_alternate_triplet_is_read_through_the_crosswalk(
    read: object
) -> None:
    _install()
    fact = read("RTX-X^rituximab vial^99CITY^L01FA01^rituximab^WC")  # type: ignore[operator]
    assert (INGREDIENT_SYSTEM, "121191") in _codes(fact)


@pytest.mark.parametrize("read", [_rxa, _rxe], ids=["RXA-5", "RXE-2"])
def test_an_ndc_in_the_alternate_triplet_is_read_through_the_crosswalk(read: object) -> None:
    _install()
    fact = read("RTX-X^rituximab vial^99CITY^50242-051-21^Rituxan^NDC")  # type: ignore[operator]
    assert (RXNORM, "1657862") in _codes(fact)
    assert (INGREDIENT_SYSTEM, "121191") in _codes(fact)


@pytest.mark.parametrize(("hl7_code", "fhir_coding"), [
    ("L01FA01^rituximab^WC", (ATC, "L01FA01")),
    ("50242-051-21^Rituxan^NDC", (NDC, "50242-051-21")),
    ("1657862^rituximab 10 MG/ML^RXN", (RXNORM, "1657862")),
    ("RTX100^Rituximab 100 mg/10 mL^L", ("L", "RTX100")),
])
def test_hl7v2_rxa_and_rxe_codes_give_the_codes_the_same_fhir_coding_gives(
    hl7_code: str, fhir_coding: tuple[str, str]
) -> None:
    # the crosswalk adds to an HL7 v2 drug exactly the RxNorm drug and ingredient codings it
    # adds to the same code in a FHIR R4 MedicationAdministration.medicationCodeableConcept
    _install()
    expected = _codes(_fhir(fhir_coding))
    assert expected - {fhir_coding}, "the crosswalk maps this code"
    assert _codes(_rxa(hl7_code)) == expected
    assert _codes(_rxe(hl7_code)) == expected


def test_an_atc_code_without_a_crosswalk_row_stays_unidentified() -> None:
    # no site crosswalk: the ATC code is kept under its URI, no ingredient is guessed
    fact = _rxa("L01FA01^rituximab^WC")
    assert _codes(fact) == {(ATC, "L01FA01")}


def test_rituximab_given_by_hl7v2_atc_code_fails_e11_as_over_fhir() -> None:
    # the eligible vignette plus rituximab administered 9 days before as-of (RXA-3), coded by
    # ATC in table 0396 WC: within five half-lives (Rituxan label), so E11 fails
    import json

    from shared.clinical.state import facts_from_updates
    from shared.eligibility.decision import Outcome
    from shared.eligibility.engine import evaluate
    from shared.eligibility.loader import load_trial
    from tests.unit.clinical.test_medication_crosswalk import AS_OF, VIGNETTE

    _install()
    rxa = "|".join(["RXA", "0", "1", "20260220090000+0000", "", "L01FA01^rituximab^WC",
                    "1000", "mg^milligram^UCUM", *[""] * 12, "CP", "A"])
    [given] = parse_hl7v2("\r".join([MSH_RAS, PID, "ORC|RE|P-1|F-1", rxa]) + "\r")
    vignette = parse_fhir(json.loads(VIGNETTE.read_text(encoding="utf-8")),
                          source_system="test-ehr")
    decision = evaluate(load_trial("NCT06920433"), facts_from_updates([*vignette, given]), AS_OF)
    e11 = next(result for result in decision.criteria if result.id == "E11")
    assert e11.outcome is Outcome.FAIL, e11.reason
