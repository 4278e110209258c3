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
    """One element at ``path`` (``Bundle.entry[3].resource.valueString``, ``OBX[2].5``)."""

    path: str
    reason: str


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
            problems=tuple(Note(**n) for n in entry.get("problems", ())),
            warnings=tuple(Note(**n) for n in entry.get("warnings", ())),
        )
        for entry in details.get("entries", ())
    )
    return entries, tuple(Note(**n) for n in details.get("warnings", ()))


def _note(note: Note) -> dict[str, str]:
    return {"path": note.path, "reason": note.reason}
