"""The receipt a sender gets back: proof that its update is durable and will be published.

A receipt also says what was not read exactly: ``warnings`` lists every element kept unread
or read with a warning (path + reason), whatever the format; ``entries`` says, for each entry
of a FHIR Bundle (or the single resource), whether it was accepted, refused (with every
problem and its path) or ignored (a resource type TrialWatch does not read), and for each
segment of an HL7 v2 message whether it was accepted, kept unread (an OBX whose value cannot
be read exactly: criteria reading it are ``unknown``) or ignored (a segment not read); an HL7
v2 message with a segment that cannot be read is refused as a whole, naming each problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Note:
    """One element at ``path`` (``Bundle.entry[3].resource.valueString``, ``OBX[2].5``).

    ``codes``: for a fact no active trial's criteria read (``screening``), its codes as
    ``system|code``, so a reader (``trialwatch import``'s summary) can count them without
    parsing ``reason``; empty for every other note."""

    path: str
    reason: str
    codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class EntryReceipt:
    """What became of one FHIR entry or HL7 v2 segment: ``accepted``, ``refused``,
    ``ignored``, or (an HL7 v2 OBX kept as an unread result) ``unread``."""

    path: str
    resource_type: str | None
    outcome: str
    problems: tuple[Note, ...] = ()
    warnings: tuple[Note, ...] = ()


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: UUID
    client: str
    format: str
    received_at: datetime
    patient_keys: tuple[str, ...]
    event_ids: tuple[UUID, ...]
    entries: tuple[EntryReceipt, ...] = ()
    warnings: tuple[Note, ...] = ()

    @property
    def outcome(self) -> str:
        """``"partly refused"`` when an entry of a batch, collection or message Bundle was
        refused (FHIR R4 http, "Batches and transactions": those entries succeed or fail one by
        one, so the others were kept and the answer is still 202), else ``"accepted"``. A whole
        refusal is never a receipt: it is a 422 problem document (docs/problems.md)."""
        return "partly refused" if self._refused() else "accepted"

    @property
    def summary(self) -> str:
        """One sentence a sender's integrator reads first: what was refused, that nothing of a
        refused entry was kept, where and why (its first problem), what to do, and what was
        accepted (so it is not sent again). Never repeats a value beyond what the problem's
        reason already says."""
        if not self.entries:
            return "Accepted."
        unit = "segments" if self.format == "hl7v2" else "entries"
        accepted = [e for e in self.entries if e.outcome in ("accepted", "unread")]
        ignored = [e for e in self.entries if e.outcome == "ignored"]
        refused = self._refused()
        said = f"{len(accepted)} accepted ({_types(accepted)})" if accepted else "none accepted"
        unread = [e for e in self.entries if e.outcome == "unread"]
        tail = ""
        if unread:
            them = "it" if len(unread) == 1 else "them"
            tail += (f"; {len(unread)} kept unread: criteria reading {them} stay unknown "
                     "(see warnings)")
        if ignored:
            tail += f"; {len(ignored)} ignored: {_types(ignored)} not read by TrialWatch"
        if not refused:
            return (f"Accepted: {len(accepted)} of {len(self.entries)} {unit} "
                    f"({_types(accepted)}){tail}.")
        it = "it" if len(refused) == 1 else "them"
        named = "; ".join(_refusal(e) for e in refused[:3])
        more = f"; and {len(refused) - 3} more (see entries)" if len(refused) > 3 else ""
        return (f"Partly refused: {len(refused)} of {len(self.entries)} {unit} refused, nothing "
                f"of {it} kept: {named}{more}. Correct each refused entry at the sender and "
                f"send it again corrected; {said} need not be sent again{tail}.")

    def _refused(self) -> list[EntryReceipt]:
        return [e for e in self.entries if e.outcome == "refused"]

    def details(self) -> dict[str, Any]:
        """The JSON kept with the receipt (``intake_receipts.details``)."""
        return {
            "entries": [
                {
                    "path": entry.path,
                    "resource_type": entry.resource_type,
                    "outcome": entry.outcome,
                    "problems": [_note(n) for n in entry.problems],
                    "warnings": [_note(n) for n in entry.warnings],
                }
                for entry in self.entries
            ],
            "warnings": [_note(n) for n in self.warnings],
        }


def details_from_json(
    details: dict[str, Any] | None,
) -> tuple[tuple[EntryReceipt, ...], tuple[Note, ...]]:
    """``(entries, warnings)`` from ``Receipt.details()``; empty for older receipts."""
    if not details:
        return (), ()
    entries = tuple(
        EntryReceipt(
            path=entry["path"],
            resource_type=entry.get("resource_type"),
            outcome=entry["outcome"],
            problems=tuple(_note_from(n) for n in entry.get("problems", ())),
            warnings=tuple(_note_from(n) for n in entry.get("warnings", ())),
        )
        for entry in details.get("entries", ())
    )
    return entries, tuple(_note_from(n) for n in details.get("warnings", ()))


def _note_from(stored: dict[str, Any]) -> Note:
    return Note(stored["path"], stored["reason"], tuple(stored.get("codes", ())))


def _types(entries: list[EntryReceipt]) -> str:
    """"Patient, Observation x3": each resource type (or segment) once, in order sent."""
    counts: dict[str, int] = {}
    for entry in entries:
        name = entry.resource_type or "unknown type"
        counts[name] = counts.get(name, 0) + 1
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in counts.items())


def _refusal(entry: EntryReceipt) -> str:
    """"Bundle.entry[1] (Observation) at <path>: <reason>" with the first problem."""
    said = f"{entry.path} ({entry.resource_type or 'unknown type'})"
    if entry.problems:
        first = entry.problems[0]
        said += f" at {first.path}: {first.reason}"
        if len(entry.problems) > 1:
            said += f" (+{len(entry.problems) - 1} more problems, see entries)"
    return said


def _note(note: Note) -> dict[str, Any]:
    said: dict[str, Any] = {"path": note.path, "reason": note.reason}
    if note.codes:
        said["codes"] = list(note.codes)
    return said
