"""Print coordinator alerts from ``eligibility.alerts.v1`` as they arrive (for ``run``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.evaluator.admin import trial_name
from shared.contracts.topics import ALERTS
from shared.settings import KafkaSettings


def format_alert(alert: dict[str, object]) -> str:
    trial = alert.get("trial") or {}
    assert isinstance(trial, dict)
    reasons = alert.get("reasons") or []
    headline_text = str(alert.get("headline") or "")
    # the kind in words, as the coordinator app's badges say it (never the enum: "closed")
    headline = {"newly-eligible": "NEWLY ELIGIBLE", "no-longer-eligible": "NO LONGER ELIGIBLE",
                "closed": "TRIAL CLOSED"}
    text = (f"ALERT {headline.get(str(alert.get('alert')), alert.get('alert'))}: "
            f"patient {alert.get('patient_key')} for {_named(trial)}")
    if headline_text:
        # what changed since the previous decision (shared.eligibility.readable.headline)
        # the kind is already said in capitals: keep only what follows "now eligible: "
        changed = headline_text.partition(": ")[2] or headline_text
        changed = f"{changed[:157]}..." if len(changed) > 160 else changed
        text += f" — {changed}"
    elif isinstance(reasons, list) and reasons:
        # one line per alert: the first reason, and how many more the coordinator app shows
        first = str(reasons[0])
        first = f"{first[:117]}..." if len(first) > 120 else first
        more = f"; +{len(reasons) - 1} more in the coordinator app" if len(reasons) > 1 else ""
        text += f" ({first}{more})"
    return text


def _named(trial: dict[object, object]) -> str:
    """"NCT06920433 — UCAR T-cell Therapy ... (v2025-11-14.1)": the id and short title."""
    trial_id, version = str(trial.get("id")), str(trial.get("version"))
    return f"{trial_name(trial_id, version)} (v{version})"


async def tail_alerts(
    kafka: KafkaSettings, print_line: Callable[[str], None],
    recorded_since: datetime | None = None,
    shown: Callable[[dict[str, object]], None] | None = None,
) -> None:
    """Every alert recorded since ``recorded_since`` (all when None), once each, in partition
    order, across broker restarts.

    No consumer group: the terminal is a reader, not a member. A group with no committed
    offsets could be rebalanced and re-read (or skip) alerts; manual assignment cannot. A
    refilled broker carries again the alerts of earlier runs: they are older than
    ``recorded_since``, or already printed (remembered by event id), and are not shown again.
    ``shown`` is told of each alert once its line is printed (``Progress.see``: the progress
    line counts an alert from the moment its ALERT line is on the terminal, never later).
    """
    printed: set[str] = set()
    while True:
        try:
            await _tail(kafka, print_line, recorded_since, printed, shown)
        except asyncio.CancelledError:
            raise
        except Exception:  # the broker went away: read again once it is back
            await asyncio.sleep(1.0)


async def _tail(kafka: KafkaSettings, print_line: Callable[[str], None],
                recorded_since: datetime | None, printed: set[str],
                shown: Callable[[dict[str, object]], None] | None = None) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = await _partitions(consumer, ALERTS)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async for record in consumer:
            show(record.value, record.offset, print_line, recorded_since, printed, shown)
    finally:
        await consumer.stop()


def show(value: bytes | None, offset: int, print_line: Callable[[str], None],
         recorded_since: datetime | None, printed: set[str],
         shown: Callable[[dict[str, object]], None] | None = None) -> None:
    """Print one alert record (its JSON ``value`` at ``offset``) when it is new, then tell
    ``shown`` of it, so the progress line printed next counts it (fresh user ux: a progress
    line after an ALERT line still said "no alert raised": its own reader had not reached the
    alert yet)."""
    try:
        alert = json.loads(value or b"{}")
        if not _new(alert, recorded_since, printed):
            return
        print_line(format_alert(alert))
    except (ValueError, AssertionError, TypeError, AttributeError):
        print_line(f"ALERT (unreadable message at offset {offset})")
        return
    if shown is not None:
        shown(alert)


def _new(alert: dict[str, object], since: datetime | None, printed: set[str]) -> bool:
    event_id = str(alert.get("event_id"))
    if event_id in printed:
        return False
    printed.add(event_id)
    if since is None:
        return True
    return datetime.fromisoformat(str(alert.get("recorded_at"))) >= since


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    while True:
        numbers = consumer.partitions_for_topic(topic)
        if numbers:
            return [TopicPartition(topic, n) for n in sorted(numbers)]
        await consumer.topics()  # refreshes metadata
        await asyncio.sleep(0.1)
