"""Decisions are accepted only signed by a trusted evaluator key, and verify checks them again."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.chain import DecisionChain
from services.audit.core.chain_walk import ChainWalk, VerificationReport
from services.audit.core.decision_ingest import DecisionIngest, IngestOutcome
from shared.contracts.signatures import decision_digest
from shared.infra.backoff import Backoff
from shared.infra.signing import EventSigner, TrustedKeys, load_or_create_signing_key
from tests.unit.audit.chain_fixtures import chain, rehash_from
from tests.unit.audit.factories import TEST_DECISION_KEY, decision_event
from tests.unit.audit.fakes import FakeDeadLetters, InMemoryChainStore

NOW = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
TRUSTED = TrustedKeys.of([TEST_DECISION_KEY.public_key()])
OTHER_KEY = Ed25519PrivateKey.generate()
OTHER = EventSigner(OTHER_KEY)


def ingest(keys: TrustedKeys = TRUSTED) -> tuple[DecisionIngest, InMemoryChainStore,
                                                   FakeDeadLetters]:
    store, dead = InMemoryChainStore(), FakeDeadLetters()
    return DecisionIngest(DecisionChain(store), dead, lambda: NOW, Backoff(0.01, 0.02),
                          keys), store, dead


async def test_a_decision_signed_by_the_trusted_key_is_stored_with_its_signature() -> None:
    use, store, dead = ingest()
    event = decision_event()
    assert await use.handle(event.model_dump_json().encode(), "raw") is IngestOutcome.STORED
    [record] = store.rows.values()
    assert event.signature is not None
    assert (record["signed_by"], record["signature"]) == (event.signature.key_id,
                                                    event.signature.value)
    assert dead.sent == []


@pytest.mark.parametrize(("event", "reason"), [
    (decision_event(signer=None), "signature missing"),
    (decision_event(signer=OTHER), "signature unknown-key"),
])
async def test_an_unsigned_or_foreign_signed_decision_is_refused_and_nothing_is_stored(
        event: Any, reason: str) -> None:
    use, store, dead = ingest()
    assert await use.handle(event.model_dump_json().encode(), "raw") is \
        IngestOutcome.DEAD_LETTERED
    assert store.rows == {}
    assert dead.sent[0][1].startswith(f"decision refused: {reason}")


def _other_patient(payload: dict[str, Any]) -> None:
    payload["patient_key"] = "pk_someone_else"


def _other_previous_status(payload: dict[str, Any]) -> None:
    payload["previous_status"] = "ineligible"


def _other_outcome(payload: dict[str, Any]) -> None:
    payload["decision"]["status"] = "ineligible"


def _site_added(payload: dict[str, Any]) -> None:
    payload["site"] = "site-b"  # moving an unstamped decision into a site-scoped view


@pytest.mark.parametrize("change", [_other_patient, _other_previous_status, _other_outcome,
                                    _site_added])
async def test_a_signed_decision_changed_after_signing_is_refused(
        change: Callable[[dict[str, Any]], None]) -> None:
    payload = json.loads(decision_event().model_dump_json())
    change(payload)
    use, store, dead = ingest()
    assert await use.handle(json.dumps(payload).encode(), "raw") is IngestOutcome.DEAD_LETTERED
    assert "signature invalid" in dead.sent[0][1]
    assert store.rows == {}


async def test_a_retired_key_signs_nothing_new_but_still_verifies_what_it_signed() -> None:
    keys = TrustedKeys.of(accepted=[OTHER_KEY.public_key()],
                          retired=[TEST_DECISION_KEY.public_key()])
    use, store, dead = ingest(keys)
    event = decision_event()
    assert await use.handle(event.model_dump_json().encode(), "raw") is \
        IngestOutcome.DEAD_LETTERED
    assert "retired-key" in dead.sent[0][1]
    assert store.rows == {}
    assert event.signature is not None
    digest = decision_digest(event.model_dump(mode="json"))
    assert keys.refusal(event.signature, digest, new_event=False) is None


def test_rotation_keeps_both_keys_trusted(tmp_path: Path) -> None:
    old = load_or_create_signing_key(tmp_path / "old.pem", tmp_path / "old.pub.pem")
    new = load_or_create_signing_key(tmp_path / "new.pem", tmp_path / "new.pub.pem")
    keys = TrustedKeys([tmp_path / "old.pub.pem", tmp_path / "new.pub.pem"])
    for key in (old, new):
        event = decision_event(signer=EventSigner(key))
        assert event.signature is not None
        assert keys.refusal(event.signature, decision_digest(event.model_dump(mode="json"))) \
            is None


def test_a_key_created_after_start_is_picked_up_without_a_restart(tmp_path: Path) -> None:
    keys = TrustedKeys([tmp_path / "evaluator.pub.pem"], reload_after_s=0)
    assert keys.key_ids == ()
    signer = EventSigner.from_file(tmp_path / "evaluator.pem")
    event = decision_event(signer=signer)
    assert event.signature is not None
    assert keys.refusal(event.signature, decision_digest(event.model_dump(mode="json"))) is None
    assert (tmp_path / "evaluator.pem").stat().st_mode & 0o777 == 0o600


def test_a_key_created_just_after_audit_started_is_trusted_at_once(tmp_path: Path) -> None:
    # audit and the evaluator start together; the evaluator makes its key a moment later and
    # its first decisions arrive within seconds: they must not be refused as signed by an
    # unknown key (seen in the e2e walking skeleton: every decision dead-lettered)
    keys = TrustedKeys([tmp_path / "evaluator.pub.pem"])  # default throttle
    assert keys.key_ids == ()
    event = decision_event(signer=EventSigner.from_file(tmp_path / "evaluator.pem"))
    assert event.signature is not None
    assert keys.refusal(event.signature, decision_digest(event.model_dump(mode="json"))) is None
    # an unknown key with no file change is refused without reading the files again
    stranger = decision_event(signer=EventSigner.from_file(tmp_path / "stranger.pem"))
    assert stranger.signature is not None
    refusal = keys.refusal(stranger.signature,
                           decision_digest(stranger.model_dump(mode="json")))
    assert refusal is not None
    assert refusal.kind == "unknown-key"


def verify(rows: list[dict[str, Any]]) -> VerificationReport:
    walk = ChainWalk(decision_keys=TRUSTED)
    for row in rows:
        walk.feed(row)
    return walk.report([], [])


def test_verify_accepts_a_chain_of_signed_decisions() -> None:
    assert verify(chain(5)).intact


def test_verify_reports_a_stored_signature_that_was_tampered_with() -> None:
    rows = chain(5)
    forged = OTHER.sign(decision_digest(rows[2]))
    rows[2] = {**rows[2], "signature": forged.value}
    report = verify(rehash_from(rows, 2))  # a forger who also recomputed the chain
    assert not report.intact
    [problem] = report.other_problems
    assert (problem.sequence, problem.kind) == (3, "signature-invalid")


def test_verify_reports_a_record_rewritten_consistently_but_not_re_signable() -> None:
    rows = chain(5)
    decision = json.loads(rows[3]["decision"])
    decision["status"] = "ineligible"
    rows[3] = {**rows[3], "decision": json.dumps(decision), "status": "ineligible"}
    report = verify(rehash_from(rows, 3))
    assert [(p.sequence, p.kind) for p in report.other_problems] == [(4, "signature-invalid")]


def test_verify_reports_a_column_changed_away_from_the_signed_decision() -> None:
    rows = chain(5)
    rows[1] = {**rows[1], "status": "ineligible"}
    report = verify(rehash_from(rows, 1))
    assert [(p.sequence, p.kind) for p in report.other_problems] == [(2, "signature-invalid")]
    assert "status" in report.other_problems[0].detail


@pytest.mark.parametrize(("signed_site", "stored_site"), [("A", "B"), ("A", None), (None, "B")])
def test_verify_reports_a_records_site_rewritten_and_rehashed(
        signed_site: str | None, stored_site: str | None) -> None:
    rows = chain(3, site=signed_site)
    assert verify(rows).intact
    rows[1] = {**rows[1], "site": stored_site}
    report = verify(rehash_from(rows, 1))  # a forger moving a record to another site's view
    assert [(p.sequence, p.kind) for p in report.other_problems] == [(2, "signature-invalid")]


def test_verify_reports_an_unsigned_record_after_signed_ones() -> None:
    rows = chain(5)
    rows[4] = {**rows[4], "signature": None, "signed_by": None}
    report = verify(rehash_from(rows, 4))
    assert [(p.sequence, p.kind) for p in report.other_problems] == [(5, "signature-missing")]


def test_records_stored_before_decisions_were_signed_still_verify() -> None:
    rows = [{**row, "signature": None, "signed_by": None} for row in chain(3)]
    assert verify(rehash_from(rows, 0)).intact
