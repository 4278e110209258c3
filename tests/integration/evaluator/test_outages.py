"""A database outage pauses the evaluator; the events are redelivered and decided once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from services.evaluator.core import screening
from shared.eligibility.decision import Status
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import (
    collect,
    evaluator_in_process,
    fresh_settings,
    publish,
    until,
)
from tests.unit.evaluator.fakes import OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration


async def test_a_database_outage_backs_off_and_the_event_is_redelivered_and_decided_once(
    kafka_settings: KafkaSettings, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-outage")
    failures = {"left": 3}
    real_flush = screening.Screening.flush

    async def flaky_flush(self: screening.Screening) -> Any:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("database is down"))
        return await real_flush(self)

    monkeypatch.setattr(screening.Screening, "flush", flaky_flush)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with evaluator_in_process(settings, kafka_settings, OneLabScreener()), \
            collect(kafka_settings, [patient]) as seen:
        await publish(kafka_settings, [
            patient_updated(patient, (lab_fact(150, now - timedelta(hours=1)),), now)])
        assert await until(lambda: len(seen.decisions) == 1, 30)
        await until(lambda: False, 1.5)

    assert failures["left"] == 0, "the database failed three times before it came back"
    assert [d.decision.status for d in seen.decisions] == [Status.ELIGIBLE]
    assert len(seen.alerts) == 1
