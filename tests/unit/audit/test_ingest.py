from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from services.audit.core.chain import DecisionChain
from services.audit.core.decision_ingest import DecisionIngest, IngestOutcome
from services.audit.core.ports import StoreUnavailable
from shared.infra.backoff import Backoff
from shared.infra.signing import TrustedKeys
from tests.unit.audit.factories import TEST_DECISION_KEY, decision_event
from tests.unit.audit.fakes import FakeDeadLetters, InMemoryChainStore, RecordingTelemetry

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def ingest_with(store: InMemoryChainStore, dead: FakeDeadLetters,
                backoff: Backoff | None = None) -> DecisionIngest:
    return DecisionIngest(DecisionChain(store), dead, lambda: NOW,
                          backoff or Backoff(0.01, 0.04),
                          TrustedKeys.of([TEST_DECISION_KEY.public_key()]))


async def test_a_decision_is_stored_and_a_redelivery_of_it_is_recognised() -> None:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    ingest = ingest_with(store, dead)
    body = decision_event().model_dump_json().encode()
    assert await ingest.handle(body, "record") is IngestOutcome.STORED
    assert await ingest.handle(body, "record") is IngestOutcome.DUPLICATE
    assert len(store.rows) == 1
    assert dead.sent == []


@pytest.mark.parametrize("body", [b"\xff\xfe not json", b"{}", b'{"event_type": "other"}'])
async def test_an_unreadable_message_goes_to_the_dead_letters_with_its_reason(body: bytes) -> None:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    assert await ingest_with(store, dead).handle(body, "raw") is IngestOutcome.DEAD_LETTERED
    assert dead.sent[0][0] == "raw"
    assert "not a DecisionMade" in dead.sent[0][1]
    assert store.rows == {}


async def test_a_decision_whose_snapshot_does_not_match_its_hash_is_dead_lettered() -> None:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    payload = json.loads(decision_event().model_dump_json())
    payload["snapshot_hash"] = "sha256:" + "0" * 64
    outcome = await ingest_with(store, dead).handle(json.dumps(payload).encode(), "raw")
    assert outcome is IngestOutcome.DEAD_LETTERED
    assert "snapshot_hash" in dead.sent[0][1]


async def test_a_database_failure_pauses_then_raises_so_the_message_comes_back() -> None:
    outage = StoreUnavailable("OperationalError")
    store, dead = InMemoryChainStore(failures=[outage, outage]), FakeDeadLetters()
    backoff = Backoff(0.02, 0.04)
    ingest = ingest_with(store, dead, backoff)
    body = decision_event().model_dump_json().encode()
    started = time.monotonic()
    for _ in range(2):
        with pytest.raises(StoreUnavailable):
            await ingest.handle(body, "raw")
    assert time.monotonic() - started >= 0.06  # 0.02 then 0.04: the pause grows
    assert await ingest.handle(body, "raw") is IngestOutcome.STORED
    assert backoff.next_delay_s == 0.02  # reset once the database answers again
    assert dead.sent == []


async def test_a_batch_keeps_its_order_stores_each_decision_once_and_dead_letters_poison() -> None:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    first, second = decision_event(index=0), decision_event(index=1)
    batch = [(first.model_dump_json().encode(), "r0"), (b"garbage", "r1"),
             (second.model_dump_json().encode(), "r2"), (first.model_dump_json().encode(), "r3")]
    outcomes = await ingest_with(store, dead).handle_batch(batch)
    assert outcomes == [IngestOutcome.STORED, IngestOutcome.DEAD_LETTERED,
                        IngestOutcome.STORED, IngestOutcome.DUPLICATE]
    assert [r["sequence"] for r in store.rows.values()] == [1, 2]
    assert [record for record, _ in dead.sent] == ["r1"]


async def test_a_failed_batch_sends_no_dead_letter_before_the_database_answers() -> None:
    outage = StoreUnavailable("OperationalError")
    store, dead = InMemoryChainStore(failures=[outage]), FakeDeadLetters()
    with pytest.raises(StoreUnavailable):
        await ingest_with(store, dead).handle_batch(
            [(decision_event().model_dump_json().encode(), "r0"), (b"garbage", "r1")])
    assert dead.sent == []


async def test_what_ingest_does_is_reported_to_telemetry() -> None:
    store, dead, telemetry = InMemoryChainStore(), FakeDeadLetters(), RecordingTelemetry()
    ingest = DecisionIngest(DecisionChain(store), dead, lambda: NOW, Backoff(0.01, 0.02),
                            TrustedKeys.of([TEST_DECISION_KEY.public_key()]), telemetry)
    signed = decision_event(index=0).model_dump_json().encode()
    unsigned = decision_event(index=1, signer=None).model_dump_json().encode()
    await ingest.handle_batch([(signed, "r0"), (unsigned, "r1"), (b"garbage", "r2"),
                               (signed, "r3")])
    assert telemetry.seen[0] == ("refused", "missing")
    assert [what for what, _ in telemetry.seen[1:3]] == ["recorded", "recorded"]
    assert [detail for _, detail in telemetry.seen[1:3]] == [1, None]
    assert [what for what, _ in telemetry.seen[3:]] == ["dead-lettered", "dead-lettered"]


async def test_an_outage_is_reported_to_telemetry_before_the_pause() -> None:
    store, telemetry = InMemoryChainStore(failures=[StoreUnavailable("down")]), RecordingTelemetry()
    ingest = DecisionIngest(DecisionChain(store), FakeDeadLetters(), lambda: NOW,
                            Backoff(0.01, 0.02), TrustedKeys.of([TEST_DECISION_KEY.public_key()]),
                            telemetry)
    with pytest.raises(StoreUnavailable):
        await ingest.handle(decision_event().model_dump_json().encode(), "r0")
    assert telemetry.seen == [("store-unavailable", "StoreUnavailable")]
