"""The coordinator app in a real browser (headless Chromium), against the real pipeline.

intake, evaluator and audit run as their own processes on the session's real broker and SQLite
files; patients are posted to intake as a lab system would; the browser signs in with a
coordinator token and reads what a coordinator reads.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait

from shared.settings import KafkaSettings
from tests.e2e.browser import (
    chromium,
    now_utc,
    renamed,
    require_chromium,
    running_services,
    screenshot,
    shifted,
)
from tests.e2e.pipeline import decisions_for, poll, tokens_by_role
from tests.unit.eligibility.fhir_builder import (
    AS_OF,
    LOINC,
    RXNORM,
    PatientBuilder,
    eligible_patient,
)

pytestmark = pytest.mark.e2e
TRIAL = "NCT06920433"
FACTS = "https://trialwatch.dev/fhir/CodeSystem/eligibility-facts"


@pytest.fixture(scope="module")
def app(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    require_chromium()
    data = tmp_path_factory.mktemp("coordinator-app")
    with running_services(kafka_settings, data) as urls:
        tokens = tokens_by_role(Path(urls["tokens"]))
        yield {**urls, "tokens": tokens, "data": data, "pipeline": urls}


@pytest.fixture(scope="module")
def patients(app: dict[str, Any]) -> dict[str, str]:
    """Three undetermined patients: "close" lacks only the platelet count; "far" also lacks the
    hemoglobin and the SLEDAI-2K; "empty" has nothing on record but a birth date and sex."""
    close = eligible_patient().without(LOINC, "777-3")
    far = eligible_patient().without(LOINC, "777-3").without(LOINC, "718-7")
    far.without("https://trialwatch.dev/fhir/CodeSystem/eligibility-facts", "sledai-2k-total")
    now = now_utc()
    keys = {
        "close": _post(app, shifted(renamed(close.bundle(), "close-patient"), now, AS_OF)),
        "far": _post(app, shifted(renamed(far.bundle(), "far-patient"), now, AS_OF)),
        "empty": _post(app, renamed(PatientBuilder().bundle(), "empty-patient")),
    }
    for key in keys.values():
        assert poll(lambda k=key: _screened(app, k), timeout_s=30), f"{key} never screened"
    return keys


@pytest.fixture
def browser(app: dict[str, Any]) -> Iterator[webdriver.Chrome]:
    with chromium(Path(app["data"]) / f"profile-{time.monotonic_ns()}") as driver:
        yield driver


def test_a_lab_system_token_cannot_open_the_coordinator_app(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    _sign_in(browser, app, app["tokens"]["lab-system"])
    assert "Sign-in refused: this token is not a coordinator's" in browser.page_source
    screenshot(browser, "0-sign-in-refused-for-lab-token")
    browser.get(f"{app['evaluator']}/ui/alerts")
    assert "/ui/sign-in" in browser.current_url, "no session was opened for a lab system"


def test_the_worklist_puts_the_patient_closest_to_eligible_first(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/trials/{TRIAL}/worklist")
    order = [row.get_attribute("data-patient")
             for row in browser.find_elements(By.CSS_SELECTOR, "tr.patient")]
    assert order.index(patients["close"]) < order.index(patients["far"])
    close_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-patient="{patients["close"]}"]')
    needs = [li.text for li in close_row.find_elements(By.CSS_SELECTOR, "ul.needs li")]
    assert len(needs) == len(set(needs)), "each item to send is listed once"
    assert any(n.startswith("platelet count within 30 days") for n in needs)
    empty_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-patient="{patients["empty"]}"]')
    summary = empty_row.find_element(By.CSS_SELECTOR, "details.needs-list summary").text
    assert summary.startswith("No data on record yet: "), "one scannable line, list behind it"
    groups = [g.get_attribute("label")
              for g in browser.find_elements(By.CSS_SELECTOR, "#missing optgroup")]
    assert "Lab results and measurements" in groups, "the filter's items are grouped by kind"
    assert len(groups) == len(set(groups)) >= 3
    screenshot(browser, "2-worklist")

    Select(browser.find_element(By.ID, "missing")).select_by_value(
        "hemoglobin within 30 days")
    WebDriverWait(browser, 5).until(expected_conditions.url_contains("missing="))
    filtered = [row.get_attribute("data-patient")
                for row in browser.find_elements(By.CSS_SELECTOR, "tr.patient")]
    # (the session's broker may also carry other tests' patients: only ours are asserted)
    assert patients["far"] in filtered
    assert patients["close"] not in filtered, "the filter keeps only patients missing that item"


def test_the_worklist_says_when_each_patients_newest_record_arrived(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    """Brief (ux): no "last record" column; a coordinator could not tell a patient heard of
    this morning from one last heard of years ago. The cell is the receipt time of the newest
    record (aware UTC in the <time> element), written in the site's zone."""
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/trials/{TRIAL}/worklist")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table.worklist th")]
    assert "Last received" in headers, headers
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-patient="{patients["close"]}"]')
    cell = row.find_element(By.CSS_SELECTOR, "td.last-record time")
    arrived = datetime.fromisoformat(cell.get_attribute("datetime").replace("Z", "+00:00"))
    assert timedelta(0) <= datetime.now(UTC) - arrived < timedelta(minutes=15), arrived
    assert cell.text.endswith(("CET", "CEST")), cell.text  # the site's zone (Europe/Paris)
    screenshot(browser, "2b-worklist-last-record")


def test_the_e11_row_names_each_drug_once(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    """Brief (ux): the E11 (washout) row named each drug in its evidence and again in the
    reasoning under it."""
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{patients['close']}/trials/{TRIAL}")
    row = browser.find_element(By.ID, "criterion-E11").text
    assert row.count("mycophenolate mofetil") == 1, row
    assert row.count("medication history reconciled") == 1, row


def test_the_i6_3_row_asks_only_for_what_computes_creatinine_clearance(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Brief (ux): with no body weight, the I6.3 row also asked for a clinician statement that
    a low CrCl is an acute decline, before any CrCl could be computed."""
    builder = eligible_patient().without(LOINC, "29463-7")  # no body weight
    key = _post(app, shifted(renamed(builder.bundle(), "no-weight-patient"), now_utc(), AS_OF))
    assert poll(lambda: _screened(app, key), timeout_s=30), "never screened"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}")
    row = browser.find_element(By.ID, "criterion-I6.3")
    assert row.find_element(By.CSS_SELECTOR, ".missing").text == (
        "Missing: body weight within 90 days"), row.text
    assert "acute decline" not in row.find_element(By.CSS_SELECTOR, ".reason").text
    needs = browser.find_element(By.ID, "needs").text
    assert "body weight within 90 days" in needs
    assert "acute decline" not in needs, needs
    screenshot(browser, "3b-patient-no-weight-i6-3")


def test_enrolling_a_patient_not_found_eligible_asks_to_confirm_the_failing_criteria(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Brief (ux2): "Mark enrolled" was one click on a not-eligible patient's page (ALT
    210 U/L, over 3 x ULN, fails I6.2) with no warning. Now the page names the criteria that
    fail and records the enrolment only once the investigator's decision is ticked."""
    builder = eligible_patient().without(LOINC, "1742-6").lab("1742-6", 210, "U/L")
    key = _post(app, shifted(renamed(builder.bundle(), "high-alt-patient"), now_utc(), AS_OF))
    _sign_in(browser, app, app["tokens"]["coordinator"])
    url = f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}"

    def opened() -> bool:
        browser.get(url)
        return bool(browser.find_elements(By.ID, "criterion-I6.2"))

    assert poll(opened, timeout_s=30), "never screened"
    assert "Not eligible" in browser.find_element(By.TAG_NAME, "main").text
    assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Mark enrolled']")
    browser.find_element(By.CSS_SELECTOR, "#enrol-confirm summary").click()
    unmet = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#enrol-unmet li")]
    assert any(u.startswith("I6.2 liver: ALT and AST <= 3 x ULN") and u.endswith(": fails")
               for u in unmet), unmet
    shot = screenshot(browser, "ux2-enrol-confirm")
    if Path("/work/notes/shots").is_dir():
        shutil.copy(shot, "/work/notes/shots/ux2-enrol-confirm.png")

    confirm = browser.find_element(By.XPATH, "//button[normalize-space()='Confirm enrollment']")
    confirm.click()  # not ticked: the browser does not send the form
    assert not browser.find_elements(By.ID, "actions-log"), "nothing recorded unticked"
    browser.find_element(By.CSS_SELECTOR, "input[name=confirm_decision]").click()
    browser.find_element(By.XPATH, "//button[normalize-space()='Confirm enrollment']").click()
    WebDriverWait(browser, 10).until(
        expected_conditions.presence_of_element_located((By.ID, "actions-log")))
    _shot(browser, "5-enrol-confirmed-history")
    [enrolled] = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#actions-log tr")
                  if "Enrolled" in row.text]
    # the history says what the investigator overrode, as the evaluator's table now keeps it
    assert "Enrolled (confirmed despite I6, I6.2 not met) dev-coordinator" in enrolled, enrolled


def test_the_worklist_says_an_investigator_statement_as_a_yes_or_no_question_to_ask(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """E13's need, "investigator: patient unsuitable for the trial (documented within 30
    days)", read on the worklist as a finding (the investigator found the patient unsuitable);
    the patient page explains it is a yes/no statement, the worklist's short list did not."""
    unasked = eligible_patient().without(FACTS, "investigator-deems-unsuitable")
    key = _post(app, shifted(renamed(unasked.bundle(), "unasked-patient"), now_utc(), AS_OF))
    assert poll(lambda: _screened(app, key), timeout_s=30), f"{key} never screened"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/trials/{TRIAL}/worklist")
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-patient="{key}"]')
    screenshot(browser, "7-worklist-investigator-statement")
    needs = [li.text for li in row.find_elements(By.CSS_SELECTOR, "ul.needs li")]
    assert needs == ["ask the investigator, then record yes or no: patient unsuitable for the "
                     "trial (an answer dated within the last 30 days) needed for E13"], needs
    options = [o.text for o in browser.find_elements(By.CSS_SELECTOR, "#missing option")]
    assert any(o.startswith("ask the investigator, then record yes or no: patient unsuitable")
               for o in options), options
    assert not any(o.startswith("investigator:") for o in options), options


def test_an_alert_at_first_screening_counts_protocol_criteria_of_each_kind(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """NCT06920433 has 9 inclusion criteria (I6's sub-criteria I6.1-I6.3 are reported beside
    it) and 13 exclusions: "all 25 criteria met" counted exclusions as met and I6 four times."""
    key = _post(app, shifted(renamed(eligible_patient().bundle(), "first-eligible-patient"),
                             now_utc(), AS_OF))
    assert poll(lambda: _alert_listed(app, key), timeout_s=30), f"{key} never alerted"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/alerts?trial={TRIAL}")
    cell = (f'//tr[contains(@class, "newly-eligible")][.//a[contains(@href, "{key}")]]'
            '/td[@class="headline"]')
    # the live feed may re-render the rows meanwhile: read the cell again until it holds still
    headline = WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.find_element(By.XPATH, cell).text)
    _shot(browser, "8-alert-eligible-at-first-screening")
    assert headline == ("Now eligible at first screening, all 9 inclusion criteria met (12 "
                        "checks: I6 in parts I6.1–I6.3); none of the 13 exclusions applies"), \
        headline
    browser.get(f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}")
    inclusion_rows = browser.find_elements(By.CSS_SELECTOR, '[id^="criterion-I"]')
    _shot(browser, "8-patient-rows-the-alert-counts")
    assert len(inclusion_rows) == 12, "the patient page shows the 12 checks the alert counts"


def test_every_page_with_times_names_their_zone_and_the_setting_that_changes_it(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: times defaulted to UTC with no hint how a site shows its own. Each page
    that shows times (alerts, worklist, patient) says the zone and names the setting,
    EVALUATOR_SITE_TIMEZONE (this run: Europe/Paris, tests.e2e.browser.SITE_ZONE)."""
    key = _post(app, shifted(renamed(eligible_patient().bundle(), "zone-note-patient"),
                             now_utc(), AS_OF))
    assert poll(lambda: _alert_listed(app, key), timeout_s=30), f"{key} never screened"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    said = ("Dates and times are shown in Europe/Paris. A site shows its own local time by "
            "setting EVALUATOR_SITE_TIMEZONE to its IANA zone name (e.g. Europe/Berlin) and "
            "restarting the evaluator.")
    for name, page in (("alerts", "/ui/alerts"), ("worklist", f"/ui/trials/{TRIAL}/worklist"),
                       ("patient", f"/ui/patients/{key}/trials/{TRIAL}")):
        browser.get(f"{app['evaluator']}{page}")
        _shot(browser, f"2-zone-note-{name}")
        assert browser.find_element(By.TAG_NAME, "footer").text == said, name


def test_a_missing_dose_is_asked_for_in_words_on_the_patient_page(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: "structured daily dose of predniSONE 5 MG Oral Tablet" on NCT06946485's
    page (I4 needs glucocorticoid >= 1 mg/kg/day). The page now asks for the prescription's
    dose and how often it is taken, naming the drug (RxNorm display) and the course's start."""
    from tests.unit.eligibility.more_trials import COURSE_DAYS, PREDNISONE_20, eligible_for_all

    builder = eligible_for_all().without(RXNORM, PREDNISONE_20)
    builder.medication("312617", start_days=COURSE_DAYS[0], end_days=COURSE_DAYS[1])
    key = _post(app, shifted(renamed(builder.bundle(), "no-dose-patient"), now_utc(), AS_OF))
    _sign_in(browser, app, app["tokens"]["coordinator"])
    url = f"{app['evaluator']}/ui/patients/{key}/trials/NCT06946485"

    def opened() -> bool:
        browser.get(url)
        return bool(browser.find_elements(By.ID, "criterion-I4"))

    assert poll(opened, timeout_s=30), "never screened"
    _shot(browser, "3-dose-words")
    i4 = browser.find_element(By.ID, "criterion-I4").text
    needs = browser.find_element(By.ID, "needs").text
    for where, text in (("I4", i4), ("needs", needs)):
        assert "daily dose of predniSONE 5 MG Oral Tablet started " in text, (where, text)
        assert "(the prescription's dose and how often it is taken)" in text, (where, text)
    assert "structured" not in browser.find_element(By.TAG_NAME, "main").text


def test_the_eular_acr_score_range_is_explained_where_it_is_shown(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: I2's "EULAR/ACR 2019 computed: 26 sure (...), up to 51; 2019 EULAR/ACR SLE
    classification score meets >= 10" was unexplained. It now says what was counted, what the
    score could reach and what the criterion needs, in one line of words."""
    key = _post(app, shifted(renamed(eligible_patient().bundle(), "eular-patient"),
                             now_utc(), AS_OF))
    assert poll(lambda: _alert_listed(app, key), timeout_s=30), f"{key} never screened"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}")
    _shot(browser, "4-eular-range")
    reason = browser.find_element(By.CSS_SELECTOR, '[id="criterion-I2"] .reason').text
    assert ("EULAR/ACR 2019: 26 from what is documented (musculoskeletal 6, renal 10, complement"
            " 4, SLE-specific antibodies 6); up to 51 if every item not yet documented were"
            " present; the criterion needs 10 or more: met") in reason, reason
    assert " sure" not in reason, reason


def test_a_posted_result_makes_the_alert_appear_on_the_open_page(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/alerts")
    WebDriverWait(browser, 10).until(
        lambda d: "Live:" in d.find_element(By.ID, "live").text)
    platelets = eligible_patient()
    platelets.resources = []
    platelets.lab("777-3", 150, "10*9/L", days=1)
    bundle = shifted(renamed(platelets.bundle(), "close-patient"), now_utc(), AS_OF)

    posted = time.monotonic()
    _post(app, bundle)
    selector = f'tr.alert.newly-eligible a[href*="{patients["close"]}"]'
    try:
        WebDriverWait(browser, 10, poll_frequency=0.02).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, selector)))
    except TimeoutException:
        screenshot(browser, "alert-missing")
        raise
    latency = time.monotonic() - posted
    # the 2 s goal is a printed figure, not an assertion: a shared CI machine decides timings
    print(f"alert-to-screen latency: {latency * 1000:.0f} ms (POST /fhir to the row on the page;"
          " goal < 2000 ms)")
    row = browser.find_element(By.CSS_SELECTOR, "#alert-rows tr")
    assert patients["close"] in row.text, "the newest alert is at the top"
    assert "Now eligible I6, I6.1 met, platelet count 150 x10^9/L on " in row.text
    screenshot(browser, "1-alerts-live")


def test_the_patient_page_shows_evidence_in_clinical_wording(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{patients['far']}/trials/{TRIAL}")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Not yet decided: data missing" in page
    i61 = browser.find_element(By.ID, "criterion-I6.1").text
    assert "absolute neutrophil count 2.5 x10^9/L" in i61
    for internal in ("10*9/L", "tables/", ".yaml", "T00:", ":00Z"):
        assert internal not in page, f"{internal!r} is not how a coordinator reads it"
    assert "Protocol: “" in page, "the protocol sentence is quoted"
    needs = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#needs li")]
    assert any(n.startswith("hemoglobin within 30 days") for n in needs)
    assert "Dates and times are shown in Europe/Paris" in browser.page_source
    kinds = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#needs h3.need-kind")]
    assert kinds[0].startswith("Lab results and measurements"), kinds
    assert browser.find_elements(By.ID, "review-why") or browser.find_elements(
        By.ID, "no-review"), "the next review is explained, or its absence"
    screenshot(browser, "3-patient-undetermined")


def test_a_patient_over_the_upper_age_limit_is_asked_for_nothing(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """NCT06946485 I5 "Aged 18-65 years": at 76 nothing can make the patient eligible."""
    old = eligible_patient()
    old.patient["birthDate"] = "1950-01-01"
    key = _post(app, shifted(renamed(old.bundle(), "old-patient"), now_utc(), AS_OF))
    _sign_in(browser, app, app["tokens"]["coordinator"])
    url = f"{app['evaluator']}/ui/patients/{key}/trials/NCT06946485"

    def shown(driver: webdriver.Chrome) -> bool:
        driver.get(url)
        return bool(driver.find_elements(By.ID, "status"))

    WebDriverWait(browser, 30, poll_frequency=0.5).until(shown)
    assert browser.find_element(By.ID, "status").text == "Not eligible"
    nothing = browser.find_element(By.ID, "nothing-to-send").text
    assert "no data sent and no passing of time can make this patient eligible" in nothing
    assert "I5" in nothing
    assert not browser.find_elements(By.ID, "next-review"), "no birthday review is scheduled"
    assert "nothing that time changes" in browser.find_element(By.ID, "no-review").text
    screenshot(browser, "6-patient-over-age-limit")


def test_the_audit_api_gives_each_decision_one_needs_list_with_what_it_settles(
    app: dict[str, Any], patients: dict[str, str]
) -> None:
    items = poll(lambda: decisions_for(app["audit"], app["tokens"]["auditor"], patients["far"]),
                 timeout_s=20)
    [record] = [r for r in items if r["trial_id"] == TRIAL][-1:]
    wanted = {n["item"]: n["unblocks"] for n in record["needs"]}
    assert wanted["hemoglobin within 30 days"] == ["I6", "I6.1"]
    assert len(record["needs"]) == len(wanted), "each item once"


def test_an_acknowledgement_survives_a_reload_and_reaches_the_audit_trail(
    app: dict[str, Any], patients: dict[str, str], browser: webdriver.Chrome
) -> None:
    key = patients["close"]
    assert poll(lambda: _alert_listed(app, key), timeout_s=20), "no alert for the close patient"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    browser.get(f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}")
    acknowledge = browser.find_element(By.CSS_SELECTOR, ".actions form.acknowledge button")
    acknowledge.click()
    # the form posts and the page reloads: wait for the old page to go, then for the new one
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(acknowledge))
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(
        (By.CSS_SELECTOR, "input[name=reason][placeholder^='e.g. declined']")))
    browser.refresh()
    log = browser.find_element(By.ID, "actions-log").text
    assert "Alert acknowledged" in log
    assert "dev-coordinator" in log
    assert not browser.find_elements(By.CSS_SELECTOR, ".actions form.acknowledge button")

    browser.find_element(By.CSS_SELECTOR, "details.reidentify summary").click()
    reason = browser.find_element(By.CSS_SELECTOR, "details.reidentify input[name=reason]")
    reason.send_keys("to contact the patient about the trial")
    browser.find_element(By.XPATH, "//button[.='Re-identify (audited)']").click()
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(
        (By.ID, "source-id")))
    screenshot(browser, "9-reidentified")
    # Post/Redirect/Get: the page shown is the patient's page, not the form's POST address,
    # and the identifier is nowhere in the address
    page_url = f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}"
    assert browser.current_url == page_url, browser.current_url
    assert browser.find_element(By.ID, "source-id").text == "close-patient"
    assert browser.find_element(By.ID, "identifier-system").text.startswith(
        "not sent:"), "the bundle's Patient has an id, no Identifier.system: none is claimed"
    identity_box = browser.find_element(By.CSS_SELECTOR, "section.identity").text
    assert "Patient identifier there" in identity_box
    assert "TrialWatch keeps no names or addresses (the birth date is kept only to compute " \
        "age)" in identity_box, "say plainly what is kept and what is not (events carry it)"
    assert browser.find_element(By.ID, "status").text == "Eligible"
    screenshot(browser, "4-patient-eligible-acknowledged")
    browser.refresh()  # a GET: nothing is posted again, and the identity was shown once
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(
        (By.ID, "actions-log")))
    assert not browser.find_elements(By.ID, "source-id"), "the identity is shown once"
    log = browser.find_element(By.ID, "actions-log").text
    assert log.count("Re-identified") == 1, log
    screenshot(browser, "9-reidentified-then-reloaded")

    browser.get(f"{app['evaluator']}/ui/alerts")
    row = browser.find_element(By.CSS_SELECTOR, f'tr.alert.newly-eligible a[href*="{key}"]')
    assert "by dev-coordinator" in row.find_element(By.XPATH, "./../..").text

    rituximab = eligible_patient()
    rituximab.resources = []
    rituximab.medication("121191", start_days=100, end_days=30)
    _post(app, shifted(renamed(rituximab.bundle(), "close-patient"), now_utc(), AS_OF))
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(
        (By.CSS_SELECTOR, f'tr.alert.no-longer-eligible a[href*="{key}"]')))
    newest = browser.find_element(By.CSS_SELECTOR, "#alert-rows tr").text
    assert "No longer eligible E11 rituximab" in newest
    assert "washout until" in newest
    screenshot(browser, "5-alerts-acknowledged-and-no-longer-eligible")
    actions = poll(lambda: _audit_actions(app, key), timeout_s=20)
    assert {"acknowledged", "reidentified"} <= actions, "audit keeps every action"
    assert _audit_action_count(app, key, "reidentified") == 1, "the reload re-posted nothing"


def test_a_coordinator_stays_signed_in_across_an_evaluator_restart_until_signing_out(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    _sign_in(browser, app, app["tokens"]["coordinator"])
    app["pipeline"].restart("evaluator")  # sessions are in the evaluator's database
    browser.get(f"{app['evaluator']}/ui/alerts")
    assert "/ui/sign-in" not in browser.current_url, "the restart signed the coordinator out"
    assert browser.find_element(By.ID, "who").text == "dev-coordinator"
    browser.find_element(By.XPATH, "//button[.='Sign out']").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("/ui/sign-in"))
    browser.get(f"{app['evaluator']}/ui/alerts")
    assert "/ui/sign-in" in browser.current_url, "signing out ended the session"


def _shot(browser: webdriver.Chrome, name: str) -> None:
    """A screenshot (tests.e2e.browser.screenshot), copied for the lead as s14-ux-<name>.png
    when /work/notes/shots exists."""
    shot = screenshot(browser, name)
    if Path("/work/notes/shots").is_dir():
        shutil.copy(shot, f"/work/notes/shots/s14-ux-{name}.png")


def _sign_in(browser: webdriver.Chrome, app: dict[str, Any], token: str) -> None:
    browser.get(f"{app['evaluator']}/ui/sign-in")
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "who")
                                      or d.find_elements(By.CSS_SELECTOR, ".error"))


def _post(app: dict[str, Any], bundle: dict[str, Any]) -> str:
    answer = httpx.post(f"{app['intake']}/fhir", json=bundle, timeout=10, headers={
        "Authorization": f"Bearer {app['tokens']['lab-system']}",
        "Content-Type": "application/fhir+json"})
    assert answer.status_code == 202, answer.text
    [key] = answer.json()["patient_keys"]
    return str(key)


def _screened(app: dict[str, Any], key: str) -> bool:
    answer = httpx.get(f"{app['evaluator']}/worklist", params={"trial": TRIAL}, timeout=5,
                       headers={"Authorization": f"Bearer {app['tokens']['coordinator']}"})
    return any(item["patient_key"] == key for item in answer.json())


def _alert_listed(app: dict[str, Any], key: str) -> bool:
    import sqlite3

    path = app["evaluator_db"].split("///", 1)[1]
    with sqlite3.connect(path) as db:
        return db.execute("SELECT 1 FROM evaluator_alert WHERE patient_key = ?",
                          (key,)).fetchone() is not None


def _audit_actions(app: dict[str, Any], key: str) -> set[str]:
    import sqlite3

    path = app["audit_db"].split("///", 1)[1]
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT action FROM audit_coordinator_action WHERE patient_key = ?",
                          (key,)).fetchall()
    return {r[0] for r in rows}


def _audit_action_count(app: dict[str, Any], key: str, action: str) -> int:
    import sqlite3

    path = app["audit_db"].split("///", 1)[1]
    with sqlite3.connect(path) as db:
        row = db.execute("SELECT count(*) FROM audit_coordinator_action WHERE patient_key = ? "
                         "AND action = ?", (key, action)).fetchone()
    return int(row[0])


def _ux2_shot(browser: webdriver.Chrome, name: str, width: int = 1280) -> None:
    """A screenshot of the viewport at ``width`` px, copied for the lead as s14-ux2-<name>.png
    when /work/notes/shots exists."""
    browser.set_window_size(width, 1000)
    browser.execute_script("window.scrollTo(0, 0)")
    path = Path(screenshot(browser, f"ux2-{name}")).with_name(f"ux2-{name}-{width}.png")
    browser.set_window_size(width, 1000)
    browser.save_screenshot(str(path))
    if Path("/work/notes/shots").is_dir():
        shutil.copy(path, f"/work/notes/shots/s14-ux2-{name}.png")


def _eligible_page(app: dict[str, Any], browser: webdriver.Chrome, name: str) -> str:
    """Post an eligible patient (which raises a 'now eligible' alert), sign in and open the
    patient's page; the page's address."""
    key = _post(app, shifted(renamed(eligible_patient().bundle(), name), now_utc(), AS_OF))
    assert poll(lambda: _alert_listed(app, key), timeout_s=30), f"{key} never alerted"
    _sign_in(browser, app, app["tokens"]["coordinator"])
    url = f"{app['evaluator']}/ui/patients/{key}/trials/{TRIAL}"
    browser.get(url)
    return url


def test_after_a_contact_the_page_offers_another_contact_not_the_first_again(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: "Mark contacted" was still offered after the history showed "Patient
    contacted". Contacts are an append-only log (a second call is a real event), so the button
    now says "Mark contacted again" and the line beside it when the last contact was."""
    url = _eligible_page(app, browser, "contacted-patient")
    browser.find_element(By.XPATH, "//button[normalize-space()='Mark contacted']").click()
    WebDriverWait(browser, 10).until(expected_conditions.presence_of_element_located(
        (By.ID, "actions-log")))
    browser.get(url)
    _ux2_shot(browser, "1-contacted")
    assert "Patient contacted" in browser.find_element(By.ID, "actions-log").text
    assert not browser.find_elements(By.XPATH, "//button[normalize-space()='Mark contacted']")
    again = browser.find_element(By.XPATH, "//button[normalize-space()='Mark contacted again']")
    assert browser.find_element(By.ID, "last-contact").text.startswith(
        "Last contacted "), "the page says when, beside the button"
    again.click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(again))
    log = browser.find_element(By.ID, "actions-log").text
    assert log.count("Patient contacted") == 2, log


def test_the_reason_placeholder_reads_whole_at_1400_and_1000_px(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: the "Not a candidate" reason box showed "e.g. declined, moving awa". The
    placeholder's rendered width (canvas measureText in the input's computed font) must fit
    the box's content width at the app's usual 1400 px and at 1000 px."""
    _eligible_page(app, browser, "reason-box-patient")
    fits = """
        const box = document.querySelector('.actions input[name=reason]');
        const style = getComputedStyle(box);
        const ctx = document.createElement('canvas').getContext('2d');
        ctx.font = style.font;
        const inner = box.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        return [box.placeholder, ctx.measureText(box.placeholder).width, inner];"""
    for width in (1400, 1000):
        browser.set_window_size(width, 1000)
        placeholder, needed, inner = browser.execute_script(fits)
        _ux2_shot(browser, f"2-reason-placeholder-{width}", width)
        assert placeholder.startswith("e.g. declined"), placeholder
        assert needed <= inner, (width, placeholder, needed, inner)


def test_the_acknowledge_button_is_short_and_the_headline_reads_whole_beside_it(
    app: dict[str, Any], browser: webdriver.Chrome
) -> None:
    """Fresh user: the patient page's button read "Acknowledge alert: now eligible: at first
    screening, all 9 inclusion..." (cut at 60 characters). The button now says "Acknowledge"
    and the whole headline is text beside it, nothing clipped."""
    _eligible_page(app, browser, "acknowledge-patient")
    _ux2_shot(browser, "3-acknowledge")
    button = browser.find_element(By.CSS_SELECTOR, ".actions form.acknowledge button")
    assert button.text == "Acknowledge"
    assert browser.execute_script(
        "return arguments[0].scrollWidth <= arguments[0].clientWidth", button)
    headline = browser.find_element(By.CSS_SELECTOR, ".actions form.acknowledge .alert-headline")
    assert headline.text == (
        "Now eligible at first screening, all 9 inclusion criteria met (12 checks: I6 in parts "
        "I6.1–I6.3); none of the 13 exclusions applies"), headline.text
    assert browser.execute_script(
        "return arguments[0].scrollWidth <= arguments[0].clientWidth", headline)
