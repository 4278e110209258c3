"""The coordinator app's action form against the real evaluator (broker, database, HTTP): a
patient recorded as deceased cannot be marked "contacted" or "enrolled" (HTTP 409, nothing
stored), while "not a candidate" is still recorded. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from shared.clinical.facts import Demographics, PatientFacts
from shared.eligibility.decision import Decision, Status
from shared.eligibility.engine import _deceased
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import evaluator_over_http, fresh_settings, publish
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration
TOKENS = f"coord-token=coordinator@{TEST_TRIAL.id}"


class DeceasedAwareScreener(OneLabScreener):
    """The one-lab test trial, with the engine's own deceased exclusion put first (as
    ``shared.eligibility.engine.evaluate`` does for ``Demographics.deceased``)."""

    def evaluate(self, trial: object, facts: PatientFacts, as_of: datetime,
                 patient_key: str | None = None) -> Decision:
        decision = super().evaluate(trial, facts, as_of, patient_key)  # type: ignore[arg-type]
        if facts.demographics is None or not facts.demographics.deceased:
            return decision
        return decision.model_copy(update={
            "criteria": (_deceased(facts.demographics), *decision.criteria),
            "status": Status.INELIGIBLE, "next_review_at": None})


async def test_a_deceased_patient_cannot_be_marked_contacted_or_enrolled(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-ui-actions",
                                    tokens=TOKENS)
    patient = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    died = Demographics(birth_date=date(1950, 1, 1), deceased=True,
                        deceased_on=date(2026, 3, 4))
    page_url = f"/ui/patients/{patient}/trials/{TEST_TRIAL.id}"
    async with evaluator_over_http(settings, kafka_settings, DeceasedAwareScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        signed_in = await client.post("/ui/sign-in", data={"token": "coord-token",
                                                           "next": "/ui/alerts"})
        assert signed_in.status_code == 303, signed_in.text
        await publish(kafka_settings, [patient_updated(
            patient, (lab_fact(150, now - timedelta(hours=1)),), now, died)])

        for _ in range(300):  # the page exists once the evaluator stored the decision
            if (await client.get(page_url)).status_code == 200:
                break
            await asyncio.sleep(0.1)
        page = (await client.get(page_url)).text
        assert "Deceased on 4 Mar 2026: not screened" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        for action in ("contacted", "enrolled"):
            refused = await client.post(f"{page_url}/actions",
                                        data={"csrf": csrf.group(1), "action": action})
            assert refused.status_code == 409, (action, refused.status_code, refused.text)
            assert "deceased" in refused.text
        recorded = await client.post(f"{page_url}/actions", data={
            "csrf": csrf.group(1), "action": "not-a-candidate", "reason": "deceased"})
        assert recorded.status_code == 303, "a deceased patient can still be closed"
        after = (await client.get(page_url)).text
        log = after.partition('id="actions-log"')[2].partition("</table>")[0]
        assert "Not a candidate" in log
        assert "Patient contacted" not in log, "a refused action is not stored"
        assert "Enrolled" not in log, "a refused action is not stored"


async def test_re_identifying_a_patient_never_screened_is_404_whatever_the_key(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """Issue 14 probe (benchmarks/hostile_pipeline.py): the re-identify form asked intake
    first for any key, so an unknown key answered 502 (intake's 404 passed on as a bad
    gateway) and a key holding NUL or CR LF answered 500 (an invalid URL to intake); ".."
    reached another intake route with the coordinator's token; on PostgreSQL a NUL in the key
    failed the query (500). Absent is 404, intake unasked; a URL holding a NUL is 400."""
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-ui-reidentify",
                                    tokens=TOKENS)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        signed_in = await client.post("/ui/sign-in", data={"token": "coord-token",
                                                           "next": "/ui/alerts"})
        assert signed_in.status_code == 303, signed_in.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', (await client.get("/ui/alerts")).text)
        assert csrf is not None
        for key, expected in ((f"pk-{uuid.uuid4().hex[:12]}", 404), ("%0d%0aX:%20y", 404),
                              ("%2e%2e", 404), ("..%2F..%2Ffhir", 404), ("%00", 400),
                              ("NCT06920433%00", 400)):
            answer = await client.post(
                f"/ui/patients/{key}/trials/{TEST_TRIAL.id}/reidentify",
                data={"csrf": csrf.group(1), "reason": "screening visit next week"})
            assert answer.status_code == expected, (key, answer.status_code, answer.text[:200])
