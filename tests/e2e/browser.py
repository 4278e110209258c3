"""Headless Chromium from Debian's packages, driven by Selenium, and the services it talks to.

Selenium Manager never downloads anything here: the driver is ``/usr/bin/chromedriver`` and the
browser ``/usr/bin/chromium`` (``.ci/run`` installs both when missing), and ``SE_OFFLINE`` is
set. Each browser gets a fresh profile directory and every network feature Chromium would use
on its own (sync, component updates, QUIC) is off, so the tests see only our services.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from shared.infra.auth import write_dev_tokens
from shared.infra.embedded_broker import free_port
from shared.infra.migrations import upgrade
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.e2e.pipeline import REPO, poll

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SERVICES = ("intake", "evaluator", "audit")
SCREENSHOTS = Path(os.environ.get("TRIALWATCH_SCREENSHOTS", REPO / "var" / "screenshots"))
SITE_ZONE = "Europe/Paris"


def require_chromium() -> None:
    """Skip on a developer machine without the packages; in CI (.ci/run installs them) fail."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    message = f"{CHROMIUM} / {CHROMEDRIVER} missing: apt-get install -y chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    """Save the whole page (artefact for CI) and a copy for the lead when /work/wt exists."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 40, 6000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    lead = Path("/work/wt/screens")
    if lead.is_dir():
        shutil.copy(path, lead / path.name)
    print(f"screenshot: {path}")
    return path


@contextmanager
def running_services(
    kafka: KafkaSettings, data: Path, extra_env: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """intake, evaluator and audit as separate processes on SQLite files and the real broker."""
    tokens_file = data / "tokens.json"
    write_dev_tokens(tokens_file)
    ports = {s: free_port() for s in SERVICES}
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
           "LOG_FORMAT": "json", "AUDIT_CHECKPOINT_DIR": str(data / "checkpoints"),
           # audit trusts <checkpoint dir>/../evaluator-signing-key.pub.pem by default
           "EVALUATOR_SIGNING_KEY_FILE": str(data / "evaluator-signing-key.pem"),
           "EVALUATOR_GROUP_ID": unique_group("evaluator"),
           "AUDIT_GROUP_ID": unique_group("audit"),
           "EVALUATOR_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
           "EVALUATOR_SITE_TIMEZONE": SITE_ZONE, **(extra_env or {})}
    urls = {}
    for service in SERVICES:
        prefix, url = service.upper(), f"sqlite+aiosqlite:///{data / service}.db"
        env.update({f"{prefix}_DATABASE_URL": url, f"{prefix}_PORT": str(ports[service]),
                    f"{prefix}_TOKENS_FILE": str(tokens_file)})
        urls[service] = f"http://127.0.0.1:{ports[service]}"
        urls[f"{service}_db"] = url
        upgrade(service, url)
    logs = [open(data / f"{s}.log", "w") for s in SERVICES]  # noqa: SIM115
    processes = [subprocess.Popen([sys.executable, "-m", "services.cli", s], cwd=REPO, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
                 for s, log in zip(SERVICES, logs, strict=True)]
    try:
        for service, process in zip(SERVICES, processes, strict=True):
            ready = poll(lambda u=urls[service]: _ready(u), timeout_s=60, interval_s=0.1)
            assert ready, f"{service} not ready (exit {process.poll()}): " + \
                (data / f"{service}.log").read_text()[-3000:]
        urls["tokens"] = str(tokens_file)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(20)
        for log in logs:
            log.close()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def shifted(bundle: dict[str, Any], to: datetime, from_: datetime) -> dict[str, Any]:
    """The bundle with every instant moved by ``to - from_`` (dates of birth stay)."""
    delta = to - from_

    def move(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: move(v) for k, v in value.items()}
        if isinstance(value, list):
            return [move(v) for v in value]
        if isinstance(value, str) and len(value) == 20 and value.endswith("Z") and "T" in value:
            moved = datetime.fromisoformat(value.replace("Z", "+00:00")) + delta
            return moved.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return value

    return dict(move(bundle))


def renamed(bundle: dict[str, Any], patient_id: str) -> dict[str, Any]:
    """The same bundle for another patient (the id and every reference to it)."""
    import json

    return dict(json.loads(json.dumps(bundle).replace('"vignette"', f'"{patient_id}"')
                           .replace("Patient/vignette", f"Patient/{patient_id}")))


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
