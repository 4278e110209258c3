"""Intake's re-identification events become access-log entries (``core/access_ingest.py``), on
fakes: who, which key, trial, reason, outcome, once per event id; unreadable ones dead-lettered.
The chained append on SQLite and PostgreSQL is tested in
tests/integration/audit/test_reidentification_access.py."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.access_ingest import ReidentificationIngest
from services.audit.core.ports import SignedEvent
from shared.contracts.events import PatientReidentified
from shared.infra.signing import EventSigner, TrustedKeys
from tests.unit.audit.fakes import FakeDeadLetters

AT = datetime(2026, 12, 1, 6, 30, tzinfo=UTC)
INTAKE_KEY = Ed25519PrivateKey.generate()
INTAKE = EventSigner(INTAKE_KEY)
KEYS = TrustedKeys.of([INTAKE_KEY.public_key()])


def signed(e: PatientReidentified, signer: EventSigner = INTAKE) -> bytes:
    """The record intake's relay publishes: the event's JSON form with its signature."""
    return json.dumps(signer.signed(e.model_dump(mode="json"))).encode()


@dataclass
class FakeAccessLog:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    signed: dict[str, SignedEvent | None] = field(default_factory=dict)

    async def record_once(self, event_id: str, *, client: str, role: str, action: str,
                          query: dict[str, Any], result_count: int | None,
                          signed: SignedEvent | None = None) -> bool:
        if event_id in self.entries:
            return False
        self.entries[event_id] = {"client": client, "role": role, "action": action,
                                  "query": query, "result_count": result_count}
        self.signed[event_id] = signed
        return True


def event(outcome: str = "revealed", kind: str = "reidentify") -> PatientReidentified:
    identity = uuid.uuid4()
    return PatientReidentified.model_validate({
        "event_id": identity, "occurred_at": AT, "recorded_at": AT, "source": "intake",
        "patient_key": "pt_" + "1" * 32, "correlation_id": identity, "kind": kind,
        "requester": "ward-a", "role": "coordinator", "trial": "NCT06920433",
        "reason": "pre-screening call", "outcome": outcome})


async def test_each_event_is_one_entry_with_who_which_key_why_and_the_outcome() -> None:
    access, dead = FakeAccessLog(), FakeDeadLetters()
    ingest = ReidentificationIngest(access, dead, KEYS)
    events = [event(), event("outside-sites"), event("unknown", "lookup")]
    assert await ingest.handle_batch([(signed(e), None) for e in events]) == 3
    entries = [access.entries[str(e.event_id)] for e in events]
    assert [(x["action"], x["result_count"], x["query"]["outcome"]) for x in entries] == [
        ("reidentify", 1, "revealed"), ("reidentify", 0, "outside-sites"),
        ("lookup", 0, "unknown")]
    assert entries[0] == {
        "client": "ward-a", "role": "coordinator", "action": "reidentify", "result_count": 1,
        "query": {"event_id": str(events[0].event_id), "source": "intake",
                  "at": "2026-12-01T06:30:00Z", "patient_key": "pt_" + "1" * 32,
                  "trial": "NCT06920433", "reason": "pre-screening call",
                  "outcome": "revealed"}}
    assert dead.sent == []
    # what audit verify needs to check the signature again is kept with the entry
    kept = access.signed[str(events[0].event_id)]
    assert kept is not None
    assert kept.signature == PatientReidentified.model_validate_json(
        signed(events[0])).signature
    assert kept.content == {k: v for k, v in events[0].model_dump(mode="json").items()
                            if k != "signature"}


async def test_a_redelivered_event_is_recorded_once() -> None:
    access = FakeAccessLog()
    ingest = ReidentificationIngest(access, FakeDeadLetters(), KEYS)
    body = signed(event())
    await ingest.handle_batch([(body, None), (body, None)])
    assert len(access.entries) == 1


async def test_a_record_that_is_not_a_reidentification_is_dead_lettered_and_not_recorded(
) -> None:
    access, dead = FakeAccessLog(), FakeDeadLetters()
    ingest = ReidentificationIngest(access, dead, KEYS)
    assert await ingest.handle_batch([(b'{"event_type": "patient.updated"}', "record-1")]) == 0
    assert access.entries == {}
    assert dead.sent[0][0] == "record-1"
    assert dead.sent[0][1].startswith("not a PatientReidentified")


async def test_an_event_intakes_key_did_not_sign_is_dead_lettered_and_not_recorded() -> None:
    """Unsigned, signed by another key, altered after intake signed it: none is appended."""
    access, dead = FakeAccessLog(), FakeDeadLetters()
    ingest = ReidentificationIngest(access, dead, KEYS)
    altered = json.loads(signed(event()))
    altered["reason"] = "changed after signing"
    bodies = [event().model_dump_json().encode(),
              signed(event(), EventSigner(Ed25519PrivateKey.generate())),
              json.dumps(altered).encode()]
    assert await ingest.handle_batch([(b, f"record-{i}") for i, b in enumerate(bodies)]) == 0
    assert access.entries == {}
    assert [(r, reason.split(":")[1].strip()) for r, reason in dead.sent] == [
        ("record-0", "signature missing"), ("record-1", "signature unknown-key"),
        ("record-2", "signature invalid")]
    assert all(reason.startswith("re-identification refused") for _, reason in dead.sent)
