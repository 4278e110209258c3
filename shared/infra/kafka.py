"""Broker construction and topic administration, identical for Tansu and Apache Kafka."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Literal

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker

from shared.contracts.channels import dead_letter_policies
from shared.contracts.topics import ALL_TOPICS, TRIAL_SCREENING
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)


def topic_configs() -> dict[str, dict[str, str]]:
    """The topic-level configuration each declared topic is created with: a dead-letter topic
    that holds PHI gets its bounded retention (``shared.contracts.channels``)."""
    configs = {
        topic: {"retention.ms": str(policy.retention_ms), "cleanup.policy": "delete"}
        for topic, policy in dead_letter_policies().items() if policy.retention_ms is not None
    }
    # a table keyed by trial id: only the newest record of each key matters
    configs[TRIAL_SCREENING] = {"cleanup.policy": "compact"}
    return configs


def make_broker(settings: KafkaSettings, client_id: str,
                max_batch_size: int = 16384) -> KafkaBroker:
    """The service's broker client. ``max_batch_size``: bytes of one record batch (aiokafka's
    default 16 KiB; the evaluator's outbox packs a round's records per partition into batches
    of this size, ``shared.infra.kafka_batch``)."""
    # acks="all": a publish returns only once the record is durable on the broker.
    return KafkaBroker(
        settings.bootstrap_servers,
        max_batch_size=max_batch_size,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        request_timeout_ms=settings.request_timeout_ms,
        max_request_size=settings.max_request_size,
        compression_type=None if settings.compression_type == "none"
        else settings.compression_type,
        allow_auto_create_topics=False,
        graceful_timeout=10.0,
        logger=None,
    )


@contextlib.asynccontextmanager
async def groupless_consumer(
    topic: str, settings: KafkaSettings, *, start_at: Literal["earliest", "latest"],
    on_connected: Callable[[], None] = lambda: None,
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer of every partition of ``topic`` with no consumer group, for a feed
    each process reads whole for itself (the alert stream every evaluator fans out, the trial
    registry every intake follows); stopped on leaving the block.

    No group: no join, no rebalance, no committed offset. The embedded Tansu 0.6.0 makes a
    group join take about the session timeout and a second member reusing a group id wait for
    the first one's session to expire (../shared/guide/STACK.md), and every process here must
    see every partition anyway, so each subscribes alone and positions itself by ``start_at``
    (aiokafka ``auto_offset_reset``: ``earliest`` reads the whole log, ``latest`` only what
    comes next; on Tansu "latest" can land inside the last record batch: the alert stream
    checks the high watermark itself). Nothing is committed (``enable_auto_commit`` off).
    ``on_connected`` is called once the consumer has started (a reconnect loop resets its
    back-off there). Raises what ``AIOKafkaConsumer.start`` raises when the broker cannot be
    reached (``KafkaConnectionError``), with nothing left to stop."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=None,
        auto_offset_reset=start_at,
        enable_auto_commit=False,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await consumer.start()
    on_connected()
    try:
        yield consumer
    finally:
        await consumer.stop()


async def ensure_topics(settings: KafkaSettings, topics: Iterable[str] = ALL_TOPICS) -> list[str]:
    """Create the topics that do not exist yet, with the configured partition count and their
    declared configuration (``topic_configs``: the raw dead-letter topic's retention).

    Idempotent: running it again (or from several processes at once) creates nothing twice.
    A topic that exists with a different declared configuration is reported (log
    ``topic_config_differs``), not altered: AlterConfigs replaces a topic's whole configuration
    on Apache Kafka and Tansu 0.6.0 does not implement it; ``deploy/SECURITY.md`` gives the
    ``kafka-configs.sh`` command. Returns the names it created.
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=settings.request_timeout_ms,
    )
    await admin.start()
    try:
        configs = topic_configs()
        existing = set(await admin.list_topics())
        await _report_differing_configs(
            admin, {t: configs[t] for t in topics if t in existing and t in configs})
        wanted = [t for t in topics if t not in existing]
        if not wanted:
            return []
        new = [NewTopic(t, settings.partitions, settings.replication_factor,
                        topic_configs=configs.get(t, {})) for t in wanted]
        # Created concurrently by another process: that is the goal, not an error.
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        return wanted
    finally:
        await admin.close()


async def describe_topic_configs(
    admin: AIOKafkaAdminClient, topics: Iterable[str]
) -> dict[str, dict[str, str]]:
    """The broker's configuration of each of ``topics`` (name -> value; values set to None
    by the broker are left out)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics]
    if not resources:
        return {}
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for _error, _message, _type, name, entries in response.resources:
            found[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return found


async def _report_differing_configs(
    admin: AIOKafkaAdminClient, wanted: Mapping[str, Mapping[str, str]]
) -> None:
    if not wanted:
        return
    try:
        actual = await describe_topic_configs(admin, wanted)
    except Exception as error:  # a broker without DescribeConfigs: nothing to compare with
        log.warning("topic_config_unknown", error=type(error).__name__)
        return
    for topic, config in wanted.items():
        differs = {k: v for k, v in config.items() if actual.get(topic, {}).get(k) != v}
        if differs:
            log.warning("topic_config_differs", topic=topic, wanted=differs,
                        actual={k: actual.get(topic, {}).get(k) for k in differs})
