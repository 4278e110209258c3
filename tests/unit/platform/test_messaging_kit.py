"""The messaging kit's declarations: one place says every topic, its model and its dead letters."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError, RequestTimedOutError
from sqlalchemy.exc import OperationalError

from shared.contracts import channels, topics
from shared.infra.asyncapi import document
from shared.infra.kafka import topic_configs
from shared.infra.transient import is_transient, is_unpublishable


def test_every_subscription_and_publication_is_a_channel_of_the_asyncapi_document() -> None:
    declared = {s.name for s in channels.SUBSCRIPTIONS} | {p.name for p in channels.PUBLICATIONS}
    # FastStream writes "/" in some operation names as ".": compare without it
    def plain(names: set[str]) -> set[str]:
        return {name.replace("/", ".") for name in names}

    assert plain(set(document()["operations"])) == plain(declared)


def test_every_consumed_topic_has_a_declared_dead_letter_topic_that_is_created() -> None:
    for subscription in channels.SUBSCRIPTIONS:
        assert subscription.dead_letter.topic == topics.dead_letter(subscription.topic)
        assert subscription.dead_letter.topic in topics.ALL_TOPICS
        assert subscription.topic in topics.ALL_TOPICS


def test_the_raw_dead_letter_topic_is_phi_and_is_created_with_a_bounded_retention() -> None:
    raw = channels.INTAKE_RAW.dead_letter
    assert raw.phi
    assert topic_configs()[raw.topic] == {"retention.ms": str(7 * 24 * 3600 * 1000),
                                          "cleanup.policy": "delete"}


@pytest.mark.parametrize("error", [
    MessageSizeTooLargeError("1048577 bytes"), TypeError("not JSON serializable"),
    ValueError("Out of range float values are not JSON compliant"),
])
def test_a_record_the_broker_can_never_take_is_unpublishable_not_transient(
    error: Exception,
) -> None:
    assert is_unpublishable(error)
    assert not is_transient(error)


@pytest.mark.parametrize("error", [
    KafkaConnectionError("broker away"), RequestTimedOutError(), TimeoutError(),
    ConnectionRefusedError(), OperationalError("SELECT 1", {}, Exception("database is locked")),
])
def test_an_absent_or_busy_broker_or_database_is_transient(error: Exception) -> None:
    assert is_transient(error)
    assert not is_unpublishable(error)


async def test_a_service_shutdown_ends_in_bounded_time_even_if_a_task_will_not_stop() -> None:
    """Issue 14 ("no input can stall a service"): ``running`` cancels its tasks on the way out;
    one that swallows its cancellation (as the outbox relay did through Python 3.11's
    ``asyncio.wait_for``) must not hold the service's shutdown for ever. The exit waits at most
    ``stop_timeout_s`` for the tasks, names the one that did not stop, and goes on to stop the
    broker. The broker here is a real FastStream broker that never reaches a server (port 9):
    only its background connect task runs."""
    import asyncio
    import time

    from faststream.kafka import KafkaBroker

    from shared.infra.messaging import running

    stubborn_cancelled = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            stubborn_cancelled.set()  # and carries on, as a swallowed cancellation does
        await asyncio.sleep(3600)

    async def polite() -> None:
        await asyncio.sleep(3600)

    broker = KafkaBroker("127.0.0.1:9")
    started = time.monotonic()
    async with asyncio.timeout(20):
        async with running(broker, service="test", connect_in_background=True,
                           tasks={"stubborn": stubborn, "polite": polite}, stop_timeout_s=0.5):
            await asyncio.sleep(0.05)
    assert stubborn_cancelled.is_set()
    assert time.monotonic() - started < 5.0
    leftover = [t for t in asyncio.all_tasks() if t.get_name() == "test-stubborn"]
    assert len(leftover) == 1  # left behind, named in the log; a real process exits here
    leftover[0].cancel()  # this test's own clean-up: the second cancellation ends it
    await asyncio.wait(leftover, timeout=5)
