"""Re-identifications from ``intake.reidentifications.v1`` into audit's chained access log.

Intake stages a ``PatientReidentified`` with its own re-identification log entry, for every
re-identification (surrogate key -> source identity) and look-up (source identity -> key) it
answered, refused ones included. Each becomes one entry of the hash-chained access log that the
signed checkpoints cover, next to the auditors' own queries: who (the requester's client name
and role), when (intake's answer instant, in the query), which surrogate key (never the
identifier), the trial named, the reason given and the outcome; ``result_count`` is 1 when the
identity was revealed, else 0. Appending is idempotent by the event's id (a redelivery is
recorded once). A record that is not a ``PatientReidentified``, or that no trusted intake key
signed (AUDIT_INTAKE_KEYS: unsigned, signed by another key or a retired one, altered after
signing), goes to the dead-letter topic with the reason; nothing of it is stored. Without the
signature any client that can write the topic could fill the access log with re-identifications
nobody made, or bury real ones among them. The signed event and its signature are kept with
the entry (``event``, ``signed_by``, ``signature``): ``audit verify`` checks them again, so an
entry rewritten later in the database is seen (``core.access_signatures``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from services.audit.core.ports import (
    AccessRecorder,
    DeadLetterSink,
    SignatureCheck,
    SignedEvent,
)
from shared.contracts.events import PatientReidentified
from shared.contracts.signatures import event_digest
from shared.time import iso_z


def access_entry(event: PatientReidentified) -> tuple[str, dict[str, Any], int]:
    """The access-log action (``reidentify`` or ``lookup``), query and result count of one
    re-identification event."""
    query: dict[str, Any] = {
        "event_id": str(event.event_id), "source": event.source, "at": iso_z(event.occurred_at),
        "patient_key": event.patient_key, "trial": event.trial, "reason": event.reason,
        "outcome": event.outcome,
    }
    return event.kind, query, 1 if event.outcome == "revealed" else 0


class ReidentificationIngest:
    """Appends verified re-identification events to the access log; ``keys`` are intake's
    (``AuditSettings.intake_key_paths``)."""

    def __init__(self, access: AccessRecorder, dead_letters: DeadLetterSink,
                 keys: SignatureCheck) -> None:
        self._access = access
        self._dead_letters = dead_letters
        self._keys = keys

    async def handle_batch(self, messages: Sequence[tuple[bytes, Any]]) -> int:
        """Append every readable event (an event id already recorded is skipped); returns how
        many were readable. A database error is raised: the batch comes back."""
        readable = 0
        for body, record in messages:
            try:
                event = PatientReidentified.model_validate_json(body)
            except ValidationError as error:
                await self._dead_letters.send(
                    record, f"not a PatientReidentified: {error.error_count()} validation "
                            "errors")
                continue
            content = {k: v for k, v in json.loads(body).items() if k != "signature"}
            refusal = self._keys.refusal(event.signature, event_digest(content))
            if refusal is not None:
                await self._dead_letters.send(
                    record, f"re-identification refused: signature {refusal.kind}: "
                            f"{refusal.detail}")
                continue
            assert event.signature is not None  # a valid signature was checked above
            action, query, count = access_entry(event)
            await self._access.record_once(str(event.event_id), client=event.requester,
                                           role=event.role, action=action, query=query,
                                           result_count=count,
                                           signed=SignedEvent(content, event.signature))
            readable += 1
        return readable
