"""Every re-identification reaches audit's chained access log (issue 14 section 5), on the real
broker, SQLite and PostgreSQL: intake (its real app, outbox relay included) answers
re-identifications and a look-up, revealed, unknown and outside the requester's sites; audit
(its real app) lists each in ``GET /access-log`` with who, when, which surrogate key, the trial,
the reason and the outcome, never the identifier; the log still verifies; a redelivered event is
recorded once."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.contracts.topics import REIDENTIFICATIONS
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    running,
    start_group_at_end,
    wait_for,
)
from tests.integration.audit.harness import migrate as migrate_audit
from tests.integration.intake.harness import FHIR, running_intake, settings_for
from tests.integration.intake.harness import migrate as migrate_intake

pytestmark = pytest.mark.integration
TRIAL = "NCT06920433"


def _observation(patient: str) -> bytes:
    return json.dumps({
        "resourceType": "Observation", "id": f"obs-{patient}", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": "2026-11-28T09:00:00Z",
        "valueQuantity": {"value": 180, "unit": "10*9/L",
                          "system": "http://unitsofmeasure.org", "code": "10*9/L"},
    }).encode()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_every_reidentification_is_listed_in_audits_chained_access_log(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    await migrate_intake(database_url)
    await migrate_audit(database_url)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({
        "lab-a": {"role": "lab-system", "client": "lab-1", "sites": ["A"]},
        "lab-b": {"role": "lab-system", "client": "lab-1", "sites": ["B"]},
        "coord-a": {"role": "coordinator", "client": "ward-a", "trials": [TRIAL],
                    "sites": ["A"]},
    }))
    run = uuid.uuid4().hex[:12]  # the session's broker and PostgreSQL hold other tests' data
    mrn_a, mrn_b = f"mrn-a-{run}", f"mrn-b-{run}"
    intake_settings = settings_for(database_url).model_copy(
        update={"tokens": "", "tokens_file": tokens})
    group = unique_group("audit-reid")
    await start_group_at_end(kafka_settings, group)
    audit = audit_app(audit_settings(database_url, tmp_path, group), kafka_settings)
    async with running_intake(intake_settings, kafka_settings) as intake, \
            running(audit) as auditor:
        posted = [await intake.post("/fhir", headers=_bearer(lab) | FHIR,
                                    content=_observation(mrn))
                  for lab, mrn in (("lab-a", mrn_a), ("lab-b", mrn_b))]
        assert [p.status_code for p in posted] == [202, 202], [p.text for p in posted]
        [key_a], [key_b] = (p.json()["patient_keys"] for p in posted)
        unknown_key = f"pt_{run}{'0' * 20}"  # this run's own: the topic holds others'
        answers = [
            await intake.post(f"/patients/{key_a}/reidentify", headers=_bearer("coord-a"),
                              json={"trial": TRIAL, "reason": "pre-screening call"}),
            await intake.post(f"/patients/{key_b}/reidentify", headers=_bearer("coord-a"),
                              json={"trial": TRIAL, "reason": "chart review"}),
            await intake.post(f"/patients/{unknown_key}/reidentify",
                              headers=_bearer("coord-a"),
                              json={"trial": TRIAL, "reason": "typo check"}),
            await intake.post("/patients/lookup", headers=_bearer("coord-a"),
                              json={"source_system": "lab-1", "source_patient_id": mrn_a,
                                    "reason": "order entry"}),
        ]
        assert [a.status_code for a in answers] == [200, 404, 404, 200]
        assert answers[0].json()["source_patient_id"] == mrn_a

        async def reidentifications() -> list[dict[str, Any]]:
            entries = (await auditor.get("/access-log", headers=AUTH,
                                         params={"limit": 1000})).json()["items"]
            return [e for e in entries if e["action"] in ("reidentify", "lookup")
                    and e["query"]["patient_key"] in (key_a, key_b, unknown_key)]

        async def all_four() -> bool:
            return len(await reidentifications()) == 4

        await wait_for(all_four, timeout_s=90,
                       what="four re-identifications in audit's access log")
        entries = await reidentifications()
        seen = sorted((e["action"], e["query"]["patient_key"], e["query"]["outcome"],
                       e["query"]["reason"], e["query"]["trial"], e["result_count"],
                       e["client"], e["role"]) for e in entries)
        assert seen == sorted([
            ("reidentify", key_a, "revealed", "pre-screening call", TRIAL, 1, "ward-a",
             "coordinator"),
            ("reidentify", key_b, "outside-sites", "chart review", TRIAL, 0, "ward-a",
             "coordinator"),
            ("reidentify", unknown_key, "unknown", "typo check", TRIAL, 0, "ward-a",
             "coordinator"),
            ("lookup", key_a, "revealed", "lookup: order entry", None, 1, "ward-a",
             "coordinator"),
        ])
        assert all(e["query"]["source"] == "intake" and e["query"]["at"].endswith("Z")
                   for e in entries)
        # the surrogate key only: never the identifier revealed (nor the one looked up)
        whole_log = (await auditor.get("/access-log", headers=AUTH,
                                       params={"limit": 1000})).text
        assert mrn_a not in whole_log
        assert mrn_b not in whole_log

        # a redelivery (the relay is at-least-once) is recorded once
        first = entries[0]
        raw = await _event_of(first["query"]["event_id"], kafka_settings)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(REIDENTIFICATIONS, raw,
                                         key=first["query"]["patient_key"].encode())
        finally:
            await producer.stop()
        marker = await intake.post(f"/patients/{key_a}/reidentify", headers=_bearer("coord-a"),
                                   json={"trial": TRIAL, "reason": "after the redelivery"})
        assert marker.status_code == 200

        async def five() -> bool:
            return len(await reidentifications()) >= 5

        await wait_for(five, timeout_s=90,
                       what="the marker re-identification after the redelivery")
        after = await reidentifications()
        assert [e["query"]["event_id"] for e in after].count(first["query"]["event_id"]) == 1
        assert len(after) == 5
        report = (await auditor.get("/verify", headers=AUTH)).json()
        assert report["intact"] is True, report["summary"]


async def _event_of(event_id: str, kafka: KafkaSettings) -> bytes:
    """The record intake published for ``event_id``, read back from the topic."""
    consumer = AIOKafkaConsumer(REIDENTIFICATIONS, bootstrap_servers=kafka.bootstrap_servers,
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                group_id=unique_group("reid-read"))
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=2000)
            if not batches:
                raise AssertionError(f"event {event_id} not on {REIDENTIFICATIONS}")
            for records in batches.values():
                for record in records:
                    if record.value and json.loads(record.value)["event_id"] == event_id:
                        return record.value
    finally:
        await consumer.stop()
