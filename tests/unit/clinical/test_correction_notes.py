"""A result that corrects or withdraws an earlier one says so in its receipt, naming the result
as a person would (test name, LOINC code), never quoting values (fresh-user report M2).

HL7 v2.5.1 table 0085 (OBX-11): C "Record coming over is a correction and thus replaces a final
result", D "Deletes the OBX record", W "Post original as wrong". FHIR R4 observation-status:
corrected / amended ("Subsequent to being Final, the observation has been modified"),
entered-in-error ("The observation has been withdrawn following previous final release").
"""

from __future__ import annotations

import copy

import pytest

from shared.clinical.fhir import fact_warnings, parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.conftest import load_fhir_fixture
from tests.unit.clinical.test_hl7v2_fidelity import correction


def _hl7_notes(status: str, value: str) -> list[str]:
    (update,) = parse_hl7v2(correction(value, status, "MSG-2"))
    (fact,) = update.facts
    return [f"{n.path}: {n.reason}" for n in fact_warnings(fact)]


@pytest.mark.parametrize("status", ["W", "D"])
def test_a_withdrawal_names_the_test_and_its_loinc_code_not_an_internal_key(status: str) -> None:
    (note,) = [n for n in _hl7_notes(status, "") if n.startswith("OBX[1].11")]
    assert "Platelets" in note
    assert "(LOINC 777-3) result" in note
    assert "withdraws the earlier" in note
    assert "order/filler" not in note
    assert "|" not in note


def test_a_correction_says_it_replaces_the_earlier_result_without_quoting_values() -> None:
    (note,) = [n for n in _hl7_notes("C", "15") if n.startswith("OBX[1].11")]
    assert "corrects the earlier" in note
    assert "Platelets" in note
    assert "(LOINC 777-3) result" in note
    assert "15" not in note.replace("OBX[1].11", "")


@pytest.mark.parametrize(("status", "words"), [
    ("corrected", "corrects the earlier"),
    ("amended", "corrects the earlier"),
    ("entered-in-error", "withdraws the earlier"),
])
def test_a_fhir_correction_or_withdrawal_says_so_at_its_status(status: str, words: str) -> None:
    bundle = copy.deepcopy(load_fhir_fixture("lupus_bundle.json"))
    entry = next(i for i, e in enumerate(bundle["entry"])
                 if e["resource"].get("id") == "hgb-1")
    bundle["entry"][entry]["resource"]["status"] = status
    (update,) = parse_fhir(bundle, source_system="ehr-a")
    fact = next(f for f in update.facts if f.provenance.resource == "Observation/hgb-1")
    notes = [n for n in fact_warnings(fact)
             if n.path == f"Bundle.entry[{entry}].resource.status"]
    assert len(notes) == 1
    assert words in notes[0].reason
    assert "LOINC 718-7" in notes[0].reason
    assert "Observation/hgb-1" in notes[0].reason
