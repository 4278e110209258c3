"""CSV and JSON Lines renderings of audit records, streamed page by page."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from typing import Any

from services.audit.adapters.http.models import AuditRecordOut
from services.audit.core.ports import RecordQueries
from services.audit.core.queries import RecordFilter

CSV_COLUMNS = (
    "sequence", "decision_id", "patient_key", "trial_id", "trial_version", "status",
    "previous_status", "as_of", "decided_at", "recorded_at", "evaluator_version",
    "engine_version", "event_id", "causation_id", "snapshot_hash", "record_hash", "reasons",
    "missing",
)


def csv_row(record: AuditRecordOut) -> dict[str, Any]:
    criteria = record.decision.get("criteria", [])
    row = record.model_dump(mode="json")
    row["reasons"] = " | ".join(f"{c['id']} {c['outcome']}: {c['reason']}" for c in criteria)
    row["missing"] = " | ".join(m for c in criteria for m in c.get("missing", []))
    return {column: row.get(column) for column in CSV_COLUMNS}


async def _records(queries: RecordQueries, flt: RecordFilter,
                   page_size: int) -> AsyncIterator[AuditRecordOut]:
    cursor = None
    while True:
        rows = await queries.page(flt, cursor, page_size)
        for row in rows:
            yield AuditRecordOut.from_row(row)
        if len(rows) < page_size:
            return
        cursor = rows[-1]["sequence"]


async def export_jsonl(queries: RecordQueries, flt: RecordFilter,
                       page_size: int = 1000) -> AsyncIterator[bytes]:
    async for record in _records(queries, flt, page_size):
        yield (json.dumps(record.model_dump(mode="json"), sort_keys=True) + "\n").encode()


async def export_csv(queries: RecordQueries, flt: RecordFilter,
                     page_size: int = 1000) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    async for record in _records(queries, flt, page_size):
        writer.writerow(csv_row(record))
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()
