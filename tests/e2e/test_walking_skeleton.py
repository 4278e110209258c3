"""One real event through intake -> broker -> evaluator -> broker -> audit, on each database.

The broker is the session's real broker (KAFKA_BOOTSTRAP_SERVERS, Apache Kafka in
testcontainers, or the embedded Tansu); each service runs as its own process, as in production.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text, update

from services.audit.adapters.sql.tables import records
from services.audit.core.audit_record import GENESIS_HASH, record_hash
from shared.clinical.ids import fact_id
from shared.contracts.events import DeadLetter, DecisionMade
from shared.contracts.signatures import decision_digest
from shared.contracts.topics import DECISIONS, dead_letter
from shared.infra.auth import load_token_file
from shared.infra.signing import EventSigner
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.e2e.pipeline import (
    REPO,
    SERVICES,
    decisions_for,
    poll,
    post_example,
    running_services,
    tokens_by_role,
)
from tests.integration.audit.chain_setup import drop_append_only_triggers
from tests.unit.audit.factories import decision_event

pytestmark = pytest.mark.e2e


@pytest.fixture
def services(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The three services as their own processes, all on this test's database."""
    with running_services(kafka_settings, tmp_path, database_url=database_url) as urls:
        yield urls


def test_a_posted_observation_becomes_a_stored_decision(services: dict[str, str]) -> None:
    tokens = tokens_by_role(Path(services["tokens"]))
    receipt = post_example(services["intake"], tokens["lab-system"])
    [patient_key] = receipt["patient_keys"]
    assert "MRN-0001" not in patient_key

    decisions = poll(lambda: decisions_for(services["audit"], tokens["auditor"], patient_key),
                     timeout_s=20)
    assert decisions, "the decision never reached the audit trail"
    record = decisions[0]
    assert record["patient_key"] == patient_key
    assert str(record["causation_id"]) in {str(e) for e in receipt["event_ids"]}
    assert record["decision"]["criteria"], "a decision lists its criteria"
    assert record["status"] in {"ineligible", "undetermined"}


def test_no_phi_reaches_the_logs_or_the_audit_trail(services: dict[str, str]) -> None:
    tokens = tokens_by_role(Path(services["tokens"]))
    receipt = post_example(services["intake"], tokens["lab-system"])
    [patient_key] = receipt["patient_keys"]
    decisions = poll(lambda: decisions_for(services["audit"], tokens["auditor"], patient_key),
                     timeout_s=20)
    assert decisions
    logs = "".join(p.read_text() for p in Path(services["logs"]).glob("*.log"))
    assert patient_key in logs, "per-message context (the surrogate key) is logged"
    for phi in ("MRN-0001", "readme-patient-1", "1990-04-12"):
        assert phi not in logs, f"{phi} leaked into a service log"
    # The birth date is a fact eligibility needs (exact age boundaries) and is kept in the
    # access-controlled snapshot; source identifiers never leave intake.
    for identifier in ("MRN-0001", "readme-patient-1"):
        assert identifier not in json.dumps(decisions), f"{identifier} reached the audit trail"


def test_the_services_report_ready_and_expose_metrics(services: dict[str, str]) -> None:
    for service in SERVICES:
        assert httpx.get(f"{services[service]}/livez", timeout=2).status_code == 200
        metrics = httpx.get(f"{services[service]}/metrics", timeout=2)
        assert metrics.status_code == 200
        assert "# TYPE" in metrics.text


def _post_fhir(intake_url: str, token: str, resource: dict[str, object]) -> dict[str, object]:
    response = httpx.post(
        f"{intake_url}/fhir", content=json.dumps(resource), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    assert response.status_code == 202, response.text
    return dict(response.json())


def test_a_record_merged_away_is_decided_only_as_its_survivor(services: dict[str, str]) -> None:
    tokens = tokens_by_role(Path(services["tokens"]))
    lab, auditor = tokens["lab-system"], tokens["auditor"]
    example = json.loads((REPO / "docs" / "examples" / "observation.json").read_text())
    platelets = example["entry"][1]["resource"] | {"id": "e2e-merge-platelets",
                                                   "subject": {"reference": "Patient/e2e-old"}}
    [old] = _post_fhir(services["intake"], lab, platelets)["patient_keys"]  # type: ignore[misc]
    survivor = {"resourceType": "Patient", "id": "e2e-new", "gender": "female",
                "birthDate": "1990-04-12"}
    [new] = _post_fhir(services["intake"], lab, survivor)["patient_keys"]  # type: ignore[misc]
    assert poll(lambda: decisions_for(services["audit"], auditor, old), timeout_s=20)
    replaced = {"resourceType": "Patient", "id": "e2e-old", "active": False,
                "link": [{"type": "replaced-by", "other": {"reference": "Patient/e2e-new"}}]}
    _post_fhir(services["intake"], lab, replaced)

    # the sender's resource id leaves intake only as its hash (issue 14 section 3)
    sender = load_token_file(Path(services["tokens"]))[lab].client

    def hidden(resource_id: str) -> str:
        return "Observation/" + fact_id(sender, f"Observation/{resource_id}")

    def merged_decisions() -> list[dict[str, object]]:
        return [d for d in decisions_for(services["audit"], auditor, new)
                if hidden("e2e-merge-platelets") in json.dumps(d)]

    after = poll(merged_decisions, timeout_s=30)
    assert after, "the survivor was never decided with the merged record's result"
    # the merged key keeps its past decisions in the audit trail and gets no new one
    before = decisions_for(services["audit"], auditor, old)
    later = dict(platelets, id="e2e-merge-platelets-2")
    [again] = _post_fhir(services["intake"], lab, later)["patient_keys"]  # type: ignore[misc]
    assert again == new
    assert poll(lambda: [d for d in decisions_for(services["audit"], auditor, new)
                         if hidden("e2e-merge-platelets-2") in json.dumps(d)], timeout_s=30)
    assert decisions_for(services["audit"], auditor, old) == before


def test_a_forged_decision_is_refused_and_a_tampered_stored_signature_fails_verify(
        services: dict[str, str], kafka_settings: KafkaSettings, database_url: str,
        tmp_path: Path) -> None:
    """Issue 14: a well-formed DecisionMade produced straight onto the topic by a plain local
    client (unsigned, or signed by a key audit does not trust) is dead-lettered and never
    stored; the evaluator's real, signed decision is; a stored signature changed afterwards
    (hashes recomputed, as by a database superuser) is named by ``audit verify``."""
    tokens = tokens_by_role(Path(services["tokens"]))
    forged_key = f"pk_forged_{uuid.uuid4().hex[:8]}"
    forged = [decision_event(forged_key, 0, signer=None),
              decision_event(forged_key, 1, signer=EventSigner(Ed25519PrivateKey.generate()))]
    refused = asyncio.run(_produce_and_read_dead_letters(kafka_settings, forged))
    assert refused == {str(forged[0].event_id): "missing",
                       str(forged[1].event_id): "unknown-key"}

    [patient_key] = post_example(services["intake"], tokens["lab-system"])["patient_keys"]
    stored = poll(lambda: decisions_for(services["audit"], tokens["auditor"], patient_key),
                  timeout_s=30)
    assert stored, "the evaluator's signed decision never reached the audit trail"
    assert decisions_for(services["audit"], tokens["auditor"], forged_key) == []

    verify = [sys.executable, "-m", "services.cli", "audit", "verify", "--json",
              "--database-url", database_url, "--checkpoint-dir", str(tmp_path / "checkpoints"),
              "--public-key", str(tmp_path / "audit-signing-key.pub.pem"),
              "--decision-key", str(tmp_path / "evaluator-signing-key.pub.pem")]
    intact = subprocess.run(verify, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    asyncio.run(_replace_first_signature(database_url))
    tampered = subprocess.run(verify, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr
    report = json.loads(tampered.stdout)
    assert [(p["sequence"], p["kind"]) for p in report["other_problems"]] == [
        (1, "signature-invalid")]


async def _produce_and_read_dead_letters(kafka: KafkaSettings,
                                         events: list[DecisionMade]) -> dict[str, str]:
    """Produce with a plain aiokafka client; return {event id: refusal kind} from the DLQ."""
    consumer = AIOKafkaConsumer(dead_letter(DECISIONS), bootstrap_servers=kafka.bootstrap_servers,
                                auto_offset_reset="latest", group_id=unique_group("forged-dlq"))
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # joined and positioned at the end
        producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(DECISIONS, event.model_dump_json().encode(),
                                             key=event.patient_key.encode())
        finally:
            await producer.stop()
        wanted = {str(e.event_id) for e in events}
        found: dict[str, str] = {}
        async with asyncio.timeout(60):
            while wanted - found.keys():
                async for record in _records(consumer):
                    letter = DeadLetter.model_validate_json(record.value or b"")
                    event_id = json.loads(letter.payload).get("event_id")
                    if event_id in wanted:
                        found[event_id] = letter.reason.split("signature ", 1)[1].split(":")[0]
        return found
    finally:
        await consumer.stop()


async def _records(consumer: AIOKafkaConsumer) -> AsyncIterator[Any]:
    for batch in (await consumer.getmany(timeout_ms=500)).values():
        for record in batch:
            yield record


async def _replace_first_signature(database_url: str) -> None:
    """A superuser's rewrite: record 1 gets another key's signature over the same content, and
    every hash from it on is recomputed so the chain walk alone passes."""
    engine = make_engine(database_url)
    try:
        await drop_append_only_triggers(engine)
        async with engine.begin() as connection:
            rows = [dict(r) for r in (await connection.execute(
                select(records).order_by(records.c.sequence))).mappings()]
            rows[0]["signature"] = EventSigner(Ed25519PrivateKey.generate()).sign(
                decision_digest(rows[0])).value
            previous = GENESIS_HASH
            for row in rows:
                row["prev_hash"] = previous
                row["record_hash"] = previous = record_hash(row)
            await connection.execute(text("UPDATE audit_record SET record_hash = 'x' || sequence,"
                                          " prev_hash = 'y' || sequence"))
            for row in rows:
                await connection.execute(update(records).where(
                    records.c.sequence == row["sequence"]).values(
                    signature=row["signature"], prev_hash=row["prev_hash"],
                    record_hash=row["record_hash"]))
    finally:
        await engine.dispose()
