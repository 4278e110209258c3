"""Typed settings, one environment prefix per concern, read once by each composition root.

``KAFKA_*`` selects the broker (Tansu embedded, or Apache Kafka in production), ``INTAKE_*``,
``EVALUATOR_*`` and ``AUDIT_*`` each select a service's address and database, ``LOG_*`` the
log format. The same code runs on SQLite + Tansu and on PostgreSQL + Apache Kafka.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


def _sqlite_url(name: str) -> str:
    return f"sqlite+aiosqlite:///{DEFAULT_DATA_DIR / name}.db"


class KafkaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    bootstrap_servers: str = "127.0.0.1:9092"
    # Tansu rejects idempotent/transactional producers; Apache Kafka deployments turn this on.
    enable_idempotence: bool = False
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Short group timeouts: Tansu's group join takes about one session timeout.
    session_timeout_ms: int = 2000
    heartbeat_interval_ms: int = 500
    rebalance_timeout_ms: int = 1000
    request_timeout_ms: int = 10_000


class LogSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_")

    format: Literal["json", "console", "auto"] = "auto"
    level: str = "INFO"


class ServiceSettings(BaseSettings):
    """Address and database of one service; subclasses set the prefix and defaults."""

    host: str = "127.0.0.1"
    port: int
    database_url: str
    # A comma-separated list of ``token=role`` pairs; empty means the dev token file is used.
    tokens: str = ""
    tokens_file: Path | None = None


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_")

    port: int = 8081
    database_url: str = _sqlite_url("intake")
    max_body_bytes: int = 5 * 1024 * 1024
    relay_batch_size: int = 200
    relay_poll_interval_s: float = 0.05


class EvaluatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EVALUATOR_")

    port: int = 8082
    database_url: str = _sqlite_url("evaluator")
    group_id: str = "trialwatch-evaluator"
    timer_poll_interval_s: float = 0.2


class AuditSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUDIT_")

    port: int = 8083
    database_url: str = _sqlite_url("audit")
    group_id: str = "trialwatch-audit"
    checkpoint_dir: Path = DEFAULT_DATA_DIR / "checkpoints"
    checkpoint_interval_s: float = 60.0
