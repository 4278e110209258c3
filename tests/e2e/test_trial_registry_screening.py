"""Intake follows the evaluator's trial registry live (``trials.screening.v1``), on the real
embedded broker: in a running ``trialwatch run``, an eGFR result (LOINC 33914-3, read by no
shipped trial) is named "not screened by any criterion" in its receipt; an admin adds and
activates a trial version reading eGFR through the evaluator's API, and the next receipt of
the same kind of result no longer says so; deactivated, the warning is back; activated again,
gone; retired, back for good. No service is restarted.

Before, intake read only ``INTAKE_TRIALS_DIR``: the warning stayed after the activation (and
was never named again after a retire of a folder trial) until intake was restarted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.contracts.events import TrialScreening
from shared.contracts.topics import TRIAL_SCREENING
from shared.infra.signing import EventSigner
from tests.e2e.pipeline import default_run, poll

pytestmark = pytest.mark.e2e
FIXTURE = (Path(__file__).resolve().parents[1] / "fixtures" / "trials"
           / "TEST-EGFR-2026-12-03.1.yaml")
EGFR = "http://loinc.org|33914-3"


def _egfr_bundle() -> bytes:
    patient = f"urn:uuid:{uuid.uuid4()}"
    return json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": patient, "resource": {
            "resourceType": "Patient", "id": "egfr-patient-1", "gender": "female",
            "birthDate": "1980-02-01",
            "identifier": [{"type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "MRN-EGFR-1"}]}},
        {"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": {
            "resourceType": "Observation", "id": f"egfr-{uuid.uuid4().hex[:12]}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3"}]},
            "subject": {"reference": patient},
            "effectiveDateTime": "2026-11-20T08:30:00Z",
            "valueQuantity": {"value": 75, "unit": "mL/min/{1.73_m2}",
                              "system": "http://unitsofmeasure.org",
                              "code": "mL/min/{1.73_m2}"}}},
    ]}).encode()


def _unscreened(intake: str, token: str) -> list[dict[str, Any]]:
    """The receipt's "not screened" warnings naming eGFR, for a new eGFR result."""
    response = httpx.post(f"{intake}/fhir", content=_egfr_bundle(), timeout=10, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    assert response.status_code == 202, response.text
    return [w for w in response.json()["warnings"]
            if "not screened" in w["reason"] and EGFR in w.get("codes", [])]


def test_intake_follows_a_trial_activated_and_retired_on_the_running_evaluator(
    tmp_path: Path,
) -> None:
    with default_run(tmp_path / "var") as run:
        intake, evaluator, admin = run.intake, run.evaluator, run.admin
        yaml = {**admin, "content-type": "application/yaml"}
        lab = run.tokens["lab-system"]

        assert _unscreened(intake, lab), "no shipped trial reads eGFR: the receipt says so"

        added = httpx.post(f"{evaluator}/trials", content=FIXTURE.read_bytes(), headers=yaml,
                           timeout=10)
        assert added.status_code == 201, added.text
        activated = httpx.post(f"{evaluator}/trials/TEST-EGFR/versions/2026-12-03.1/activate",
                               headers=admin, timeout=10)
        assert activated.status_code == 202, activated.text
        screened = poll(lambda: not _unscreened(intake, lab), timeout_s=30, interval_s=0.5)
        assert screened, "intake still calls eGFR unscreened after the trial was activated"

        # deactivated: its codes stop counting; activated again: they count again
        stopped = httpx.post(f"{evaluator}/trials/TEST-EGFR/deactivate",
                             json={"reason": "paused"}, headers=admin, timeout=10)
        assert stopped.status_code == 200, stopped.text
        assert poll(lambda: bool(_unscreened(intake, lab)), timeout_s=30, interval_s=0.5), \
            "intake still counts a deactivated trial's codes as screened"
        again = httpx.post(f"{evaluator}/trials/TEST-EGFR/versions/2026-12-03.1/activate",
                           headers=admin, timeout=10)
        assert again.status_code == 202, again.text
        assert poll(lambda: not _unscreened(intake, lab), timeout_s=30, interval_s=0.5)

        retired = httpx.post(f"{evaluator}/trials/TEST-EGFR/retire",
                             json={"reason": "test over"}, headers=admin, timeout=10)
        assert retired.status_code == 200, retired.text
        named = poll(lambda: bool(_unscreened(intake, lab)), timeout_s=30, interval_s=0.5)
        assert named, "intake still counts a retired trial's codes as screened"


def _screening(at: datetime, codes: list[str], signer: EventSigner | None = None) -> bytes:
    """A ``TrialScreening`` record as any local client can make one: TEST-EGFR active, reading
    ``codes``; unsigned, or signed by ``signer`` (a key the services were never given)."""
    change = uuid.uuid4()
    payload = TrialScreening(
        event_id=uuid.uuid5(change, "forged"), trial_id="TEST-EGFR", version="2026-12-03.1",
        state="active", content_hash="sha256:" + "0" * 64, change_id=change, at=at,
        codes=codes).model_dump(mode="json")
    return json.dumps(signer.signed(payload) if signer else payload).encode()


async def _produce(bootstrap: str, *values: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(TRIAL_SCREENING, value, key=b"TEST-EGFR")
    finally:
        await producer.stop()


def test_a_forged_trial_screening_record_changes_nothing_intake_screens(tmp_path: Path) -> None:
    """Issue 14 section 4: what a local client produces is not believed. A record produced
    straight onto ``trials.screening.v1`` (unsigned, or signed by a key the evaluator does not
    hold) naming eGFR as read by an active trial leaves intake calling eGFR unscreened; the
    evaluator's own record, signed by its key, changes it."""
    with default_run(tmp_path / "var") as run:
        [bootstrap] = [line.split()[1] for line in run.banner
                       if line.strip().startswith("broker ")]
        intake, evaluator, admin = run.intake, run.evaluator, run.admin
        lab = run.tokens["lab-system"]
        assert _unscreened(intake, lab)

        # a later `at` than anything the evaluator stages: before, the newest record won
        later = datetime.now(UTC) + timedelta(days=1)
        foreign = EventSigner(Ed25519PrivateKey.generate())
        asyncio.run(_produce(bootstrap, _screening(later, [EGFR]),
                             _screening(later, [EGFR], foreign)))
        time.sleep(3)  # intake polls the topic every 0.5 s
        assert _unscreened(intake, lab), \
            "a forged record produced onto trials.screening.v1 changed intake's screened codes"
        log = (tmp_path / "var" / "logs" / "intake.log").read_text()
        refused = [json.loads(line) for line in log.splitlines()
                   if "trial screening record refused" in line]
        assert {entry["refusal"] for entry in refused} >= {"missing", "unknown-key"}
        assert not any("33914-3" in json.dumps(entry) for entry in refused)  # no excerpt

        added = httpx.post(f"{evaluator}/trials", content=FIXTURE.read_bytes(), timeout=10,
                           headers={**admin, "content-type": "application/yaml"})
        assert added.status_code == 201, added.text
        activated = httpx.post(f"{evaluator}/trials/TEST-EGFR/versions/2026-12-03.1/activate",
                               headers=admin, timeout=10)
        assert activated.status_code == 202, activated.text
        assert poll(lambda: not _unscreened(intake, lab), timeout_s=30, interval_s=0.5), \
            "the evaluator's own, signed record was not applied"
