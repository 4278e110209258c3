"""The auditor API on a real database (both kinds) with the service's real lifespan."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from services.audit.adapters.sql.chain_store import SqlChainStore
from services.audit.core.chain import DecisionChain
from shared.eligibility.decision import Outcome, TrialRef
from shared.infra.sql_engine import make_engine
from shared.settings import KafkaSettings
from tests.conftest import fresh_database, unique_group
from tests.integration.audit.harness import (
    AUTH,
    LAB_TOKEN,
    audit_app,
    audit_settings,
    migrate,
    running,
    start_group_at_end,
)
from tests.unit.audit.factories import BASE_TIME, decision_event

pytestmark = pytest.mark.integration

OTHER_TRIAL = TrialRef(id="NCT00000001", version="v2")
T1, T2 = BASE_TIME, BASE_TIME + timedelta(days=10)


async def _store_history(database_url: str) -> list[str]:
    """pk_a: undetermined at T1, eligible at T2; pk_b: three decisions; one other trial."""
    events = [
        decision_event("pk_a", 0, Outcome.UNKNOWN, as_of=T1),
        decision_event("pk_a", 1, Outcome.PASS, as_of=T2),
        *(decision_event("pk_b", 10 + i, Outcome.FAIL, as_of=T1 + timedelta(hours=i))
          for i in range(3)),
        decision_event("pk_a", 20, Outcome.PASS, as_of=T1, trial=OTHER_TRIAL),
        *(decision_event("pk_c", 30 + i, Outcome.PASS, as_of=T2 + timedelta(hours=i))
          for i in range(2)),
    ]
    engine = make_engine(database_url)
    try:
        chain = DecisionChain(SqlChainStore(engine))
        for event in events:
            await chain.append(event, datetime.now(UTC))
    finally:
        await engine.dispose()
    return [str(e.decision_id) for e in events]


@contextlib.asynccontextmanager
async def _serve(database_url: str, kafka: KafkaSettings,
                 folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    await migrate(database_url)
    await _store_history(database_url)
    group = unique_group("audit-api")
    await start_group_at_end(kafka, group)
    app = audit_app(audit_settings(database_url, folder, group, max_page_size=50), kafka)
    async with running(app) as http:
        yield http


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def client(request: pytest.FixtureRequest, kafka_settings: KafkaSettings,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    """One audit service (real lifespan, broker and database) on the stored history for every
    test of this module that only reads it, on each database kind: these tests send GETs
    whose only write is the access log, which only the access-log test reads, on its own
    fresh service (``fresh_client``). Starting the service per test cost ~5-8 s each."""
    folder = tmp_path_factory.mktemp(f"auditor-api-{request.param}")
    async with fresh_database(request.param, folder) as url, \
            _serve(url, kafka_settings, folder) as http:
        yield http


@pytest.fixture
async def fresh_client(database_url: str, kafka_settings: KafkaSettings,
                       tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A service of its own on a fresh database: for the test that reads the access log."""
    async with _serve(database_url, kafka_settings, tmp_path) as http:
        yield http


async def test_decisions_are_found_by_patient_key_oldest_first(client: httpx.AsyncClient) -> None:
    response = await client.get("/decisions", params={"patient_key": "pk_b"}, headers=AUTH)
    assert response.status_code == 200
    items = response.json()["items"]
    assert [i["patient_key"] for i in items] == ["pk_b"] * 3
    assert [i["sequence"] for i in items] == sorted(i["sequence"] for i in items)


async def test_decisions_are_filtered_by_trial_version_status_and_decision_time(
        client: httpx.AsyncClient) -> None:
    by_trial = await client.get("/decisions", headers=AUTH, params={
        "trial_id": OTHER_TRIAL.id, "trial_version": OTHER_TRIAL.version})
    assert [i["patient_key"] for i in by_trial.json()["items"]] == ["pk_a"]
    ineligible = await client.get("/decisions", headers=AUTH, params={"status": "ineligible"})
    assert {i["patient_key"] for i in ineligible.json()["items"]} == {"pk_b"}
    window = await client.get("/decisions", headers=AUTH, params={
        "decided_from": (T2 - timedelta(minutes=1)).isoformat(),
        "decided_to": (T2 + timedelta(minutes=30)).isoformat()})
    assert {(i["patient_key"], i["status"]) for i in window.json()["items"]} == {
        ("pk_a", "eligible"), ("pk_c", "eligible")}


async def test_pages_follow_the_cursor_and_return_every_record_once(
        client: httpx.AsyncClient) -> None:
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor is not None else {})}
        page = (await client.get("/decisions", params=params, headers=AUTH)).json()
        seen += [i["sequence"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(1, 9))


async def test_one_record_is_served_by_its_decision_id_and_an_unknown_id_is_404(
        client: httpx.AsyncClient) -> None:
    first = (await client.get("/decisions", params={"limit": 1}, headers=AUTH)).json()["items"][0]
    found = await client.get(f"/decisions/{first['decision_id']}", headers=AUTH)
    assert found.json() == first
    missing = await client.get("/decisions/00000000-0000-0000-0000-000000000000", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["type"] == "https://trialwatch.dev/problems/decision-not-found"
    no_snapshot = await client.get(f"/snapshots/sha256:{'0' * 64}", headers=AUTH)
    assert (no_snapshot.status_code, no_snapshot.json()["type"]) == (
        404, "https://trialwatch.dev/problems/snapshot-not-found")


async def test_status_as_of_an_instant_gives_the_decision_then_in_force_and_why(
        client: httpx.AsyncClient) -> None:
    url = "/patients/pk_a/trials/NCT06920433/status"
    between = await client.get(url, headers=AUTH, params={"at": (T1 + timedelta(days=1))
                                                          .isoformat()})
    assert between.status_code == 200
    assert between.json()["status"] == "undetermined"
    [_, i4] = between.json()["criteria"]
    assert i4["outcome"] == "unknown"
    assert i4["missing"] == ["eGFR (LOINC 33914-3) within 28 days"]
    later = await client.get(url, headers=AUTH, params={"at": (T2 + timedelta(days=1))
                                                        .isoformat()})
    assert later.json()["status"] == "eligible"
    assert later.json()["criteria"][1]["evidence"][0]["fact_id"] == "fact-egfr-1"
    before = await client.get(url, headers=AUTH, params={"at": (T1 - timedelta(days=1))
                                                         .isoformat()})
    assert before.status_code == 404
    assert before.json()["type"] == "https://trialwatch.dev/problems/decision-not-found"


async def test_export_as_csv_and_json_lines_holds_every_matching_record(
        client: httpx.AsyncClient) -> None:
    as_csv = await client.get("/decisions/export", headers=AUTH,
                              params={"format": "csv", "patient_key": "pk_a"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["patient_key"] for r in rows] == ["pk_a"] * 3
    assert "I4 unknown: no eGFR in the last 28 days" in rows[0]["reasons"]
    as_jsonl = await client.get("/decisions/export", headers=AUTH, params={"format": "jsonl"})
    lines = [json.loads(line) for line in as_jsonl.text.splitlines()]
    assert [line["sequence"] for line in lines] == list(range(1, 9))
    assert lines[0]["decision"]["criteria"]


async def test_the_snapshot_a_decision_was_made_from_is_served_by_its_hash(
        client: httpx.AsyncClient) -> None:
    first = (await client.get("/decisions", params={"limit": 1}, headers=AUTH)).json()["items"][0]
    snapshot = await client.get(f"/snapshots/{first['snapshot_hash']}", headers=AUTH)
    assert snapshot.json()["facts"][0]["fact_id"] == "fact-egfr-1"


async def test_verify_over_http_reports_the_chain_intact(client: httpx.AsyncClient) -> None:
    report = (await client.get("/verify", headers=AUTH)).json()
    assert report["intact"] is True
    assert report["summary"] == "intact up to record 8"


async def test_every_auditor_query_is_recorded_with_who_and_what_filter(
        fresh_client: httpx.AsyncClient) -> None:
    await fresh_client.get("/decisions", params={"patient_key": "pk_c", "status": "eligible"},
                           headers=AUTH)
    await fresh_client.get("/verify", headers=AUTH)
    entries = (await fresh_client.get("/access-log", headers=AUTH)).json()["items"]
    assert [(e["client"], e["action"]) for e in entries] == [
        ("auditor-client", "query-decisions"), ("auditor-client", "verify")]
    assert entries[0]["query"]["patient_key"] == "pk_c"
    assert entries[0]["query"]["status"] == "eligible"
    assert entries[0]["result_count"] == 2


async def test_the_api_needs_an_auditor_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/decisions")).status_code == 401
    lab = {"Authorization": f"Bearer {LAB_TOKEN}"}
    assert (await client.get("/decisions", headers=lab)).status_code == 403
    assert (await client.get("/verify", headers=lab)).status_code == 403


async def test_an_instant_without_a_timezone_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/decisions", headers=AUTH,
                                params={"decided_from": "2026-11-01T09:00:00"})
    assert response.status_code == 422


async def test_the_openapi_document_shows_examples(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "/decisions" in document["paths"]
    assert "/patients/{patient_key}/trials/{trial_id}/status" in document["paths"]
    assert document["components"]["schemas"]["AuditRecordOut"]["examples"]
