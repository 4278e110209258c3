"""``trialwatch import`` of FHIR Bulk Data NDJSON into intake on the real databases: every line
through the one normaliser, refused lines reported with file and line, resumable after a
crash, idempotent on re-run (issue 13, bulk onboarding)."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from services.cli.bulk_import import (
    ImportAborted,
    ImportState,
    ndjson_files,
    run_import,
    workers_for,
)
from services.intake.admin import BulkAnswer, BulkIntake
from shared.infra.sql_engine import make_engine
from tests.integration.intake.harness import LAB, api_without_broker, migrate

pytestmark = pytest.mark.integration
PATIENTS = 6
RESULTS_PER_PATIENT = 5


def patient(n: int) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": f"bulk-{n}",
            "meta": {"versionId": "1", "lastUpdated": "2026-11-01T10:00:00.000+00:00"},
            "identifier": [{"type": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                "system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"MRN-B{n}"}],
            "gender": "female" if n % 2 else "male", "birthDate": f"19{60 + n}-03-0{1 + n % 9}"}


def hemoglobin(n: int, i: int, unit: str = "g/dL") -> dict[str, Any]:
    return {"resourceType": "Observation", "id": f"bulk-{n}-hb-{i}",
            "meta": {"versionId": "2", "lastUpdated": "2026-11-01T10:00:00.000+00:00"},
            "status": "final",
            "category": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "718-7",
                                 "display": "Hemoglobin [Mass/volume] in Blood"}]},
            "subject": {"reference": f"Patient/bulk-{n}"},
            "effectiveDateTime": f"2025-{1 + i % 12:02d}-1{n}T08:30:00-05:00",
            "valueQuantity": {"value": 12.5 + i / 10, "unit": unit,
                              "system": "http://unitsofmeasure.org", "code": unit}}


def export(folder: Path) -> Path:
    """A $export output folder: one file per type, one resource per line, as servers write it
    (compact JSON, LF line ends); one malformed line, one refused result, one Encounter."""
    folder.mkdir()
    lines = [json.dumps(patient(n)) for n in range(PATIENTS)]
    (folder / "Patient.ndjson").write_text("\n".join(lines) + "\n")
    results = [json.dumps(hemoglobin(n, i)) for n in range(PATIENTS)
               for i in range(RESULTS_PER_PATIENT)]
    results.insert(3, '{"resourceType": "Observation", "id": ')  # a truncated line
    results.append(json.dumps(hemoglobin(0, 9, unit="kg")))  # hemoglobin in kg: refused
    (folder / "Observation.ndjson").write_text("\n".join(results) + "\n")
    # types TrialWatch does not read: batches of them carry nothing readable, so intake
    # answers the second as a replay of the first; none of their lines may count as refused
    (folder / "Claim.ndjson").write_text("".join(json.dumps(
        {"resourceType": "Claim", "id": f"c{i}", "status": "active",
         "patient": {"reference": "Patient/bulk-0"}}) + "\n" for i in range(3)))
    (folder / "Encounter.ndjson").write_text("".join(json.dumps(
        {"resourceType": "Encounter", "id": f"e{i}", "status": "finished",
         "class": {"code": "AMB"}, "subject": {"reference": f"Patient/bulk-{i % 3}"}}) + "\n"
        for i in range(7)))
    return folder


async def published(database_url: str) -> tuple[int, int]:
    """(events, facts) queued in intake's outbox."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            payloads = (await connection.execute(text("SELECT payload FROM intake_outbox"))).all()
    finally:
        await engine.dispose()
    return len(payloads), sum(len(json.loads(row[0]).get("facts", [])) for row in payloads)


class CrashAfter(httpx.AsyncBaseTransport):
    """The import process dies after ``posts`` requests (as under SIGKILL, nothing after)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, posts: int) -> None:
        self._inner = inner
        self._left = posts

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._left == 0:
            raise KeyboardInterrupt("killed")
        self._left -= 1
        return await self._inner.handle_async_request(request)


async def test_an_export_is_imported_refused_lines_reported_and_a_rerun_adds_nothing(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url)
    files = ndjson_files([export(tmp_path / "export")])
    assert next(f.name for f in files) == "Patient.ndjson"
    report = io.StringIO()
    state = ImportState(tmp_path / "state.json")
    async with api_without_broker(database_url) as (client, _):
        client.headers.update(LAB)
        tally = await run_import(files, client, state, report, batch_size=7,
                                 show_progress=False)
        first = await published(database_url)
        again = await run_import(files, client, ImportState(tmp_path / "other.json"),
                                 io.StringIO(), batch_size=7, show_progress=False)
    results = PATIENTS * RESULTS_PER_PATIENT
    assert (tally.lines, tally.accepted, tally.refused) == (
        PATIENTS + results + 12, PATIENTS + results, 2)
    assert tally.ignored + tally.already_had == 10
    refused = [line.split("\t") for line in report.getvalue().splitlines()]
    assert next((r[0], r[1]) for r in refused if r[2] == "$") == ("Observation.ndjson", "4")
    assert any(r[0] == "Observation.ndjson" and r[1] == str(results + 2) and "value" in r[2]
               for r in refused)
    assert first[1] == results  # every accepted result is a fact of a queued event
    assert again.accepted == tally.accepted
    assert again.replayed_batches > 0
    assert await published(database_url) == first  # nothing published twice


async def test_an_import_killed_midway_resumes_where_it_stopped_and_publishes_each_once(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url)
    files = ndjson_files([export(tmp_path / "export")])
    state_path = tmp_path / "state.json"
    async with api_without_broker(database_url) as (client, _):
        client.headers.update(LAB)
        crashing = httpx.AsyncClient(transport=CrashAfter(client._transport, 3),
                                     base_url=client.base_url, headers=client.headers)
        with pytest.raises(KeyboardInterrupt):
            await run_import(files, crashing, ImportState.load(state_path, restart=False),
                             io.StringIO(), batch_size=7, show_progress=False)
        saved = json.loads(state_path.read_text())
        assert sum(saved.values()) > 0
        resumed = await run_import(files, client, ImportState.load(state_path, restart=False),
                                   io.StringIO(), batch_size=7, show_progress=False)
    assert resumed.skipped_lines > 0
    assert resumed.skipped_lines + resumed.lines == PATIENTS + PATIENTS * RESULTS_PER_PATIENT + 12
    _, facts = await published(database_url)
    assert facts == PATIENTS * RESULTS_PER_PATIENT  # each result once, none lost, none twice


async def test_a_refused_token_stops_the_import_and_keeps_the_state(
    database_url: str, tmp_path: Path
) -> None:
    await migrate(database_url)
    files = ndjson_files([export(tmp_path / "export")])
    state = ImportState(tmp_path / "state.json")
    async with api_without_broker(database_url) as (client, _):
        client.headers.update({"Authorization": "Bearer not-a-token"})
        with pytest.raises(ImportAborted, match="401"):
            await run_import(files, client, state, io.StringIO(), show_progress=False)
    assert state.offsets == {}


class KilledAfter(BulkIntake):
    """The direct import dies after ``batches`` recorded batches (as under SIGKILL)."""

    def __init__(self, *args: Any, batches: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._left = batches

    async def deliver(self, ready: Awaitable[Any]) -> BulkAnswer:
        if self._left == 0:
            raise KeyboardInterrupt("killed")
        self._left -= 1
        return await super().deliver(ready)


async def test_the_direct_path_in_worker_processes_gives_what_posting_gives_and_resumes(
    database_url: str, tmp_path: Path
) -> None:
    """``--database-url`` with two worker processes: the same accepted and refused lines as
    through HTTP (first test), each result once after a kill and a resume, nothing new on a
    re-run; a batch prepared ahead but not recorded when killed is not counted as done."""
    await migrate(database_url)
    files = ndjson_files([export(tmp_path / "export")])
    state_path = tmp_path / "state.json"
    assert workers_for(PATIENTS + PATIENTS * RESULTS_PER_PATIENT + 12, 7, 2) == 2
    report = io.StringIO()
    async with KilledAfter(database_url, "lab-a", workers=2, batches=2) as killed:
        assert killed.ahead == 4  # batches prepared in the workers before the oldest is written
        with pytest.raises(KeyboardInterrupt):
            await run_import(files, killed, ImportState.load(state_path, restart=False),
                             report, batch_size=7, show_progress=False)
    saved = json.loads(state_path.read_text())
    assert sum(saved.values()) > 0
    async with BulkIntake(database_url, "lab-a", workers=2) as intake:
        resumed = await run_import(files, intake, ImportState.load(state_path, restart=False),
                                   report, batch_size=7, show_progress=False)
        first = await published(database_url)
        again = await run_import(files, intake, ImportState(tmp_path / "other.json"),
                                 io.StringIO(), batch_size=7, show_progress=False)
    results = PATIENTS * RESULTS_PER_PATIENT
    # the two batches recorded before the kill (Patient, then Claim); the ones prepared ahead
    # of them were not, so they are read again
    assert resumed.skipped_lines == PATIENTS + 3
    assert resumed.skipped_lines + resumed.lines == PATIENTS + results + 12
    assert first[1] == results  # each result once, none lost, none twice
    assert again.accepted == PATIENTS + results
    assert (again.refused, again.ignored + again.already_had) == (2, 10)
    assert await published(database_url) == first  # nothing published twice
    refused = [line.split("\t") for line in report.getvalue().splitlines()]
    assert ("Observation.ndjson", "4", "$") in {(r[0], r[1], r[2]) for r in refused}
    assert any(r[1] == str(results + 2) and "value" in r[2] for r in refused)


@pytest.mark.parametrize("direct", [False, True], ids=["http", "direct"])
async def test_a_line_nested_too_deeply_is_refused_by_its_line_and_the_rest_imported(
    database_url: str, tmp_path: Path, direct: bool
) -> None:
    """A line whose JSON nests too deeply to parse (Python's decoder raises RecursionError, not
    ValueError) is refused at ``$`` with its line number; it neither stops the import nor
    takes the other lines of its batch with it, on either path (issue 13: the direct path
    now parses each line once, in the worker)."""
    await migrate(database_url)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text(
        json.dumps(patient(1)) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n"
        + json.dumps(patient(2)) + "\n")
    report = io.StringIO()
    files = ndjson_files([folder])
    if direct:
        async with BulkIntake(database_url, "lab-a") as intake:
            tally = await run_import(files, intake, ImportState(tmp_path / "s.json"), report,
                                     show_progress=False)
    else:
        async with api_without_broker(database_url) as (client, _):
            client.headers.update(LAB)
            tally = await run_import(files, client, ImportState(tmp_path / "s.json"), report,
                                     show_progress=False)
    assert (tally.lines, tally.accepted, tally.refused) == (3, 2, 1)
    assert [line.split("\t")[:3] for line in report.getvalue().splitlines()] == [
        ["Patient.ndjson", "2", "$"]]
    assert (await published(database_url))[0] == 2
