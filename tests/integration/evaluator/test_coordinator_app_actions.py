"""The coordinator app's action form against the real evaluator (broker, database, HTTP): a
patient recorded as deceased cannot be marked "contacted" or "enrolled" (HTTP 409, nothing
stored), while "not a candidate" is still recorded. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.clinical.facts import Demographics, PatientFacts
from shared.contracts.topics import COORDINATOR_ACTIONS
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


async def _acted(kafka: KafkaSettings, patient: str) -> list[dict[str, object]]:
    """Every ``coordinator.actions.v1`` record of ``patient`` on the broker (what audit keeps)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        partitions = [TopicPartition(COORDINATOR_ACTIONS, p) for p in range(kafka.partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, object]] = []
        for tp in partitions:
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, ()):
                    if record.key is not None and record.key.decode() == patient:
                        found.append(json.loads(record.value))
        return found
    finally:
        await consumer.stop()


async def test_enrolling_a_patient_not_found_eligible_needs_a_confirmation_naming_the_criteria(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """The page showed "Mark enrolled" on a not-eligible patient (ALT 210 U/L failing I6.2)
    and one click recorded it. Now the endpoint refuses (409 enrolment-unconfirmed, naming
    the failing criterion) an enrolment on a decision that is not eligible unless the form
    confirms that decision by its id; a confirmation of an older decision is refused too. The
    confirmed enrolment is recorded with the decision it overrode (id, status, criteria) in
    the action audit keeps. An eligible patient is enrolled by one click, as before."""
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-ui-enrol",
                                    tokens=TOKENS)
    failing = f"pk-{uuid.uuid4().hex[:12]}"
    fine = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        signed_in = await client.post("/ui/sign-in", data={"token": "coord-token",
                                                           "next": "/ui/alerts"})
        assert signed_in.status_code == 303, signed_in.text
        await publish(kafka_settings, [
            patient_updated(failing, (lab_fact(50, now - timedelta(hours=1)),), now),
            patient_updated(fine, (lab_fact(150, now - timedelta(hours=1)),), now)])
        pages = {p: f"/ui/patients/{p}/trials/{TEST_TRIAL.id}" for p in (failing, fine)}
        for url in pages.values():
            for _ in range(300):
                if (await client.get(url)).status_code == 200:
                    break
                await asyncio.sleep(0.1)
        page = (await client.get(pages[failing])).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        confirm = re.search(r'name="confirm_decision" value="([^"]+)"', page)
        assert csrf is not None
        assert confirm is not None, "the page asks to confirm the decision it shows"

        refused = await client.post(f"{pages[failing]}/actions",
                                    data={"csrf": csrf.group(1), "action": "enrolled"})
        assert refused.status_code == 409, (refused.status_code, refused.text)
        assert 'problems/enrolment-unconfirmed"' in refused.text, refused.text
        assert "criteria I1: fails (nothing was recorded)" in refused.text, refused.text
        stale = await client.post(f"{pages[failing]}/actions", data={
            "csrf": csrf.group(1), "action": "enrolled", "confirm_decision": str(uuid.uuid4())})
        assert stale.status_code == 409, "a confirmation of another decision is none"
        log = (await client.get(pages[failing])).text.partition('id="actions-log"')[2]
        assert "Enrolled" not in log.partition("</table>")[0], "a refused action is not stored"

        confirmed = await client.post(f"{pages[failing]}/actions", data={
            "csrf": csrf.group(1), "action": "enrolled", "confirm_decision": confirm.group(1)})
        assert confirmed.status_code == 303, confirmed.text
        plain = await client.post(f"{pages[fine]}/actions",
                                  data={"csrf": csrf.group(1), "action": "enrolled"})
        assert plain.status_code == 303, "an eligible patient is enrolled by one click"

        for _ in range(100):
            overridden = await _acted(kafka_settings, failing)
            straight = await _acted(kafka_settings, fine)
            if overridden and straight:
                break
            await asyncio.sleep(0.1)
        assert [a["action"] for a in overridden] == ["enrolled"], overridden
        assert overridden[0]["confirmed_against"] == {
            "decision_id": confirm.group(1), "status": "ineligible", "failing": ["I1"],
            "unknown": []}
        assert [a["action"] for a in straight] == ["enrolled"]
        assert straight[0]["confirmed_against"] is None


async def test_a_confirmed_enrolment_is_kept_in_the_evaluators_action_table_and_shown(
    kafka_settings: KafkaSettings, database_url: str
) -> None:
    """0261512d put an enrolment's confirmation (the not-eligible decision it overrode) in the
    signed event audit keeps, not in ``evaluator_coordinator_action``: the patient page's
    history said "Enrolled" alone. Migration 0015 adds ``confirmed_against`` (JSON, NULL on
    every other action); the page says which criteria the investigator overrode."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    settings = await fresh_settings(database_url, kafka_settings, "evaluator-ui-enrol-kept",
                                    tokens=TOKENS)
    failing = f"pk-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    page_url = f"/ui/patients/{failing}/trials/{TEST_TRIAL.id}"
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        signed_in = await client.post("/ui/sign-in", data={"token": "coord-token",
                                                           "next": "/ui/alerts"})
        assert signed_in.status_code == 303, signed_in.text
        await publish(kafka_settings, [
            patient_updated(failing, (lab_fact(50, now - timedelta(hours=1)),), now)])
        for _ in range(300):
            if (await client.get(page_url)).status_code == 200:
                break
            await asyncio.sleep(0.1)
        page = (await client.get(page_url)).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        confirm = re.search(r'name="confirm_decision" value="([^"]+)"', page)
        assert csrf is not None
        assert confirm is not None
        contacted = await client.post(f"{page_url}/actions",
                                      data={"csrf": csrf.group(1), "action": "contacted"})
        assert contacted.status_code == 303, contacted.text
        enrolled = await client.post(f"{page_url}/actions", data={
            "csrf": csrf.group(1), "action": "enrolled", "confirm_decision": confirm.group(1)})
        assert enrolled.status_code == 303, enrolled.text
        log = (await client.get(page_url)).text.partition('id="actions-log"')[2]
        log = log.partition("</table>")[0]
        assert "Enrolled <span class=\"confirmation\">(confirmed despite I1 not met)</span>" \
            in log, log

    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                "SELECT action, confirmed_against FROM evaluator_coordinator_action"
                " WHERE patient_key = :key ORDER BY taken_at"), {"key": failing})).all()
    finally:
        await engine.dispose()
    stored = {action: json.loads(kept) if isinstance(kept, str) else kept
              for action, kept in rows}
    assert stored == {
        "contacted": None,
        "enrolled": {"decision_id": confirm.group(1), "status": "ineligible",
                     "failing": ["I1"], "unknown": []}}, stored
