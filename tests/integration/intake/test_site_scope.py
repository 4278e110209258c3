"""Site scope at intake on the real broker, SQLite and PostgreSQL (issue 14 section 5,
deploy/SECURITY.md "Site scope"): the site on a published PatientUpdated is the submitting lab
token's claim, kept with the surrogate key; a site-A coordinator cannot re-identify or look up a
site-B patient (404 as an unknown key, logged as ``site_not_in_claims``, kept in the access log
as not found), sees its own, and a coordinator without a sites claim sees both."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog.testing
from sqlalchemy import text

from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.integration.intake.harness import (
    FHIR,
    migrate,
    running_intake,
    settings_for,
    wait_until,
    watch_patient_events,
)

pytestmark = pytest.mark.integration
TRIAL = "NCT06920433"


def _tokens(tmp_path: Path) -> Path:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({
        "lab-a": {"role": "lab-system", "client": "lab-1", "sites": ["A"]},
        "lab-b": {"role": "lab-system", "client": "lab-1", "sites": ["B"]},
        "coord-a": {"role": "coordinator", "client": "ward-a", "trials": [TRIAL],
                    "sites": ["A"]},
        "coord-all": {"role": "coordinator", "client": "central", "trials": [TRIAL]},
    }))
    return tokens


def _observation(patient: str) -> bytes:
    return json.dumps({
        "resourceType": "Observation", "id": f"obs-{patient}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "meta": {"source": "urn:site:B"},  # sender-asserted: never the site
        "effectiveDateTime": "2026-11-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L",
                          "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }).encode()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_the_lab_tokens_site_travels_on_the_event_and_scopes_reidentification(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    await migrate(database_url)
    settings = settings_for(database_url).model_copy(
        update={"tokens": "", "tokens_file": _tokens(tmp_path)})
    body = {"trial": TRIAL, "reason": "pre-screening call"}
    async with watch_patient_events(kafka_settings) as seen, \
            running_intake(settings, kafka_settings) as intake:
        posted_a = await intake.post("/fhir", headers=_bearer("lab-a") | FHIR,
                                     content=_observation("site-a-patient"))
        posted_b = await intake.post("/fhir", headers=_bearer("lab-b") | FHIR,
                                     content=_observation("site-b-patient"))
        assert posted_a.status_code == posted_b.status_code == 202
        [key_a], [key_b] = posted_a.json()["patient_keys"], posted_b.json()["patient_keys"]
        await wait_until(lambda: len(seen.for_patients([key_a, key_b])) == 2)
        with structlog.testing.capture_logs() as logs:
            hidden = await intake.post(f"/patients/{key_b}/reidentify",
                                       headers=_bearer("coord-a"), json=body)
            hidden_lookup = await intake.post(
                "/patients/lookup", headers=_bearer("coord-a"),
                json={"source_system": "lab-1", "source_patient_id": "site-b-patient",
                      "reason": "order entry check"})
        unknown = await intake.post(f"/patients/pt_{'0' * 32}/reidentify",
                                    headers=_bearer("coord-a"), json=body)
        own = await intake.post(f"/patients/{key_a}/reidentify", headers=_bearer("coord-a"),
                                json=body)
        every = await intake.post(f"/patients/{key_b}/reidentify", headers=_bearer("coord-all"),
                                  json=body)
    sites = {e.patient_key: e.site for e in seen.for_patients([key_a, key_b])}
    assert sites == {key_a: "A", key_b: "B"}
    assert hidden.status_code == unknown.status_code == hidden_lookup.status_code == 404
    assert hidden.json()["detail"] == unknown.json()["detail"]
    assert "site-b-patient" not in hidden.text + hidden_lookup.text
    assert own.json()["source_patient_id"] == "site-a-patient"
    assert every.json()["source_patient_id"] == "site-b-patient"
    refused = [e for e in logs if e["event"] == "access_refused"]
    assert [(e["reason"], e["status"], e["patient_key"]) for e in refused] == [
        ("site_not_in_claims", 404, key_b), ("site_not_in_claims", 404, key_b)]
    assert "site-b-patient" not in repr(logs)
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            stored = dict((await connection.execute(text(
                "SELECT patient_key, site FROM intake_patients WHERE patient_key IN (:a, :b)"),
                {"a": key_a, "b": key_b})).all())
            logged = (await connection.execute(text(
                "SELECT client, patient_key, found FROM intake_reidentifications "
                "WHERE patient_key = :b ORDER BY id"), {"b": key_b})).all()
    finally:
        await engine.dispose()
    assert stored == {key_a: "A", key_b: "B"}
    assert [tuple(r) for r in logged] == [("ward-a", key_b, False), ("ward-a", key_b, False),
                                          ("central", key_b, True)]
