"""Record chains built in memory (no database), as rows the verifier reads."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.audit.core.audit_record import GENESIS_HASH, build_record, record_hash
from tests.unit.audit.factories import BASE_TIME, decision_event


def chain(length: int, patient_key: str = "pk_chain",
          site: str | None = None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    prev = GENESIS_HASH
    for index in range(length):
        event = decision_event(patient_key=patient_key, index=index, site=site)
        record = build_record(event, index + 1, prev,
                              recorded_at=BASE_TIME + timedelta(minutes=index, seconds=1))
        rows.append(record.columns())
        prev = record.record_hash
    return rows


def rehash_from(rows: list[dict[str, Any]], start: int = 0) -> list[dict[str, Any]]:
    """What a forger with database access does: recompute every hash after an edit."""
    prev = rows[start - 1]["record_hash"] if start else GENESIS_HASH
    out = list(rows[:start])
    for row in rows[start:]:
        fixed = {**row, "prev_hash": prev}
        fixed["record_hash"] = record_hash(fixed)
        out.append(fixed)
        prev = fixed["record_hash"]
    return out
