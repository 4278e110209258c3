"""The access log's own hash chain (issue 14 section 4): who queried the audit trail, linked so
a deleted or edited entry is seen by ``audit verify``. Pure: no I/O here.

Each entry carries the hash of the entry before it (``prev_hash``; the first chained entry links
to ``GENESIS_HASH``) and its own ``entry_hash``: ``shared.hashing.content_hash`` of its canonical
content (``access_entry_content``). Entries written before the chain existed (migration 0008)
have neither column: they are unchained legacy, accepted only before the first chained entry
and not protected. Deleting the newest entries is not visible from the chain alone (nothing
after them links to them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.audit.core.audit_record import GENESIS_HASH
from shared.hashing import content_hash
from shared.time import iso_z

AccessLogKind = Literal["access-log-altered", "access-log-gap"]
ACCESS_HASHED_FIELDS = ("accessed_at", "client", "role", "action", "query", "result_count",
                        "prev_hash")


def access_entry_content(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical content an entry's hash covers: the fields of ``ACCESS_HASHED_FIELDS``,
    ``accessed_at`` as ISO-8601 UTC with ``Z`` (an aware datetime or that text), ``query`` as
    the stored canonical JSON text. Raises ``KeyError`` when a field is absent."""
    content = {name: entry[name] for name in ACCESS_HASHED_FIELDS}
    if isinstance(content["accessed_at"], datetime):
        content["accessed_at"] = iso_z(content["accessed_at"])
    return content


def access_entry_hash(entry: Mapping[str, Any]) -> str:
    """``sha256:<64 hex>`` over ``access_entry_content(entry)`` (``shared.hashing``)."""
    return content_hash(access_entry_content(entry))


def link_access_entry(fields: Mapping[str, Any], head_hash: str | None) -> dict[str, Any]:
    """The columns of a new entry appended after the entry whose hash is ``head_hash`` (None:
    the log is empty or holds only legacy entries, so it links to ``GENESIS_HASH``)."""
    entry = {**fields, "prev_hash": head_hash or GENESIS_HASH}
    entry["entry_hash"] = access_entry_hash(entry)
    return entry


@dataclass(frozen=True, slots=True)
class AccessLogProblem:
    """The first bad entry: its ``entry_id``, a kind (``access-log-altered``: its content no
    longer matches its hash, or its hash was removed; ``access-log-gap``: it does not link to
    the entry before it, so an entry between was deleted or the one before was rewritten)."""

    entry_id: int
    kind: AccessLogKind
    detail: str


@dataclass(frozen=True, slots=True)
class AccessLogCheck:
    """What walking the access log found: entries checked, unchained legacy entries before the
    chain began, and the first problem (None: intact)."""

    checked: int
    legacy: int
    problem: AccessLogProblem | None


class AccessLogWalk:
    """Feed the access log in ``id`` order (each row: column name -> value, as stored), then
    read ``result()``: the first entry that was altered or follows a gap is named."""

    def __init__(self) -> None:
        self._checked = self._legacy = 0
        self._previous: tuple[int, str] | None = None  # (id, entry_hash): last chained entry
        self._problem: AccessLogProblem | None = None

    def feed(self, row: Mapping[str, Any]) -> None:
        if self._problem is not None:
            return
        self._checked += 1
        self._problem = self._check(row)

    def result(self) -> AccessLogCheck:
        return AccessLogCheck(self._checked, self._legacy, self._problem)

    def _check(self, row: Mapping[str, Any]) -> AccessLogProblem | None:
        entry_id, previous = int(row["id"]), self._previous
        stored_hash, prev_hash = row.get("entry_hash"), row.get("prev_hash")
        if stored_hash is None and prev_hash is None:
            if previous is None:
                self._legacy += 1
                return None
            return AccessLogProblem(
                entry_id, "access-log-altered",
                f"access entry {entry_id} has no hash, after the chain began (last chained "
                f"entry: {previous[0]}): its hash was removed")
        try:
            matches = stored_hash == access_entry_hash(row)
        except (KeyError, TypeError, ValueError):
            matches = False
        if not matches:
            return AccessLogProblem(
                entry_id, "access-log-altered",
                f"access entry {entry_id} no longer matches its hash: it was edited")
        expected = previous[1] if previous is not None else GENESIS_HASH
        if prev_hash != expected:
            before = f"entry {previous[0]}" if previous is not None else "the start of the chain"
            return AccessLogProblem(
                entry_id, "access-log-gap",
                f"access entry {entry_id} does not link to {before}: an entry between was "
                f"deleted, or {before} was rewritten")
        self._previous = (entry_id, str(stored_hash))
        return None


def walk_access_log(rows: Iterable[Mapping[str, Any]]) -> AccessLogCheck:
    """``AccessLogWalk`` over ``rows`` (in ``id`` order)."""
    walk = AccessLogWalk()
    for row in rows:
        walk.feed(row)
    return walk.result()
