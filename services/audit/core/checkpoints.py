"""Signed checkpoints of the chain head, kept outside the database.

A checkpoint says "at this time the chain had N records and record N hashed to H", signed with
Ed25519. Someone who rewrites the whole chain consistently (every hash recomputed) still cannot
make record N hash to H, and cannot sign a new checkpoint without the private key.

Each checkpoint also signs ``previous`` (the digest of the checkpoint before it), so deleting a
checkpoint from the middle leaves a gap the next one names, and ``record_hashes`` (the hash of
every record since the previous checkpoint), so a consistent rewrite is pinned to the first
record whose hash differs from the signed one, not to a range. Deleting the newest checkpoints
cannot be seen from the files alone: ``verify --min-head/--max-age`` holds the newest one against
what the auditor knows from outside (a head noted earlier, the checkpoint interval).

A checkpoint also signs the access log's head (``access_entry_id``, ``access_head``,
``access_entries``: the newest chained access entry, its hash, and how many entries there were up
to it, unchained legacy ones included), so deleting the newest access entries, which the access
log's own chain cannot see, leaves a signed entry missing (``access-log-truncated``). A
checkpoint is written when the chain or the access log grew; two checkpoints at the same record
sequence are ordered by the access entry they sign (``order_key``).
Likewise it signs the coordinator actions' head (``action_seq``, ``action_head``,
``action_entries``; ``core.action_chain``), so deleting the newest actions is
``actions-truncated``; a checkpoint is also written when only the actions grew, ordered after
the one before it by the action it signs.
Where they are kept is the ``CheckpointArchive`` port's business (``adapters.checkpoint_files``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from services.audit.core.access_chain import AccessHead
from shared.hashing import canonical_json
from shared.infra.signing import key_id
from shared.time import UtcDatetime, iso_z

SIGNING_DOMAIN = b"trialwatch-audit-checkpoint-v1\n"


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sequence: int = Field(ge=0)
    head_hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    created_at: UtcDatetime
    key_id: str
    signature: str = Field(description="base64 Ed25519 signature of the signed form")
    previous: str | None = Field(default=None, description="digest of the previous checkpoint; "
                                 "absent on the first one (and on files from before chaining)")
    first_sequence: int | None = Field(default=None, ge=1,
                                       description="the sequence record_hashes[0] belongs to")
    record_hashes: list[str] | None = Field(
        default=None, description="record hashes since the previous checkpoint, in order")
    access_entry_id: int | None = Field(
        default=None, ge=1, description="id of the newest hash-chained access entry then")
    access_head: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$",
                                    description="that access entry's entry_hash")
    access_entries: int | None = Field(
        default=None, ge=1, description="access entries with id <= access_entry_id then, "
                                        "unchained legacy ones included")
    checked_up_to: int | None = Field(
        default=None, ge=1,
        description="records first_sequence..checked_up_to were checked by the writer before "
                    "it signed their hashes: each hashed to its listed hash and carried a "
                    "valid evaluator signature by a key it trusted, its copied columns saying "
                    "what the signed decision says (absent: none was checked)")
    action_seq: int | None = Field(
        default=None, ge=1, description="chain_seq of the newest hash-chained coordinator "
                                        "action then")
    action_head: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$",
                                    description="that action's entry_hash")
    action_entries: int | None = Field(
        default=None, ge=1, description="coordinator actions up to action_seq then, "
                                        "unchained legacy ones included")

    def order_key(self) -> tuple[int, int, int]:
        """Checkpoints in the order they were written: by record sequence, then by the access
        entry signed, then by the coordinator action signed (a checkpoint written because only
        the access log or the actions grew keeps the sequence of the one before it)."""
        return self.sequence, self.access_entry_id or 0, self.action_seq or 0

    def signed_form(self) -> bytes:
        signed: dict[str, object] = {
            "sequence": self.sequence, "head_hash": self.head_hash,
            "created_at": iso_z(self.created_at), "key_id": self.key_id,
        }
        # Optional fields are signed when present: files from before they existed still verify.
        for name in ("previous", "first_sequence", "record_hashes", "access_entry_id",
                     "access_head", "access_entries", "checked_up_to", "action_seq",
                     "action_head", "action_entries"):
            if getattr(self, name) is not None:
                signed[name] = getattr(self, name)
        return SIGNING_DOMAIN + _canonical(signed)

    def digest(self) -> str:
        """What the next checkpoint's ``previous`` signs: the hash of this whole file (without
        ``checked_up_to`` and the ``action_*`` fields when absent, so files written before they
        existed keep their digest)."""
        form = self.model_dump(mode="json")
        for name in ("checked_up_to", "action_seq", "action_head", "action_entries"):
            if form[name] is None:
                del form[name]
        return "sha256:" + hashlib.sha256(_canonical(form)).hexdigest()

    def hash_of(self, sequence: int) -> str | None:
        """The signed hash of record ``sequence``, when this checkpoint lists it."""
        if self.record_hashes is None or self.first_sequence is None:
            return self.head_hash if sequence == self.sequence else None
        index = sequence - self.first_sequence
        return self.record_hashes[index] if 0 <= index < len(self.record_hashes) else None

    def checked_hashes(self, after: int = 0) -> dict[int, str]:
        """Sequence -> signed hash of each record after sequence ``after`` this checkpoint says
        its writer checked (evaluator signature included) before signing: ``checked_up_to``,
        listed hashes only."""
        if self.checked_up_to is None or self.record_hashes is None or \
                self.first_sequence is None:
            return {}
        upto = min(self.checked_up_to, self.first_sequence + len(self.record_hashes) - 1)
        return {sequence: self.record_hashes[sequence - self.first_sequence]
                for sequence in range(max(self.first_sequence, after + 1), upto + 1)}


def _canonical(value: dict[str, object]) -> bytes:
    """``shared.hashing.canonical_json`` of a checkpoint's signed form or file, byte for byte,
    written by orjson (``OPT_SORT_KEYS``). Every field of a checkpoint is a string, an integer,
    null or a list of strings (its model's types), which orjson writes exactly as the standard
    library's canonical form does (``services.audit.core.record_hashing``: same escapes, UTF-8,
    key order by code point). The standard library wrote the thousands of record hashes a
    checkpoint lists about 5x slower, and every verify, incremental ones included, reads every
    checkpoint (issue 13). A value orjson refuses (an integer beyond 64 bits, a lone
    surrogate) is written by the reference."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return canonical_json(value)


CHECKPOINT_KEY_MAX_LENGTH = 80
"""The longest checkpoint name ``parse_checkpoint_key`` reads: ``checkpoint-`` (11), three numbers
of at most 19 digits (2^63 - 1, the BIGINT every one is stored in) joined by ``-`` (59) and
``.json`` (5)."""
CHECKPOINT_NUMBER_MAX = 2**63 - 1
"""A record sequence, access entry id or action chain_seq: BIGINT columns."""
_CHECKPOINT_KEY = re.compile(r"(?:checkpoint-)?([0-9]{1,19})(?:-([0-9]{1,19}))?"
                             r"(?:-([0-9]{1,19}))?(?:\.json)?", re.ASCII)


def parse_checkpoint_key(text: str) -> tuple[int, int, int]:
    """``48``, ``48-7``, ``48-7-1`` or a checkpoint's file name (``checkpoint-<sequence>[-<access
    entry id>[-<action chain_seq>]].json``, numbers zero-padded) -> (sequence, access entry
    id, action chain_seq) as ``Checkpoint.order_key`` gives them, the parts not given 0: a
    checkpoint an auditor knows from outside to have been written (``Expectations.
    min_checkpoint``). Raises ``ValueError`` saying what is accepted for anything else, a
    number above ``CHECKPOINT_NUMBER_MAX`` or a text longer than
    ``CHECKPOINT_KEY_MAX_LENGTH``."""
    match = (_CHECKPOINT_KEY.fullmatch(text) if len(text) <= CHECKPOINT_KEY_MAX_LENGTH
             else None)
    numbers = [int(n) for n in match.groups() if n is not None] if match else []
    if not numbers or any(n > CHECKPOINT_NUMBER_MAX for n in numbers):
        raise ValueError("not a checkpoint: SEQ[-ACCESS[-ACTION]] or its file name "
                         "checkpoint-SEQ[-ACCESS[-ACTION]].json, each number at most 2^63-1, "
                         f"at most {CHECKPOINT_KEY_MAX_LENGTH} characters")
    numbers += [0] * (3 - len(numbers))
    return numbers[0], numbers[1], numbers[2]


@dataclass(frozen=True, slots=True)
class RejectedCheckpoint:
    file: str
    reason: str


def sign_checkpoint(key: Ed25519PrivateKey, sequence: int, head_hash: str,
                    created_at: datetime, *, previous: Checkpoint | None = None,
                    record_hashes: list[str] | None = None,
                    access: AccessHead | None = None,
                    checked_up_to: int | None = None,
                    actions: AccessHead | None = None) -> Checkpoint:
    """Sign the head; ``previous`` chains it to the last checkpoint, ``record_hashes`` lists the
    hashes of records ``sequence - len(record_hashes) + 1 .. sequence``, ``access`` is the
    access log's head (None: no chained access entry yet), ``checked_up_to`` the last of those
    records the writer checked, evaluator signature included (None: none was), ``actions`` the
    coordinator actions' head (None: no chained action yet)."""
    first = sequence - len(record_hashes) + 1 if record_hashes else None
    unsigned = Checkpoint(sequence=sequence, head_hash=head_hash, created_at=created_at,
                          key_id=key_id(key.public_key()), signature="",
                          previous=previous.digest() if previous is not None else None,
                          first_sequence=first, record_hashes=record_hashes or None,
                          access_entry_id=access.entry_id if access else None,
                          access_head=access.entry_hash if access else None,
                          access_entries=access.entries if access else None,
                          checked_up_to=checked_up_to if record_hashes else None,
                          action_seq=actions.entry_id if actions else None,
                          action_head=actions.entry_hash if actions else None,
                          action_entries=actions.entries if actions else None)
    signature = base64.b64encode(key.sign(unsigned.signed_form())).decode()
    return unsigned.model_copy(update={"signature": signature})


def check_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> str | None:
    """None when the checkpoint was signed by ``public_key``; otherwise why it is rejected."""
    if checkpoint.key_id != key_id(public_key):
        return f"signed by an unknown key {checkpoint.key_id!r}"
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        public_key.verify(signature, checkpoint.signed_form())
    except (InvalidSignature, binascii.Error, ValueError):
        return "signature does not verify"
    return None
