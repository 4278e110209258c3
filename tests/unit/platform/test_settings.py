from __future__ import annotations

import pytest

from shared.settings import AuditSettings, IntakeSettings, KafkaSettings


def test_each_concern_reads_its_own_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("INTAKE_PORT", "9001")
    monkeypatch.setenv("AUDIT_DATABASE_URL", "postgresql+asyncpg://audit@db/audit")
    assert KafkaSettings().bootstrap_servers == "kafka-1:9092,kafka-2:9092"
    assert IntakeSettings().port == 9001
    assert AuditSettings().database_url == "postgresql+asyncpg://audit@db/audit"
    assert AuditSettings().port == 8083


def test_defaults_are_the_embedded_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_ENABLE_IDEMPOTENCE", "INTAKE_DATABASE_URL", "INTAKE_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert KafkaSettings().enable_idempotence is False  # Tansu rejects idempotent producers
    assert IntakeSettings().database_url.startswith("sqlite+aiosqlite:///")
    assert IntakeSettings().port == 8081
