from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

from services.evaluator.adapters import webhooks
from services.evaluator.adapters.alert_stream import AlertStream
from shared.contracts.events import EligibilityAlert
from shared.eligibility.decision import Status
from shared.infra.backoff import Backoff
from tests.unit.evaluator.fakes import TEST_TRIAL


def _alert(trial_id: str = TEST_TRIAL.id) -> EligibilityAlert:
    now = datetime.now(UTC)
    return EligibilityAlert(
        event_id=uuid.uuid4(), occurred_at=now, recorded_at=now, source="test",
        patient_key="pk-1", correlation_id=uuid.uuid4(), alert="newly-eligible",
        trial=TEST_TRIAL.model_copy(update={"id": trial_id}), decision_id=uuid.uuid4(),
        status=Status.ELIGIBLE,
    )


def test_a_webhook_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret-key-16chars", b"2026-03-01T09:00:00Z." + body,
                        hashlib.sha256).hexdigest()
    assert webhooks.sign("s3cret-key-16chars", "2026-03-01T09:00:00Z", body) == f"sha256={expected}"


def test_webhook_retries_back_off_doubling_up_to_five_minutes() -> None:
    delays = [webhooks.retry_delay(n) for n in range(1, 12)]
    assert delays[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert delays[-1] == timedelta(minutes=5)


def test_one_delivery_per_webhook_and_alert() -> None:
    alert_id = uuid.uuid4()
    assert webhooks.delivery_id("w1", alert_id) == webhooks.delivery_id("w1", alert_id)
    assert webhooks.delivery_id("w1", alert_id) != webhooks.delivery_id("w2", alert_id)


def test_backoff_grows_caps_and_resets() -> None:
    backoff = Backoff(first_s=0.1, max_s=0.5)
    delays = []
    for _ in range(5):
        delays.append(backoff.next_delay_s)
        backoff.failures += 1
    assert delays == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next_delay_s == 0.1


async def test_the_alert_stream_fans_out_to_every_subscriber_and_never_blocks_on_a_slow_one(
) -> None:
    stream = AlertStream(queue_size=1)
    async with stream.subscribe() as first, stream.subscribe() as second:
        stream.publish(_alert())
        stream.publish(_alert())  # the queues are full: dropped for them, not blocking
        assert first.qsize() == 1
        assert second.qsize() == 1
        got = await asyncio.wait_for(first.get(), 1)
        assert got.alert == "newly-eligible"
