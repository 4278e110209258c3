"""Every re-identification reaches audit's chained access log (issue 14 section 5), on the real
broker, SQLite and PostgreSQL: intake (its real app, outbox relay included) answers
re-identifications and a look-up, revealed, unknown and outside the requester's sites; audit
(its real app) lists each in ``GET /access-log`` with who, when, which surrogate key, the trial,
the reason and the outcome, never the identifier; the log still verifies; a redelivered event is
recorded once. Only what intake's key signed is appended: a forged producer (a plain aiokafka
client with access to the topic) gets nothing into the log."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text

from services.audit.adapters.sql.tables import access_log
from services.audit.core.access_chain import access_entry_hash
from services.audit.core.audit_record import GENESIS_HASH
from services.cli.audit_tools import main as audit_tools
from shared.contracts.events import PatientReidentified
from shared.contracts.topics import REIDENTIFICATIONS, dead_letter
from shared.hashing import canonical_json
from shared.infra.signing import EventSigner
from shared.infra.sql_engine import make_engine
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
    intake_key = tmp_path / "intake-signing-key.pem"  # audit trusts its public half
    intake_settings = settings_for(database_url).model_copy(
        update={"tokens": "", "tokens_file": tokens, "signing_key_file": intake_key})
    group = unique_group("audit-reid")
    await start_group_at_end(kafka_settings, group)
    audit = audit_app(audit_settings(
        database_url, tmp_path, group,
        intake_keys=str(tmp_path / "intake-signing-key.pub.pem")), kafka_settings)
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


async def test_a_reidentification_intakes_key_did_not_sign_never_reaches_the_access_log(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """A forged producer writes three re-identifications onto the topic: one unsigned, one
    signed by another key, one signed by intake's key and then altered (the reason changed).
    Each is dead-lettered with the reason and none is in the access log; intake's own signed
    event, behind them on the partition, is."""
    await migrate_audit(database_url)
    intake_key = Ed25519PrivateKey.generate()
    public = tmp_path / "intake-signing-key.pub.pem"
    public.write_bytes(intake_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    intake, stranger = EventSigner(intake_key), EventSigner(Ed25519PrivateKey.generate())
    key = f"pt_{uuid.uuid4().hex}"
    unsigned, foreign, altered, genuine = (_reidentified(key, f"reason {n}")
                                           for n in ("unsigned", "foreign", "altered",
                                                     "genuine"))
    edited = {**intake.signed(altered.model_dump(mode="json")), "reason": "changed after"}
    group = unique_group("audit-reid-forged")
    await start_group_at_end(kafka_settings, group)
    audit = audit_app(audit_settings(database_url, tmp_path, group, intake_keys=str(public)),
                      kafka_settings)
    async with running(audit) as auditor:
        await _produce(kafka_settings, key, [
            unsigned.model_dump(mode="json"), stranger.signed(foreign.model_dump(mode="json")),
            edited, intake.signed(genuine.model_dump(mode="json"))])

        async def logged() -> list[dict[str, Any]]:
            entries = (await auditor.get("/access-log", headers=AUTH,
                                         params={"limit": 1000})).json()["items"]
            return [e for e in entries if e["query"].get("patient_key") == key]

        async def genuine_in() -> bool:
            return len(await logged()) >= 1

        await wait_for(genuine_in, timeout_s=60, what="intake's signed re-identification")
        # the forged ones are before it on the partition: read (and refused) by now
        assert [e["query"]["reason"] for e in await logged()] == ["reason genuine"]
        letters = await _dead_letters(kafka_settings, key, 3)
        report = (await auditor.get("/verify", headers=AUTH)).json()
    assert sorted(json.loads(letter["payload"])["event_id"] for letter in letters) == sorted(
        str(e.event_id) for e in (unsigned, foreign, altered))
    reasons = sorted(letter["reason"] for letter in letters)
    assert [r.split(":")[1].strip() for r in reasons] == [
        "signature invalid", "signature missing", "signature unknown-key"]
    assert all(r.startswith("re-identification refused") for r in reasons)
    assert report["intact"] is True, report["summary"]


def _reidentified(patient_key: str, reason: str) -> PatientReidentified:
    at = datetime.now(UTC)
    identity = uuid.uuid4()
    return PatientReidentified(
        event_id=identity, occurred_at=at, recorded_at=at, source="intake",
        patient_key=patient_key, correlation_id=identity, kind="reidentify",
        requester="ward-a", role="coordinator", trial=TRIAL, reason=reason,
        outcome="revealed")


async def _produce(kafka: KafkaSettings, key: str, payloads: list[dict[str, Any]]) -> None:
    """Straight onto the topic with a plain aiokafka client, in order, one partition (the key)."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for payload in payloads:
            await producer.send_and_wait(REIDENTIFICATIONS, json.dumps(payload).encode(),
                                         key=key.encode())
    finally:
        await producer.stop()


async def _dead_letters(kafka: KafkaSettings, key: str, expected: int) -> list[dict[str, Any]]:
    """The dead letters of ``key`` on the re-identification topic's dead-letter topic."""
    consumer = AIOKafkaConsumer(
        dead_letter(REIDENTIFICATIONS), bootstrap_servers=kafka.bootstrap_servers,
        group_id=unique_group("reid-dlq"), auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms)
    await consumer.start()
    seen: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [json.loads(r.value) for r in records
                             if r.key is not None and r.key.decode() == key]
    finally:
        await consumer.stop()
    return seen


@pytest.mark.parametrize("tamper", ["rewritten", "copied"])
async def test_a_reidentification_rewritten_in_a_copy_of_the_audit_database_fails_verify(
    database_url: str, kafka_settings: KafkaSettings, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], tamper: str,
) -> None:
    """Issue 14 section 4 on a real audit database: intake (its real app and relay) answers two
    re-identifications, audit (its real app) appends them; the database is copied (SQLite; the
    disposable PostgreSQL database is tampered in place) and, as a database superuser with the
    append-only triggers dropped, a re-identification is rewritten consistently (the reason and
    requester in the entry and in its stored event alike, the access-log chain rehashed from it
    on, every checkpoint file deleted) or a genuine one is copied under a new event id (its real
    signature kept, chained at the end). ``audit verify`` passed both before it re-checked the
    stored signatures (exit 0, INTACT); now exit 1, naming the entry and its event."""
    await migrate_intake(database_url)
    await migrate_audit(database_url)
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({
        "lab-a": {"role": "lab-system", "client": "lab-1", "sites": ["A"]},
        "coord-a": {"role": "coordinator", "client": "ward-a", "trials": [TRIAL],
                    "sites": ["A"]}}))
    run = uuid.uuid4().hex[:12]
    intake_key = tmp_path / "intake-signing-key.pem"
    intake_settings = settings_for(database_url).model_copy(
        update={"tokens": "", "tokens_file": tokens, "signing_key_file": intake_key})
    group = unique_group("audit-reid-tamper")
    await start_group_at_end(kafka_settings, group)
    settings = audit_settings(database_url, tmp_path, group,
                              intake_keys=str(tmp_path / "intake-signing-key.pub.pem"))
    async with running_intake(intake_settings, kafka_settings) as intake, \
            running(audit_app(settings, kafka_settings)) as auditor:
        posted = await intake.post("/fhir", headers=_bearer("lab-a") | FHIR,
                                   content=_observation(f"mrn-{run}"))
        assert posted.status_code == 202, posted.text
        [key] = posted.json()["patient_keys"]
        for reason in ("pre-screening call", "consent visit"):
            answer = await intake.post(f"/patients/{key}/reidentify",
                                       headers=_bearer("coord-a"),
                                       json={"trial": TRIAL, "reason": reason})
            assert answer.status_code == 200, answer.text

        async def both() -> bool:
            entries = (await auditor.get("/access-log", headers=AUTH,
                                         params={"limit": 1000})).json()["items"]
            return sum(e["query"].get("patient_key") == key for e in entries) == 2

        await wait_for(both, timeout_s=90, what="two re-identifications in the access log")
    url = database_url
    if url.startswith("sqlite"):
        source = Path(url.split("///", 1)[1])
        copy = tmp_path / "copy" / "audit.db"
        copy.parent.mkdir()
        shutil.copy2(source, copy)
        url = f"sqlite+aiosqlite:///{copy}"
    args = ["verify", "--json", "--database-url", url,
            "--checkpoint-dir", str(settings.checkpoint_dir),
            "--public-key", str(settings.verify_key_path()),
            "--decision-key", str(tmp_path / "keys"),
            "--intake-key", str(tmp_path / "intake-signing-key.pub.pem")]
    capsys.readouterr()  # the services' own log lines
    code = await asyncio.to_thread(audit_tools, args)
    control = json.loads(capsys.readouterr().out)
    assert (code, control["intact"]) == (0, True), control["summary"]

    entry_id, event_id = await _tamper_reidentification(url, key, tamper)
    for checkpoint in settings.checkpoint_dir.glob("checkpoint-*.json"):
        checkpoint.unlink()  # the files that signed the access log's head, gone too
    code = await asyncio.to_thread(audit_tools, args)
    report = json.loads(capsys.readouterr().out)
    assert code == 1, report["summary"]
    problem = report["access_problem"]
    assert (problem["kind"], problem["sequence"]) == ("access-log-altered", entry_id), problem
    assert event_id in problem["detail"], problem["detail"]


async def _tamper_reidentification(url: str, key: str, tamper: str) -> tuple[int, str]:
    """Rewrite (``rewritten``) the first re-identification of ``key`` or append a copy of it
    under a new event id (``copied``), triggers dropped, the chain rehashed consistently;
    returns the tampered entry's id and event id."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(text(
                    "ALTER TABLE audit_access DISABLE TRIGGER USER"))
            else:
                for (name,) in (await connection.execute(text(
                        "SELECT name FROM sqlite_master WHERE type = 'trigger' "
                        "AND tbl_name = 'audit_access'"))).all():
                    await connection.execute(text(f"DROP TRIGGER {name}"))
            rows = [dict(r) for r in (await connection.execute(
                select(access_log).order_by(access_log.c.id))).mappings()]
            index = next(i for i, r in enumerate(rows)
                         if json.loads(r["query"]).get("patient_key") == key)
            target = dict(rows[index])
            query = json.loads(target["query"])
            if tamper == "rewritten":
                query.update(reason="routine review", event_id=query["event_id"])
                target.update(client="ward-b", query=canonical_json(query).decode())
                if target.get("event") is not None:  # the signed event, rewritten to match
                    event = json.loads(target["event"])
                    event.update(reason="routine review", requester="ward-b")
                    target["event"] = canonical_json(event).decode()
                rows[index] = target
            else:
                event_id = str(uuid.uuid4())
                query["event_id"] = event_id
                target.update(id=rows[-1]["id"] + 1, event_id=event_id,
                              query=canonical_json(query).decode())
                if target.get("event") is not None:
                    event = json.loads(target["event"])
                    event["event_id"] = event_id
                    target["event"] = canonical_json(event).decode()
                rows.append(target)
                index = len(rows) - 1
            previous = GENESIS_HASH
            for row in rows:
                if row["entry_hash"] is None:
                    continue
                row["prev_hash"] = previous
                row["entry_hash"] = access_entry_hash(row)
                previous = row["entry_hash"]
            # unique hashes: clear them first, then write every row back
            await connection.execute(access_log.update().values(prev_hash=None,
                                                                entry_hash=None))
            for row in rows[:index] + rows[index + 1:]:
                await connection.execute(access_log.update().where(
                    access_log.c.id == row["id"]).values(
                    prev_hash=row["prev_hash"], entry_hash=row["entry_hash"]))
            if tamper == "rewritten":
                await connection.execute(access_log.update().where(
                    access_log.c.id == target["id"]).values(
                    {k: v for k, v in rows[index].items() if k != "id"}))
            else:
                await connection.execute(access_log.insert().values(**rows[index]))
            return int(rows[index]["id"]), json.loads(rows[index]["query"])["event_id"]
    finally:
        await engine.dispose()
