"""kill -9 of the audit service in the middle of a burst: after a restart nothing is lost and
nothing is stored twice, and the chain is intact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.embedded_broker import free_port
from shared.settings import KafkaSettings
from tests.conftest import REPO_ROOT, unique_group
from tests.integration.audit.harness import (
    AUDITOR_TOKEN,
    count_records,
    migrate,
    publish,
    start_group_at_end,
    wait_for,
)
from tests.unit.audit.factories import decision_event, write_test_decision_key

pytestmark = pytest.mark.integration

BURST = 2000


class AuditProcess:
    """``trialwatch audit`` as a child process, configured only by environment variables."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "services.cli", "audit"],
                                            cwd=REPO_ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)

    async def ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError("audit exited: " + self.log.read_text()[-2000:])
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                response = await client.get(f"http://127.0.0.1:{self.port}/readyz")
            return response.status_code == 200
        except httpx.HTTPError:
            return False

    def kill_9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


@pytest.fixture
def audit_process(database_url: str, kafka_settings: KafkaSettings,
                  tmp_path: Path) -> Iterator[AuditProcess]:
    port = free_port()
    env = {**os.environ,
           "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "AUDIT_DATABASE_URL": database_url, "AUDIT_PORT": str(port),
           "AUDIT_GROUP_ID": unique_group("audit-crash"),
           "AUDIT_TOKENS": f"{AUDITOR_TOKEN}=auditor",
           "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
           "AUDIT_DECISION_KEYS": str(write_test_decision_key(tmp_path / "keys")),
           "AUDIT_CHECKPOINT_INTERVAL_S": "0.5", "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING"}
    process = AuditProcess(env, port, tmp_path / "audit.log")
    yield process
    process.stop()


async def test_kill_9_during_a_burst_loses_nothing_and_stores_nothing_twice(
        audit_process: AuditProcess, kafka_settings: KafkaSettings, database_url: str) -> None:
    await migrate(database_url)
    await start_group_at_end(kafka_settings, audit_process.env["AUDIT_GROUP_ID"])
    prefix = f"pk_{audit_process.env['AUDIT_GROUP_ID']}_"
    audit_process.start()
    await wait_for(audit_process.ready, timeout_s=60, what="the audit service")

    await publish(kafka_settings, [decision_event(f"{prefix}{i % 97}", i) for i in range(BURST)])

    async def some_stored() -> bool:
        return await count_records(database_url, prefix) >= 200

    await wait_for(some_stored, timeout_s=60, what="the burst to be under way")
    audit_process.kill_9()
    stored_at_kill = await count_records(database_url, prefix)
    assert stored_at_kill < BURST, "the kill came too late to interrupt the burst"

    audit_process.start()
    await wait_for(audit_process.ready, timeout_s=60, what="the restarted audit service")

    async def all_stored() -> bool:
        return await count_records(database_url, prefix) >= BURST

    await wait_for(all_stored, timeout_s=180, what=f"all {BURST} decisions after the restart")
    assert await count_records(database_url, prefix) == BURST

    async with httpx.AsyncClient(timeout=30) as client:
        report = (await client.get(f"http://127.0.0.1:{audit_process.port}/verify",
                                   headers={"Authorization": f"Bearer {AUDITOR_TOKEN}"})).json()
    assert report["intact"], report["summary"]
    # The chain holds exactly the stored records (others may come from earlier tests' topic).
    assert report["head_sequence"] == report["records_checked"] == await count_records(
        database_url)
