"""Run a real intake (in this process, its lifespan included) on a real database and broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import FastAPI
from sqlalchemy.pool import NullPool

from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.sql.database import WriteTurns, make_intake_engine
from services.intake.adapters.sql.group_commit import GroupCommit
from services.intake.bootstrap import build_app, utc_now
from shared.contracts.events import PatientUpdated
from shared.contracts.topics import PATIENT_EVENTS
from shared.infra.auth import TokenRegistry
from shared.infra.sql_engine import make_sessionmaker
from shared.settings import IntakeSettings, KafkaSettings
from tests.conftest import seek_to_end, unique_group
from tests.migrated import upgrade

LAB = {"Authorization": "Bearer lab-token"}
COORDINATOR = {"Authorization": "Bearer coordinator-token"}
FHIR = {"Content-Type": "application/fhir+json"}
HL7 = {"Content-Type": "x-application/hl7-v2+er7"}
# intake's exit: its tasks and broker each get shared.infra.messaging.STOP_TIMEOUT_S (5 s)
SHUTDOWN_LIMIT_S = 30.0


async def migrate(database_url: str) -> None:
    await asyncio.to_thread(upgrade, "intake", database_url)


def settings_for(database_url: str, **overrides: object) -> IntakeSettings:
    return IntakeSettings(database_url=database_url, raw_group_id=unique_group("intake-raw"),
                          tokens="lab-token=lab-system,coordinator-token=coordinator@NCT06920433",
                          **overrides)


@contextlib.asynccontextmanager
async def running_intake(
    settings: IntakeSettings, kafka: KafkaSettings
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, kafka)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake",
                                     timeout=30) as client:
            yield client
    finally:
        # issue 14: intake's shutdown ends in bounded time and every task it started stops
        # (a relay that swallowed its cancellation once kept a shutdown waiting for ever)
        async with asyncio.timeout(SHUTDOWN_LIMIT_S):
            await lifespan.__aexit__(None, None, None)
        left = [t.get_name() for t in asyncio.all_tasks()
                if t.get_name().startswith("intake-") and not t.done()]
        assert not left, f"intake's shutdown left tasks running: {left}"


@dataclass
class Seen:
    events: list[PatientUpdated] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)

    def for_patients(self, patient_keys: Iterable[str]) -> list[PatientUpdated]:
        wanted = set(patient_keys)
        return [e for e in self.events if e.patient_key in wanted]


@contextlib.asynccontextmanager
async def watch_patient_events(kafka: KafkaSettings) -> AsyncIterator[Seen]:
    """Every PatientUpdated published from now on (the topic holds other tests' events)."""
    seen = Seen()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    partitions = [TopicPartition(PATIENT_EVENTS, p) for p in range(kafka.partitions)]
    consumer.assign(partitions)
    await seek_to_end(consumer, partitions)

    async def run() -> None:
        async for record in consumer:
            seen.events.append(PatientUpdated.model_validate_json(record.value))
            seen.keys.append(record.key)

    task = asyncio.create_task(run())
    try:
        yield seen
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()


async def wait_until(condition: object, timeout_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def api_without_broker(
    database_url: str, **overrides: object
) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """The HTTP API on the real database, without broker or relay (accepting only queues)."""
    engine = make_intake_engine(database_url, poolclass=NullPool)
    app = create_api()
    settings = settings_for(database_url, **overrides)
    app.state.tokens = TokenRegistry.from_settings(settings)
    transaction = GroupCommit(make_sessionmaker(engine), utc_now,
                              WriteTurns.for_url(database_url))
    app.state.intake = IntakeRuntime(settings, transaction, utc_now, lambda: None)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://intake",
                                     timeout=60) as client:
            yield client, app
    finally:
        transaction.close()
        await engine.dispose()
