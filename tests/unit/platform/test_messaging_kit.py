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
