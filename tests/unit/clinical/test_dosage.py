"""Daily dose read from FHIR R4 Dosage as EHRs send it, or kept unread with its path.

FHIR R4 Dosage (https://hl7.org/fhir/R4/dosage.html): doseAndRate.doseQuantity (SimpleQuantity,
UCUM), timing.repeat frequency / period / periodUnit (Timing), asNeeded[x], text. Shapes:
an Epic-style MedicationRequest (sig text beside structured dose, timing.repeat and timing.code,
doseAndRate.type "ordered"), Synthea's (doseQuantity with no unit), a taper of two Dosage
entries, a dose range, "as needed", a timing code alone, a weekly dose.
"""

from __future__ import annotations

from typing import Any

import pytest

from shared.clinical.dosage import read_dosage
from shared.clinical.fhir import parse_fhir

UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _request(dosage: list[dict[str, Any]] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": "mr-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p-1"},
        "authoredOn": "2026-02-01T09:00:00Z",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "312615",
                        "display": "predniSONE 20 MG Oral Tablet"}],
            "text": "predniSONE 20 MG tablet",
        },
    }
    if dosage is not None:
        resource["dosageInstruction"] = dosage
    return resource


def _epic(dose: float = 60, unit: str = "mg", **repeat: Any) -> dict[str, Any]:
    return {
        "text": "Take 3 tablets (60 mg total) by mouth daily.",
        "patientInstruction": "Take with food",
        "timing": {
            "repeat": {"frequency": 1, "period": 1, "periodUnit": "d", **repeat},
            "code": {"text": "DAILY"},
        },
        "asNeededBoolean": False,
        "route": {"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698288.330",
                              "code": "15", "display": "Oral"}]},
        "doseAndRate": [
            {
                "type": {"coding": [{
                    "system": "http://epic.com/CodeSystem/dose-rate-type", "code": "calculated"}]},
                "doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit},
            }
        ],
    }


def _dose(dosage: list[dict[str, Any]] | None) -> Any:
    (update,) = parse_fhir(_request(dosage), source_system="ehr")
    (fact,) = update.facts
    return fact.dose


def test_an_epic_style_order_of_60_mg_daily_is_60_mg_per_day() -> None:
    dose = _dose([_epic()])
    assert dose.quantity is not None
    assert (dose.quantity.value, dose.quantity.unit) == (60.0, "mg/d")
    assert dose.unread is None
    assert dose.received == "60 mg, 1 per 1 d"


@pytest.mark.parametrize(
    ("dose", "unit", "repeat", "expected"),
    [
        (30, "mg", {"frequency": 2}, (60.0, "mg/d")),
        (1, "g", {"frequency": 1, "period": 12, "periodUnit": "h"}, (2000.0, "mg/d")),
        (500, "ug", {}, (0.5, "mg/d")),
        (0.5, "mg/kg", {"frequency": 2}, (1.0, "mg/kg/d")),
        (1000, "mg", {"frequency": 1, "period": 2, "periodUnit": "d"}, (500.0, "mg/d")),
    ],
)
def test_dose_and_timing_give_the_daily_dose_through_ucum(
    dose: float, unit: str, repeat: dict[str, Any], expected: tuple[float, str]
) -> None:
    read = _dose([_epic(dose, unit, **repeat)])
    assert read.quantity is not None
    assert (read.quantity.value, read.quantity.unit) == expected


@pytest.mark.parametrize(
    ("dosage", "path", "reason"),
    [
        ([{"text": "60 mg daily"}], "dosageInstruction[0].text", "free text"),
        ([{**_epic(), "asNeededBoolean": True}], "asNeededBoolean", "as needed"),
        ([{**{k: v for k, v in _epic().items() if k != "asNeededBoolean"},
           "asNeededCodeableConcept": {"text": "pain"}}], "asNeededCodeableConcept", "as needed"),
        ([_epic(), {**_epic(40), "sequence": 2}], "dosageInstruction", "taper"),
        ([{**_epic(), "doseAndRate": [{"doseRange": {"low": {"value": 40}, "high": {
            "value": 60}}}]}], "doseRange", "range"),
        ([_epic(3, "{tbl}")], "doseQuantity.code", "strength"),
        ([_epic(15, "mg", periodUnit="wk")], "periodUnit", "week"),
        ([_epic(60, "mg", frequencyMax=2)], "frequencyMax", "range of frequencies"),
        ([_epic(60, "mg", dayOfWeek=["mon"])], "dayOfWeek", "days of the week"),
        ([{**_epic(), "timing": {"code": {"coding": [{"code": "BID"}]}}}], "timing.code",
         "timing code"),
    ],
)
def test_what_cannot_be_read_as_one_daily_dose_is_kept_unread_with_its_path(
    dosage: list[dict[str, Any]], path: str, reason: str
) -> None:
    dose = _dose(dosage)
    assert dose.quantity is None
    assert dose.unread is not None
    assert path in dose.unread.path
    assert reason in dose.unread.reason


def test_synthea_doses_without_a_unit_are_unread_and_the_medication_is_still_read() -> None:
    synthea = {
        "sequence": 1,
        "timing": {"repeat": {"frequency": 1, "period": 1.0, "periodUnit": "d"}},
        "asNeededBoolean": False,
        "doseAndRate": [{"type": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/dose-rate-type",
            "code": "ordered", "display": "Ordered"}]}, "doseQuantity": {"value": 1.0}}],
    }
    (update,) = parse_fhir(_request([synthea]), source_system="ehr")
    (fact,) = update.facts
    assert fact.codes[0].code == "312615"
    assert fact.dose is not None
    assert fact.dose.unread is not None
    # no unit at all is said so, never as Python's None
    assert fact.dose.unread.reason == (
        "no dose unit sent (Dosage.doseAndRate.doseQuantity.unit and .code absent): not read")
    assert "None" not in fact.dose.unread.reason


def test_no_dosage_is_no_dose_and_a_statement_dosage_is_read_too() -> None:
    assert _dose(None) is None
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms-1",
        "status": "completed",
        "subject": {"reference": "Patient/p-1"},
        "effectivePeriod": {"start": "2025-05-01T09:00:00Z", "end": "2025-06-01T09:00:00Z"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "8640"}]},
        "dosage": [_epic(40)],
    }
    (update,) = parse_fhir(statement, source_system="ehr")
    (fact,) = update.facts
    assert fact.dose is not None
    assert fact.dose.quantity is not None
    assert fact.dose.quantity.value == 40.0


def test_a_dose_with_a_non_ucum_unit_system_is_not_guessed() -> None:
    dosage = _epic()
    dosage["doseAndRate"][0]["doseQuantity"] = {
        "value": 3, "unit": "tablet",
        "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", "code": "TAB",
    }
    dose = read_dosage([dosage], "MedicationRequest.dosageInstruction")
    assert dose is not None
    assert dose.quantity is None
    assert dose.unread is not None
    assert dose.unread.path == "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity"
