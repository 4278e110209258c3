"""Composition root of the audit service: the only place that wires things together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from services.audit.adapters.checkpoint_files import CheckpointFiles
from services.audit.adapters.http.routes import AuditApi, router
from services.audit.adapters.messaging import register_handlers
from services.audit.adapters.sql.access_log import AccessLog
from services.audit.adapters.sql.action_store import SqlActionStore
from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.adapters.sql.record_queries import SqlRecordQueries
from services.audit.adapters.sql.tables import write_probe
from services.audit.adapters.telemetry import MetricsAndLogs
from services.audit.core.access_ingest import ReidentificationIngest
from services.audit.core.action_ingest import ActionIngest
from services.audit.core.chain import DecisionChain
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.decision_ingest import DecisionIngest
from services.audit.core.verify import verify_chain
from shared.infra.auth import TokenRegistry
from shared.infra.backoff import Backoff
from shared.infra.clock import utc_now
from shared.infra.dead_letters import DeadLetters
from shared.infra.http import (
    health_router,
    install_http_problems,
    install_request_limits,
    install_storage_problem_handler,
)
from shared.infra.kafka import make_broker
from shared.infra.messaging import running
from shared.infra.server import RequestLimits
from shared.infra.signing import TrustedKeys, load_or_create_signing_key
from shared.infra.sql_engine import make_engine, ping
from shared.infra.storage import probe_write
from shared.settings import AuditSettings, KafkaSettings
from shared.version import VERSION

log = structlog.get_logger(__name__)

DESCRIPTION = """\
The tamper-evident record of every eligibility decision. Auditors (bearer token with role
`auditor`) query it by patient key, trial and version, time and status; read one decision or a
patient's status as of an instant with the reasons and evidence; export CSV or JSON Lines; and
verify the hash chain against the signed checkpoints. Every query is itself recorded.
"""


def build_app(settings: AuditSettings | None = None,
              kafka: KafkaSettings | None = None) -> FastAPI:
    settings = settings or AuditSettings()
    kafka = kafka or KafkaSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(settings.database_url)
        write_lock = asyncio.Lock()
        store = SqlChainStore(engine, write_lock)
        broker = make_broker(kafka, client_id="trialwatch-audit")
        backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        dead_letters = DeadLetters(broker, "audit")
        keys = TrustedKeys(settings.decision_key_paths(),
                           settings.retired_decision_key_paths())
        if not keys.key_ids:
            log.warning("no trusted evaluator key yet: decisions are refused until one exists",
                        decision_keys=[str(p) for p in settings.decision_key_paths()])
        telemetry = MetricsAndLogs()
        ingest = DecisionIngest(DecisionChain(store), dead_letters, utc_now, backoff, keys,
                                telemetry)
        action_store = SqlActionStore(engine, write_lock)
        actions = ActionIngest(action_store, dead_letters, utc_now, keys, telemetry)
        access = AccessLog(engine, utc_now, write_lock)
        # re-identifications are appended only when intake's key signed them
        intake_keys = TrustedKeys(settings.intake_key_paths(),
                                  settings.retired_intake_key_paths())
        register_handlers(broker, ingest, settings, kafka, actions,
                          ReidentificationIngest(access, dead_letters, intake_keys))
        key = load_or_create_signing_key(settings.signing_key_path(), settings.verify_key_path())
        writer = CheckpointWriter(store, key, CheckpointFiles(settings.checkpoint_dir,
                                                              key.public_key()), utc_now,
                                  telemetry, access_log=access, decision_keys=keys,
                                  actions=action_store)
        app.state.engine, app.state.broker = engine, broker
        app.state.audit = AuditApi(
            queries=SqlRecordQueries(engine),
            access=access,
            verify=lambda expectations: verify_chain(
                store, CheckpointFiles(settings.checkpoint_dir, settings.verify_key_path()),
                expectations, decision_keys=keys, access_log=access, actions=action_store,
                intake_keys=intake_keys),
            max_page_size=settings.max_page_size,
        )
        try:
            async with running(broker, service="audit", tasks={
                    "checkpoints": lambda: writer.run_every(settings.checkpoint_interval_s)}):
                log.info("audit service started", port=settings.port)
                yield
        finally:
            with contextlib.suppress(Exception):
                await writer.write_if_advanced()
            await engine.dispose()

    app = FastAPIOffline(title="TrialWatch audit", version=VERSION, description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.tokens = TokenRegistry.from_settings(settings)

    async def database_ready() -> None:
        await ping(app.state.engine)

    async def database_writes() -> None:
        # Audit must be able to append: a read-only or full database is not ready.
        await probe_write(app.state.engine, write_probe, utc_now())

    async def broker_ready() -> None:
        if not await app.state.broker.ping(2):
            raise ConnectionError("broker does not answer")

    install_storage_problem_handler(app)
    install_http_problems(app)
    app.include_router(health_router({"database": database_ready,
                                      "database-writes": database_writes,
                                      "broker": broker_ready}))
    app.include_router(router)
    install_request_limits(app)
    app.add_middleware(RequestLimits)
    return app
