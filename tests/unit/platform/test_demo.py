from __future__ import annotations

import json
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


def test_each_demo_patient_gets_the_decision_its_readme_promises() -> None:
    from services.cli.demo import DEMO_DIR, demo_bundles
    from shared.clinical.fhir import parse_fhir
    from shared.clinical.state import facts_from_updates
    from shared.eligibility.engine import evaluate
    from shared.eligibility.loader import load_trial

    expected = {"1-eligible": "eligible", "2-missing-platelets": "undetermined",
                "3-awaiting-investigator": "undetermined", "4-alt-too-high": "ineligible"}
    now = datetime(2026, 11, 25, 9, tzinfo=UTC)
    trial = load_trial("NCT06920433")
    assert [p.stem for p in demo_bundles()] == sorted(expected)
    for path in demo_bundles():
        bundle = prepare(json.loads(path.read_text()), now, run_id="t")
        facts = facts_from_updates(parse_fhir(bundle, source_system="demo"))
        assert evaluate(trial, facts, now).status.value == expected[path.stem], path.name
    assert (DEMO_DIR / "README.md").exists()
