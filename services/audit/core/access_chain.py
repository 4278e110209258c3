"""The access log's own hash chain (issue 14 section 4): who queried the audit trail, linked so
a deleted or edited entry is seen by ``audit verify``. Pure: no I/O here.

Each entry carries the hash of the entry before it (``prev_hash``; the first chained entry links
to ``GENESIS_HASH``) and its own ``entry_hash``: ``shared.hashing.content_hash`` of its canonical
content (``access_entry_content``). Entries written before the chain existed (migration 0008)
have neither column: they are unchained legacy, accepted only before the first chained entry
and not protected by the chain. Deleting the newest entries is not visible from the chain alone
(nothing after them links to them): the signed audit checkpoints therefore also sign the access
log's head (``AccessHead``: newest chained entry id, its hash, and the number of entries up to it,
legacy ones included), and the walk holds the log against every signed head it is given:
a signed entry that is gone is ``access-log-truncated``, one that no longer hashes to the signed
value is ``access-log-altered``, fewer entries up to a signed id than were counted (legacy entries
deleted) is ``access-log-gap``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.audit.core.audit_record import GENESIS_HASH
from shared.hashing import content_hash
from shared.time import iso_z

AccessLogKind = Literal["access-log-altered", "access-log-gap", "access-log-truncated",
                        "actions-altered", "actions-gap", "actions-truncated"]
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
class AccessHead:
    """The access log's head as a checkpoint signs it: ``entry_id`` and ``entry_hash`` of the
    newest chained entry, ``entries`` the number of entries with id <= ``entry_id`` (unchained
    legacy entries included)."""

    entry_id: int
    entry_hash: str
    entries: int


@dataclass(frozen=True, slots=True)
class AccessLogProblem:
    """The first bad entry: its ``entry_id``, a kind (``access-log-altered``: its content no
    longer matches its hash, its hash was removed, or it no longer hashes to the value a
    checkpoint signed; ``access-log-gap``: it does not link to the entry before it, so an entry
    between was deleted or the one before was rewritten, or fewer entries are left up to a signed
    head than were counted; ``access-log-truncated``: an entry a checkpoint signed is gone, with
    every entry after it)."""

    entry_id: int
    kind: AccessLogKind
    detail: str
    ref: str | None = None
    """The entry's own name where it has one (a coordinator action's id), else None."""


@dataclass(frozen=True, slots=True)
class AccessLogCheck:
    """What walking the access log found: entries checked, unchained legacy entries before the
    chain began, and the first problem (None: intact)."""

    checked: int
    legacy: int
    problem: AccessLogProblem | None


class AccessLogWalk:
    """Feed the access log in ``id`` order (each row: column name -> value, as stored), then
    read ``result()``: the first entry that was altered or follows a gap is named; when the
    chain itself holds, the log is held against the ``signed`` heads (from the trusted
    checkpoints)."""

    def __init__(self, signed: Iterable[AccessHead] = (), *, id_field: str = "id",
                 entry_hash: Callable[[Mapping[str, Any]], str] = access_entry_hash,
                 kind_prefix: str = "access-log", noun: str = "access entry",
                 nouns: str = "access entries", log: str = "the access log",
                 row_check: Callable[[Mapping[str, Any]], str | None] | None = None,
                 ref_field: str | None = None) -> None:
        """The keyword arguments let another hash-chained log be walked the same way
        (``core.action_chain``): ``id_field`` holds the position (None: an unchained legacy
        row, taken as 0, so legacy rows must come first), ``entry_hash`` rehashes a row,
        ``row_check`` says why a row is altered beyond its hash (None: it is not), and
        ``ref_field`` names the row in messages and in the problem (``ref``)."""
        self._id_field, self._entry_hash, self._prefix = id_field, entry_hash, kind_prefix
        self._noun, self._nouns, self._log = noun, nouns, log
        self._row_check, self._ref_field = row_check, ref_field
        self._checked = self._legacy = 0
        self._previous: tuple[int, str] | None = None  # (id, entry_hash): last chained entry
        self._problem: AccessLogProblem | None = None
        self._signed = sorted(signed, key=lambda head: head.entry_id)
        self._pending = [head.entry_id for head in self._signed]  # ids not yet passed
        self._found: dict[int, str | None] = {}  # signed id -> stored entry_hash
        self._counted: dict[int, int] = {}  # signed id -> entries fed with id <= it
        self._fed = 0
        self._last_id: int | None = None

    def _id(self, row: Mapping[str, Any]) -> int:
        value = row.get(self._id_field)
        return 0 if value is None else int(value)

    def _kind(self, suffix: str) -> AccessLogKind:
        return f"{self._prefix}-{suffix}"  # type: ignore[return-value]

    def _name(self, row: Mapping[str, Any]) -> str:
        if self._ref_field is None:
            return f"{self._noun} {self._id(row)}"
        return f"{self._noun} {row.get(self._ref_field)} (chain position {row.get(self._id_field)})"

    def _problem_at(self, row: Mapping[str, Any], suffix: str, detail: str) -> AccessLogProblem:
        ref = None if self._ref_field is None else str(row.get(self._ref_field))
        return AccessLogProblem(self._id(row), self._kind(suffix), detail, ref)

    def feed(self, row: Mapping[str, Any]) -> None:
        entry_id = self._id(row)
        while self._pending and self._pending[0] < entry_id:
            self._counted[self._pending.pop(0)] = self._fed
        self._fed += 1
        self._last_id = entry_id
        if self._pending and self._pending[0] == entry_id:
            self._found[entry_id] = row.get("entry_hash")
            self._counted[self._pending.pop(0)] = self._fed
        if self._problem is not None:
            return
        self._checked += 1
        self._problem = self._check(row)

    def result(self) -> AccessLogCheck:
        for entry_id in self._pending:
            self._counted[entry_id] = self._fed
        self._pending = []
        return AccessLogCheck(self._checked, self._legacy,
                              self._problem or self._against_signed())

    def _against_signed(self) -> AccessLogProblem | None:
        noun, nouns = self._noun, self._nouns
        for head in self._signed:
            if head.entry_id not in self._found:
                last = self._last_id or 0
                if last < head.entry_id:
                    newest = self._signed[-1]
                    return AccessLogProblem(
                        last + 1, self._kind("truncated"),
                        f"a signed checkpoint covers {nouns} up to id {newest.entry_id} "
                        f"({newest.entries} entries); {self._log} ends at id {last} "
                        f"({self._fed} entries): the newest entries, from id {last + 1} "
                        f"(or after it) to {newest.entry_id}, were deleted")
                return AccessLogProblem(
                    head.entry_id, self._kind("gap"),
                    f"{noun} {head.entry_id}, signed in a checkpoint, is gone: it was "
                    "deleted")
            if self._found[head.entry_id] != head.entry_hash:
                return AccessLogProblem(
                    head.entry_id, self._kind("altered"),
                    f"{noun} {head.entry_id} does not hash to the value a checkpoint "
                    f"signed: {self._log} was rewritten up to it")
            counted = self._counted.get(head.entry_id, 0)
            if counted < head.entries:
                return AccessLogProblem(
                    head.entry_id, self._kind("gap"),
                    f"a checkpoint counted {head.entries} {nouns} up to id "
                    f"{head.entry_id}; {counted} are left: "
                    f"{head.entries - counted} were deleted "
                    "(unchained legacy entries, if the chain holds)")
            if counted > head.entries:
                return AccessLogProblem(
                    head.entry_id, self._kind("altered"),
                    f"a checkpoint counted {head.entries} {nouns} up to id "
                    f"{head.entry_id}; {counted} are there: {counted - head.entries} were "
                    "inserted (as unchained legacy entries, if the chain holds)")
        return None

    def _check(self, row: Mapping[str, Any]) -> AccessLogProblem | None:
        entry_id, previous = self._id(row), self._previous
        name = self._name(row)
        if self._row_check is not None:
            altered = self._row_check(row)
            if altered is not None:
                return self._problem_at(row, "altered", f"{name} {altered}")
        stored_hash, prev_hash = row.get("entry_hash"), row.get("prev_hash")
        if stored_hash is None and prev_hash is None:
            if previous is None:
                self._legacy += 1
                return None
            return self._problem_at(
                row, "altered",
                f"{name} has no hash, after the chain began (last chained "
                f"entry: {previous[0]}): its hash was removed")
        try:
            matches = stored_hash == self._entry_hash(row)
        except (KeyError, TypeError, ValueError):
            matches = False
        if not matches:
            return self._problem_at(row, "altered",
                                    f"{name} no longer matches its hash: it was edited")
        expected = previous[1] if previous is not None else GENESIS_HASH
        if prev_hash != expected or (previous is not None and entry_id <= previous[0]):
            before = f"entry {previous[0]}" if previous is not None else "the start of the chain"
            return self._problem_at(
                row, "gap",
                f"{name} does not link to {before}: an entry between was "
                f"deleted, or {before} was rewritten")
        self._previous = (entry_id, str(stored_hash))
        return None


def walk_access_log(rows: Iterable[Mapping[str, Any]],
                    signed: Iterable[AccessHead] = ()) -> AccessLogCheck:
    """``AccessLogWalk`` over ``rows`` (in ``id`` order), held against the ``signed`` heads."""
    walk = AccessLogWalk(signed)
    for row in rows:
        walk.feed(row)
    return walk.result()
