from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from services.audit.adapters.checkpoint_files import (
    checkpoint_path,
    load_checkpoints,
    write_checkpoint,
)
from services.audit.core.access_chain import AccessHead
from services.audit.core.checkpoints import SIGNING_DOMAIN, Checkpoint, sign_checkpoint
from services.audit.core.verify import vouched_hashes
from shared.hashing import canonical_json
from shared.infra.signing import load_or_create_signing_key, load_public_key
from shared.time import iso_z

HEAD = "sha256:" + "ab" * 32
AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)


def test_a_new_signing_key_is_owner_only_and_its_public_key_is_exported(tmp_path: Path) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    key = load_or_create_signing_key(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_public_key(public).public_bytes_raw() == key.public_key().public_bytes_raw()


def test_the_signing_key_is_reused_on_the_next_start(tmp_path: Path) -> None:
    first = load_or_create_signing_key(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    again = load_or_create_signing_key(tmp_path / "k.pem", tmp_path / "k.pub.pem")
    assert first.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()


def test_a_signed_checkpoint_is_trusted(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    write_checkpoint(tmp_path, sign_checkpoint(key, 7, HEAD, AT))
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert [(c.sequence, c.head_hash, c.created_at) for c in trusted] == [(7, HEAD, AT)]
    assert rejected == []


def test_a_checkpoint_with_an_edited_head_hash_is_rejected(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = write_checkpoint(tmp_path, sign_checkpoint(key, 7, HEAD, AT))
    body = json.loads(path.read_text())
    body["head_hash"] = "sha256:" + "cd" * 32
    path.write_text(json.dumps(body))
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert trusted == []
    assert [r.reason for r in rejected] == ["signature does not verify"]


def test_a_checkpoint_forged_with_another_key_is_rejected(tmp_path: Path) -> None:
    real, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    forged = sign_checkpoint(forger, 7, HEAD, AT)
    write_checkpoint(tmp_path, forged.model_copy(
        update={"key_id": sign_checkpoint(real, 7, HEAD, AT).key_id}))
    write_checkpoint(tmp_path, sign_checkpoint(forger, 8, HEAD, AT))
    trusted, rejected = load_checkpoints(tmp_path, real.public_key())
    assert trusted == []
    assert sorted(r.reason for r in rejected) == [
        "signature does not verify", f"signed by an unknown key {forged.key_id!r}"]


def test_malformed_checkpoint_files_are_rejected(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    checkpoint_path(tmp_path, 1).write_text("{not json")
    checkpoint_path(tmp_path, 2).write_text(json.dumps({"sequence": 2}))
    good = sign_checkpoint(key, 3, HEAD, AT).model_dump(mode="json")
    checkpoint_path(tmp_path, 3).write_text(json.dumps({**good, "signature": "%%%"}))
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert trusted == []
    assert [r.file for r in rejected] == [checkpoint_path(tmp_path, n).name for n in (1, 2, 3)]
    assert rejected[0].reason.startswith("malformed")


def test_a_checkpoint_copied_under_another_sequence_name_is_rejected(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = write_checkpoint(tmp_path, sign_checkpoint(key, 7, HEAD, AT))
    path.rename(checkpoint_path(tmp_path, 9))
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert trusted == []
    assert rejected[0].reason == "file name does not match the signed sequence"


def test_a_checkpoint_signing_the_access_head_is_named_for_both_and_ordered_after(
        tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    first = sign_checkpoint(key, 7, HEAD, AT, access=AccessHead(3, HEAD, 5))
    second = sign_checkpoint(key, 7, HEAD, AT, previous=first, access=AccessHead(4, HEAD, 6))
    paths = [write_checkpoint(tmp_path, c) for c in (second, first)]
    assert [p.name for p in paths] == ["checkpoint-000000000007-000000000004.json",
                                       "checkpoint-000000000007-000000000003.json"]
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert [c.access_entry_id for c in trusted] == [3, 4]
    assert rejected == []


def test_a_changed_access_head_or_a_renamed_file_is_rejected(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    path = write_checkpoint(tmp_path, sign_checkpoint(key, 7, HEAD, AT,
                                                      access=AccessHead(3, HEAD, 5)))
    forged = json.loads(path.read_text()) | {"access_entries": 4}
    path.write_text(json.dumps(forged))
    path.with_name("other").write_text("")  # not a checkpoint file: ignored
    good = write_checkpoint(tmp_path / "b", sign_checkpoint(key, 7, HEAD, AT,
                                                           access=AccessHead(3, HEAD, 5)))
    good.rename(tmp_path / "b" / "checkpoint-000000000007-000000000009.json")
    assert [r.reason for r in load_checkpoints(tmp_path, key.public_key())[1]] == [
        "signature does not verify"]
    assert [r.reason for r in load_checkpoints(tmp_path / "b", key.public_key())[1]] == [
        "file name does not match the signed sequence"]


# Issue 13: a checkpoint is signed and chained over its canonical JSON; written by orjson now
# (every verify, incremental ones included, reads every checkpoint), it must stay byte for byte
# the reference's, so every checkpoint file written before still verifies and chains.
TEXT = st.text(st.characters(), max_size=12)  # lone surrogates too: refused as the reference does


def _reference_signed_form(checkpoint: Checkpoint) -> bytes:
    signed: dict[str, object] = {"sequence": checkpoint.sequence,
                                 "head_hash": checkpoint.head_hash,
                                 "created_at": iso_z(checkpoint.created_at),
                                 "key_id": checkpoint.key_id}
    for name in ("previous", "first_sequence", "record_hashes", "access_entry_id",
                 "access_head", "access_entries", "checked_up_to", "action_seq",
                 "action_head", "action_entries"):
        if getattr(checkpoint, name) is not None:
            signed[name] = getattr(checkpoint, name)
    return SIGNING_DOMAIN + canonical_json(signed)


@settings(max_examples=200, deadline=None)
@given(sequence=st.integers(min_value=1, max_value=2**70), key_id=TEXT,
       hashes=st.lists(st.one_of(TEXT, st.just(HEAD)), min_size=1, max_size=5),
       previous=st.one_of(st.none(), TEXT),
       created=st.datetimes(timezones=st.just(UTC)))
def test_a_checkpoint_signs_and_chains_the_reference_canonical_json(
        sequence: int, key_id: str, hashes: list[str], previous: str | None,
        created: datetime) -> None:
    checkpoint = Checkpoint(sequence=sequence, head_hash=HEAD, created_at=created, key_id=key_id,
                            signature="", previous=previous,
                            first_sequence=max(1, sequence - len(hashes) + 1),
                            record_hashes=hashes, checked_up_to=sequence)
    form = checkpoint.model_dump(mode="json")
    for name in ("action_seq", "action_head", "action_entries"):
        del form[name]
    try:
        reference = _reference_signed_form(checkpoint)
        reference_digest = "sha256:" + hashlib.sha256(canonical_json(form)).hexdigest()
    except UnicodeEncodeError:
        # a lone surrogate is not UTF-8: the reference refuses it, and so must the fast path
        with pytest.raises(UnicodeEncodeError):
            checkpoint.signed_form()
        with pytest.raises(UnicodeEncodeError):
            checkpoint.digest()
        return
    assert checkpoint.signed_form() == reference
    assert checkpoint.digest() == reference_digest


def test_the_vouched_hashes_after_a_resume_point_are_those_after_it_only() -> None:
    key = Ed25519PrivateKey.generate()
    hashes = [f"sha256:{n:064x}" for n in range(1, 11)]
    first = sign_checkpoint(key, 4, hashes[3], AT, record_hashes=hashes[:4], checked_up_to=4)
    second = sign_checkpoint(key, 10, hashes[9], AT, previous=first,
                             record_hashes=hashes[4:], checked_up_to=9)
    assert vouched_hashes([first, second]) == {n: hashes[n - 1] for n in range(1, 10)}
    assert vouched_hashes([first, second], 3) == {n: hashes[n - 1] for n in range(4, 10)}
    assert vouched_hashes([first, second], 6) == {n: hashes[n - 1] for n in range(7, 10)}
    assert vouched_hashes([first, second], 10) == {}


def test_a_checkpoint_file_is_read_as_the_standard_library_reads_it(tmp_path: Path) -> None:
    """orjson reads an integer beyond 64 bits as a float; such a file is read as before."""
    key = Ed25519PrivateKey.generate()
    huge = sign_checkpoint(key, 2**64 + 1, HEAD, AT)
    path = checkpoint_path(tmp_path, 7)
    path.write_bytes(canonical_json(huge))  # a valid signature, named for another sequence
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert trusted == []
    assert [r.reason for r in rejected] == ["file name does not match the signed sequence"]
    path.write_bytes(b"\xef\xbb\xbf" + canonical_json(sign_checkpoint(key, 7, HEAD, AT)))
    trusted, rejected = load_checkpoints(tmp_path, key.public_key())
    assert [c.sequence for c in trusted] == [7]
    assert rejected == []
