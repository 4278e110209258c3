"""A CDS Client's JWKS endpoint that answers slowly stalls no other request (issue 14 section
2: no input can stall a service). The evaluator fetches an EHR's JWK Set (at most once per
30 s on an unknown ``kid``, every 300 s otherwise, at most 1 MiB); the fetch ran synchronously
inside the request, so while it lasted the event loop served nothing, ``/livez`` included. A
real evaluator served by uvicorn on loopback (real broker and database), a real HTTP server
on loopback that sleeps before answering the JWK Set, and a real CDS Hooks 2.0 patient-view
call signed by the EHR's key: ``/livez`` answers within a second while the call waits, then the
call's token is verified with the fetched key (intake is not running: the look-up fails,
502), and a second call within 30 s fetches nothing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from jwt.algorithms import ECAlgorithm

from shared.settings import KafkaSettings
from tests.cds_client import ISSUER, KID, CdsClient, request_for
from tests.integration.evaluator.harness import evaluator_over_http, fresh_settings, until
from tests.unit.evaluator.fakes import OneLabScreener

pytestmark = pytest.mark.integration
SLOW_S = 4.0
SERVICE = "/cds-services/trialwatch-patient-view"


class SlowJwks:
    """Serves one JWK Set after ``SLOW_S`` seconds (cut short when the test ends), counting
    GETs."""

    def __init__(self, body: bytes) -> None:
        self.fetches = 0
        self.stop = threading.Event()
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                served.stop.wait(SLOW_S)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def ehr() -> CdsClient:
    return CdsClient()


@pytest.fixture
def slow_jwks(ehr: CdsClient) -> Iterator[SlowJwks]:
    public = json.loads(ECAlgorithm.to_jwk(ehr.key.public_key()))
    served = SlowJwks(json.dumps({"keys": [{**public, "kid": KID, "use": "sig",
                                            "alg": "ES384"}]}).encode())
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.stop.set()
        served.server.shutdown()
        served.server.server_close()


async def test_livez_answers_while_a_jwks_fetch_waits_on_a_slow_endpoint(
        kafka_settings: KafkaSettings, database_url: str, ehr: CdsClient,
        slow_jwks: SlowJwks) -> None:
    if "postgresql" in database_url:
        pytest.skip("the fetch reads no database: SQLite covers it")
    issuers = {ISSUER: {"jwks": slow_jwks.url, "source_system": "ehr"}}
    settings = await fresh_settings(database_url, kafka_settings, "evaluator-slow-jwks",
                                    cds_issuers=json.dumps(issuers),
                                    cds_intake_token="unused",
                                    intake_url="http://127.0.0.1:9")
    async with evaluator_over_http(settings, kafka_settings, OneLabScreener()) as base, \
            httpx.AsyncClient(base_url=base, timeout=30) as client:
        audience = f"{base}{SERVICE}"

        async def hook() -> httpx.Response:
            return await client.post(SERVICE, json=request_for("ehr-patient-1"), headers={
                "authorization": f"Bearer {ehr.token(audience)}"})

        call = asyncio.create_task(hook())
        assert await until(lambda: slow_jwks.fetches > 0, 10), "the JWK Set was not fetched"
        assert slow_jwks.fetches == 1
        answered = []
        for _ in range(5):  # over the first ~2 s of the SLOW_S fetch
            started = time.monotonic()
            live = await client.get("/livez", timeout=1.0)
            answered.append(time.monotonic() - started)
            assert live.status_code == 200
            assert not call.done()
            await asyncio.sleep(0.3)
        assert max(answered) < 1.0
        response = await call
        # verified with the fetched key (401 is a refused token); then intake, not running
        # here, cannot look the patient up: 502 intake-lookup-failed (was a 500 when the
        # connection failed), never a card
        assert response.status_code == 502, response.text
        assert response.json()["type"].endswith("intake-lookup-failed")
        second = await hook()
        assert second.status_code == 502, second.text
        assert slow_jwks.fetches == 1  # the set is cached
