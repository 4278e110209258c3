"""Headless Chromium from Debian's packages, driven by Selenium, and the services it talks to.

Selenium Manager never downloads anything here: the driver is ``/usr/bin/chromedriver`` and the
browser ``/usr/bin/chromium`` (``.ci/run`` installs both when missing), and ``SE_OFFLINE`` is
set. Each browser gets a fresh profile directory and every network feature Chromium would use
on its own (sync, component updates, QUIC) is off, so the tests see only our services.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from shared.settings import KafkaSettings
from tests.e2e.pipeline import REPO, Services
from tests.e2e.pipeline import running_services as pipeline_services

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
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
) -> Iterator[Services]:
    """The pipeline (tests.e2e.pipeline.running_services) on SQLite files, dates in the site's
    zone."""
    env = {"EVALUATOR_SITE_TIMEZONE": SITE_ZONE, **(extra_env or {})}
    with pipeline_services(kafka, data, extra_env=env) as services:
        yield services


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
