"""Response bodies of the auditor API, with the examples shown in the OpenAPI document."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.eligibility.decision import Decision
from shared.eligibility.readable import Need, needs

_DECISION_EXAMPLE: dict[str, Any] = {
    "trial": {"id": "NCT06920433", "version": "2025-04-01"},
    "as_of": "2026-11-25T03:00:00Z",
    "status": "undetermined",
    "criteria": [
        {"id": "I1", "kind": "inclusion", "outcome": "pass", "reason": "age 64 >= 18",
         "evidence": [{"fact_id": "demographics", "value": 64, "unit": "a"}], "missing": []},
        {"id": "I4", "kind": "inclusion", "outcome": "unknown",
         "reason": "no eGFR within 28 days", "evidence": [], "missing": ["eGFR (LOINC 33914-3)"]},
    ],
    "next_review_at": None,
    "engine_version": "1.0.0",
    "parameters": {},
}
_RECORD_EXAMPLE: dict[str, Any] = {
    "sequence": 42,
    "decision_id": "5f0c6a8e-4f5d-5b7e-9d0a-3c1b2a4d5e6f",
    "event_id": "0b6f3a1c-2d4e-4f60-8a9b-c1d2e3f4a5b6",
    "causation_id": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
    "correlation_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
    "patient_key": "pk_3f9a1c2b7d",
    "trial_id": "NCT06920433",
    "trial_version": "2025-04-01",
    "status": "undetermined",
    "previous_status": None,
    "state_version": 3,
    "evaluator_version": "0.1.0",
    "engine_version": "1.0.0",
    "as_of": "2026-11-25T03:00:00Z",
    "decided_at": "2026-11-25T03:00:00.120000Z",
    "recorded_at": "2026-11-25T03:00:00.180000Z",
    "decision": _DECISION_EXAMPLE,
    "snapshot_hash": "sha256:" + "ab" * 32,
    "prev_hash": "sha256:" + "cd" * 32,
    "record_hash": "sha256:" + "ef" * 32,
}


class AuditRecordOut(BaseModel):
    """One stored decision with its place in the hash chain."""

    model_config = ConfigDict(json_schema_extra={"examples": [dict(_RECORD_EXAMPLE)]})

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
    decision: dict[str, Any] = Field(description="the Decision exactly as stored: status, "
                                                 "per-criterion outcome, reason, evidence, missing")
    snapshot_hash: str = Field(description="content hash of the input snapshot "
                                           "(GET /snapshots/{hash})")
    prev_hash: str
    record_hash: str
    trial_content_hash: str | None = Field(
        default=None, description="sha256 of the trial version's registry text the decision used")
    registry_change: dict[str, Any] | None = Field(
        default=None, description="the trial-registry change (who, when, action, text hash) "
                                  "that caused this decision, e.g. an activation's re-screen")
    site: str | None = Field(
        default=None, description="the patient's site when decided (DecisionMade.site); "
                                  "null for a patient without one and on older records")
    needs: list[Need] = Field(
        default_factory=list,
        description="what to send next, each item once, with the criteria it would settle "
                    "(worked out from the stored decision; the record itself is unchanged)")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AuditRecordOut:
        change = row.get("registry_change")
        decision = json.loads(row["decision"])
        return cls.model_validate({**row, "decision": decision, "needs": _needs_of(decision),
                                   "registry_change": json.loads(change) if change else None})


def _needs_of(decision: dict[str, Any]) -> list[Need]:
    try:
        return list(needs(Decision.model_validate(decision)))
    except ValidationError:  # a record written by an older engine shape: no needs, not an error
        return []


class RecordPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={
        "examples": [{"items": [_RECORD_EXAMPLE], "next_cursor": 42}]})

    items: list[AuditRecordOut]
    next_cursor: int | None = Field(
        description="pass as ?cursor= to get the next page; null on the last page")


class StatusAsOf(BaseModel):
    """A patient's status for a trial at an instant, and why (the criteria with evidence)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "patient_key": "pk_3f9a1c2b7d", "trial_id": "NCT06920433",
        "at": "2026-11-25T04:00:00Z", "status": "undetermined",
        "trial_version": "2025-04-01", "as_of": "2026-11-25T03:00:00Z",
        "decision_id": _RECORD_EXAMPLE["decision_id"], "sequence": 42,
        "criteria": _DECISION_EXAMPLE["criteria"],
    }]})

    patient_key: str
    trial_id: str
    at: datetime
    status: str
    trial_version: str
    as_of: datetime
    decision_id: UUID
    sequence: int
    criteria: list[dict[str, Any]]


class AccessEntryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": 7, "accessed_at": "2026-11-25T04:01:02Z", "client": "dev-auditor",
        "role": "auditor", "action": "query-decisions",
        "query": {"patient_key": "pk_3f9a1c2b7d"}, "result_count": 3}]})

    id: int
    accessed_at: datetime
    client: str
    role: str
    action: str
    query: dict[str, Any]
    result_count: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> AccessEntryOut:
        return cls.model_validate({**row, "query": json.loads(row["query"])})


class AccessPage(BaseModel):
    items: list[AccessEntryOut]
    next_cursor: int | None
