"""One audit record: what was decided, from what, by which code, and where it sits in the chain.

The record's hash covers every stored field (its canonical JSON, ``shared.hashing``), the
hash of the record before it and its own sequence number, so changing, removing or moving any
record breaks the chain from that point on.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from services.audit.core.record_hashing import fast_hash, is_one_json_value
from shared.contracts.events import DecisionMade
from shared.contracts.signatures import decision_digest, decision_signed_form
from shared.hashing import canonical_json, content_hash
from shared.time import iso_z

GENESIS_HASH = "sha256:" + "0" * 64
"""The ``prev_hash`` of record 1."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    sequence: int
    decision_id: UUID
    event_id: UUID
    causation_id: UUID | None
    correlation_id: UUID
    patient_key: str
    trial_id: str
    trial_version: str
    status: str
    previous_status: str | None
    state_version: int
    evaluator_version: str
    engine_version: str
    as_of: datetime
    decided_at: datetime
    recorded_at: datetime
    decision: str
    snapshot_hash: str
    prev_hash: str
    record_hash: str
    trial_content_hash: str | None = None
    registry_change: str | None = None
    signed_by: str | None = None
    signature: str | None = None
    site: str | None = None

    def columns(self) -> dict[str, Any]:
        """Column name -> value (the values are immutable: no copy needed)."""
        return dict(zip(_COLUMNS, _ALL_COLUMNS(self), strict=True))


def hashed_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical form a record hash is computed over (everything except the hash itself)."""
    form = _scalar_form(values)
    form["decision"] = json.loads(values["decision"])
    if values.get("registry_change") is not None:
        form["registry_change"] = json.loads(values["registry_change"])
    return form


def _scalar_form(values: Mapping[str, Any]) -> dict[str, Any]:
    """The hashed form without the fields stored as canonical JSON text (decision, registry
    change): strings, integers and nulls only."""
    form = {
        "sequence": int(values["sequence"]),
        "decision_id": str(values["decision_id"]),
        "event_id": str(values["event_id"]),
        "causation_id": _optional_text(values["causation_id"]),
        "correlation_id": str(values["correlation_id"]),
        "patient_key": values["patient_key"],
        "trial_id": values["trial_id"],
        "trial_version": values["trial_version"],
        "status": values["status"],
        "previous_status": values["previous_status"],
        "state_version": int(values["state_version"]),
        "evaluator_version": values["evaluator_version"],
        "engine_version": values["engine_version"],
        "as_of": _iso_z(values["as_of"]),
        "decided_at": _iso_z(values["decided_at"]),
        "recorded_at": _iso_z(values["recorded_at"]),
        "snapshot_hash": values["snapshot_hash"],
        "prev_hash": values["prev_hash"],
    }
    # The trial text hash and the registry change are hashed only when present: records made
    # before the registry existed keep the hash they were chained with.
    if values.get("trial_content_hash") is not None:
        form["trial_content_hash"] = values["trial_content_hash"]
    # The evaluator's signature likewise: records stored before decisions were signed keep the
    # hash they were chained with.
    if values.get("signature") is not None:
        form["signed_by"] = values["signed_by"]
        form["signature"] = values["signature"]
    # The patient's site likewise (records chained before decisions carried one keep their
    # hash); hashed, so a record cannot be moved into or out of a site-scoped auditor's view.
    if values.get("site") is not None:
        form["site"] = values["site"]
    return form


def record_hash(values: Mapping[str, Any]) -> str:
    """The reference: ``sha256:`` of the canonical JSON (``shared.hashing``) of the hashed
    form, the decision and registry change read from their stored JSON."""
    return content_hash(hashed_form(values))


def hash_matches(values: Mapping[str, Any]) -> bool:
    """Whether the record still hashes to its stored ``record_hash``: the same answer as
    comparing with ``record_hash(values)`` (False where that raises), mostly without
    re-serialising the decision (``record_hashing``)."""
    try:
        if _fast_record_hash(values) == values["record_hash"]:
            return True
        return record_hash(values) == values["record_hash"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return False


def _fast_record_hash(values: Mapping[str, Any]) -> str | None:
    """``record_hash(values)`` spliced as ``record_hashing.fast_hash`` does (in one pass, the
    verify's hot path): None when a stored text is not one whole JSON value or a field is not a
    string, an integer or null (the reference then decides)."""
    decision, change = values["decision"], values.get("registry_change")
    if type(decision) is not str or (change is not None and type(change) is not str):
        return None
    try:
        orjson.loads(decision)
        if change is not None:
            orjson.loads(change)
    except orjson.JSONDecodeError:
        return None
    form: dict[str, Any] = _scalar_form(values)
    for value in form.values():
        if type(value) not in _SCALAR_TYPES:
            return None
    form["decision"] = orjson.Fragment(decision)
    if change is not None:
        form["registry_change"] = orjson.Fragment(change)
    try:
        encoded = orjson.dumps(form, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return None
    return "sha256:" + hashlib.sha256(encoded).hexdigest()


_SCALAR_TYPES = frozenset((str, int, type(None)))


def signed_digest(values: Mapping[str, Any]) -> str:
    """``shared.contracts.signatures.decision_digest`` of a stored record, byte for byte, mostly
    without re-serialising the decision (``record_hashing``); the reference when a stored text
    is not one JSON value or a field is of another type."""
    texts = _stored_texts(values)
    if texts is not None and all(is_one_json_value(text) for text in texts.values()):
        form = decision_signed_form({**values, "decision": None, "registry_change": None})
        fast = fast_hash(form | dict.fromkeys(texts), texts)
        if fast is not None:
            return fast
    return decision_digest(values)


def _stored_texts(values: Mapping[str, Any]) -> dict[str, str] | None:
    texts = {"decision": values["decision"]}
    if values.get("registry_change") is not None:
        texts["registry_change"] = values["registry_change"]
    return texts if all(isinstance(text, str) for text in texts.values()) else None


def build_record(event: DecisionMade, sequence: int, prev_hash: str,
                 recorded_at: datetime) -> AuditRecord:
    decision = event.decision
    values: dict[str, Any] = {
        "sequence": sequence,
        "decision_id": event.decision_id,
        "event_id": event.event_id,
        "causation_id": event.causation_id,
        "correlation_id": event.correlation_id,
        "patient_key": event.patient_key,
        "trial_id": decision.trial.id,
        "trial_version": decision.trial.version,
        "status": decision.status.value,
        "previous_status": event.previous_status.value if event.previous_status else None,
        "state_version": event.state_version,
        "evaluator_version": event.evaluator_version,
        "engine_version": decision.engine_version,
        "as_of": decision.as_of,
        "decided_at": event.occurred_at,
        "recorded_at": recorded_at,
        "decision": canonical_json(decision).decode(),
        "snapshot_hash": event.snapshot_hash,
        "prev_hash": prev_hash,
        "trial_content_hash": event.trial_content_hash,
        "registry_change": canonical_json(event.registry_change).decode()
        if event.registry_change is not None else None,
        "signed_by": event.signature.key_id if event.signature else None,
        "signature": event.signature.value if event.signature else None,
        "site": event.site,
    }
    # The texts were just written canonical: spliced as they are, the hash is byte for byte
    # the reference's (record_hashing; held against it by tests/unit/audit/test_record_hashing).
    texts = _stored_texts(values) or {}
    fast = fast_hash(_scalar_form(values) | dict.fromkeys(texts), texts)
    return AuditRecord(**values, record_hash=fast if fast is not None else record_hash(values))


_COLUMNS = tuple(field.name for field in fields(AuditRecord))
_ALL_COLUMNS = operator.attrgetter(*_COLUMNS)


def _iso_z(value: datetime) -> str:
    """``shared.time.iso_z``, without its conversion when ``value`` is in UTC already (as the
    chain store reads every time back)."""
    if type(value) is datetime and value.tzinfo is UTC:
        return value.isoformat()[:-6] + "Z"  # "+00:00" is how isoformat writes UTC
    return iso_z(value)


def _optional_text(value: object) -> str | None:
    return None if value is None else str(value)
