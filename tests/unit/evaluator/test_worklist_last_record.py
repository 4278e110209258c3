"""The worklist says when each patient's newest record arrived (brief ux: a coordinator could
not tell a patient whose data came in this morning from one last heard of in 2021 without
opening each page). ``patient_fact.received_at`` is when intake received the record (aware
UTC, ``Provenance.received_at``); the column shows the newest, in the site's zone like the other
times of the app, and says so when nothing has arrived."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.evaluator.adapters.sql.tables import metadata, patient_fact, trial_status
from services.evaluator.adapters.sql.worklist import worklist
from tests.unit.evaluator.test_worklist_page import _row, entry, render

AS_OF = datetime(2026, 12, 3, 10, tzinfo=UTC)


def _status(key: str) -> dict[str, object]:
    return {"patient_key": key, "trial_id": "T", "trial_version": "1", "status": "undetermined",
            "decision_id": f"d-{key}", "state_version": 1, "as_of": AS_OF,
            "unknown_criteria": 2, "missing": ["item"], "decision": None}


def test_the_worklist_entry_carries_when_the_newest_record_arrived() -> None:
    async def scenario() -> dict[str, datetime | None]:
        engine = create_async_engine("sqlite+aiosqlite:///:memory:")
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(trial_status.insert(), [_status("pt_a"), _status("pt_none")])
            await conn.execute(patient_fact.insert(), [
                # an old result received today, a newer result received a week ago
                {"patient_key": "pt_a", "fact_id": "1", "fact": {},
                 "effective_start": datetime(2019, 1, 1, tzinfo=UTC),
                 "received_at": datetime(2026, 12, 3, 8, 30, tzinfo=UTC)},
                {"patient_key": "pt_a", "fact_id": "2", "fact": {},
                 "effective_start": datetime(2026, 11, 20, tzinfo=UTC),
                 "received_at": datetime(2026, 11, 26, 9, tzinfo=UTC)},
            ])
        async with engine.connect() as conn, AsyncSession(conn) as session:
            entries = await worklist(session, "T", limit=10)
        await engine.dispose()
        return {e.patient_key: e.last_received for e in entries}

    arrived = asyncio.run(scenario())
    assert arrived["pt_a"] == datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    assert arrived["pt_a"].utcoffset() == timedelta(0), "aware UTC"
    assert arrived["pt_none"] is None


def test_the_worklist_page_has_a_last_record_column() -> None:
    received = datetime(2026, 12, 3, 8, 30, tzinfo=UTC)
    with_data = replace(entry("pt_a", 2, on_record=3), last_received=received)
    page = render(with_data, entry("pt_b", 2, on_record=0))
    header = page.split("<thead>")[1].split("</thead>")[0]
    assert "<th>Last received</th>" in header, header
    assert str(received) in _row(page, "pt_a")
    assert "nothing received" in _row(page, "pt_b")
