"""Site scope at the auditor API (issue 14 section 5; docs/audit.md "Site scope"), on a real
database (both kinds) with the service's real lifespan.

Decisions carry the patient's site (``DecisionMade.site``, signed), audit keeps it hashed in the
record. An auditor token with a ``sites`` claim sees only its sites' records: another site's
record, or one without a site, answers 404 with the very detail of an unknown one and is logged
``site_not_in_claims`` with the surrogate key only; lists and exports leave them out; the
access log is refused to it. A token without the claim sees every record.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import structlog

from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from shared.eligibility.decision import Outcome
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    migrate,
    publish,
    running,
    start_group_at_end,
    wait_for,
)
from tests.unit.audit.factories import BASE_TIME, decision_event

pytestmark = pytest.mark.integration

SITE_A = {"Authorization": "Bearer auditor-site-a"}
UNKNOWN_DECISION = "no decision with this id"
UNKNOWN_STATUS = "no decision for this patient and trial by then"


def _problem(response: httpx.Response) -> dict[str, object]:
    """The problem document without ``instance`` (the path asked, which differs by id)."""
    return {k: v for k, v in response.json().items() if k != "instance"}


@pytest.fixture
async def stored(database_url: str, kafka_settings: KafkaSettings,
                 tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """pk_a of site A, pk_b of site B, pk_n without a site; pk_m moved from A to B."""
    await migrate(database_url)
    events = {
        "a": decision_event("pk_a", 0, Outcome.PASS, site="A"),
        "b": decision_event("pk_b", 1, Outcome.PASS, site="B"),
        "n": decision_event("pk_n", 2, Outcome.PASS),
        "m_a": decision_event("pk_m", 3, Outcome.FAIL, site="A"),
        "m_b": decision_event("pk_m", 4, Outcome.PASS, site="B"),
    }
    engine = make_engine(database_url)
    try:
        chain = DecisionChain(SqlChainStore(engine))
        for event in events.values():
            await chain.append(event, datetime.now(UTC))
    finally:
        await engine.dispose()
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"auditor-site-a": {
        "client": "auditor-a", "role": "auditor", "sites": ["A"]}}))
    group = unique_group("audit-sites")
    await start_group_at_end(kafka_settings, group)
    app = audit_app(audit_settings(database_url, tmp_path, group, tokens_file=tokens),
                    kafka_settings)
    async with running(app) as http:
        yield http, {name: str(e.decision_id) for name, e in events.items()}


async def test_a_site_scoped_auditor_lists_and_exports_its_sites_records_only(
        stored: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, _ = stored
    listed = (await client.get("/decisions", headers=SITE_A)).json()["items"]
    assert [(i["patient_key"], i["site"]) for i in listed] == [("pk_a", "A"), ("pk_m", "A")]
    exported = await client.get("/decisions/export", headers=SITE_A, params={"format": "jsonl"})
    assert [json.loads(line)["patient_key"] for line in exported.text.splitlines()] == [
        "pk_a", "pk_m"]
    unscoped = (await client.get("/decisions", headers=AUTH)).json()["items"]
    assert [i["patient_key"] for i in unscoped] == ["pk_a", "pk_b", "pk_n", "pk_m", "pk_m"]


async def test_another_sites_record_answers_as_unknown_and_is_logged_without_phi(
        stored: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, ids = stored
    unknown = await client.get("/decisions/00000000-0000-0000-0000-000000000000",
                               headers=SITE_A)
    with structlog.testing.capture_logs() as logs:
        other = await client.get(f"/decisions/{ids['b']}", headers=SITE_A)
        no_site = await client.get(f"/decisions/{ids['n']}", headers=SITE_A)
    assert unknown.json()["detail"] == UNKNOWN_DECISION
    assert (other.status_code, _problem(other)) == (404, _problem(unknown))
    assert (no_site.status_code, _problem(no_site)) == (404, _problem(unknown))
    refused = [e for e in logs if e.get("reason") == "site_not_in_claims"]
    assert [(e["patient_key"], e["status"], e["client"]) for e in refused] == [
        ("pk_b", 404, "auditor-a"), ("pk_n", 404, "auditor-a")]
    for entry in refused:  # the surrogate key only: no site, no decision content
        assert set(entry) <= {"event", "log_level", "status", "reason", "method", "route",
                              "client", "role", "patient_key"}
    own = await client.get(f"/decisions/{ids['a']}", headers=SITE_A)
    assert (own.status_code, own.json()["site"]) == (200, "A")
    assert (await client.get(f"/decisions/{ids['b']}", headers=AUTH)).status_code == 200


async def test_status_as_of_is_judged_on_the_decision_in_force_over_every_site(
        stored: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, _ = stored
    at = {"at": (BASE_TIME + timedelta(days=1)).isoformat()}
    url = "/patients/{}/trials/NCT06920433/status"
    own = await client.get(url.format("pk_a"), headers=SITE_A, params=at)
    assert own.status_code == 200
    with structlog.testing.capture_logs() as logs:
        other = await client.get(url.format("pk_b"), headers=SITE_A, params=at)
        moved = await client.get(url.format("pk_m"), headers=SITE_A, params=at)
    # pk_m's decision in force is site B's: never answered with its older site-A record
    assert (other.status_code, other.json()["detail"]) == (404, UNKNOWN_STATUS)
    assert (moved.status_code, moved.json()["detail"]) == (404, UNKNOWN_STATUS)
    assert [(e["reason"], e["patient_key"]) for e in logs if "reason" in e] == [
        ("site_not_in_claims", "pk_b"), ("site_not_in_claims", "pk_m")]
    earlier = {"at": (BASE_TIME + timedelta(minutes=3, seconds=30)).isoformat()}
    then = await client.get(url.format("pk_m"), headers=SITE_A, params=earlier)
    assert (then.status_code, then.json()["status"]) == (200, "ineligible")
    assert (await client.get(url.format("pk_m"), headers=AUTH, params=at)).json()[
        "status"] == "eligible"


async def test_snapshots_and_the_access_log_follow_the_scope(
        stored: tuple[httpx.AsyncClient, dict[str, str]]) -> None:
    client, ids = stored
    a = (await client.get(f"/decisions/{ids['a']}", headers=AUTH)).json()
    b = (await client.get(f"/decisions/{ids['b']}", headers=AUTH)).json()
    assert a["snapshot_hash"] != b["snapshot_hash"]
    assert (await client.get(f"/snapshots/{a['snapshot_hash']}", headers=SITE_A)
            ).status_code == 200
    hidden = await client.get(f"/snapshots/{b['snapshot_hash']}", headers=SITE_A)
    assert (hidden.status_code, hidden.json()["detail"]) == (404, "unknown snapshot hash")
    with structlog.testing.capture_logs() as logs:
        refused = await client.get("/access-log", headers=SITE_A)
    assert refused.status_code == 403
    assert [e["reason"] for e in logs if "reason" in e] == ["site_scoped_token"]
    entries = (await client.get("/access-log", headers=AUTH)).json()["items"]
    scoped = [(e["action"], e["result_count"]) for e in entries if e["client"] == "auditor-a"]
    assert scoped == [("get-snapshot", 1), ("get-snapshot", 0), ("query-access-log", 0)]


async def test_a_decision_of_a_site_from_the_broker_is_kept_with_it_and_verifies(
        stored: tuple[httpx.AsyncClient, dict[str, str]], kafka_settings: KafkaSettings) -> None:
    client, _ = stored
    await publish(kafka_settings, [decision_event("pk_s", 9, Outcome.PASS, site="A")])

    async def seen() -> bool:
        found = await client.get("/decisions", headers=SITE_A, params={"patient_key": "pk_s"})
        return len(found.json()["items"]) == 1

    await wait_for(seen, what="the site-A decision stored by the consumer")
    [item] = (await client.get("/decisions", headers=AUTH,
                               params={"patient_key": "pk_s"})).json()["items"]
    assert item["site"] == "A"
    report = (await client.get("/verify", headers=AUTH)).json()
    assert (report["intact"], report["records_checked"]) == (True, 6)
