"""A trial that stops being screened, in a real browser (headless Chromium) on the real
pipeline: an admin retires NCT06920433 while a patient is eligible for it; the coordinator
following the "Trial closed" alert to the patient's page learns that the trial was retired,
when, by whom and why, that screening stopped, and where the decisions are (audit), instead
of the generic "no active trial" 404. The pipeline is test_coordinator_app's module fixture
``app``, imported: this module gets its own run of it (retiring is for good)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from tests.e2e.browser import chromium, now_utc, renamed, screenshot, shifted
from tests.e2e.pipeline import poll
from tests.e2e.test_coordinator_app import TRIAL, _alert_listed, _post, _sign_in
from tests.e2e.test_coordinator_app import app as app
from tests.unit.eligibility.fhir_builder import AS_OF, eligible_patient

pytestmark = pytest.mark.e2e


@pytest.fixture
def browser(app: dict[str, Any]) -> Iterator[webdriver.Chrome]:
    with chromium(Path(app["data"]) / f"profile-stopped-{time.monotonic_ns()}") as driver:
        yield driver


def test_a_retired_trials_patient_page_says_it_was_retired_and_where_the_decisions_are(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    key = _post(app, shifted(renamed(eligible_patient().bundle(), "retired-trial-patient"),
                             now_utc(), AS_OF))
    assert poll(lambda: _alert_listed(app, key), timeout_s=30), f"{key} never alerted"
    admin = {"Authorization": f"Bearer {app['tokens']['admin']}"}

    def retired() -> bool:  # the registry loop records the shipped trials a moment after start
        answer = httpx.post(f"{app['evaluator']}/trials/{TRIAL}/retire", headers=admin,
                            json={"reason": "enrolment complete"}, timeout=10)
        assert answer.status_code in (200, 409), answer.text
        return answer.status_code == 200

    assert poll(retired, timeout_s=30), "the trial could not be retired"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}")
    screenshot(browser, "10-patient-of-a-retired-trial")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "no active trial" not in page
    assert browser.find_element(By.ID, "status").text == "Trial retired: screening stopped"
    stopped = browser.find_element(By.ID, "trial-stopped").text
    assert stopped.startswith(f"{TRIAL} (criteria version ")
    assert " was retired " in stopped
    assert "by api:dev-admin, with the reason: “enrolment complete”" in stopped, stopped
    assert "this patient is no longer screened for it" in browser.find_element(
        By.ID, "screening-stopped").text
    audit = browser.find_element(By.ID, "decisions-in-audit").text
    assert f"/decisions?patient_key={key}&trial_id={TRIAL}" in audit, audit
    history = browser.find_element(By.ID, "history").text
    assert "Eligible" in history, "the status until the stop is still shown"

    browser.get(f"{app['evaluator']}/ui/trials/{TRIAL}/worklist")
    assert browser.find_element(By.ID, "status").text == "Trial retired: screening stopped"
