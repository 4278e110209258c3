"""Webhook secrets encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``).

The evaluator's database holds only Fernet tokens of coordinators' HMAC keys; the key that
opens them lives in one file (EVALUATOR_WEBHOOK_KEY_FILE, default beside the decision-signing
key), created owner-only (0600) on first use. A copy of the database alone no longer lets
anyone forge deliveries. Losing the key file makes every stored secret unreadable: deliveries
then fail with a stated reason and coordinators register their webhooks again.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretUnreadable(ValueError):
    """A stored secret that the configured key cannot open (other key, or altered row)."""


def load_or_create_key(path: Path) -> bytes:
    """The Fernet key (44 url-safe base64 characters) at ``path``, created 0600 when absent,
    even by two processes starting together. Raises ValueError when the file holds no Fernet
    key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # O_EXCL: of two processes starting together, one creates the key, both then use it.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(Fernet.generate_key() + b"\n")
                file.flush()
                os.fsync(file.fileno())
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        raise ValueError(f"{path} does not hold a Fernet key (32 url-safe base64 bytes)") from None
    return key


class SecretBox:
    """Seals and opens webhook secrets with the key of one file, read on first use (building a
    service never writes a key file; its start, or its first seal, does)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fernet: Fernet | None = None

    @property
    def path(self) -> Path:
        return self._path

    def load(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(load_or_create_key(self._path))
        return self._fernet

    def seal(self, secret: str) -> str:
        """The Fernet token (ASCII, 268 characters for a 128-character secret) of ``secret``."""
        return self.load().encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret sealed in ``sealed``; SecretUnreadable when this key did not seal it."""
        try:
            return self.load().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                f"stored webhook secret cannot be opened with the key in {self._path}") from None
