"""``core.access_signatures``: each re-identification in the access log is checked against
intake's signature kept with it, and its columns against the signed event; unsigned ones only
before the first signed (legacy). The real database and CLI: test_reidentification_access.py."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.access_chain import AccessLogWalk, link_access_entry, walk_access_log
from services.audit.core.access_ingest import access_entry
from services.audit.core.access_signatures import ReidentificationCheck
from shared.contracts.events import PatientReidentified
from shared.hashing import canonical_json
from shared.infra.signing import EventSigner, TrustedKeys

AT = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
INTAKE = EventSigner(KEY)
KEYS = TrustedKeys.of([KEY.public_key()])


def entry(reason: str, signer: EventSigner | None = INTAKE) -> dict[str, Any]:
    """An access-log row as audit appends a re-identification (unlinked)."""
    identity = uuid.uuid4()
    event = PatientReidentified(
        event_id=identity, occurred_at=AT, recorded_at=AT, source="intake",
        patient_key="pt_" + "1" * 32, correlation_id=identity, kind="reidentify",
        requester="ward-a", role="coordinator", trial="NCT06920433", reason=reason,
        outcome="revealed")
    action, query, count = access_entry(event)
    row: dict[str, Any] = {"accessed_at": AT, "client": "ward-a", "role": "coordinator",
                           "action": action, "query": canonical_json(query).decode(),
                           "result_count": count, "event_id": str(identity)}
    if signer is not None:
        content = event.model_dump(mode="json")
        signature = signer.signed(content)["signature"]
        content.pop("signature")
        row.update(event=canonical_json(content).decode(), signed_by=signature["key_id"],
                   signature=signature["value"])
    return row


def chained(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows linked as the access log links them, ids from 1."""
    out: list[dict[str, Any]] = []
    head = None
    for number, row in enumerate(rows, start=1):
        hashed = {k: row[k] for k in ("accessed_at", "client", "role", "action", "query",
                                      "result_count")}
        linked = {**row, **link_access_entry(hashed, head), "id": number}
        head = linked["entry_hash"]
        out.append(linked)
    return out


def check(rows: list[dict[str, Any]]) -> tuple[str | None, ReidentificationCheck]:
    checker = ReidentificationCheck(KEYS)
    walk = AccessLogWalk(row_check=checker)
    for row in chained(rows):
        walk.feed(row)
    problem = walk.result().problem
    return (None if problem is None else f"{problem.entry_id}: {problem.detail}"), checker


def test_signed_reidentifications_verify_and_are_counted() -> None:
    problem, checker = check([entry("call"), entry("visit")])
    assert problem is None
    assert (checker.checked, checker.unsigned_legacy) == (2, 0)


def test_an_event_rewritten_with_its_columns_fails_its_signature() -> None:
    rows = [entry("call"), entry("visit")]
    event = json.loads(rows[1]["event"]) | {"reason": "routine"}
    query = json.loads(rows[1]["query"]) | {"reason": "routine"}
    rows[1].update(event=canonical_json(event).decode(), query=canonical_json(query).decode())
    problem, _ = check(rows)
    assert problem is not None
    assert problem.startswith("2: ")
    assert rows[1]["event_id"] in problem
    assert "signature invalid" in problem


def test_a_column_that_differs_from_the_signed_event_is_named() -> None:
    rows = [entry("call")]
    rows[0]["client"] = "ward-b"
    problem, _ = check(rows)
    assert problem is not None
    assert "has a client the signed event does not say" in problem


def test_another_key_is_refused() -> None:
    problem, _ = check([entry("call", EventSigner(Ed25519PrivateKey.generate()))])
    assert problem is not None
    assert "signature unknown-key" in problem


def test_unsigned_reidentifications_are_legacy_only_before_the_first_signed() -> None:
    problem, checker = check([entry("old", None), entry("new"), entry("auditor's", None)])
    assert checker.unsigned_legacy == 1
    assert problem is not None
    assert problem.startswith("3: ")
    assert "carries no intake signature" in problem


def test_an_auditors_own_query_is_not_a_reidentification() -> None:
    rows = [entry("call"), {"accessed_at": AT, "client": "dev-auditor", "role": "auditor",
                            "action": "query-decisions", "query": "{}", "result_count": 0,
                            "event_id": None}]
    assert check(rows)[0] is None
    assert walk_access_log(chained(rows)).problem is None
