"""The AsyncAPI 3 document of TrialWatch's events, built from the declared channels.

Every ``Subscription`` and ``Publication`` of ``shared.contracts.channels`` becomes a channel of
a specification-only FastStream broker (never connected), whose AsyncAPI generator turns the
pydantic models into JSON Schemas. The services wire their consumers from the same
declarations, so the document says what runs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from shared.contracts.channels import PUBLICATIONS, SUBSCRIPTIONS, Publication, Subscription

SERVER = "kafka:9092"
SERVER_DESCRIPTION = "Apache Kafka (KRaft) in production; the embedded Tansu broker locally."


def specification_broker(
    subscriptions: Iterable[Subscription] = SUBSCRIPTIONS,
    publications: Iterable[Publication] = PUBLICATIONS,
) -> KafkaBroker:
    """A broker carrying every declared channel, for document generation only."""
    broker = KafkaBroker(SERVER, description=SERVER_DESCRIPTION)
    for subscription in subscriptions:
        broker.subscriber(
            subscription.topic, group_id=subscription.group, batch=False,
            title=subscription.name, description=subscription.description,
        )(_described_handler(subscription))
    for publication in publications:
        broker.publisher(publication.topic, title=publication.name,
                         description=publication.description, schema=publication.model)
    return broker


def _described_handler(subscription: Subscription) -> Any:
    # FastStream reads the message schema from the handler's parameter annotation and the
    # operation's description from its docstring: give it both from the declaration.
    async def handler(event: Any) -> None:
        return None

    handler.__annotations__ = {"event": subscription.model, "return": None}
    handler.__doc__ = subscription.summary
    handler.__name__ = handler.__qualname__ = subscription.name.replace(" ", "_")
    return handler


def document(
    subscriptions: Iterable[Subscription] = SUBSCRIPTIONS,
    publications: Iterable[Publication] = PUBLICATIONS,
) -> dict[str, object]:
    """The AsyncAPI 3 document as JSON-ready data."""
    spec = AsyncAPI(specification_broker(subscriptions, publications), title="TrialWatch events",
                    version="1.0.0",
                    description="Wire contracts between intake, evaluator and audit.")
    result: dict[str, object] = json.loads(spec.to_specification().to_json())
    return result
