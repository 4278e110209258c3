from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.audit.adapters.checkpoint_files import (
    checkpoint_path,
    load_checkpoints,
    write_checkpoint,
)
from services.audit.core.access_chain import AccessHead
from services.audit.core.checkpoints import sign_checkpoint
from shared.infra.signing import load_or_create_signing_key, load_public_key

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
