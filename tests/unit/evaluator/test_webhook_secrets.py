"""Webhook secrets are sealed at rest with a 0600 key file and open to the original secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.evaluator.adapters.webhook_secrets import (
    MissingKeyFile,
    SecretBox,
    SecretUnreadable,
    read_keys,
    write_keys,
)

SECRET = "a-coordinator-secret-of-some-length"


def test_a_sealed_secret_is_not_the_secret_and_opens_to_it(tmp_path: Path) -> None:
    box = SecretBox(tmp_path / "webhook-key")
    sealed = box.seal(SECRET)
    assert SECRET not in sealed
    assert sealed != box.seal(SECRET)  # a fresh IV each time: equal secrets do not look equal
    assert box.open(sealed) == SECRET
    assert SecretBox(tmp_path / "webhook-key").open(sealed) == SECRET  # the key file persists


def test_the_key_file_is_created_owner_only_on_first_use_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "webhook-key"
    box = SecretBox(path)
    assert not path.exists()  # building a box writes nothing
    box.load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    SecretBox(path).load()
    assert path.read_bytes() == before


def test_the_longest_secret_fits_the_column(tmp_path: Path) -> None:
    sealed = SecretBox(tmp_path / "k").seal("~" * 128)  # the API's maximum length
    assert len(sealed) <= 512


def test_another_key_or_an_altered_row_cannot_open_a_secret(tmp_path: Path) -> None:
    sealed = SecretBox(tmp_path / "a").seal(SECRET)
    with pytest.raises(SecretUnreadable):
        SecretBox(tmp_path / "b").open(sealed)
    with pytest.raises(SecretUnreadable):
        SecretBox(tmp_path / "a").open(sealed[:-4] + ("AAAA" if sealed[-4:] != "AAAA" else "BBBB"))
    with pytest.raises(SecretUnreadable):
        SecretBox(tmp_path / "a").open(SECRET)  # a row still in clear


def test_a_key_file_without_a_fernet_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_text("not a key")
    with pytest.raises(ValueError, match="Fernet key"):
        SecretBox(path).seal(SECRET)


def test_several_keys_newest_first_the_newest_seals_and_every_one_opens(tmp_path: Path) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    path = tmp_path / "k"
    write_keys(path, [old])
    box = SecretBox(path)
    sealed_old = box.seal(SECRET)
    write_keys(path, [new, old])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_keys(path) == [new, old]
    # the same box (a running evaluator) sees the new file without a restart
    sealed_new = box.seal(SECRET)
    assert Fernet(new).decrypt(sealed_new.encode()) == SECRET.encode()
    assert box.open(sealed_old) == box.open(sealed_new) == SECRET
    resealed = box.reseal(sealed_old)
    assert box.opens_with_newest(resealed)
    assert not box.opens_with_newest(sealed_old)
    write_keys(path, [new])  # the old key retired
    assert box.open(resealed) == SECRET
    with pytest.raises(SecretUnreadable):
        box.open(sealed_old)


def test_comments_and_blank_lines_are_ignored_and_an_empty_file_is_refused(
        tmp_path: Path) -> None:
    key = Fernet.generate_key()
    path = tmp_path / "k"
    path.write_bytes(b"# newest first\n\n" + key + b"\n")
    assert read_keys(path) == [key]
    path.write_bytes(b"# nothing\n")
    with pytest.raises(ValueError, match="no Fernet key"):
        read_keys(path)


def test_a_box_that_may_not_create_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingKeyFile, match="EVALUATOR_WEBHOOK_KEY_FILE"):
        SecretBox(tmp_path / "absent", create=False).seal(SECRET)
    assert not (tmp_path / "absent").exists()
