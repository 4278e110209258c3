"""Print coordinator alerts from ``eligibility.alerts.v1`` as they arrive (for ``run``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer

from shared.contracts.topics import ALERTS
from shared.settings import KafkaSettings


def format_alert(alert: dict[str, object]) -> str:
    trial = alert.get("trial") or {}
    assert isinstance(trial, dict)
    reasons = alert.get("reasons") or []
    headline = {"newly-eligible": "NEWLY ELIGIBLE", "no-longer-eligible": "NO LONGER ELIGIBLE"}
    text = (f"ALERT {headline.get(str(alert.get('alert')), alert.get('alert'))}: "
            f"patient {alert.get('patient_key')} for {trial.get('id')} v{trial.get('version')}")
    if isinstance(reasons, list) and reasons:
        text += " (" + "; ".join(str(r) for r in reasons[:3]) + ")"
    return text


async def tail_alerts(kafka: KafkaSettings, print_line: Callable[[str], None]) -> None:
    consumer = AIOKafkaConsumer(
        ALERTS, bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"trialwatch-terminal-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", enable_auto_commit=False,
        session_timeout_ms=kafka.session_timeout_ms,
        heartbeat_interval_ms=kafka.heartbeat_interval_ms,
        rebalance_timeout_ms=kafka.rebalance_timeout_ms,
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                print_line(format_alert(json.loads(record.value or b"{}")))
            except (ValueError, AssertionError):
                print_line(f"ALERT (unreadable message at offset {record.offset})")
    finally:
        await consumer.stop()
