"""A wall-clock step of two days forward, then corrected, on the real pipeline (processes, real
broker, SQLite): the evaluator runs first with its clock two days ahead (the test shim
TRIALWATCH_CLOCK_OFFSET_S, read at start), then is restarted with the clock corrected. The
patient's next decision is stamped now, not two days ahead, and audit's status as of now is
that decision.

The first evaluator is stopped only once its registry loop has activated every trial of the
folder (each activation re-screens every known patient). /readyz does not wait for that loop:
under load the first evaluator screened the patient with the shipped trials and was stopped
before it had activated this one; the restarted evaluator activated it, and its re-screen
rightly wrote another decision of the trial, stamped now (``screening.standing`` never keeps a
standing decision stamped ahead of the new one), just before the decision of the test's own
update. The test took the re-screen's for 'the next decision', and audit's status as of a later
instant rightly answered the update's (CI: 'afde4b0e-...' == 'be85eb57-...')."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.eligibility.loader import list_trials
from shared.infra.auth import write_dev_tokens
from shared.infra.clock import OFFSET_ENV
from shared.infra.embedded_broker import free_port
from shared.infra.migrations import upgrade
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.e2e.pipeline import READY_TIMEOUT_S, REPO, decisions_for, poll, tokens_by_role
from tests.e2e.test_nothing_accepted_is_lost import bundle

pytestmark = pytest.mark.e2e
TWO_DAYS = timedelta(days=2)
TRIAL = "NCT06920433"


class Pipeline:
    def __init__(self, tmp_path: Path, kafka: KafkaSettings) -> None:
        self.tmp_path = tmp_path
        self.tokens_file = tmp_path / "tokens.json"
        write_dev_tokens(self.tokens_file)
        self.env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
                    "LOG_FORMAT": "json", "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
                    "EVALUATOR_SIGNING_KEY_FILE": str(tmp_path / "evaluator-signing-key.pem"),
                    "EVALUATOR_GROUP_ID": unique_group("evaluator"),
                    "AUDIT_GROUP_ID": unique_group("audit")}
        self.urls: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for service in ("intake", "evaluator", "audit"):
            prefix, port = service.upper(), free_port()
            database = f"sqlite+aiosqlite:///{tmp_path / service}.db"
            upgrade(service, database)
            self.env.update({f"{prefix}_DATABASE_URL": database, f"{prefix}_PORT": str(port),
                             f"{prefix}_TOKENS_FILE": str(self.tokens_file)})
            self.urls[service] = f"http://127.0.0.1:{port}"

    def start(self, service: str, **env: str) -> None:
        log = open(self.tmp_path / f"{service}.log", "ab")  # noqa: SIM115
        self.processes[service] = subprocess.Popen(
            [sys.executable, "-m", "services.cli", service], cwd=REPO,
            env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        assert poll(lambda: _ready(self.urls[service]), timeout_s=READY_TIMEOUT_S,
                    interval_s=0.1), \
            f"{service} not ready: " + (self.tmp_path / f"{service}.log").read_text()[-2000:]

    def stop(self, service: str) -> None:
        process = self.processes.pop(service)
        process.send_signal(signal.SIGTERM)
        process.wait(30)

    def stop_all(self) -> None:
        for service in list(self.processes):
            self.stop(service)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def pipeline(tmp_path: Path, kafka_settings: KafkaSettings) -> Iterator[Pipeline]:
    running = Pipeline(tmp_path, kafka_settings)
    try:
        yield running
    finally:
        running.stop_all()


def post(pipeline: Pipeline, body: bytes) -> str:
    token = tokens_by_role(pipeline.tokens_file)["lab-system"]
    response = httpx.post(f"{pipeline.urls['intake']}/fhir", content=body, timeout=10,
                          headers={"Authorization": f"Bearer {token}",
                                   "Content-Type": "application/fhir+json"})
    assert response.status_code == 202, response.text
    [patient_key] = response.json()["patient_keys"]
    return str(patient_key)


def decided(pipeline: Pipeline, patient_key: str, count: int) -> list[dict[str, Any]]:
    auditor = tokens_by_role(pipeline.tokens_file)["auditor"]

    def of_trial() -> list[dict[str, Any]]:
        return [d for d in decisions_for(pipeline.urls["audit"], auditor, patient_key)
                if d["trial_id"] == TRIAL]

    found = poll(lambda: (d := of_trial()) and len(d) >= count and d, timeout_s=30,
                 interval_s=0.2)
    assert found, f"fewer than {count} decisions reached audit"
    return list(found)


def registry_synced(pipeline: Pipeline) -> bool:
    """Every trial of the folder activated by the evaluator's registry loop, re-screen done."""
    admin = tokens_by_role(pipeline.tokens_file)["admin"]
    response = httpx.get(f"{pipeline.urls['evaluator']}/trials/changes", timeout=5,
                         headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 200, response.text
    activated = {c["trial"] for c in response.json()
                 if c["action"] == "activate" and c["completed_at"] is not None}
    return activated >= set(list_trials())


def test_after_a_two_day_clock_step_is_corrected_the_next_decision_is_stamped_now(
    pipeline: Pipeline,
) -> None:
    pipeline.start("intake")
    pipeline.start("audit")
    pipeline.start("evaluator", **{OFFSET_ENV: str(TWO_DAYS.total_seconds())})
    patient_key = post(pipeline, bundle(0, 0, "clockstep"))
    [stepped] = decided(pipeline, patient_key, 1)
    stepped_as_of = datetime.fromisoformat(stepped["as_of"])
    assert stepped_as_of - datetime.now(UTC) > TWO_DAYS - timedelta(minutes=1)
    assert poll(lambda: registry_synced(pipeline), timeout_s=60, interval_s=0.2), \
        "the evaluator's registry loop did not activate the folder's trials"

    pipeline.stop("evaluator")
    pipeline.start("evaluator")  # the clock is corrected
    assert post(pipeline, bundle(0, 1, "clockstep")) == patient_key
    latest = decided(pipeline, patient_key, 2)[-1]
    now = datetime.now(UTC)
    as_of = datetime.fromisoformat(latest["as_of"])
    assert abs(as_of - now) < timedelta(minutes=1), f"stamped {as_of}, now is {now}"

    auditor = tokens_by_role(pipeline.tokens_file)["auditor"]
    for at in (now, now + 3 * TWO_DAYS):
        status = httpx.get(
            f"{pipeline.urls['audit']}/patients/{patient_key}/trials/"
            f"{latest['trial_id']}/status", params={"at": at.isoformat()},
            headers={"Authorization": f"Bearer {auditor}"}, timeout=5)
        assert status.status_code == 200, status.text
        assert status.json()["decision_id"] == latest["decision_id"], [
            {k: d[k] for k in ("sequence", "decision_id", "as_of", "causation_id")}
            | {"registry_change": bool(d.get("registry_change"))}
            for d in decided(pipeline, patient_key, 2)]
