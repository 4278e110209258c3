"""CDS Hooks 2.0 patient-view and order-select against the real pipeline: an EHR's signed call
gets trial cards.

Requests are shaped like the specification's patient-view and order-select examples
(tests/fixtures/cds_hooks/patient-view.json, order-select.json; order-select-rituximab.json is
the same shape with a rituximab order selected); the JWT is ES384 with iss, aud = the service URL,
exp, iat and jti, verified against the EHR's configured JWKS.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.infra.auth import write_dev_tokens
from shared.settings import KafkaSettings
from tests.cds_client import ISSUER, CdsClient, order_select_for, request_for
from tests.e2e.browser import now_utc, renamed, running_services, shifted
from tests.e2e.pipeline import poll, tokens_by_role
from tests.unit.eligibility.fhir_builder import AS_OF, LOINC, eligible_patient

pytestmark = pytest.mark.e2e
TRIAL = "NCT06920433"
SERVICE = "/cds-services/trialwatch-patient-view"
ORDER_SELECT = "/cds-services/trialwatch-order-select"


@pytest.fixture(scope="module")
def ehr() -> CdsClient:
    return CdsClient()


@pytest.fixture(scope="module")
def app(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory, ehr: CdsClient
) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("cds-hooks")
    write_dev_tokens(data / "tokens.json")
    tokens = tokens_by_role(data / "tokens.json")
    lab_client = next(v["client"] for v in json.loads((data / "tokens.json").read_text()).values()
                      if v["role"] == "lab-system")
    issuers = {ISSUER: {"jwks": str(ehr.write_jwks(data / "ehr.jwks.json")),
                        "source_system": lab_client}}
    env = {"EVALUATOR_CDS_ISSUERS": json.dumps(issuers),
           "EVALUATOR_CDS_INTAKE_TOKEN": tokens["coordinator"]}
    with running_services(kafka_settings, data, env) as urls:
        yield {**urls, "tokens": tokens}


@pytest.fixture(scope="module")
def patients(app: dict[str, Any]) -> dict[str, str]:
    """The EHR's Patient.id -> surrogate key, for an eligible, a close and an excluded patient."""
    now = now_utc()
    builders = {
        "cds-eligible": eligible_patient(),
        "cds-close": eligible_patient().without(LOINC, "777-3"),
        "cds-excluded": eligible_patient().medication("121191", start_days=40, end_days=30),
    }
    keys = {}
    for patient_id, builder in builders.items():
        bundle = shifted(renamed(builder.bundle(), patient_id), now, AS_OF)
        answer = httpx.post(f"{app['intake']}/fhir", json=bundle, timeout=10, headers={
            "Authorization": f"Bearer {app['tokens']['lab-system']}",
            "Content-Type": "application/fhir+json"})
        assert answer.status_code == 202, answer.text
        keys[patient_id] = answer.json()["patient_keys"][0]
    for key in keys.values():
        assert poll(lambda k=key: _decided(app, k), timeout_s=30), f"{key} never screened"
    return keys


def test_discovery_lists_the_patient_view_and_order_select_services(app: dict[str, Any]) -> None:
    services = httpx.get(f"{app['evaluator']}/cds-services", timeout=5).json()["services"]
    assert [(s["hook"], s["id"]) for s in services] == [
        ("patient-view", "trialwatch-patient-view"), ("order-select", "trialwatch-order-select")]


def test_an_eligible_patient_gets_an_info_card_linking_to_the_patient_page(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    cards = _cards(app, ehr, "cds-eligible")
    [card] = [c for c in cards if TRIAL in c["summary"]]
    assert card["summary"] == f"Eligible for trial {TRIAL}"
    assert card["indicator"] == "info"
    assert card["source"]["label"] == "TrialWatch"
    [link] = card["links"]
    assert link["type"] == "absolute"
    assert link["url"] == (f"{app['evaluator']}/ui/patients/{patients['cds-eligible']}"
                           f"/trials/{TRIAL}")


def test_a_close_patient_gets_a_card_saying_what_is_missing(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    [card] = [c for c in _cards(app, ehr, "cds-close") if TRIAL in c["summary"]]
    assert card["summary"] == f"Close to eligible for trial {TRIAL}"
    assert "platelet count within 30 days (criteria I6, I6.1)" in card["detail"]


def test_nothing_is_shown_when_nothing_applies(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    assert not [c for c in _cards(app, ehr, "cds-excluded") if TRIAL in c["summary"]]
    assert _cards(app, ehr, "never-seen-by-trialwatch") == []


def test_a_call_without_a_valid_ehr_jwt_is_refused(
    app: dict[str, Any], ehr: CdsClient
) -> None:
    url = f"{app['evaluator']}{SERVICE}"
    body = request_for("cds-eligible")
    assert httpx.post(url, json=body, timeout=5).status_code == 401
    wrong_audience = ehr.token(f"{app['evaluator']}/cds-services/another")
    refused = httpx.post(url, json=body, timeout=5,
                         headers={"Authorization": f"Bearer {wrong_audience}"})
    assert refused.status_code == 401
    assert CdsClient().token(url) not in refused.text


def test_each_look_up_is_in_intakes_access_log(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    _cards(app, ehr, "cds-close")
    with sqlite3.connect(app["intake_db"].split("///", 1)[1]) as db:
        rows = db.execute("SELECT patient_key, reason, found FROM intake_reidentifications "
                          "WHERE reason LIKE 'lookup: CDS Hooks%'").fetchall()
    assert (patients["cds-close"], f"lookup: CDS Hooks patient-view from {ISSUER}", 1) in rows


def test_a_rituximab_order_for_an_eligible_patient_gets_a_warning_naming_trial_and_criterion(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    [card] = _order_cards(app, ehr, order_select_for("cds-eligible"))
    assert card["indicator"] == "warning"
    assert card["summary"] == f"This order would end eligibility for trial {TRIAL} (E11)"
    assert "- E11 immunosuppressant or biologic within five half-lives: this order: rituximab " \
        in card["detail"]
    assert "washout until at least " in card["detail"]
    [link] = card["links"]
    assert link["url"] == (f"{app['evaluator']}/ui/patients/{patients['cds-eligible']}"
                           f"/trials/{TRIAL}")


def test_the_specifications_order_select_example_warns_that_e11_could_not_be_checked(
    app: dict[str, Any], patients: dict[str, str], ehr: CdsClient
) -> None:
    # amoxicillin/clavulanate RxNorm 617993 (in neither rxnorm_products.yaml nor a drug value
    # set) and a pureed diet: E11's closed-world washout cannot say the product is no
    # immunosuppressant, so an eligible patient would become undetermined
    body = order_select_for("cds-eligible", "order-select.json")
    [card] = _order_cards(app, ehr, body)
    assert card["indicator"] == "warning"
    assert card["summary"].startswith(f"This order would leave eligibility for trial {TRIAL}"
                                      " undecided (E11")
    assert "RxNorm code 617993 is not in the product table" in card["detail"]
    # and nothing for a patient already excluded, or one TrialWatch has never seen
    assert _order_cards(app, ehr, order_select_for("cds-excluded")) == []
    assert _order_cards(app, ehr, order_select_for("never-seen-by-trialwatch")) == []


def test_an_order_select_call_needs_a_jwt_for_the_order_select_endpoint(
    app: dict[str, Any], ehr: CdsClient
) -> None:
    url = f"{app['evaluator']}{ORDER_SELECT}"
    body = order_select_for("cds-eligible")
    assert httpx.post(url, json=body, timeout=5).status_code == 401
    for_patient_view = ehr.token(f"{app['evaluator']}{SERVICE}")
    refused = httpx.post(url, json=body, timeout=5,
                         headers={"Authorization": f"Bearer {for_patient_view}"})
    assert refused.status_code == 401


def _order_cards(app: dict[str, Any], ehr: CdsClient, body: dict[str, Any]
                 ) -> list[dict[str, Any]]:
    url = f"{app['evaluator']}{ORDER_SELECT}"
    answer = httpx.post(url, json=body, timeout=10,
                        headers={"Authorization": f"Bearer {ehr.token(url)}"})
    assert answer.status_code == 200, answer.text
    return [c for c in answer.json()["cards"] if TRIAL in c["summary"]]


def _cards(app: dict[str, Any], ehr: CdsClient, patient_id: str) -> list[dict[str, Any]]:
    url = f"{app['evaluator']}{SERVICE}"
    answer = httpx.post(url, json=request_for(patient_id), timeout=10,
                        headers={"Authorization": f"Bearer {ehr.token(url)}"})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["cards"])


def _decided(app: dict[str, Any], key: str) -> bool:
    with sqlite3.connect(app["evaluator_db"].split("///", 1)[1]) as db:
        return db.execute("SELECT 1 FROM evaluator_trial_status WHERE patient_key = ? "
                          "AND trial_id = ?", (key, TRIAL)).fetchone() is not None
