"""Receipt warnings for what was accepted but is screened by no criterion.

A result, condition or medication whose codes no active trial's criteria read (a lab's local
code ``PLT^Platelets^L``, a code outside every value set) is accepted and published, but it
never reaches a decision: while an older result coded in LOINC is read in its place. The
receipt says so for each one, at the element that codes it (``OBX[2].3``,
``Bundle.entry[1].resource.code``), with how to have it read. Pure: which codes are read comes
from the ``ScreenedCodes`` port.
"""

from __future__ import annotations

from dataclasses import replace

from services.intake.core.normalise import Normalised
from services.intake.core.ports import ScreenedCodes
from services.intake.core.receipts import EntryReceipt, Note
from shared.clinical.facts import ClinicalFact, Coding, FactKind

_WHAT = {FactKind.OBSERVATION: "result", FactKind.CONDITION: "condition",
         FactKind.MEDICATION: "medication", FactKind.PROCEDURE: "procedure"}
_SHOWN_CODES = 3
_NOT_RESULTS = frozenset({"entered-in-error"})  # a tombstone withdraws; it is no result


def _codes_text(codes: tuple[Coding, ...]) -> str:
    shown = [f"{c.system}|{c.code}" for c in codes[:_SHOWN_CODES]]
    more = len(codes) - _SHOWN_CODES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def unscreened_reason(fact: ClinicalFact) -> str:
    """Why the receipt names ``fact``: accepted, read by no criterion, and how to map it."""
    what = _WHAT.get(fact.kind, fact.kind.value)
    how = ("send it with its RxNorm code, or map the sender's code (NDC, ATC, local) in the"
           " site medication crosswalk (CLINICAL_MEDICATION_CODES_FILE)"
           if fact.kind is FactKind.MEDICATION else
           "map the sender's code to LOINC or SNOMED CT in the site code crosswalk"
           " (CLINICAL_LOCAL_CODES_FILE), or send the standard code")
    return (f"{what} accepted but not screened by any criterion: no active trial's criteria"
            f" read its codes ({_codes_text(fact.codes)}); if a criterion should read it, {how}")


def _all_codes(fact: ClinicalFact) -> tuple[Coding, ...]:
    return (*fact.codes, *(c for part in fact.components for c in part.codes))


def with_unscreened_warnings(normalised: Normalised, screened: ScreenedCodes) -> Normalised:
    """``normalised`` with a warning for each fact whose codes (its components' included) no
    criterion reads, at the path that codes it (``Normalised.code_paths``; else the fact's
    provenance), in the receipt's warnings and its entry's (the entry whose path the warning's
    path starts with); the warning's ``codes`` are the fact's codes (``system|code``)."""
    paths = dict(normalised.code_paths)
    found: dict[Note, None] = {}
    for update in normalised.updates:
        for fact in update.facts:
            if fact.status in _NOT_RESULTS or screened.reads(fact.kind, _all_codes(fact)):
                continue
            path = paths.get(fact.fact_id) or fact.provenance.resource
            codes = tuple(f"{c.system}|{c.code}" for c in fact.codes)
            found.setdefault(Note(path, unscreened_reason(fact), codes))
    if not found:
        return normalised
    notes = tuple(found)
    entries = tuple(_with_notes(entry, notes) for entry in normalised.entries)
    return replace(normalised, entries=entries, warnings=(*normalised.warnings, *notes))


def _with_notes(entry: EntryReceipt, notes: tuple[Note, ...]) -> EntryReceipt:
    mine = tuple(n for n in notes
                 if n.path == entry.path or n.path.startswith(f"{entry.path}."))
    return replace(entry, warnings=(*entry.warnings, *mine)) if mine else entry
