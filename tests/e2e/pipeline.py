"""Helpers to drive the real pipeline: processes, ports, HTTP polling."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx

from shared.infra.auth import write_dev_tokens
from shared.infra.embedded_broker import free_port
from shared.infra.migrations import upgrade
from shared.settings import KafkaSettings
from tests.conftest import unique_group

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_OBSERVATION = REPO / "docs" / "examples" / "observation.json"
SERVICES = ("intake", "evaluator", "audit")


class Services(dict[str, str]):
    """The running services' URLs (``intake``, ``evaluator``, ``audit``), their database URLs
    (``<service>_db``), the tokens file (``tokens``) and the log folder (``logs``); ``restart``
    stops one service and starts it again on the same port and database."""

    def __init__(self, urls: dict[str, str], start: Callable[[str], subprocess.Popen[bytes]],
                 processes: dict[str, subprocess.Popen[bytes]]) -> None:
        super().__init__(urls)
        self._start, self.processes = start, processes

    def restart(self, service: str) -> None:
        stop(self.processes[service])
        self.processes[service] = self._start(service)
        wait_ready(self, service)


@contextmanager
def running_services(
    kafka: KafkaSettings, data: Path, *, database_url: str | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Services]:
    """intake, evaluator and audit as separate processes (as in production) on the real broker:
    each on its own SQLite file in ``data``, or all three on ``database_url``; fresh consumer
    groups (Tansu makes a reused group id wait for the old session); dev tokens in
    ``data/tokens.json``; logs in ``data/<service>.log``."""
    tokens_file = data / "tokens.json"
    write_dev_tokens(tokens_file)
    ports = {s: free_port() for s in SERVICES}
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "LOG_FORMAT": "json", "AUDIT_CHECKPOINT_DIR": str(data / "checkpoints"),
           # audit trusts <checkpoint dir>/../evaluator-signing-key.pub.pem by default
           "EVALUATOR_SIGNING_KEY_FILE": str(data / "evaluator-signing-key.pem"),
           # the evaluator trusts intake-signing-key.pub.pem beside its own key by default, and
           # intake evaluator-signing-key.pub.pem beside its own
           "INTAKE_SIGNING_KEY_FILE": str(data / "intake-signing-key.pem"),
           "EVALUATOR_GROUP_ID": unique_group("evaluator"),
           "AUDIT_GROUP_ID": unique_group("audit"),
           "EVALUATOR_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}", **(extra_env or {})}
    urls = {"tokens": str(tokens_file), "logs": str(data)}
    for service in SERVICES:
        prefix = service.upper()
        url = database_url or f"sqlite+aiosqlite:///{data / service}.db"
        env.update({f"{prefix}_DATABASE_URL": url, f"{prefix}_PORT": str(ports[service]),
                    f"{prefix}_TOKENS_FILE": str(tokens_file)})
        urls[service] = f"http://127.0.0.1:{ports[service]}"
        urls[f"{service}_db"] = url
        upgrade(service, url)
    with ExitStack() as logs:
        def start(service: str) -> subprocess.Popen[bytes]:
            log: IO[str] = logs.enter_context(open(data / f"{service}.log", "a"))
            return subprocess.Popen([sys.executable, "-m", "services.cli", service], cwd=REPO,
                                    env=env, stdout=log, stderr=subprocess.STDOUT)

        services = Services(urls, start, {s: start(s) for s in SERVICES})
        try:
            for service in SERVICES:
                wait_ready(services, service)
            yield services
        finally:
            for process in services.processes.values():
                process.terminate()
            for process in services.processes.values():
                process.wait(20)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(20)


READY_TIMEOUT_S = 180.0
"""How long a service process may take to answer /readyz: ~5 s on an idle machine, but the
Python start alone took 50-55 s at load 13-22 on the 2-core CI machine (3 of 13 runs of
test_clock_step failed at 60 s with the service's first log line 50-55 s after its launch)."""


def wait_ready(services: Services, service: str) -> None:
    """Until ``service`` answers /readyz (``READY_TIMEOUT_S``), else fail with the end of its
    log."""
    ready = poll(lambda: _ready(services[service]), timeout_s=READY_TIMEOUT_S, interval_s=0.1)
    process = services.processes[service]
    assert ready, f"{service} not ready (exit {process.poll()}): " + \
        (Path(services["logs"]) / f"{service}.log").read_text()[-3000:]


def _ready(url: str) -> bool:
    try:
        # a loaded machine answered /readyz in 3.3 s: a shorter wait never saw the answer
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren...), read from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat")
    return state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def poll(fetch: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = fetch()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval_s)


def post_example(intake_url: str, token: str) -> dict[str, Any]:
    response = httpx.post(
        f"{intake_url}/fhir", content=EXAMPLE_OBSERVATION.read_bytes(), timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def decisions_for(audit_url: str, token: str, patient_key: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{audit_url}/decisions", params={"patient_key": patient_key},
                         headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def tokens_by_role(tokens_file: Path) -> dict[str, str]:
    return {v["role"]: t for t, v in json.loads(tokens_file.read_text()).items()}


def start_run(
    data_dir: Path, extra: tuple[str, ...] = ()
) -> tuple[subprocess.Popen[str], dict[str, int]]:
    ports = {"intake": free_port(), "evaluator": free_port(), "audit": free_port()}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run", "--data-dir", str(data_dir),
         "--intake-port", str(ports["intake"]), "--evaluator-port", str(ports["evaluator"]),
         "--audit-port", str(ports["audit"]), *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, ports


def read_until(process: subprocess.Popen[str], marker: str, timeout_s: float) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        lines.append(line.rstrip("\n"))
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} not seen in {timeout_s}s; output:\n" + "\n".join(lines))


def interrupt(process: subprocess.Popen[str], timeout_s: float = 30) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout_s)


@dataclass(frozen=True)
class Run:
    """A running default ``trialwatch run`` (see ``default_run``): its process, the start-up
    banner's lines, the dev tokens by role, and each service's base URL."""

    process: subprocess.Popen[str]
    banner: list[str]
    tokens: dict[str, str]
    intake: str
    evaluator: str
    audit: str

    @property
    def admin(self) -> dict[str, str]:
        """The admin's Authorization header."""
        return {"Authorization": f"Bearer {self.tokens['admin']}"}


@contextmanager
def default_run(data_dir: Path) -> Iterator[Run]:
    """Start ``trialwatch run`` on ``data_dir`` on free ports, wait up to 90 s for its banner
    ("Ctrl-C stops everything"), yield it; on leaving, Ctrl-C it and assert it exits 0."""
    process, ports = start_run(data_dir)
    try:
        banner = read_until(process, "Ctrl-C stops everything", timeout_s=90)
        urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
        yield Run(process=process, banner=banner,
                  tokens=tokens_by_role(data_dir / "dev-tokens.json"), intake=urls["intake"],
                  evaluator=urls["evaluator"], audit=urls["audit"])
    finally:
        assert interrupt(process) == 0
