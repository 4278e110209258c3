"""Webhook secrets encrypted at rest: Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``), with
key rotation through ``cryptography.fernet.MultiFernet``.

The evaluator's database holds only Fernet tokens of coordinators' HMAC keys; the keys that open
them live in one file (EVALUATOR_WEBHOOK_KEY_FILE, default beside the decision-signing key),
owner-only (0600): one Fernet key per line, NEWEST FIRST (blank lines and ``#`` comments are
ignored). The newest key seals; every key in the file opens. A copy of the database alone does
not let anyone forge deliveries. Losing the key file makes every stored secret unreadable:
deliveries then fail with a stated reason and coordinators register their webhooks again.

Rotation (``trialwatch webhooks rotate-key``, ``retire-keys``; ``services.evaluator.admin``):
a new key is put first in the file (written to a temporary file, synced, renamed: never half a
file), then every stored token is re-sealed under it in one transaction (``MultiFernet.rotate``:
opened and sealed in memory, the secret is never written in clear); once that is done the older
keys can be removed. A running evaluator reads the file again whenever it changed (a ``stat`` per
use), so deliveries keep working through both steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.evaluator.adapters.sql.tables import webhook


class SecretUnreadable(ValueError):
    """A stored secret that the configured keys cannot open (other key, or altered row)."""


class MissingKeyFile(FileNotFoundError):
    """The key file is absent where a key that sealed stored secrets is needed."""


def read_keys(path: Path) -> list[bytes]:
    """The Fernet keys in ``path``, newest first. Raises ``MissingKeyFile`` when absent and
    ValueError when a line is not a Fernet key (32 url-safe base64 bytes) or there is none."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        raise MissingKeyFile(f"no webhook key file at {path} (EVALUATOR_WEBHOOK_KEY_FILE)") \
            from None
    keys = [line.strip() for line in lines
            if line.strip() and not line.strip().startswith(b"#")]
    for number, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise ValueError(f"{path}: key {number} is not a Fernet key "
                             "(32 url-safe base64 bytes)") from None
    if not keys:
        raise ValueError(f"{path} holds no Fernet key")
    return keys


def write_keys(path: Path, keys: list[bytes]) -> None:
    """Replace the key file with ``keys`` (newest first), 0600, atomically: a temporary file in
    the same folder, synced, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(b"".join(key + b"\n" for key in keys))
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load_or_create_key(path: Path) -> bytes:
    """The newest Fernet key (44 url-safe base64 characters) at ``path``, the file created 0600
    with one new key when absent, even by two processes starting together. Raises ValueError
    when the file holds no Fernet key."""
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
    return read_keys(path)[0]


class SecretBox:
    """Seals and opens webhook secrets with the keys of one file, read on first use and again
    whenever the file changed (building a service never writes a key file; its start, or its
    first seal, does). ``create=False``: an absent file is ``MissingKeyFile`` instead of a new
    key (migrations touching stored secrets, rotation)."""

    def __init__(self, path: Path, *, create: bool = True) -> None:
        self._path = path
        self._create = create
        self._fernet: MultiFernet | None = None
        self._newest: Fernet | None = None
        self._count = 0
        self._seen: tuple[int, int, int] | None = None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def key_count(self) -> int:
        """How many keys the file held when last read."""
        self.load()
        return self._count

    def load(self) -> MultiFernet:
        """The file's keys as one ``MultiFernet`` (newest seals, all open), read again when the
        file's inode, size or modification time changed."""
        stamp = self._stamp()
        if self._fernet is None or stamp != self._seen:
            if self._create:
                load_or_create_key(self._path)
                stamp = self._stamp()
            keys = read_keys(self._path)
            self._fernet = MultiFernet([Fernet(key) for key in keys])
            self._newest, self._count, self._seen = Fernet(keys[0]), len(keys), stamp
        return self._fernet

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            status = self._path.stat()
        except FileNotFoundError:
            return None
        return status.st_ino, status.st_size, status.st_mtime_ns

    def seal(self, secret: str) -> str:
        """The Fernet token (ASCII, 268 characters for a 128-character secret) of ``secret``,
        under the newest key."""
        return self.load().encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        """The secret sealed in ``sealed``; SecretUnreadable when no key in the file sealed
        it."""
        try:
            return self.load().decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                f"stored webhook secret cannot be opened with the keys in {self._path}") from None

    def reseal(self, sealed: str) -> str:
        """``sealed`` sealed again under the newest key (``MultiFernet.rotate``: the secret
        stays in memory); SecretUnreadable when no key in the file opens it."""
        try:
            return self.load().rotate(sealed.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(
                f"stored webhook secret cannot be opened with the keys in {self._path}") from None

    def opens_with_newest(self, sealed: str) -> bool:
        """Whether the newest key alone opens ``sealed``."""
        self.load()
        assert self._newest is not None
        try:
            self._newest.decrypt(sealed.encode("ascii"))
        except (InvalidToken, UnicodeError):
            return False
        return True


@dataclass(frozen=True, slots=True)
class Resealed:
    """What one re-seal pass did: tokens re-sealed under the newest key, and the webhook ids
    whose stored token no key in the file opens (left as they are; their deliveries fail)."""

    resealed: int
    unreadable: list[str]


async def reseal_stored(connection: AsyncConnection, box: SecretBox) -> Resealed:
    """Re-seal every stored webhook secret under ``box``'s newest key, in the caller's
    transaction (rows locked on PostgreSQL, so a registration meanwhile waits)."""
    query = select(webhook.c.webhook_id, webhook.c.secret).order_by(webhook.c.webhook_id)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    resealed, unreadable = 0, []
    for webhook_id, sealed in (await connection.execute(query)).all():
        try:
            token = box.reseal(sealed)
        except SecretUnreadable:
            unreadable.append(str(webhook_id))
            continue
        await connection.execute(update(webhook).where(webhook.c.webhook_id == webhook_id)
                                 .values(secret=token))
        resealed += 1
    return Resealed(resealed, unreadable)


async def sealed_with_older_keys(connection: AsyncConnection, box: SecretBox) -> list[str]:
    """The webhook ids whose stored token the newest key alone does not open but an older key
    in the file does (what removing the older keys would make unreadable)."""
    rows = (await connection.execute(select(webhook.c.webhook_id, webhook.c.secret))).all()
    waiting = []
    for webhook_id, sealed in rows:
        if box.opens_with_newest(sealed):
            continue
        try:
            box.open(sealed)
        except SecretUnreadable:
            continue  # unreadable under every key already: retiring changes nothing for it
        waiting.append(str(webhook_id))
    return waiting
