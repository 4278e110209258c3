"""Issue 9's FHIR examples end to end: the eligible vignette plus one entry as a lab sends it.

``tests/fixtures/vignettes/eligible.json`` as of 2026-03-01T09:00:00Z is eligible; a newer
result sent in a form real feeds use must change the decision as a clinician reading the same
record would.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.clinical.fhir import parse_fhir
from shared.clinical.state import facts_from_updates
from shared.eligibility.decision import Status
from shared.eligibility.engine import evaluate
from shared.eligibility.loader import load_trial
from tests.unit.eligibility.fhir_builder import AS_OF

TRIAL = load_trial("NCT06920433", "2025-11-14.1")
VIGNETTE = Path(__file__).resolve().parents[2] / "fixtures" / "vignettes" / "eligible.json"
LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"


def _with(**resource: Any) -> dict[str, Any]:
    bundle = json.loads(VIGNETTE.read_text("utf-8"))
    patient_entry = bundle["entry"][0]
    resource = {
        "resourceType": "Observation",
        "id": "added-1",
        "status": "final",
        "subject": {"reference": patient_entry["fullUrl"]},
        "effectiveDateTime": "2026-02-28T09:00:00Z",
        **resource,
    }
    bundle["entry"].append(
        {
            "fullUrl": "urn:uuid:observation-added-1",
            "resource": resource,
            "request": {"method": "PUT", "url": "Observation/added-1"},
        }
    )
    return bundle


def _status(bundle: dict[str, Any]) -> Status:
    return evaluate(TRIAL, facts_from_updates(parse_fhir(bundle, source_system="t")), AS_OF).status


def test_the_vignette_alone_is_eligible() -> None:
    assert _status(json.loads(VIGNETTE.read_text("utf-8"))) is Status.ELIGIBLE


def test_a_newer_positive_hcg_coded_loinc_first_makes_the_patient_ineligible() -> None:
    concept = {
        "coding": [
            {"system": LOINC, "code": "LA6576-8", "display": "Positive"},
            {"system": SNOMED, "code": "10828004", "display": "Positive"},
        ]
    }
    bundle = _with(
        code={"coding": [{"system": LOINC, "code": "2106-3"}]}, valueCodeableConcept=concept
    )
    assert _status(bundle) is Status.INELIGIBLE


def test_newer_platelets_sent_as_the_string_below_10_make_the_patient_ineligible() -> None:
    bundle = _with(code={"coding": [{"system": LOINC, "code": "777-3"}]}, valueString="<10")
    assert _status(bundle) is Status.INELIGIBLE


def test_newer_platelets_sent_as_a_range_below_the_threshold_make_the_patient_not_eligible() -> (
    None
):
    sent = {
        "low": {"value": 5, "system": "http://unitsofmeasure.org", "code": "10*9/L"},
        "high": {"value": 8, "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }
    bundle = _with(code={"coding": [{"system": LOINC, "code": "777-3"}]}, valueRange=sent)
    assert _status(bundle) is Status.INELIGIBLE


def test_a_newer_platelet_result_coded_positive_is_never_overtaken_by_the_older_180() -> None:
    # no number: the platelet criterion cannot be judged on it, and must not pass on the older 180
    concept = {"coding": [{"system": LOINC, "code": "LA6576-8", "display": "Positive"}]}
    bundle = _with(code={"coding": [{"system": LOINC, "code": "777-3"}]},
                   valueCodeableConcept=concept)
    assert _status(bundle) is not Status.ELIGIBLE
