"""Signed checkpoints as files in a folder outside the database: the ``CheckpointArchive``.

Files are written to a temporary name, synced, then renamed: a crash never leaves half a file.
A file is trusted only when its signature verifies with the given public key and its name
matches the sequence it signs (``checkpoint-<sequence>.json``; a checkpoint that also signs the
access log's head is ``checkpoint-<sequence>-<access entry id>.json``, so one written because only
the access log grew does not replace the one before it; one that also signs the coordinator
actions' head is ``checkpoint-<sequence>-<access entry id, 0 if none>-<action chain_seq>.json``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from services.audit.core.checkpoints import Checkpoint, RejectedCheckpoint, check_signature
from shared.hashing import canonical_json
from shared.infra.signing import load_public_key

FILE_PATTERN = re.compile(r"^checkpoint-(\d{12})(?:-(\d{12}))?(?:-(\d{12}))?\.json$")


class CheckpointFiles:
    """Checkpoint files in ``directory``, trusted when signed by ``public_key`` (a key, or the
    path of a PEM public key read at each load; a missing file rejects every checkpoint)."""

    def __init__(self, directory: Path, public_key: Ed25519PublicKey | Path) -> None:
        self.directory = directory
        self._public_key = public_key

    def load(self) -> tuple[list[Checkpoint], list[RejectedCheckpoint]]:
        key = self._public_key
        if isinstance(key, Path):
            if not key.exists():
                return load_checkpoints(self.directory, None,
                                        f"no public key at {key} to check it")
            key = load_public_key(key)
        return load_checkpoints(self.directory, key)

    def write(self, checkpoint: Checkpoint) -> None:
        write_checkpoint(self.directory, checkpoint)


def checkpoint_path(directory: Path, sequence: int, access_entry_id: int | None = None,
                    action_seq: int | None = None) -> Path:
    """Where the checkpoint signing ``sequence`` (and access entry ``access_entry_id``, and
    coordinator action ``action_seq``) goes."""
    if action_seq is not None:
        return directory / (f"checkpoint-{sequence:012d}-{access_entry_id or 0:012d}-"
                            f"{action_seq:012d}.json")
    if access_entry_id is None:
        return directory / f"checkpoint-{sequence:012d}.json"
    return directory / f"checkpoint-{sequence:012d}-{access_entry_id:012d}.json"


def write_checkpoint(directory: Path, checkpoint: Checkpoint) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = checkpoint_path(directory, checkpoint.sequence, checkpoint.access_entry_id,
                             checkpoint.action_seq)
    temporary = target.with_suffix(".tmp")
    with open(temporary, "wb") as file:
        file.write(canonical_json(checkpoint) + b"\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, target)
    return target


def load_checkpoints(directory: Path, public_key: Ed25519PublicKey | None,
                     missing_key: str = "no public key to check it",
                     ) -> tuple[list[Checkpoint], list[RejectedCheckpoint]]:
    """Every checkpoint file in ``directory``: the trusted ones (by sequence) and the rejected."""
    trusted: list[Checkpoint] = []
    rejected: list[RejectedCheckpoint] = []
    if not directory.exists():
        return trusted, rejected
    for path in sorted(directory.glob("checkpoint-*.json")):
        if public_key is None:
            rejected.append(RejectedCheckpoint(path.name, missing_key))
            continue
        reason, checkpoint = _read(path)
        if checkpoint is not None:
            reason = check_signature(checkpoint, public_key)
            if reason is None and not _named_for(path, checkpoint):
                reason = "file name does not match the signed sequence"
        if reason is None and checkpoint is not None:
            trusted.append(checkpoint)
        else:
            rejected.append(RejectedCheckpoint(path.name, reason or "unreadable"))
    trusted.sort(key=Checkpoint.order_key)
    return trusted, rejected


def _read(path: Path) -> tuple[str | None, Checkpoint | None]:
    try:
        return None, Checkpoint.model_validate(_json(path.read_bytes()))
    except (OSError, ValueError, ValidationError) as error:
        return f"malformed: {type(error).__name__}", None


def _json(body: bytes) -> object:
    """``json.loads(body)``: orjson reads standard JSON to the same values about 3x faster
    (every verify reads every checkpoint file, issue 13). What it refuses (NaN, a byte order
    mark, a lone surrogate) is read by the standard library as before; so is a file with a
    float among its fields, because orjson reads an integer beyond 64 bits as a float, where
    the standard library keeps the integer (a checkpoint has no float field: its integers
    must come out as written). A file is accepted or refused exactly as before."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)
    if type(value) is dict and not any(type(field) is float for field in value.values()):
        return value
    return json.loads(body)


def _named_for(path: Path, checkpoint: Checkpoint) -> bool:
    match = FILE_PATTERN.match(path.name)
    if match is None or int(match.group(1)) != checkpoint.sequence:
        return False
    access, action = match.group(2), match.group(3)
    if action is not None:
        return (int(action) == checkpoint.action_seq
                and int(access) == (checkpoint.access_entry_id or 0))
    if checkpoint.action_seq is not None:
        return False
    return (int(access) if access is not None else None) == checkpoint.access_entry_id
