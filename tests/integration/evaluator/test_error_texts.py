"""Error texts of the coordinator app and API name the field and what was expected there, never
the value the client sent: a URL segment, a query parameter or a form field can carry a
patient's name or markup, and an error page or problem document would reflect it."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import evaluator_over_http, fresh_settings
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener

pytestmark = pytest.mark.integration
TOKENS = f"coord-token=coordinator@{TEST_TRIAL.id},every-token=coordinator@*"
NAME = "Jane-Doe-1970"  # what a careless client might put into an id


async def test_no_error_repeats_the_trial_patient_or_action_it_was_sent(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-error-texts",
                                    tokens=TOKENS)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        signed_in = await client.post("/ui/sign-in", data={"token": "coord-token",
                                                           "next": "/ui/alerts"})
        assert signed_in.status_code == 303, signed_in.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/ui/alerts")).text)
        assert csrf is not None
        patient = f"pk-{uuid.uuid4().hex[:6]}-{NAME}"
        answers = {
            "unknown trial page": await client.get(f"/ui/trials/{NAME}/worklist"),
            "unscreened patient page": await client.get(
                f"/ui/patients/{patient}/trials/{TEST_TRIAL.id}"),
            "unknown action": await client.post(
                f"/ui/patients/{patient}/trials/{TEST_TRIAL.id}/actions",
                data={"csrf": csrf.group(1), "action": f"<b>{NAME}</b>"}),
            "unknown trial in the API": await client.get(
                "/worklist", params={"trial": NAME},
                headers={"Authorization": "Bearer every-token"}),
            "unknown alert": await client.post(
                f"/ui/alerts/{uuid.uuid4()}/acknowledge", data={"csrf": csrf.group(1)}),
            "expired form": await client.post(
                f"/ui/patients/{patient}/trials/{TEST_TRIAL.id}/actions",
                data={"csrf": "from-an-old-page", "action": "contacted"}),
            "not a candidate without a reason": await client.post(
                f"/ui/patients/{patient}/trials/{TEST_TRIAL.id}/actions",
                data={"csrf": csrf.group(1), "action": "not-a-candidate"}),
        }
    # each refusal has its own problem type (docs/problems.md): on the app's pages in the
    # main element, in the API's problem document
    types = {what: _problem_type(answer) for what, answer in answers.items()}
    base = "https://trialwatch.dev/problems/"
    assert types == {
        "unknown trial page": base + "trial-not-found",
        "unscreened patient page": base + "patient-not-screened",
        "unknown action": base + "unknown-action",
        "unknown trial in the API": base + "trial-not-found",
        "unknown alert": base + "alert-not-found",
        "expired form": base + "form-expired",
        "not a candidate without a reason": base + "reason-required",
    }
    for what, answer in answers.items():
        assert 400 <= answer.status_code < 500, (what, answer.status_code, answer.text[:300])
    assert [what for what, answer in answers.items() if NAME in answer.text] == []
    action = answers["unknown action"].text
    assert "contacted" in action, action[:300]
    assert "not-a-candidate" in action, action[:300]


def _problem_type(answer: httpx.Response) -> str | None:
    if answer.headers.get("content-type", "").startswith("application/problem+json"):
        return str(answer.json()["type"])
    found = re.search(r'data-problem-type="([^"]+)"', answer.text)
    return found.group(1) if found else None
