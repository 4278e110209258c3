from __future__ import annotations

from datetime import UTC, datetime

from services.cli.demo import prepare

BUNDLE = {
    "resourceType": "Bundle", "type": "collection", "timestamp": "2026-03-01T09:00:00Z",
    "entry": [
        {"fullUrl": "urn:uuid:demo-p1", "resource": {
            "resourceType": "Patient", "id": "demo-p1", "birthDate": "1990-04-12",
            "identifier": [{"system": "urn:demo", "value": "demo-mrn-1"}]}},
        {"resource": {
            "resourceType": "Observation", "id": "demo-o1", "status": "final",
            "subject": {"reference": "urn:uuid:demo-p1"},
            "effectiveDateTime": "2026-02-27T09:00:00+00:00",
            "valueQuantity": {"value": 1.5, "unit": "mg/dL"}}},
        {"resource": {"resourceType": "Condition", "id": "demo-c1", "onsetDateTime": "2024-05-01"}},
    ],
}


def test_clinical_dates_move_with_now_so_windows_mean_the_same_today() -> None:
    out = prepare(BUNDLE, datetime(2026, 11, 25, 9, tzinfo=UTC), run_id="r1")
    observation = out["entry"][1]["resource"]
    assert observation["effectiveDateTime"] == "2026-11-23T09:00:00Z"  # still 2 days before
    assert out["entry"][2]["resource"]["onsetDateTime"] == "2025-01-25"  # shifted by 269 days


def test_birth_dates_stay_and_ids_are_unique_per_run() -> None:
    out = prepare(BUNDLE, datetime(2026, 11, 25, 9, tzinfo=UTC), run_id="r1")
    patient = out["entry"][0]["resource"]
    assert patient["birthDate"] == "1990-04-12"
    assert patient["id"] == "demo-r1-p1"
    assert patient["identifier"][0]["value"] == "demo-r1-mrn-1"
    assert out["entry"][1]["resource"]["subject"]["reference"] == "urn:uuid:demo-r1-p1"
    assert out["entry"][1]["resource"]["valueQuantity"] == {"value": 1.5, "unit": "mg/dL"}
