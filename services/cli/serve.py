"""``trialwatch intake|evaluator|audit``: run one service in this process (production mode)."""

from __future__ import annotations

import argparse
import importlib
import os

import uvicorn

from services.cli import audit_tools
from shared.infra.logging import configure_logging
from shared.infra.server import server_config
from shared.settings import (
    AuditSettings,
    EvaluatorSettings,
    IntakeSettings,
    KafkaSettings,
    ServiceSettings,
)

SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings, "evaluator": EvaluatorSettings, "audit": AuditSettings,
}
HELP = {
    "intake": "accept FHIR R4 and HL7 v2 patient updates and publish patient events",
    "evaluator": "re-screen patients on every change and when time passes; publish decisions",
    "audit": "store decisions in the tamper-evident record and serve the auditor API",
}


def register(commands: argparse._SubParsersAction) -> None:
    for service, settings_class in SETTINGS.items():
        prefix = settings_class.model_config.get("env_prefix", "")
        parser = commands.add_parser(
            service, help=HELP[service],
            description=f"Run the {service} service. Configured by {prefix}* and KAFKA_* "
                        "environment variables; run `trialwatch migrate` first.",
        )
        parser.add_argument("--host", help=f"listen address (default {prefix}HOST or 127.0.0.1)")
        parser.add_argument("--port", type=int, help=f"listen port (default {prefix}PORT)")
        parser.set_defaults(func=_serve, service=service)
        if service == "audit":
            _register_audit_tools(parser)


def _register_audit_tools(parser: argparse.ArgumentParser) -> None:
    tools = parser.add_subparsers(dest="audit_command", metavar="TOOL",
                                  help="auditor tools (omit to run the service)")
    audit_tools.register(tools)


def _serve(args: argparse.Namespace) -> int:
    service: str = args.service
    settings = SETTINGS[service]()
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    settings = settings.model_copy(update=overrides)
    configure_logging(service=service)
    os.umask(0o077)  # databases, WAL files, checkpoints and keys: readable by this user only
    bootstrap = importlib.import_module(f"services.{service}.bootstrap")
    app = bootstrap.build_app(settings, KafkaSettings())
    config = server_config(app, settings.host, settings.port,
                           max_connections=settings.max_connections, lifespan="on",
                           timeout_graceful_shutdown=10)
    uvicorn.Server(config).run()
    return 0
