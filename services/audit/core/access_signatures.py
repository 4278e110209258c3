"""Re-identifications in the access log checked against intake's signature (issue 14 section 4).
Pure: no I/O here.

Audit appends a re-identification (``PatientReidentified`` on ``intake.reidentifications.v1``)
only when intake's key signed it (``core.access_ingest``), and keeps with the entry the event as
signed (``event``: canonical JSON without ``signature``), the key id (``signed_by``) and the
signature (migration 0012). The access log's hash chain alone does not protect such an entry:
someone with write access to the database can rewrite it and rehash the chain after it, and
delete the checkpoint files that signed the log's head. ``ReidentificationCheck`` re-checks each
entry: the signature over the stored event against intake's keys (accepted and retired), and the
entry's columns (who, role, action, query, result count, event id) against what the signed event
says. An entry rewritten, forged, or whose signature was removed is named by its entry id and
event id.

Re-identifications appended before 0012 carry no signature: unsigned legacy, accepted only
before the first signed one (as unchained entries are before the chain began); counted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from services.audit.core.access_ingest import access_entry
from services.audit.core.ports import SignatureCheck
from shared.contracts.events import PatientReidentified
from shared.contracts.signatures import EventSignature, event_digest

REIDENTIFICATION_ACTIONS = frozenset({"reidentify", "lookup"})
"""Access-log actions only re-identification events append (the auditors' own queries never)."""


def is_reidentification(row: Mapping[str, Any]) -> bool:
    """Whether an access-log row is (or claims to be) a re-identification from intake."""
    return (row.get("action") in REIDENTIFICATION_ACTIONS or row.get("event_id") is not None
            or row.get("event") is not None or row.get("signature") is not None)


class ReidentificationCheck:
    """A row check for ``AccessLogWalk`` (``row_check``): call it with each access-log row in
    ``id`` order; it returns why a re-identification entry is not what intake signed (None:
    it is, or the row is an auditor's own query). ``keys``: intake's keys (accepted and
    retired; None: signatures are not checked, the columns still are). ``checked`` counts the
    signed entries checked, ``unsigned_legacy`` the unsigned ones before the first signed."""

    def __init__(self, keys: SignatureCheck | None) -> None:
        self._keys = keys
        self._signed_seen = False
        self.checked = 0
        self.unsigned_legacy = 0

    def __call__(self, row: Mapping[str, Any]) -> str | None:
        if not is_reidentification(row):
            return None
        event_id = row.get("event_id")
        what = f"(re-identification event {event_id})"
        stored, key_id, value = row.get("event"), row.get("signed_by"), row.get("signature")
        if stored is None and key_id is None and value is None:
            if self._signed_seen:
                return (f"{what} carries no intake signature, after signed re-identifications "
                        "began: it was inserted, or its signature removed")
            self.unsigned_legacy += 1
            return None
        self._signed_seen = True
        self.checked += 1
        problem = self._problem(row, stored, key_id, value)
        return None if problem is None else f"{what} {problem}"

    def _problem(self, row: Mapping[str, Any], stored: Any, key_id: Any,
                 value: Any) -> str | None:
        try:
            content = json.loads(stored) if isinstance(stored, str) else stored
            if not isinstance(content, dict) or "signature" in content:
                raise ValueError("not a signed event's content")
            signature = EventSignature(key_id=key_id, value=value)
            event = PatientReidentified.model_validate(content)
        except (TypeError, ValueError, ValidationError):
            return ("holds a stored event or signature that cannot be read: "
                    "it was edited")
        if self._keys is not None:
            refusal = self._keys.refusal(signature, event_digest(content), new_event=False)
            if refusal is not None:
                return (f"is not what intake signed (signature {refusal.kind}: "
                        f"{refusal.detail}): it was edited or forged")
        action, query, count = access_entry(event)
        signed = {"event_id": str(event.event_id), "client": event.requester[:128],
                  "role": event.role[:32], "action": action, "result_count": count}
        for name, expected in signed.items():
            if row.get(name) != expected:
                return f"has a {name} the signed event does not say: it was edited"
        try:
            stored_query = json.loads(row.get("query") or "")
        except ValueError:
            stored_query = None
        if stored_query != query:
            return "has a query the signed event does not say: it was edited"
        return None
