"""The worklist ranks patients with as many criteria open by what most likely leads to a
decision (fresh user ux: 15 Synthea patients with 44-51 items each were listed by item count,
which says nothing of who can be decided soon): among equals, the patient whose newest record
is the most recent first, then fewest items; the page says the rule (``RANKING``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.evaluator.adapters.sql.tables import metadata, patient_fact, trial_status
from services.evaluator.adapters.sql.worklist import worklist

AS_OF = datetime(2026, 12, 3, 10, tzinfo=UTC)


def _status(key: str, open_criteria: int, items: int) -> dict[str, object]:
    return {"patient_key": key, "trial_id": "T", "trial_version": "1", "status": "undetermined",
            "decision_id": f"d-{key}", "state_version": 1, "as_of": AS_OF,
            "unknown_criteria": open_criteria, "missing": [f"item {i}" for i in range(items)],
            "decision": None}


def _fact(key: str, n: int, when: datetime) -> dict[str, object]:
    return {"patient_key": key, "fact_id": f"{key}-{n}", "fact": {}, "effective_start": when,
            "received_at": AS_OF}


def test_among_equal_open_criteria_the_most_recently_seen_patient_comes_first() -> None:
    async def scenario() -> list[str]:
        engine = create_async_engine("sqlite+aiosqlite:///:memory:")
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await conn.execute(trial_status.insert(), [
                _status("pt_old_few", 23, 44),    # newest record 2021: fewer items
                _status("pt_recent", 23, 51),     # newest record last month
                _status("pt_none", 23, 40),       # no record at all
                _status("pt_close", 1, 60),       # one criterion open: first whatever else
            ])
            await conn.execute(patient_fact.insert(), [
                _fact("pt_old_few", 1, datetime(2021, 1, 21, tzinfo=UTC)),
                _fact("pt_recent", 1, datetime(2019, 1, 1, tzinfo=UTC)),
                _fact("pt_recent", 2, datetime(2026, 11, 2, tzinfo=UTC)),
                _fact("pt_close", 1, datetime(2010, 1, 1, tzinfo=UTC)),
            ])
        async with engine.connect() as conn, AsyncSession(conn) as session:
            entries = await worklist(session, "T", limit=10)
        await engine.dispose()
        return [e.patient_key for e in entries]

    assert asyncio.run(scenario()) == ["pt_close", "pt_recent", "pt_old_few", "pt_none"]
