"""``GET /verify?min_checkpoint=SEQ-ACCESS-ACTION``: the auditor gives the API, as the CLI's
``audit verify --min-checkpoint``, a checkpoint known from outside to have been written (its
file name's numbers, noted off the audit host), and a newest trusted checkpoint signing less
is reported ``stale`` (issue 14 section 4: checkpoints deleted with what they alone signed).
On a real database of both kinds with the service's real lifespan and checkpoint files: the
first run's shutdown writes a checkpoint; the second run verifies against its name, then
without the file. Bad input is a 422 naming the parameter (issue 14 section 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import KafkaSettings
from tests.conftest import unique_group
from tests.integration.audit.harness import (
    AUTH,
    audit_app,
    audit_settings,
    migrate,
    running,
    start_group_at_end,
)
from tests.integration.audit.test_auditor_api import _store_history

pytestmark = pytest.mark.integration


async def test_verify_reports_a_stale_or_missing_newest_checkpoint_against_min_checkpoint(
        database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    await migrate(database_url)
    await _store_history(database_url)
    group = unique_group("audit-min-checkpoint")
    await start_group_at_end(kafka_settings, group)
    settings = audit_settings(database_url, tmp_path, group)
    async with running(audit_app(settings, kafka_settings)) as client:
        assert (await client.get("/verify", headers=AUTH)).json()["intact"] is True
    # the shutdown signed the 8 records and the access entry of that verify
    newest = max(settings.checkpoint_dir.glob("checkpoint-*.json"),
                 key=lambda p: [int(n) for n in p.stem.split("-")[1:]])
    padded = newest.stem.removeprefix("checkpoint-")  # "000000000008-000000000001"
    numbers = "-".join(str(int(n)) for n in padded.split("-"))
    assert numbers.startswith("8-")

    async with running(audit_app(settings, kafka_settings)) as client:
        for given in (numbers, padded, newest.name, "8", "1-0-0"):
            report = (await client.get("/verify", headers=AUTH,
                                       params={"min_checkpoint": given})).json()
            assert report["intact"] is True, (given, report["summary"])
        seq, access, action = [*numbers.split("-"), "0", "0"][:3]
        for later in (f"{int(seq) + 1}", f"{seq}-{int(access) + 1}-{action}",
                      f"{seq}-{access}-{int(action) + 1}"):
            report = (await client.get("/verify", headers=AUTH,
                                       params={"min_checkpoint": later})).json()
            assert report["intact"] is False
            assert [p["kind"] for p in report["other_problems"]] == ["stale"], later
        newest.unlink()  # the newest checkpoint deleted: what the auditor noted says it existed
        report = (await client.get("/verify", headers=AUTH,
                                   params={"min_checkpoint": newest.name})).json()
        assert report["intact"] is False
        assert [p["kind"] for p in report["other_problems"]] == ["stale"]
        assert numbers in report["other_problems"][0]["detail"]
        # without the expectation the same deletion is not seen: what min_checkpoint is for
        assert (await client.get("/verify", headers=AUTH)).json()["intact"] is True
        entries = (await client.get("/access-log", headers=AUTH)).json()["items"]
        assert {"min_checkpoint": f"{seq}-{access}-{action}"} in [e["query"] for e in entries
                                               if e["action"] == "verify"]
        assert {} in [e["query"] for e in entries if e["action"] == "verify"]


BAD = ["abc", "1-2-3-4", "-1", "1--2", "8.5", "checkpoint-x.json", "../checkpoint-8.json",
       "checkpoint-8.json/x", str(2**63), f"1-{2**63}", f"1-2-{2**63}", "1" * 81, "", " 8"]


async def test_a_bad_min_checkpoint_is_422_naming_the_parameter(
        database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    await migrate(database_url)
    group = unique_group("audit-min-checkpoint")
    await start_group_at_end(kafka_settings, group)
    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)) as client:
        for given in BAD:
            response = await client.get("/verify", headers=AUTH,
                                        params={"min_checkpoint": given})
            assert response.status_code == 422, (given, response.text)
            assert "min_checkpoint" in response.text, given
        # refused before the walk: no verification was made, so none is logged
        entries = (await client.get("/access-log", headers=AUTH)).json()["items"]
        assert [e["action"] for e in entries if e["action"] == "verify"] == []
        # the largest numbers a checkpoint can carry (BIGINT) are accepted, and stale here
        largest = f"{2**63 - 1}-{2**63 - 1}-{2**63 - 1}"
        report = (await client.get("/verify", headers=AUTH,
                                   params={"min_checkpoint": largest})).json()
        assert [p["kind"] for p in report["other_problems"]] == ["stale"]


async def test_the_openapi_document_describes_min_checkpoint(
        database_url: str, kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    if "postgresql" in database_url:
        pytest.skip("the document does not depend on the database: SQLite covers it")
    await migrate(database_url)
    group = unique_group("audit-min-checkpoint")
    async with running(audit_app(audit_settings(database_url, tmp_path, group),
                                 kafka_settings)) as client:
        document = (await client.get("/openapi.json")).json()
    (parameter,) = document["paths"]["/verify"]["get"]["parameters"]
    assert parameter["name"] == "min_checkpoint"
    assert parameter["in"] == "query"
    assert "stale" in parameter["description"]
    assert parameter["schema"]["anyOf"][0]["maxLength"] == 80
