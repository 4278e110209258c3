"""Composition root of the evaluator: the one place wiring engine, database, broker and HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import structlog
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from faststream.kafka import KafkaBroker
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.evaluator.adapters import loops
from services.evaluator.adapters.alert_stream import AlertStream, feed_from_topic
from services.evaluator.adapters.criteria_engine import CriteriaEngineScreener, default_screener
from services.evaluator.adapters.http import api, cds_hooks, registry_api
from services.evaluator.adapters.http.ui import pages
from services.evaluator.adapters.http.ui.sessions import SessionStore
from services.evaluator.adapters.messaging import PatientEventHandler, PatientHoldHandler
from services.evaluator.adapters.outbox import EvaluatorOutbox
from services.evaluator.adapters.patient_cache import PatientCache
from services.evaluator.adapters.sql.coordinator_desk import SqlCoordinatorDesk
from services.evaluator.adapters.sql.dialects import immediate_sqlite_transactions
from services.evaluator.adapters.sql.patient_queries import SqlPatientStatusQueries
from services.evaluator.adapters.sql.reference_tables import store_screener_tables
from services.evaluator.adapters.sql.stores import SqlUnitOfWork, screening_context
from services.evaluator.adapters.sql.tables import runtime_setting, write_probe
from services.evaluator.adapters.sql.trial_registry import active_trials
from services.evaluator.adapters.trial_text import trial_text
from services.evaluator.adapters.webhook_secrets import SecretBox
from services.evaluator.adapters.webhook_targets import allow_list_of
from services.evaluator.core.clock import Clock
from services.evaluator.core.ports import Screener
from shared.contracts.channels import EVALUATOR_PATIENT_EVENTS, EVALUATOR_PATIENT_HOLDS
from shared.contracts.topics import COORDINATOR_ACTIONS, DECISIONS, TRIAL_SCREENING
from shared.eligibility.loader import TRIALS_DIR
from shared.infra import fast_json
from shared.infra.auth import TokenRegistry
from shared.infra.clock import utc_now
from shared.infra.dead_letters import DeadLetters
from shared.infra.http import (
    health_router,
    install_http_problems,
    install_request_limits,
    install_storage_problem_handler,
)
from shared.infra.kafka import make_broker
from shared.infra.kafka_batch import KafkaBatchPublisher
from shared.infra.messaging import running, subscribe
from shared.infra.published_scan import PublishedScan
from shared.infra.runtime_settings import MAX_REQUEST_SIZE, record_settings_at_start
from shared.infra.server import RequestLimits
from shared.infra.signing import EventSigner, SigningPublisher, TrustedKeys
from shared.infra.sql_engine import make_engine, make_sessionmaker, ping
from shared.infra.storage import probe_write
from shared.settings import EvaluatorSettings, KafkaSettings
from shared.version import VERSION

log = structlog.get_logger(__name__)

SERVICE = "evaluator"


def build_app(
    settings: EvaluatorSettings | None = None,
    kafka: KafkaSettings | None = None,
    screener: Screener | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    settings = settings or EvaluatorSettings()
    kafka = kafka or KafkaSettings()
    # JSON columns (a patient's facts and demographics, read on every cache miss) are read
    # with orjson wherever it gives json.loads's value (shared.infra.fast_json)
    engine: AsyncEngine = make_engine(settings.database_url, json_deserializer=fast_json.loads)
    immediate_sqlite_transactions(engine)
    sessions = make_sessionmaker(engine)
    # The outbox packs each round's records per partition into batches of up to 512 KiB
    # (shared.infra.kafka_batch): one produce round trip per batch, not per record.
    broker: KafkaBroker = make_broker(kafka, client_id=f"trialwatch-{SERVICE}",
                                      max_batch_size=min(512 * 1024, kafka.max_request_size))
    chosen = screener or default_screener(settings.trials_dir or TRIALS_DIR,
                                          settings.engine_state_cache_size)
    trials_dir = chosen.trials_dir if isinstance(chosen, CriteriaEngineScreener) else None
    # Every decision and coordinator action leaves signed: audit refuses them otherwise; so
    # does every trial-screening record: intake applies none it cannot verify.
    signer = EventSigner.from_file(settings.signing_key_path())
    publisher = SigningPublisher(broker, signer, (DECISIONS, COORDINATOR_ACTIONS,
                                                  TRIAL_SCREENING),
                                 batch=KafkaBatchPublisher(broker, kafka.max_request_size))
    # Webhook secrets are stored sealed with this key (created 0600 on start when absent).
    secret_box = SecretBox(settings.webhook_key_path())
    # The one outbox relay (shared.infra.outbox), writer-first: a row the broker can never take
    # goes to evaluator_outbox_dead_letters, never into a retry loop.
    sender = EvaluatorOutbox(sessions, publisher, clock, already_published=PublishedScan(kafka),
                             batch=publisher)
    zone = ZoneInfo(settings.site_timezone)
    context = screening_context(chosen, clock, zone)

    patients = PatientCache(settings.patient_cache_size)  # this process's, between batches

    def unit_of_work() -> SqlUnitOfWork:
        return SqlUnitOfWork(sessions, chosen, clock, patients)

    handler = PatientEventHandler(unit_of_work, context, sender, DeadLetters(broker, SERVICE))
    # Events applied per database transaction and offset commit: one fsync and one commit round
    # trip per batch instead of per event; the consumer returns what is there, never waits to
    # fill. Tansu answers a fetch only when its wait expires, not when data arrives: a short
    # wait bounds the event-to-decision latency (Apache Kafka answers at once either way).
    subscribe(broker, kafka, EVALUATOR_PATIENT_EVENTS, handler, group_id=settings.group_id,
              max_records=settings.batch_size, fetch_max_wait_ms=settings.fetch_max_wait_ms)
    # intake's holds on a patient's updates: undetermined while held, re-screened on release;
    # only notices signed by intake's key (EVALUATOR_INTAKE_KEYS) hold or release anyone
    subscribe(broker, kafka, EVALUATOR_PATIENT_HOLDS,
              PatientHoldHandler(unit_of_work, context, sender, DeadLetters(broker, SERVICE),
                                 TrustedKeys(settings.intake_key_paths(),
                                             settings.retired_intake_key_paths())),
              group_id=f"{settings.group_id}-holds",
              fetch_max_wait_ms=settings.fetch_max_wait_ms)
    alerts = AlertStream(settings.alert_queue_size)

    async def broker_ready() -> None:
        if not await broker.ping(2):
            raise ConnectionError("broker does not answer")

    async def database_ready() -> None:
        await ping(engine)

    async def database_writes() -> None:
        await probe_write(engine, write_probe, clock())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client = httpx.AsyncClient(timeout=10.0)
        # the names and sentences alert headlines quote, read before the first patient waits
        await asyncio.to_thread(lambda: [trial_text(t) for t in chosen.active_trials()])
        signer.load()  # the key exists (0600, public half exported) before anything is signed
        # what `trialwatch outbox release` checks a retry against: this process's limit
        # the reference tables decisions are compiled against, stored once by hash before the
        # first decision names them (audit replay reads them back); see store_reference_tables
        await store_reference_tables(sessions, chosen, clock())
        await record_settings_at_start(engine, runtime_setting,
                              {MAX_REQUEST_SIZE: str(kafka.max_request_size)}, clock())
        secret_box.load()  # and so does the key that seals webhook secrets

        async def publish_backlog() -> None:
            # before consuming: decisions made from new events queue behind the backlog
            backlog = await sender.publish_backlog()
            if backlog:
                log.info("outbox backlog published before consuming", messages=backlog)

        try:
            async with running(broker, service=SERVICE, before_consuming=publish_backlog, tasks={
                "registry": lambda: loops.forever(
                    "registry", loops.registry_step(sessions, chosen, trials_dir, clock, sender),
                    settings.registry_poll_interval_s),
                "timers": lambda: loops.forever(
                    "timers", loops.timer_step(unit_of_work, context, sender),
                    settings.timer_poll_interval_s),
                "outbox": sender.run,
                "webhooks": lambda: loops.forever(
                    "webhooks", loops.webhook_step(
                        sessions, client, clock, secret_box,
                        allow_list_of(settings.webhook_allowed_hosts)),
                    0.5),
                "alert-feed": lambda: feed_from_topic(alerts, kafka),
            }):
                yield
        finally:
            await client.aclose()
            await engine.dispose()

    app = FastAPIOffline(title="TrialWatch evaluator", version=VERSION, lifespan=lifespan,
                  description="Re-screens patients on every change and when time passes; "
                              "alerts coordinators (Kafka, Server-Sent Events, webhooks).")
    app.state.tokens = TokenRegistry.from_settings(settings)
    app.state.broker = broker
    install_storage_problem_handler(app)
    install_http_problems(app, html_prefix="/ui/")
    app.include_router(health_router({"database": database_ready,
                                      "database-writes": database_writes,
                                      "broker": broker_ready}))
    install_request_limits(app)
    app.include_router(registry_api.router(sessions, chosen, clock, sender.send, zone))
    app.add_middleware(RequestLimits)

    async def known_trials() -> set[str]:
        async with sessions() as session:
            return {t.id for t in await active_trials(session, chosen)}

    app.include_router(api.router(sessions, alerts, clock, known_trials, secret_box,
                                  allow_list_of(settings.webhook_allowed_hosts)))
    pages.mount(app, SqlCoordinatorDesk(sessions, chosen, sender),
                SessionStore(sessions, timedelta(seconds=settings.session_ttl_s)), alerts, clock,
                zone=settings.site_timezone, ttl_s=settings.session_ttl_s,
                intake_url=settings.intake_url)
    verifier = cds_hooks.JwtVerifier(cds_hooks.trusted_issuers(settings.cds_issuers))
    app.include_router(cds_hooks.router(SqlPatientStatusQueries(sessions), verifier,
                                        settings.intake_url,
                                        settings.cds_intake_token, settings.public_url,
                                        chosen, clock, settings.site_timezone))
    return app


async def store_reference_tables(sessions: async_sessionmaker[AsyncSession],
                                 screener: object, now: datetime) -> bool:
    """Store the screener's reference tables (``evaluator_reference_tables``, idempotent by
    hash) at the service's start; True when stored now or before. A screener without tables
    read from texts (a test's stand-in) has nothing to store. A database that cannot be written
    does not stop the start (the write probe then reports not ready, as for
    ``record_settings_at_start``): it is logged, and ``audit replay`` still finds the tables in
    ``shared/trials/tables`` while its files have the same hash."""
    try:
        async with sessions.begin() as session:
            return await store_screener_tables(session, screener, now)
    except DBAPIError as error:
        log.error("reference_tables_not_stored",
                  error=type(error.orig).__name__ if error.orig is not None
                  else type(error).__name__)
        return False
