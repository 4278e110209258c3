"""Tokens and signed events naming a key id nobody has cost no key fetch, no reload and no
signature check each (issue 14: an attacker must not turn each request into work against the
key source). CDS Hooks JWTs: a real JWKS server on loopback counts its fetches, and file reads
are counted, while 50 tokens with random ``kid`` are refused. Signed events (decisions and
coordinator actions for audit, hold notices for the evaluator, re-identifications for audit:
``shared.infra.signing.TrustedKeys``): 1,000 events with random key ids are refused reading the
key files at most once per ``reload_after_s``, and verifying no signature."""

from __future__ import annotations

import asyncio
import json
import pathlib
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import ECAlgorithm

from services.evaluator.adapters.http import cds_hooks
from services.evaluator.adapters.http.cds_hooks import JwtVerifier, trusted_issuers
from shared.contracts.signatures import EventSignature
from shared.infra import signing
from shared.infra.signing import TrustedKeys
from tests.cds_client import ISSUER, CdsClient

AUDIENCE = "https://trialwatch.example.org/cds-services/trialwatch-patient-view"
TOKENS = 50


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving one JWK Set, counting GETs."""

    def __init__(self, jwks: bytes) -> None:
        self.fetches = 0
        self.status = 200
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                self.send_response(served.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks)))
                self.end_headers()
                self.wfile.write(jwks)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"


@pytest.fixture
def ehr() -> CdsClient:
    return CdsClient()


@pytest.fixture
def jwks_server(ehr: CdsClient) -> Iterator[JwksServer]:
    public = json.loads(ECAlgorithm.to_jwk(ehr.key.public_key()))
    body = json.dumps({"keys": [{**public, "kid": "ehr-key-1", "use": "sig",
                                 "alg": "ES384"}]}).encode()
    served = JwksServer(body)
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        served.server.server_close()


def forged(ehr: CdsClient) -> str:
    """A token of the trusted issuer's shape naming a random key id."""
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now,
                       "jti": str(uuid.uuid4())}, ehr.key, algorithm="ES384",
                      headers={"kid": uuid.uuid4().hex})


async def test_tokens_with_unknown_kids_do_not_each_fetch_the_jwks(
        ehr: CdsClient, jwks_server: JwksServer) -> None:
    verifier = JwtVerifier(trusted_issuers(json.dumps(
        {ISSUER: {"jwks": jwks_server.url, "source_system": "ehr"}})))
    issuer, _ = await verifier.verify(ehr.token(AUDIENCE), AUDIENCE)  # genuine: the first fetch
    assert issuer.source_system == "ehr"
    for _ in range(TOKENS):
        with pytest.raises(jwt.PyJWTError):
            await verifier.verify(forged(ehr), AUDIENCE)
    assert jwks_server.fetches == 1
    await verifier.verify(ehr.token(AUDIENCE), AUDIENCE)  # the genuine key still answers
    assert jwks_server.fetches == 1


async def test_while_the_jwks_url_fails_tokens_do_not_each_fetch_it_again(
        ehr: CdsClient, jwks_server: JwksServer) -> None:
    """The EHR's JWKS endpoint answering 500: PyJWKClient's cool-down counted only successful
    fetches, so each token (forged or not) fetched again, blocking the event loop meanwhile."""
    jwks_server.status = 500
    verifier = JwtVerifier(trusted_issuers(json.dumps(
        {ISSUER: {"jwks": jwks_server.url, "source_system": "ehr"}})))
    for _ in range(TOKENS):
        with pytest.raises(jwt.PyJWTError):
            await verifier.verify(forged(ehr), AUDIENCE)
    assert jwks_server.fetches == 1


async def test_tokens_with_unknown_kids_do_not_each_read_the_jwks_file(
        ehr: CdsClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    jwks = ehr.write_jwks(tmp_path / "ehr.jwks.json")
    reads: list[str] = []
    read_text = pathlib.Path.read_text

    def counted(self: pathlib.Path, *args: Any, **kwargs: Any) -> str:
        if self == jwks:
            reads.append(str(self))
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "read_text", counted)
    verifier = JwtVerifier(trusted_issuers(json.dumps(
        {ISSUER: {"jwks": str(jwks), "source_system": "ehr"}})))
    await verifier.verify(ehr.token(AUDIENCE), AUDIENCE)
    for _ in range(TOKENS):
        with pytest.raises(jwt.PyJWTError):
            await verifier.verify(forged(ehr), AUDIENCE)
    assert len(reads) == 1


def test_events_signed_with_unknown_key_ids_read_the_key_files_at_most_once_per_interval(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = Ed25519PrivateKey.generate()
    pem = tmp_path / "evaluator-signing-key.pub.pem"
    pem.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    reads: list[int] = []
    read_keys = signing._read_keys

    def counted(paths: Any) -> Any:
        reads.append(1)
        return read_keys(paths)

    monkeypatch.setattr(signing, "_read_keys", counted)
    keys = TrustedKeys([pem], reload_after_s=5.0)
    loaded = len(reads)
    verified: list[int] = []
    real_find = keys._find

    def find(kid: str) -> Any:
        found = real_find(kid)
        if found is not None:
            verified.append(1)
        return found

    monkeypatch.setattr(keys, "_find", find)
    refusals = {keys.refusal(EventSignature(key_id=uuid.uuid4().hex[:16], value="AAAA"),
                             "sha256:" + "0" * 64).kind  # type: ignore[union-attr]
                for _ in range(1000)}
    assert refusals == {"unknown-key"}
    assert len(reads) - loaded <= 2  # at most one reload (accepted + retired) in 5 s
    assert verified == []


class TricklingJwks:
    """A real HTTP server on 127.0.0.1 that answers a JWK Set ``delay_s`` late, or (with
    ``trickle``) sends its headers then one byte every 0.2 s: each read is well within the
    client's 5 s, the whole never ends. Counts GETs."""

    def __init__(self, jwks: bytes, delay_s: float = 0.0, trickle: bool = False) -> None:
        self.fetches = 0
        self.stop = threading.Event()
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                served.fetches += 1
                served.stop.wait(delay_s)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(jwks) + (10**6 if trickle else 0)))
                self.end_headers()
                self.wfile.write(jwks)
                while trickle and not served.stop.wait(0.2):
                    self.wfile.write(b" ")
                    self.wfile.flush()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def _jwks_of(ehr: CdsClient) -> bytes:
    public = json.loads(ECAlgorithm.to_jwk(ehr.key.public_key()))
    return json.dumps({"keys": [{**public, "kid": "ehr-key-1", "use": "sig",
                                 "alg": "ES384"}]}).encode()


async def test_tokens_arriving_during_a_slow_fetch_await_that_one_fetch(ehr: CdsClient) -> None:
    served = TricklingJwks(_jwks_of(ehr), delay_s=1.0)
    try:
        verifier = JwtVerifier(trusted_issuers(json.dumps(
            {ISSUER: {"jwks": served.url, "source_system": "ehr"}})))
        ticks = 0

        async def ticking() -> None:  # the event loop keeps serving meanwhile
            nonlocal ticks
            while True:
                await asyncio.sleep(0.05)
                ticks += 1

        ticker = asyncio.create_task(ticking())
        # one caller gives up (a client that disconnected): the others still get the set
        impatient = asyncio.create_task(verifier.verify(ehr.token(AUDIENCE), AUDIENCE))
        await asyncio.sleep(0.1)
        impatient.cancel()
        results = await asyncio.gather(*(verifier.verify(ehr.token(AUDIENCE), AUDIENCE)
                                          for _ in range(20)))
        ticker.cancel()
        assert [issuer.source_system for issuer, _ in results] == ["ehr"] * 20
        assert served.fetches == 1
        assert ticks >= 10  # ~1 s of 50 ms ticks while the fetch waited
    finally:
        served.close()


async def test_a_trickling_jwks_endpoint_is_given_up_after_the_deadline(
        ehr: CdsClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cds_hooks, "FETCH_DEADLINE_S", 1.0)
    served = TricklingJwks(_jwks_of(ehr), trickle=True)
    try:
        verifier = JwtVerifier(trusted_issuers(json.dumps(
            {ISSUER: {"jwks": served.url, "source_system": "ehr"}})))
        started = time.monotonic()
        with pytest.raises(jwt.PyJWKClientError, match="TimeoutError"):
            await verifier.verify(ehr.token(AUDIENCE), AUDIENCE)
        assert time.monotonic() - started < 3.0
        # within min_refresh_s nothing is fetched again: refused at once
        with pytest.raises(jwt.PyJWTError):
            await verifier.verify(ehr.token(AUDIENCE), AUDIENCE)
        assert served.fetches == 1
    finally:
        served.close()
