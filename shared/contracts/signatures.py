"""What an event's signature covers: its signed content, hashed canonically.

The evaluator signs every event it puts on ``eligibility.decisions.v1`` and
``coordinator.actions.v1``; audit accepts one only when the signature is valid and the key is
trusted, and ``audit verify`` checks the stored signatures again later. The signed content of a
decision is exactly what audit keeps of it (so the check can be repeated from the stored record
alone): every field of ``DecisionMade`` except the transport envelope (``source``,
``recorded_at``, ``schema_version``) and the inline snapshot, which ``snapshot_hash`` binds.
The signed content of a snapshot event is its JSON form without ``signature`` and the facts
(``snapshot_hash`` binds them). The signed content of any other signed event is its whole JSON
form without ``signature``.
Each form names its event type, so a signature on one kind of event never passes for another.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.hashing import content_hash
from shared.time import iso_z

DECISION_TYPE = "eligibility.decided"
SNAPSHOT_TYPE = "eligibility.snapshot"


class EventSignature(BaseModel):
    """Ed25519 over the ASCII of the event's signed-content hash (``sha256:<hex>``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str = Field(max_length=16, pattern=r"^[0-9a-f]{16}$",
                        description="fingerprint of the signing public key (16 hex digits)")
    value: str = Field(max_length=100, description="base64 of the 64-byte signature")


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a signature is not accepted: ``kind`` is ``missing``, ``unknown-key``,
    ``retired-key`` or ``invalid`` (a metric label); ``detail`` a sentence naming at most the
    key id (``key_id``), never any event content."""

    kind: str
    detail: str
    key_id: str | None = None


def decision_signed_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """The signed content of a decision, from its event JSON (``occurred_at``) or from an audit
    record's columns (``decided_at``): ids as text, instants as ISO-8601 UTC, the decision and
    the registry change as JSON values whether given as text or parsed."""
    decided_at = values["decided_at"] if "decided_at" in values else values["occurred_at"]
    form: dict[str, Any] = {
        "event_type": DECISION_TYPE,
        "decision_id": str(values["decision_id"]),
        "event_id": str(values["event_id"]),
        "causation_id": _text(values.get("causation_id")),
        "correlation_id": str(values["correlation_id"]),
        "patient_key": str(values["patient_key"]),
        "state_version": int(values["state_version"]),
        "evaluator_version": str(values["evaluator_version"]),
        "decided_at": _instant(decided_at),
        "decision": _json(values["decision"]),
        "previous_status": _text(values.get("previous_status")),
        "snapshot_hash": str(values["snapshot_hash"]),
        "trial_content_hash": _text(values.get("trial_content_hash")),
        "registry_change": _json(values.get("registry_change")),
    }
    # The patient's site is signed only when present: decisions signed before decisions
    # carried a site keep the signed form (and so the signature) they were made with.
    if values.get("site") is not None:
        form["site"] = str(values["site"])
    return form


def decision_digest(values: Mapping[str, Any]) -> str:
    """The content hash a decision's signature is made over."""
    return content_hash(decision_signed_form(values))


def event_digest(payload: Mapping[str, Any]) -> str:
    """The content hash any other signed event's signature is made over: its JSON form
    (``model_dump(mode="json")``) without ``signature``."""
    return content_hash({k: v for k, v in payload.items() if k != "signature"})


def snapshot_digest(payload: Mapping[str, Any]) -> str:
    """The content hash a snapshot event's signature is made over: its JSON form without
    ``signature`` and without ``snapshot``, which ``snapshot_hash`` binds (the receiver checks
    the hash; the facts are not hashed twice)."""
    return content_hash({k: v for k, v in payload.items() if k not in ("signature", "snapshot")})


def digest_of(payload: Mapping[str, Any]) -> str:
    """The signed-content hash of an event given as its JSON form, by its ``event_type``."""
    if payload.get("event_type") == DECISION_TYPE:
        return decision_digest(payload)
    if payload.get("event_type") == SNAPSHOT_TYPE:
        return snapshot_digest(payload)
    return event_digest(payload)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _instant(value: datetime | str) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return iso_z(value)


def _json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return json.loads(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
