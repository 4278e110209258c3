"""Status-as-of follows the record order: after a wall-clock step forward of two days and its
correction, the decision made after the correction is the patient's status, at "now" and at
any later instant; the stale decision stamped during the step is not."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from shared.eligibility.decision import Outcome
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import fresh_database, unique_group
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    migrate,
    running,
    start_group_at_end,
)
from tests.unit.audit.factories import BASE_TIME, decision_event

pytestmark = pytest.mark.integration

STATUS = "/patients/pk_step/trials/NCT06920433/status"
CORRECTED_AT = BASE_TIME + timedelta(hours=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(request: pytest.FixtureRequest, kafka_settings: KafkaSettings,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """One audit service (real lifespan, broker and database) on the stepped history per
    database kind, shared by this module's tests: each only asks the status at an instant
    (a GET that writes nothing they read). Starting it per test cost ~5-8 s each."""
    folder = tmp_path_factory.mktemp(f"clock-step-{request.param}")
    async with fresh_database(request.param, folder) as url, \
            _stepped_history_service(url, kafka_settings, folder) as http:
        yield http


@contextlib.asynccontextmanager
async def _stepped_history_service(database_url: str, kafka_settings: KafkaSettings,
                                   tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(database_url)
    history = [
        decision_event("pk_step", 0, Outcome.UNKNOWN, as_of=BASE_TIME),
        # made while the wall clock was two days ahead: eligible, stamped in the future
        decision_event("pk_step", 1, Outcome.PASS, as_of=BASE_TIME + timedelta(days=2)),
        # made after the clock was corrected, from newer data: ineligible
        decision_event("pk_step", 2, Outcome.FAIL, as_of=CORRECTED_AT),
    ]
    engine = make_engine(database_url)
    try:
        chain = DecisionChain(SqlChainStore(engine))
        for event in history:
            await chain.append(event, datetime.now(UTC))
    finally:
        await engine.dispose()
    group = unique_group("audit-clock")
    await start_group_at_end(kafka_settings, group)
    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)) as http:
        yield http


async def status_at(client: httpx.AsyncClient, at: datetime) -> str:
    response = await client.get(STATUS, headers=AUTH, params={"at": at.isoformat()})
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def test_after_a_corrected_clock_step_status_as_of_now_is_the_decision_made_last(
    client: httpx.AsyncClient,
) -> None:
    assert await status_at(client, CORRECTED_AT + timedelta(minutes=1)) == "ineligible"


async def test_at_an_instant_past_the_stepped_stamp_the_stale_decision_is_not_returned(
    client: httpx.AsyncClient,
) -> None:
    # Ordered by as-of, the decision stamped two days ahead would win here (eligible).
    assert await status_at(client, BASE_TIME + timedelta(days=3)) == "ineligible"


async def test_before_the_correction_the_earlier_decision_is_in_force(
    client: httpx.AsyncClient,
) -> None:
    assert await status_at(client, BASE_TIME + timedelta(minutes=30)) == "undetermined"
