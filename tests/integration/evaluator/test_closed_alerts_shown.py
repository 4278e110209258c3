"""A trial that stops being screened (deactivated or retired) closes the alerts of its eligible
patients: the closing alert is stored where the coordinator app reads alerts, with its reason,
not only published (before, the app kept showing "Now eligible" for a trial no longer screened,
and its patient link answered 404). SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import insert

from services.evaluator.adapters.sql import amendments, coordination
from services.evaluator.adapters.sql.tables import trial_status
from services.evaluator.bootstrap import default_screener
from shared.eligibility.decision import TrialRef
from shared.eligibility.loader import TRIALS_DIR
from shared.infra.sql_engine import make_engine, make_sessionmaker
from tests.integration.evaluator.harness import migrate

TRIAL = TrialRef(id="NCT06920433", version="2025-11-14.2")
NOW = datetime(2026, 12, 2, 13, 18, tzinfo=UTC)


async def test_a_deactivated_trial_shows_its_closed_alert_with_the_reason_in_the_app(
    database_url: str,
) -> None:
    await migrate(database_url)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    try:
        await amendments.activate_and_rescreen(sessions, default_screener(TRIALS_DIR), TRIAL,
                                               lambda: NOW, actor="cli:test")
        async with sessions.begin() as session:
            await session.execute(insert(trial_status).values(
                patient_key=patient, trial_id=TRIAL.id, trial_version=TRIAL.version,
                status="eligible", decision_id=str(uuid.uuid4()), state_version=1, as_of=NOW,
                unknown_criteria=0, missing=[], decision=None, held_from=None))
        _, messages = await amendments.stop_screening(
            sessions, TRIAL.id, "deactivate", "enrolment paused by the sponsor", "api:pi",
            lambda: NOW)
        assert len(messages) == 1
        async with sessions() as session:
            shown = [a for a in await coordination.alerts(session, TRIAL.id)
                     if a.patient_key == patient]
    finally:
        await engine.dispose()
    assert [a.kind for a in shown] == ["closed"]
    assert shown[0].headline == ("trial NCT06920433 deactivated by api:pi at 2 Dec 2026, "
                                 "13:18 UTC: enrolment paused by the sponsor")
