"""Composition root of intake: engine, broker, raw-topic subscriber, outbox relay, HTTP API."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from services.intake.adapters import metrics
from services.intake.adapters.http.api import IntakeRuntime, create_api
from services.intake.adapters.messaging import (
    RawIntakeHandler,
    broker_json,
    signing_publisher,
    subscribe_raw,
)
from services.intake.adapters.sql.database import WriteTurns, make_intake_engine
from services.intake.adapters.sql.group_commit import GroupCommit
from services.intake.adapters.sql.leadership import RelayLeadership
from services.intake.adapters.sql.store import outbox_store
from services.intake.adapters.sql.tables import runtime_setting, write_probe
from services.intake.adapters.trial_codes import RegistryScreenedCodes, follow_registry
from services.intake.core.input_formats import input_formats
from services.intake.core.publish_limit import PublishLimit
from shared.infra.auth import TokenRegistry
from shared.infra.clock import utc_now
from shared.infra.dead_letters import DeadLetters
from shared.infra.http import health_router, install_storage_problem_handler
from shared.infra.kafka import make_broker
from shared.infra.local_codes import install_site_local_codes
from shared.infra.medication_codes import install_site_medication_codes
from shared.infra.messaging import running
from shared.infra.outbox import OutboxRelay, OutboxRow, RelayHooks, RelayOptions
from shared.infra.runtime_settings import MAX_REQUEST_SIZE, record_settings_at_start
from shared.infra.server import RequestLimits
from shared.infra.signing import TrustedKeys
from shared.infra.sql_engine import make_sessionmaker, ping
from shared.infra.storage import probe_write
from shared.infra.unit_aliases import install_site_unit_aliases
from shared.settings import IntakeSettings, KafkaSettings

log = structlog.get_logger(__name__)


def build_app(
    settings: IntakeSettings | None = None, kafka: KafkaSettings | None = None
) -> FastAPI:
    settings = settings or IntakeSettings()
    kafka = kafka or KafkaSettings()
    install_site_unit_aliases()  # CLINICAL_UNIT_ALIASES_FILE: before any input is read
    install_site_local_codes()  # CLINICAL_LOCAL_CODES_FILE: likewise
    install_site_medication_codes()  # CLINICAL_MEDICATION_CODES_FILE: likewise
    # what the active trials' criteria read (INTAKE_TRIALS_DIR, then the evaluator's registry
    # live through trials.screening.v1): receipts name what none reads
    screened = RegistryScreenedCodes(settings.trials_dir)
    # ... and only from records the evaluator's key signed (INTAKE_EVALUATOR_KEYS)
    evaluator_keys = TrustedKeys(settings.evaluator_key_paths(),
                                 settings.retired_evaluator_key_paths())
    broker = make_broker(kafka, client_id="trialwatch-intake")
    engines: list[AsyncEngine] = []
    # what the producer can publish (make_broker passes the same setting to aiokafka)
    publish_limit = PublishLimit(kafka.max_request_size, broker_json)
    # hold notices and re-identifications leave signed: the evaluator and audit act on none
    # they cannot verify
    publisher = signing_publisher(broker, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_intake_engine(settings.database_url)
        engines.append(engine)
        # what `trialwatch outbox release` checks a retry against: this process's limit
        await record_settings_at_start(engine, runtime_setting,
                              {MAX_REQUEST_SIZE: str(kafka.max_request_size)}, utc_now())
        sessions = make_sessionmaker(engine)
        turns = WriteTurns.for_url(settings.database_url)
        transaction = GroupCommit(sessions, utc_now, turns,
                                  max_members=settings.group_commit_max_members)

        async def publish(row: OutboxRow) -> None:
            await publisher.publish(json.loads(row.payload), row.topic, key=row.key.encode())

        relay = OutboxRelay("intake", outbox_store(sessions, turns), publish, utc_now,
                            RelayOptions(
                                batch_size=settings.relay_batch_size,
                                poll_interval_s=settings.relay_poll_interval_s,
                                max_backoff_s=settings.relay_max_backoff_s,
                                leadership=RelayLeadership(engine, settings.database_url),
                                hooks=RelayHooks(published=metrics.EVENTS_PUBLISHED.inc,
                                                 round_failed=metrics.RELAY_FAILURES.inc,
                                                 pending=metrics.OUTBOX_PENDING.set)))
        raw = RawIntakeHandler(transaction, DeadLetters(broker, "intake"), utc_now,
                               default_source=settings.raw_default_source,
                               max_body_bytes=settings.max_body_bytes, on_accepted=relay.wake,
                               sender_zone=settings.hl7v2_zone, publish_limit=publish_limit,
                               sites=settings.raw_site_set(), screened=screened,
                               site_mrn_authority=settings.mrn_authority(),
                               processing_ids=settings.hl7v2_processing_id_set())
        subscribe_raw(broker, kafka, settings, raw)
        app.state.intake = IntakeRuntime(settings, transaction, utc_now, relay.wake,
                                         publish_limit, screened)
        # The broker connects in the background: intake accepts into its outbox meanwhile.
        try:
            tasks = {"outbox-relay": relay.run,
                     "trial-registry": lambda: follow_registry(screened, kafka, evaluator_keys)}
            async with running(broker, service="intake", tasks=tasks,
                               connect_in_background=True):
                yield
        finally:
            transaction.close()
            await engine.dispose()

    async def database_check() -> None:
        await ping(engines[-1])

    async def database_writes_check() -> None:
        await probe_write(engines[-1], write_probe, utc_now())

    async def broker_check() -> None:
        if not await broker.ping(2):
            raise ConnectionError("the broker does not answer")

    app = create_api(lifespan=lifespan)
    install_storage_problem_handler(app)
    app.state.tokens = TokenRegistry.from_settings(settings)
    app.include_router(health_router({"database": database_check,
                                      "database-writes": database_writes_check,
                                      "broker": broker_check}))
    # the submission routes' bodies are read by their format (FHIR R4, HL7 v2), which refuses
    # control characters and lone surrogates at their FHIR or HL7 path, entry by entry
    app.add_middleware(RequestLimits, max_body_bytes=settings.max_body_bytes,
                       own_text_paths=[f.route for f in input_formats()])
    return app
