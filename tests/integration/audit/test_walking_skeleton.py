"""A decision published on the real broker is stored once and served to an auditor."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    count_records,
    migrate,
    publish,
    running,
    start_group_at_end,
    wait_for,
)
from tests.unit.audit.factories import decision_event

pytestmark = pytest.mark.integration


async def test_a_published_decision_is_stored_and_served_by_patient_key(
        kafka_settings: KafkaSettings, database_url: str, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-skeleton")
    await start_group_at_end(kafka_settings, group)
    app = audit_app(audit_settings(database_url, tmp_path, group), kafka_settings)
    event = decision_event(patient_key=f"pk_{group}")

    async with running(app) as client:
        await publish(kafka_settings, [event])

        async def stored() -> bool:
            return await count_records(database_url, f"pk_{group}") == 1

        await wait_for(stored, what="the decision to be stored")
        response = await client.get("/decisions", params={"patient_key": event.patient_key},
                                    headers=AUTH)

    assert response.status_code == 200
    [item] = response.json()["items"]
    assert item["decision_id"] == str(event.decision_id)
    assert item["status"] == event.decision.status.value
    assert item["causation_id"] == str(event.causation_id)
    assert item["decision"]["criteria"][1]["evidence"][0]["fact_id"] == "fact-egfr-1"
    assert item["sequence"] == 1
