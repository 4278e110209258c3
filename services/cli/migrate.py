"""``trialwatch migrate``: bring each service's database to the newest schema."""

from __future__ import annotations

import argparse
import sys

from services.evaluator.admin import MissingKeyFile
from shared.infra.migrations import SERVICE_NAMES, upgrade
from shared.settings import AuditSettings, EvaluatorSettings, IntakeSettings

DATABASE_URLS = {
    "intake": lambda: IntakeSettings().database_url,
    "evaluator": lambda: EvaluatorSettings().database_url,
    "audit": lambda: AuditSettings().database_url,
}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "migrate", help="apply database migrations",
        description="Apply every pending Alembic migration of each service's database "
                    "(INTAKE_DATABASE_URL, EVALUATOR_DATABASE_URL, AUDIT_DATABASE_URL).",
    )
    parser.add_argument("--service", choices=[*SERVICE_NAMES, "all"], default="all",
                        help="migrate only this service's database (default: all)")
    parser.set_defaults(func=_migrate)


def migrate_all(urls: dict[str, str], services: tuple[str, ...] = SERVICE_NAMES) -> None:
    for service in services:
        upgrade(service, urls[service])


def _migrate(args: argparse.Namespace) -> int:
    services = SERVICE_NAMES if args.service == "all" else (args.service,)
    try:
        migrate_all({s: DATABASE_URLS[s]() for s in services}, services)
    except MissingKeyFile as error:  # a database holding webhook secrets needs their key
        print(f"error: {error}", file=sys.stderr)
        return 2
    for service in services:
        print(f"{service}: migrated to head")
    return 0
