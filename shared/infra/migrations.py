"""Run a service's Alembic migrations programmatically (no alembic.ini to keep in sync).

Each service owns its database and its migrations (``services/<name>/migrations``); each keeps
its own version table, so the three can share one database in small deployments and tests.
Alembic's env.py runs the async engine with ``asyncio.run``: call these from synchronous code
(the CLI) or from a worker thread (``asyncio.to_thread``) inside async code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICE_NAMES = ("intake", "evaluator", "audit")


def alembic_config(service: str, database_url: str) -> Config:
    if service not in SERVICE_NAMES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICE_NAMES}")
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def downgrade(service: str, database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(service, database_url), revision)
