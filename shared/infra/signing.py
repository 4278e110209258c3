"""Ed25519 keys: created once (owner-only), public half exported; signing and verifying events.

One module for every key TrialWatch signs with: audit's checkpoint key and the evaluator's
decision key. A private key never leaves its host; verifiers hold the public key, which they
should keep somewhere the signing host cannot write, so a rewrite of a database *and* of
whatever the host signed is still caught.

Key id: the first 16 hex digits of the SHA-256 of the raw 32-byte public key (its fingerprint).
An event signature is Ed25519 over the ASCII bytes of the event's signed-content hash
(``shared.contracts.signatures``), carried as base64 with the key id beside it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.contracts.signatures import EventSignature, Refusal, digest_of


def load_or_create_signing_key(private_path: Path, public_path: Path) -> Ed25519PrivateKey:
    """The private key at ``private_path`` (created 0600 when absent, even by two processes
    starting together); its public half is written to ``public_path`` when that is absent.
    Raises ValueError when the file holds another kind of key."""
    if not private_path.exists():
        _create_private_key(private_path)
    key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{private_path} is not an Ed25519 private key")
    if not public_path.exists():
        public_path.parent.mkdir(parents=True, exist_ok=True)
        public_path.write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key


def public_key_path(private_path: Path) -> Path:
    """Where the public half of ``private_path`` is exported: ``x.pem`` -> ``x.pub.pem``."""
    return private_path.with_name(private_path.stem + ".pub.pem")


def _create_private_key(path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting together, one creates the key, both then use it.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
        file.flush()
        os.fsync(file.fileno())


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


def key_id(public_key: Ed25519PublicKey) -> str:
    """The key's fingerprint: 16 hex digits of SHA-256 over the raw public key."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class EventSigner:
    """Signs signed-content hashes (``sha256:<hex>``) with one private key, given or read from
    a key file on first use (``from_file``: building a service never writes a key file; its
    start, or its first signature, does)."""

    def __init__(self, private_key: Ed25519PrivateKey | None = None, *,
                 path: Path | None = None) -> None:
        if (private_key is None) == (path is None):
            raise ValueError("give a private key or the path of its file")
        self._key = private_key
        self._path = path

    @classmethod
    def from_file(cls, private_path: Path) -> EventSigner:
        """The key at ``private_path``, created (0600) on first use when absent, its public half
        exported beside it (``public_key_path``)."""
        return cls(path=private_path)

    def load(self) -> Ed25519PrivateKey:
        if self._key is None:
            assert self._path is not None
            self._key = load_or_create_signing_key(self._path, public_key_path(self._path))
        return self._key

    @property
    def key_id(self) -> str:
        return key_id(self.load().public_key())

    def sign(self, digest: str) -> EventSignature:
        value = self.load().sign(digest.encode("ascii"))
        return EventSignature(key_id=self.key_id, value=base64.b64encode(value).decode())

    def signed(self, payload: dict[str, Any]) -> dict[str, Any]:
        """An event's JSON form (``model_dump(mode="json")``) with its ``signature`` set."""
        signature = self.sign(digest_of(payload))
        return {**payload, "signature": signature.model_dump(mode="json")}


class TrustedKeys:
    """The public keys whose signatures are accepted, by key id.

    ``accepted`` keys may sign new events; ``retired`` keys (rotated out, or compromised) still
    verify what they signed before, but an event arriving signed by one is refused. When an
    unknown key id shows up the files are read again if they changed since the last read (a
    stat per path: a key created or added after start is picked up at once, without a restart,
    and a stream of forged events costs no file reads), and otherwise at most every
    ``reload_after_s``.
    """

    def __init__(self, accepted: Iterable[Path] = (), retired: Iterable[Path] = (),
                 reload_after_s: float = 5.0) -> None:
        self._accepted_paths = tuple(accepted)
        self._retired_paths = tuple(retired)
        self._reload_after_s = reload_after_s
        self._loaded_at: float | None = None
        self._seen: tuple[object, ...] = ()
        self._accepted: dict[str, Ed25519PublicKey] = {}
        self._retired: dict[str, Ed25519PublicKey] = {}
        self._load()

    @classmethod
    def of(cls, accepted: Iterable[Ed25519PublicKey] = (),
           retired: Iterable[Ed25519PublicKey] = ()) -> TrustedKeys:
        """Keys already in memory (tests, tools)."""
        keys = cls()
        keys._accepted = {key_id(k): k for k in accepted}
        keys._retired = {key_id(k): k for k in retired}
        return keys

    @classmethod
    def from_public_bytes(cls, keys: Iterable[bytes]) -> TrustedKeys:
        """Keys from their raw 32-byte Ed25519 public halves (``public_bytes``), all trusted
        for what they signed (a worker process re-checking stored events)."""
        return cls.of([Ed25519PublicKey.from_public_bytes(raw) for raw in keys])

    def public_bytes(self) -> list[bytes]:
        """The raw public half of every key, accepted and retired (to hand to a worker)."""
        raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
        return [key.public_bytes(*raw) for key in (*self._accepted.values(),
                                                   *self._retired.values())]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._accepted)) + tuple(sorted(self._retired))

    def refusal(self, signature: EventSignature | None, digest: str, *,
                new_event: bool = True) -> Refusal | None:
        """None when ``signature`` is a valid signature of ``digest`` by a trusted key.
        ``new_event``: an event being accepted now (retired keys refused), else a stored one
        being verified (retired keys still count)."""
        if signature is None:
            return Refusal("missing", "the event carries no signature")
        key = self._find(signature.key_id)
        if key is None:
            return Refusal("unknown-key",
                           f"signed by key {signature.key_id}, which is not a trusted key",
                           signature.key_id)
        if new_event and signature.key_id in self._retired:
            return Refusal("retired-key", f"signed by retired key {signature.key_id}",
                           signature.key_id)
        try:
            key.verify(base64.b64decode(signature.value, validate=True), digest.encode("ascii"))
        except (InvalidSignature, binascii.Error, ValueError):
            return Refusal("invalid",
                           f"the signature by key {signature.key_id} does not match the content",
                           signature.key_id)
        return None

    def trusts(self, kid: str) -> bool:
        """Whether key id ``kid`` is trusted for what it signed (accepted or retired; the
        files are read again as for ``refusal`` when it is unknown)."""
        return self._find(kid) is not None

    def _find(self, kid: str) -> Ed25519PublicKey | None:
        found = self._accepted.get(kid) or self._retired.get(kid)
        if found is None and self._may_reload():
            self._load()
            found = self._accepted.get(kid) or self._retired.get(kid)
        return found

    def _may_reload(self) -> bool:
        if not (self._accepted_paths or self._retired_paths):
            return False
        if self._files_seen() != self._seen:
            return True
        return self._loaded_at is None or time.monotonic() - self._loaded_at >= self._reload_after_s

    def _files_seen(self) -> tuple[object, ...]:
        """What the key paths hold now, cheaply: each file's (path, mtime, size), a directory's
        ``*.pub.pem`` files likewise; a missing path counts as absent."""
        seen: list[object] = []
        for path in (*self._accepted_paths, *self._retired_paths):
            files = sorted(path.glob("*.pub.pem")) if path.is_dir() else [path]
            for file in files:
                try:
                    stat = file.stat()
                except OSError:
                    seen.append((str(file), None))
                    continue
                seen.append((str(file), stat.st_mtime_ns, stat.st_size))
        return tuple(seen)

    def _load(self) -> None:
        self._loaded_at = time.monotonic()
        self._seen = self._files_seen()
        self._accepted = _read_keys(self._accepted_paths)
        self._retired = _read_keys(self._retired_paths)


def _read_keys(paths: Iterable[Path]) -> dict[str, Ed25519PublicKey]:
    """Keys from PEM files; a directory contributes its ``*.pub.pem`` files. A path that does
    not exist yet is skipped (the evaluator may create its key after audit starts)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        files = sorted(path.glob("*.pub.pem")) if path.is_dir() else [path]
        for file in files:
            if file.is_file():
                key = load_public_key(file)
                keys[key_id(key)] = key
    return keys


class Publisher(Protocol):
    """Sends one event to a topic, returning once the broker has it durably."""

    async def publish(self, payload: dict[str, Any], topic: str, *, key: bytes) -> Any: ...


@dataclass(frozen=True, slots=True)
class Record:
    """One record for ``BatchSender.publish_batch``: its JSON value (a dict of JSON types, as
    ``model_dump(mode="json")`` gives), topic and key."""

    payload: dict[str, Any]
    topic: str
    key: bytes


class BatchSender(Protocol):
    """Sends records at once; per record, in order, None (acknowledged) or why not
    (``shared.infra.kafka_batch.KafkaBatchPublisher``)."""

    async def publish_batch(self, records: Sequence[Record]) -> list[BaseException | None]: ...


class SigningPublisher:
    """A publisher that signs every event it sends to ``topics`` (their JSON form gains
    ``signature``), and passes the others through unchanged.

    Signing at publish time covers every path an event takes out of an outbox (first send,
    relay, redelivery, backlog after a broker refill) and rows staged before signing existed.
    Ed25519 is deterministic: an event published twice carries the same signature.
    """

    def __init__(self, publisher: Publisher, signer: EventSigner,
                 topics: Iterable[str], batch: BatchSender | None = None) -> None:
        self._publisher = publisher
        self._signer = signer
        self._topics = frozenset(topics)
        self._batch = batch

    async def publish(self, payload: dict[str, Any], topic: str, *, key: bytes) -> Any:
        if topic in self._topics:
            payload = self._signer.signed(payload)
        return await self._publisher.publish(payload, topic, key=key)

    async def publish_batch(self, records: Sequence[Record]) -> list[BaseException | None]:
        """Sign each record bound for ``topics`` and send them all through ``batch`` (one
        outcome per record, in order: ``shared.infra.kafka_batch``). Raises RuntimeError when
        built without one."""
        if self._batch is None:
            raise RuntimeError("this publisher was built without a batch sender")
        return await self._batch.publish_batch([
            replace(r, payload=self._signer.signed(r.payload)) if r.topic in self._topics else r
            for r in records])
