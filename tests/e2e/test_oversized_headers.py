"""Request headers beyond the servers' limit, against the services as ``trialwatch run`` runs them.

The issue 14 hostile probe (benchmarks/hostile_pipeline.py) sent the evaluator's CDS Hooks
endpoint a forged 100,000-character bearer token and got no answer at all: the connection was
closed. Every service's server (shared.infra.server) takes at most ``MAX_HEADER_BYTES`` of
request line and headers; beyond that the answer is RFC 6585 section 5's ``431 Request Header
Fields Too Large`` with a problem document, and the client, still sending its request when the
limit is crossed, must receive it (a socket closed with unread request bytes is reset by the
kernel, and a reset discards the answer at the client). Real HTTP clients (httpx, as the probe)
on real sockets, each service as its own process under ``trialwatch run``.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.infra.server import MAX_HEADER_BYTES
from tests.e2e.pipeline import interrupt, read_until, start_run, tokens_by_role

pytestmark = pytest.mark.e2e
FORGED = "x" * 100_000
OBSERVATION = Path(__file__).resolve().parents[2] / "docs" / "examples" / "observation.json"
CDS_BODY = json.dumps({"hook": "patient-view",
                       "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                       "context": {"userId": "Practitioner/1", "patientId": "1288992"}}).encode()
Request = tuple[str, str, str, bytes, dict[str, str]]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    data = tmp_path_factory.mktemp("oversized") / "var"
    process, ports = start_run(data)
    try:
        read_until(process, "Ctrl-C stops everything", timeout_s=120)
        yield {"ports": ports, "tokens": tokens_by_role(data / "dev-tokens.json")}
    finally:
        assert interrupt(process) == 0


def _requests(run: dict[str, object], bearer: str) -> list[Request]:
    ports: dict[str, int] = run["ports"]  # type: ignore[assignment]
    return [
        ("evaluator CDS Hooks patient-view", "POST",
         f"http://127.0.0.1:{ports['evaluator']}/cds-services/trialwatch-patient-view", CDS_BODY,
         {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}),
        ("intake FHIR", "POST", f"http://127.0.0.1:{ports['intake']}/fhir",
         OBSERVATION.read_bytes(),
         {"Content-Type": "application/fhir+json", "Authorization": f"Bearer {bearer}"}),
        ("audit decisions", "GET", f"http://127.0.0.1:{ports['audit']}/decisions", b"",
         {"Authorization": f"Bearer {bearer}"}),
    ]


def test_a_forged_100k_bearer_token_is_answered_431_by_every_service(
    run: dict[str, object],
) -> None:
    answers: dict[str, object] = {}
    for what, method, url, body, headers in _requests(run, FORGED):
        for attempt in range(5):  # each on a new connection: the answer never depends on luck
            with httpx.Client(timeout=30) as client:
                try:
                    response = client.request(method, url, content=body, headers=headers)
                except httpx.TransportError as error:
                    answers[f"{what} #{attempt}"] = f"no answer: {type(error).__name__}"
                    continue
            answers[f"{what} #{attempt}"] = (
                response.status_code, response.headers.get("content-type"),
                response.json().get("type") if response.status_code == 431 else response.text[:80])
    assert answers == {key: (431, "application/problem+json",
                             "https://trialwatch.dev/problems/request-header-fields-too-large")
                       for key in answers}


def test_headers_over_the_limit_sent_in_pieces_are_answered_431_and_the_service_serves_on(
    run: dict[str, object],
) -> None:
    ports: dict[str, int] = run["ports"]  # type: ignore[assignment]
    head = (b"POST /cds-services/trialwatch-patient-view HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: " +
            str(len(CDS_BODY)).encode() + b"\r\nAuthorization: Bearer ")
    with socket.create_connection(("127.0.0.1", ports["evaluator"]), timeout=30) as connection:
        connection.sendall(head)
        for _ in range(2 * MAX_HEADER_BYTES // 4096):  # in pieces, as over a slow link
            connection.sendall(b"y" * 4096)
            time.sleep(0.02)
        connection.sendall(b"\r\n\r\n" + CDS_BODY)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"connection: close" in answer.lower()
    # the service is not harmed: a well-formed call still gets its ordinary answer
    fine = httpx.get(f"http://127.0.0.1:{ports['evaluator']}/cds-services", timeout=30)
    assert fine.status_code == 200
