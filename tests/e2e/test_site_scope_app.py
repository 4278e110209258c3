"""Site scope in a real browser (headless Chromium) on the real pipeline (issue 14 section 5):
lab tokens of site A and site B post a patient each; a coordinator token claiming site A sees
site A's patient on the worklist and never site B's, whose page answers as an unknown
patient. The pipeline is test_coordinator_app's module fixture ``app``, imported: this module
gets its own run of it."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from shared.infra.auth import Principal, Role, mint_token
from tests.e2e.browser import chromium, renamed, screenshot
from tests.e2e.pipeline import poll
from tests.e2e.test_coordinator_app import TRIAL, _screened, _sign_in
from tests.e2e.test_coordinator_app import app as app
from tests.unit.eligibility.fhir_builder import PatientBuilder

pytestmark = pytest.mark.e2e


@pytest.fixture
def browser(app: dict[str, Any]) -> Iterator[webdriver.Chrome]:
    with chromium(Path(app["data"]) / f"profile-sites-{time.monotonic_ns()}") as driver:
        yield driver


def _post_as(app: dict[str, Any], token: str, patient_id: str) -> str:
    answer = httpx.post(f"{app['intake']}/fhir", timeout=10,
                        json=renamed(PatientBuilder().bundle(), patient_id), headers={
                            "Authorization": f"Bearer {token}",
                            "Content-Type": "application/fhir+json"})
    assert answer.status_code == 202, answer.text
    [key] = answer.json()["patient_keys"]
    return str(key)


def test_a_site_a_coordinator_sees_its_sites_patient_in_the_browser_and_not_site_bs(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    tokens = Path(app["pipeline"]["tokens"])
    lab_a = mint_token(tokens, Principal("lab-sites", Role.LAB_SYSTEM, sites=frozenset({"A"})))
    lab_b = mint_token(tokens, Principal("lab-sites", Role.LAB_SYSTEM, sites=frozenset({"B"})))
    ward_a = mint_token(tokens, Principal("ward-a", Role.COORDINATOR, frozenset({"*"}),
                                          frozenset({"A"})))
    time.sleep(1.0)  # the services re-read the token file when its stamp changes
    key_a = _post_as(app, lab_a, "site-a-patient")
    key_b = _post_as(app, lab_b, "site-b-patient")
    for key in (key_a, key_b):  # the development coordinator (no sites claim) sees both
        assert poll(functools.partial(_screened, app, key), timeout_s=30), f"{key} not screened"

    _sign_in(browser, app, ward_a)
    browser.get(f"{app['evaluator']}/ui/trials/{TRIAL}/worklist")
    listed = {row.get_attribute("data-patient")
              for row in browser.find_elements(By.CSS_SELECTOR, "tr.patient")}
    screenshot(browser, "site-a-worklist")
    assert key_a in listed
    assert key_b not in listed
    browser.get(f"{app['evaluator']}/ui/patients/{key_b}/trials/{TRIAL}")
    assert "No such patient" in browser.page_source
    assert "site-b-patient" not in browser.page_source
    browser.get(f"{app['evaluator']}/ui/patients/{key_a}/trials/{TRIAL}")
    assert "No such patient" not in browser.page_source
    assert key_a in browser.page_source
