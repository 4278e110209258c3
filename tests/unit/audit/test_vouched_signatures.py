"""A checkpoint vouches for the evaluator signatures its writer checked (issue 13): a routine
verify does not verify those again, and still reports every forged or altered signature.

The attacker: write access to the database (past ingest, triggers dropped), none of the
private keys (the audit checkpoint key, the evaluator key)."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.core.chain import DecisionChain
from services.audit.core.chain_walk import Expectations, VerificationReport
from services.audit.core.checkpoint_writer import CheckpointWriter
from services.audit.core.checkpoints import Checkpoint, check_signature
from services.audit.core.verify import SignatureDepth, verify
from shared.contracts.signatures import decision_digest
from shared.hashing import canonical_json
from shared.infra.signing import EventSigner, TrustedKeys
from tests.unit.audit.chain_fixtures import rehash_from
from tests.unit.audit.factories import BASE_TIME, TEST_DECISION_KEY, decision_event
from tests.unit.audit.fakes import InMemoryChainStore, InMemoryCheckpoints, RecordingTelemetry

KEY = Ed25519PrivateKey.generate()
TRUSTED = TrustedKeys.of([TEST_DECISION_KEY.public_key()])
OTHER_KEY = Ed25519PrivateKey.generate()
OTHER = EventSigner(OTHER_KEY)
NOW = BASE_TIME + timedelta(days=1)
LENGTH = 6


class Unvouched(RecordingTelemetry):
    def __init__(self) -> None:
        super().__init__()
        self.unvouched: list[int] = []

    def record_unvouched(self, sequence: int, problem: str) -> None:
        self.unvouched.append(sequence)


async def stored(length: int = LENGTH) -> InMemoryChainStore:
    store = InMemoryChainStore()
    chain = DecisionChain(store)
    for index in range(length):
        await chain.append(decision_event(f"pk_{index % 3}", index),
                           BASE_TIME + timedelta(minutes=index, seconds=1))
    return store


def forge(store: InMemoryChainStore, sequence: int, how: str) -> None:
    """Change record ``sequence`` as someone with database access can, and recompute every
    hash from it on, so the chain walk alone passes."""
    rows = store.records
    row = rows[sequence - 1]
    if how == "foreign signature":
        row = {**row, "signature": OTHER.sign(decision_digest(row)).value}
    elif how == "status column":
        row = {**row, "status": "eligible" if row["status"] != "eligible" else "ineligible"}
    elif how == "decision":
        decision = json.loads(row["decision"])
        decision["status"] = "ineligible"
        row = {**row, "decision": canonical_json(decision).decode(), "status": "ineligible"}
    else:
        raise AssertionError(how)
    rows[sequence - 1] = row
    store.records[:] = rehash_from(rows, sequence - 1)


async def checked(store: InMemoryChainStore, archive: InMemoryCheckpoints,
                  telemetry: Unvouched | None = None) -> Checkpoint:
    writer = CheckpointWriter(store, KEY, archive, lambda: NOW, telemetry,
                              decision_keys=TRUSTED)
    checkpoint = await writer.write_if_advanced()
    assert checkpoint is not None
    return checkpoint


async def verified(store: InMemoryChainStore, archive: InMemoryCheckpoints,
                   signatures: SignatureDepth = "unvouched",
                   keys: TrustedKeys = TRUSTED) -> VerificationReport:
    return (await verify(store, archive, Expectations(now=NOW), keys,
                         signatures=signatures)).report


def problems(report: VerificationReport) -> set[tuple[int | None, str]]:
    found = [report.first_problem, report.snapshot_problem, *report.other_problems]
    return {(p.sequence, p.kind) for p in found if p is not None}


async def test_the_writer_vouches_for_the_records_it_checked_and_verify_skips_only_those(
        ) -> None:
    store, archive = await stored(), InMemoryCheckpoints()
    checkpoint = await checked(store, archive)
    assert checkpoint.checked_up_to == LENGTH
    routine = await verified(store, archive)
    assert routine.intact, routine.summary
    assert routine.signatures_vouched == LENGTH
    deep = await verified(store, archive, "all")
    assert deep.intact, deep.summary
    assert deep.signatures_vouched == 0


@pytest.mark.parametrize("how", ["foreign signature", "status column", "decision"])
async def test_a_record_forged_in_the_database_before_the_checkpoint_is_not_vouched_for(
        how: str) -> None:
    """The writer signs whatever the database holds; it vouches only for what checks."""
    store, archive, telemetry = await stored(), InMemoryCheckpoints(), Unvouched()
    forge(store, 3, how)
    checkpoint = await checked(store, archive, telemetry)
    assert checkpoint.checked_up_to == 2
    assert telemetry.unvouched == [3]
    for signatures in ("unvouched", "all"):
        report = await verified(store, archive, signatures)  # type: ignore[arg-type]
        assert not report.intact
        assert problems(report) == {(3, "signature-invalid")}, (signatures, report.summary)
    assert (await verified(store, archive)).signatures_vouched == 2


async def test_a_vouched_record_is_still_reported_when_its_key_is_no_longer_trusted() -> None:
    store, archive = await stored(), InMemoryCheckpoints()
    await checked(store, archive)
    report = await verified(store, archive, keys=TrustedKeys.of([OTHER_KEY.public_key()]))
    assert problems(report) == {(1, "signature-invalid")}
    assert "not a trusted key" in report.summary


@pytest.mark.parametrize("how", ["foreign signature", "status column", "decision"])
async def test_a_vouched_record_rewritten_afterwards_is_checked_in_full(how: str) -> None:
    """Its hash no longer is the one vouched for: the checkpoint names the rewrite, and its
    signature is checked again, as before checkpoints vouched for any."""
    store, archive = await stored(), InMemoryCheckpoints()
    await checked(store, archive)
    forge(store, 4, how)
    report = await verified(store, archive)
    assert problems(report) == {(4, "rewritten"), (4, "signature-invalid")}, report.summary


async def test_records_after_the_newest_checkpoint_are_checked_in_full() -> None:
    store, archive = await stored(), InMemoryCheckpoints()
    await checked(store, archive)
    chain = DecisionChain(store)
    for index in range(LENGTH, LENGTH + 3):
        await chain.append(decision_event("pk_late", index),
                           BASE_TIME + timedelta(minutes=index, seconds=1))
    forge(store, LENGTH + 2, "foreign signature")
    report = await verified(store, archive)
    assert problems(report) == {(LENGTH + 2, "signature-invalid")}
    assert report.signatures_vouched == LENGTH


async def test_a_checkpoint_without_the_writer_check_vouches_for_nothing() -> None:
    """Checkpoints written before the writer checked signatures (or without the evaluator
    keys) carry no ``checked_up_to``: every signature is verified, as before."""
    store, archive = await stored(), InMemoryCheckpoints()
    forge(store, 2, "foreign signature")
    checkpoint = await CheckpointWriter(store, KEY, archive, lambda: NOW).write_if_advanced()
    assert checkpoint is not None
    assert checkpoint.checked_up_to is None
    report = await verified(store, archive)
    assert problems(report) == {(2, "signature-invalid")}
    assert report.signatures_vouched == 0


async def test_the_claim_is_signed_and_old_files_keep_their_digest() -> None:
    store, archive = await stored(), InMemoryCheckpoints()
    checkpoint = await checked(store, archive)
    widened = checkpoint.model_copy(update={"checked_up_to": LENGTH + 100})
    assert check_signature(widened, KEY.public_key()) == "signature does not verify"
    old = (await CheckpointWriter(await stored(2), KEY, InMemoryCheckpoints(),
                                  lambda: NOW).write_if_advanced())
    assert old is not None
    form: dict[str, Any] = old.model_dump(mode="json")
    for name in ("checked_up_to", "action_seq", "action_head", "action_entries"):
        del form[name]  # absent from files written before they existed
    assert old.digest() == "sha256:" + hashlib.sha256(canonical_json(form)).hexdigest()
