"""Site scope on the real broker, SQLite and PostgreSQL (issue 14 section 5, deploy/SECURITY.md
"Site scope"): a coordinator token claiming site A sees site A's patients and never site B's,
on every surface that serves patient data: the worklist, the SSE stream, webhook deliveries,
and the coordinator app (alerts, worklist, patient page, acknowledgement). A patient of site B
answers 404 as an unknown one and the refusal is logged as ``site_not_in_claims`` without PHI.
A token without a ``sites`` claim sees every site."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog.testing

from shared.contracts.events import PatientUpdated
from shared.settings import KafkaSettings
from tests.integration.evaluator.harness import evaluator_over_http, fresh_settings, publish, until
from tests.integration.evaluator.test_coordinator_api import LOOPBACK_ALLOWED, _receiver
from tests.unit.evaluator.fakes import TEST_TRIAL, OneLabScreener, lab_fact, patient_updated

pytestmark = pytest.mark.integration
SITE_A = {"authorization": "Bearer coord-site-a"}
EVERY_SITE = {"authorization": "Bearer coord-every-site"}


def _tokens(tmp_path: Path) -> Path:
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({
        "coord-site-a": {"role": "coordinator", "client": "ward-a", "trials": [TEST_TRIAL.id],
                         "sites": ["A"]},
        "coord-every-site": {"role": "coordinator", "client": "central",
                             "trials": [TEST_TRIAL.id]},
    }))
    return tokens


def _at(site: str, event: PatientUpdated) -> PatientUpdated:
    return event.model_copy(update={"site": site})


async def _read_sse(client: httpx.AsyncClient, headers: dict[str, str], url: str,
                    out: list[dict[str, object]], connected: asyncio.Event) -> None:
    async with client.stream("GET", url, headers=headers, timeout=None) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if line.startswith(": connected"):
                connected.set()
            elif line.startswith("data: "):
                out.append(json.loads(line.removeprefix("data: ")))


async def _signed_in(base: str, token: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base)
    response = await client.post("/ui/sign-in", data={"token": token, "next": "/ui/alerts"})
    assert response.status_code == 303, response.text
    return client


async def test_a_site_a_coordinator_sees_site_a_patients_and_never_site_b_on_every_surface(
    kafka_settings: KafkaSettings, database_url: str, tmp_path: Path
) -> None:
    settings = await fresh_settings(
        database_url, kafka_settings, "evaluator-sites", webhook_allowed_hosts=LOOPBACK_ALLOWED,
        webhook_key_file=tmp_path / "webhook-key")
    settings = settings.model_copy(update={"tokens": "", "tokens_file": _tokens(tmp_path)})
    eligible_a, eligible_b, waiting_a, waiting_b = (
        f"pk-{name}-{uuid.uuid4().hex[:8]}" for name in ("ea", "eb", "wa", "wb"))
    ours = {eligible_a, eligible_b, waiting_a, waiting_b}
    now = datetime.now(UTC)
    trial = TEST_TRIAL.id
    stream_a: list[dict[str, object]] = []
    stream_all: list[dict[str, object]] = []
    async with _receiver(fail_first=0) as (url_a, _, bodies_a), \
            _receiver(fail_first=0) as (url_all, _, bodies_all), \
            evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base) as client:
        hook_a = await client.post("/webhooks", headers=SITE_A,
                                   json={"trial": trial, "url": url_a})
        hook_all = await client.post("/webhooks", headers=EVERY_SITE,
                                     json={"trial": trial, "url": url_all})
        assert hook_a.status_code == hook_all.status_code == 201
        ready = [asyncio.Event(), asyncio.Event()]
        readers = [
            asyncio.create_task(_read_sse(client, SITE_A, f"/alerts/stream?trial={trial}",
                                          stream_a, ready[0])),
            asyncio.create_task(_read_sse(client, EVERY_SITE, "/alerts/stream",
                                          stream_all, ready[1])),
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 30)
        lab = (lab_fact(150, now - timedelta(hours=1)),)
        await publish(kafka_settings, [
            _at("A", patient_updated(eligible_a, lab, now)),
            _at("B", patient_updated(eligible_b, lab, now)),
            _at("A", patient_updated(waiting_a, (), now)),
            _at("B", patient_updated(waiting_b, (), now)),
        ])
        assert await until(lambda: len([a for a in stream_all
                                        if a["patient_key"] in ours]) == 2, 30)
        assert await until(lambda: len(bodies_all) == 2 and len(bodies_a) == 1, 20)

        async def worklist(headers: dict[str, str]) -> set[str]:
            response = await client.get(f"/worklist?trial={trial}", headers=headers)
            assert response.status_code == 200
            return {e["patient_key"] for e in response.json()} & ours

        assert await until_async(lambda: worklist(EVERY_SITE), {waiting_a, waiting_b})
        api_worklist_a = await worklist(SITE_A)
        await asyncio.sleep(0.5)  # anything else the stream or hooks would wrongly get
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

        ward_a = await _signed_in(base, "coord-site-a")
        central = await _signed_in(base, "coord-every-site")
        try:
            alerts_a = (await ward_a.get(f"/ui/alerts?trial={trial}")).text
            alerts_all = (await central.get(f"/ui/alerts?trial={trial}")).text
            worklist_a = (await ward_a.get(f"/ui/trials/{trial}/worklist")).text
            worklist_all = (await central.get(f"/ui/trials/{trial}/worklist")).text
            own_page = await ward_a.get(f"/ui/patients/{eligible_a}/trials/{trial}")
            central_page = await central.get(f"/ui/patients/{eligible_b}/trials/{trial}")
            csrf = _csrf(alerts_a)
            [alert_b] = [a["event_id"] for a in stream_all if a["patient_key"] == eligible_b]
            with structlog.testing.capture_logs() as logs:
                other_page = await ward_a.get(f"/ui/patients/{eligible_b}/trials/{trial}")
                unknown_page = await ward_a.get(f"/ui/patients/pk-nobody/trials/{trial}")
                other_action = await ward_a.post(
                    f"/ui/patients/{eligible_b}/trials/{trial}/actions",
                    data={"csrf": csrf, "action": "contacted"})
                other_ack = await ward_a.post(f"/ui/alerts/{alert_b}/acknowledge",
                                              data={"csrf": csrf})
                unknown_ack = await ward_a.post(
                    "/ui/alerts/00000000-0000-0000-0000-000000000000/acknowledge",
                    data={"csrf": csrf})
        finally:
            await ward_a.aclose()
            await central.aclose()

    # the JSON API
    assert api_worklist_a == {waiting_a}
    assert {a["patient_key"] for a in stream_a} & ours == {eligible_a}
    assert {a["patient_key"] for a in stream_all} & ours == {eligible_a, eligible_b}
    assert {a["site"] for a in stream_all if a["patient_key"] in ours} == {"A", "B"}
    # webhooks: a site-scoped registration is delivered its sites' alerts only
    assert [json.loads(b)["patient_key"] for b in bodies_a] == [eligible_a]
    assert {json.loads(b)["patient_key"] for b in bodies_all} == {eligible_a, eligible_b}
    # the coordinator app
    assert eligible_a in alerts_a
    assert eligible_b not in alerts_a
    assert eligible_a in alerts_all
    assert eligible_b in alerts_all
    assert waiting_a in worklist_a
    assert waiting_b not in worklist_a
    assert waiting_a in worklist_all
    assert waiting_b in worklist_all
    assert own_page.status_code == central_page.status_code == 200
    assert other_page.status_code == unknown_page.status_code == 404
    assert other_action.status_code == other_ack.status_code == 404
    assert (other_ack.status_code, other_ack.text) == (unknown_ack.status_code, unknown_ack.text)
    refused = [e for e in logs if e.get("reason") == "site_not_in_claims"]
    # an unknown key is refused by the same rule (it has no site): the answers cannot differ;
    # the acknowledgement of site B's alert is logged like every other surface (its patient's
    # surrogate key, never the alert's content)
    assert [(e["client"], e["status"], e["patient_key"], e["route"]) for e in refused] == [
        ("ward-a", 404, eligible_b, "/ui/patients/{patient_key}/trials/{trial_id}"),
        ("ward-a", 404, "pk-nobody", "/ui/patients/{patient_key}/trials/{trial_id}"),
        ("ward-a", 404, eligible_b, "/ui/patients/{patient_key}/trials/{trial_id}/actions"),
        ("ward-a", 404, eligible_b, "/ui/alerts/{alert_id}/acknowledge")]
    for entry in refused:  # the surrogate key only: no site, no trial text, no identifier
        assert set(entry) == {"event", "log_level", "status", "reason", "method", "route",
                              "client", "role", "patient_key"}
    assert other_page.text == unknown_page.text.replace("pk-nobody", eligible_b) \
        or other_page.json() == unknown_page.json()


async def until_async(read: object, wanted: set[str], timeout_s: float = 20.0) -> bool:
    """Poll the coroutine function ``read`` until it returns ``wanted``."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while asyncio.get_running_loop().time() < deadline:
        if await read() == wanted:  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


def _csrf(page: str) -> str:
    marker = 'name="csrf-token" content="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]
