"""A CDS Hooks call whose patient look-up intake cannot answer in time is answered 503 with
Retry-After (``intake-busy``), not 502 (issue 14 hostile probe: under hostile load intake's
look-up took up to 13.4 s, past the evaluator's 3 s, and 15 order-select calls were answered
502 "intake did not answer"). RFC 9110 15.6.4: 503 is a temporary overload, relieved after a
delay that Retry-After gives; 502 is an invalid answer from upstream. CDS Hooks 1.0 "Error
handling": the EHR shows no cards for either.

A real evaluator served by uvicorn (real broker and database), a real CDS Hooks call signed by
the EHR's key, and a real HTTP server on loopback standing in for intake's ``POST
/patients/lookup``: one that answers after the time-out, one that answers 503 itself; and no
server at all (connection refused: still 502, intake is not there)."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from shared.settings import KafkaSettings
from tests.cds_client import ISSUER, CdsClient, order_select_for, request_for
from tests.integration.evaluator.harness import evaluator_over_http, fresh_settings
from tests.unit.evaluator.fakes import OneLabScreener

pytestmark = pytest.mark.integration
PATIENT_VIEW = "/cds-services/trialwatch-patient-view"
ORDER_SELECT = "/cds-services/trialwatch-order-select"


class FakeIntake:
    """Answers ``POST /patients/lookup`` with ``status`` (and ``headers``) after ``delay_s``
    seconds (cut short when the test ends); counts the calls."""

    def __init__(self, delay_s: float, status: int, headers: dict[str, str]) -> None:
        self.calls = 0
        self.stop = threading.Event()
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                served.calls += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                served.stop.wait(delay_s)
                body = json.dumps({"type": "x", "status": status}).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/problem+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)  # the evaluator may have given up already

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def ehr() -> CdsClient:
    return CdsClient()


def _serve(intake: FakeIntake) -> Iterator[FakeIntake]:
    thread = threading.Thread(target=intake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield intake
    finally:
        intake.stop.set()
        intake.server.shutdown()
        intake.server.server_close()


@pytest.fixture
def slow_intake() -> Iterator[FakeIntake]:
    yield from _serve(FakeIntake(6.0, 200, {}))  # past the evaluator's 3 s time-out


@pytest.fixture
def unavailable_intake() -> Iterator[FakeIntake]:
    yield from _serve(FakeIntake(0.0, 503, {"Retry-After": "30"}))


async def _calls(database_url: str, kafka: KafkaSettings, ehr: CdsClient, tmp_path: Path,
                 intake_url: str) -> list[httpx.Response]:
    issuers = {ISSUER: {"jwks": str(ehr.write_jwks(tmp_path / "ehr.jwks.json")),
                        "source_system": "ehr"}}
    settings = await fresh_settings(database_url, kafka, "evaluator-intake-busy",
                                    cds_issuers=json.dumps(issuers),
                                    cds_intake_token="coordinator-token",
                                    intake_url=intake_url)
    answers = []
    async with evaluator_over_http(settings, kafka, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        for service, body in ((PATIENT_VIEW, request_for("ehr-patient-1")),
                              (ORDER_SELECT, order_select_for("ehr-patient-1"))):
            answers.append(await client.post(service, json=body, headers={
                "authorization": f"Bearer {ehr.token(f'{base}{service}')}"}))
    return answers


def _sqlite_only(database_url: str) -> None:
    if "postgresql" in database_url:
        pytest.skip("the look-up's answer reads no database: SQLite covers it")


async def test_a_look_up_intake_does_not_answer_in_time_is_503_with_retry_after(
        kafka_settings: KafkaSettings, database_url: str, ehr: CdsClient, tmp_path: Path,
        slow_intake: FakeIntake) -> None:
    _sqlite_only(database_url)
    answers = await _calls(database_url, kafka_settings, ehr, tmp_path, slow_intake.url)
    assert slow_intake.calls == 2
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "5"
        assert answer.headers["Content-Type"].startswith("application/problem+json")
        problem = answer.json()
        assert problem["type"].endswith("/intake-busy")
        assert problem["status"] == 503
        assert "ReadTimeout" in json.dumps(problem)
        assert "cards" not in problem


async def test_intake_answering_503_is_passed_on_as_503_with_its_retry_after(
        kafka_settings: KafkaSettings, database_url: str, ehr: CdsClient, tmp_path: Path,
        unavailable_intake: FakeIntake) -> None:
    _sqlite_only(database_url)
    answers = await _calls(database_url, kafka_settings, ehr, tmp_path, unavailable_intake.url)
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "30"
        assert answer.json()["type"].endswith("/intake-busy")


async def test_an_intake_that_is_not_there_is_still_502(
        kafka_settings: KafkaSettings, database_url: str, ehr: CdsClient,
        tmp_path: Path) -> None:
    _sqlite_only(database_url)
    answers = await _calls(database_url, kafka_settings, ehr, tmp_path, "http://127.0.0.1:9")
    for answer in answers:
        assert answer.status_code == 502, answer.text
        assert "Retry-After" not in answer.headers
        assert answer.json()["type"].endswith("/intake-lookup-failed")
