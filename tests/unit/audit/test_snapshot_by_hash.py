"""Decisions reference their input snapshot by hash; the snapshot arrives once, ahead of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.audit.core.chain import DecisionChain
from services.audit.core.decision_ingest import DecisionIngest, IngestOutcome
from shared.infra.backoff import Backoff
from shared.infra.signing import TrustedKeys
from tests.unit.audit.factories import TEST_DECISION_KEY, decision_event, snapshot_and_decision
from tests.unit.audit.fakes import FakeDeadLetters, InMemoryChainStore

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def ingest() -> tuple[DecisionIngest, InMemoryChainStore, FakeDeadLetters]:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    return DecisionIngest(DecisionChain(store), dead, lambda: NOW, Backoff(0.01, 0.02),
                          TrustedKeys.of([TEST_DECISION_KEY.public_key()])), store, dead


def body(event: object) -> bytes:
    return event.model_dump_json().encode()  # type: ignore[attr-defined]


async def test_a_snapshot_then_its_decision_are_both_stored_the_snapshot_by_its_hash() -> None:
    use, store, dead = ingest()
    sent, first = snapshot_and_decision("pk_1", 0)
    outcomes = await use.handle_batch([(body(sent), "s"), (body(first), "d1")])
    assert outcomes == [IngestOutcome.SNAPSHOT, IngestOutcome.STORED]
    assert list(store.snapshot_bodies) == [sent.snapshot_hash]
    assert [r["snapshot_hash"] for r in store.rows.values()] == [sent.snapshot_hash]
    assert dead.sent == []


async def test_a_decision_whose_snapshot_never_arrived_is_recorded_and_reported() -> None:
    use, store, dead = ingest()
    _, made = snapshot_and_decision("pk_2", 0)
    assert await use.handle(body(made), "d") is IngestOutcome.STORED
    assert store.snapshot_bodies == {}
    assert len(store.rows) == 1  # recorded as such; verify flags it snapshot-missing
    assert dead.sent == []


async def test_a_snapshot_that_does_not_match_its_hash_is_dead_lettered() -> None:
    use, store, dead = ingest()
    sent, _ = snapshot_and_decision("pk_3", 0)
    payload = json.loads(body(sent))
    payload["snapshot"]["demographics"]["sex"] = "male"
    assert await use.handle(json.dumps(payload).encode(), "s") is IngestOutcome.DEAD_LETTERED
    assert "snapshot_hash does not match" in dead.sent[0][1]
    assert store.snapshot_bodies == {}


async def test_an_unsigned_snapshot_is_refused() -> None:
    use, store, dead = ingest()
    sent, _ = snapshot_and_decision("pk_4", 0, signer=None)
    assert await use.handle(body(sent), "s") is IngestOutcome.DEAD_LETTERED
    assert dead.sent[0][1].startswith("snapshot refused: signature missing")
    assert store.snapshot_bodies == {}


async def test_a_decision_with_its_snapshot_inline_schema_version_1_is_still_read() -> None:
    use, store, _ = ingest()
    old = decision_event("pk_5", 0)
    assert old.schema_version == 1
    assert old.snapshot is not None
    assert await use.handle(body(old), "d") is IngestOutcome.STORED
    assert list(store.snapshot_bodies) == [old.snapshot_hash]


async def test_a_version_2_decision_carrying_a_snapshot_inline_is_not_read() -> None:
    use, _, dead = ingest()
    _, made = snapshot_and_decision("pk_6", 0)
    payload = json.loads(body(made))
    payload["snapshot"] = json.loads(body(decision_event("pk_6", 0)))["snapshot"]
    assert await use.handle(json.dumps(payload).encode(), "d") is IngestOutcome.DEAD_LETTERED
    assert "not a DecisionMade" in dead.sent[0][1]
