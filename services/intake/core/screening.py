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
         FactKind.MEDICATION: "medication", FactKind.PROCEDURE: "procedure",
         FactKind.ALLERGY: "allergy"}
_SHOWN_CODES = 3
_NOT_RESULTS = frozenset({"entered-in-error"})  # a tombstone withdraws; it is no result


def _codes_text(codes: tuple[Coding, ...]) -> str:
    shown = [f"{c.system}|{c.code}" for c in codes[:_SHOWN_CODES]]
    more = len(codes) - _SHOWN_CODES
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def unscreened_reason(fact: ClinicalFact) -> str:
    """Why the receipt names ``fact``: accepted, read by no criterion, and how to map it."""
    what = _WHAT.get(fact.kind, fact.kind.value)
    if fact.kind is FactKind.ALLERGY:
        categories = ", ".join(fact.allergy.categories) if fact.allergy else ""
        return (f"allergy accepted but not screened by any criterion: no active trial's criteria"
                f" read an AllergyIntolerance of category {categories or '(none sent)'}"
                " (FHIR R4 AllergyIntolerance.category; a drug allergy is read as category"
                " medication)")
    how = ("send it with its RxNorm code, or map the sender's code (NDC, ATC, local) in the"
           " site medication crosswalk (CLINICAL_MEDICATION_CODES_FILE)"
           if fact.kind is FactKind.MEDICATION else
           "map the sender's code to LOINC or SNOMED CT in the site code crosswalk"
           " (CLINICAL_LOCAL_CODES_FILE), or send the standard code")
    return (f"{what} accepted but not screened by any criterion: no active trial's criteria"
            f" read its codes ({_codes_text(fact.codes)}); if a criterion should read it, {how}")


def _all_codes(fact: ClinicalFact) -> tuple[Coding, ...]:
    if fact.kind is FactKind.ALLERGY:
        # read by its category only, as the engine indexes it (shared.eligibility.index._keys)
        return fact.allergy.category_codings() if fact.allergy is not None else ()
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


# what a medication whose codings disagree becomes downstream (shared.eligibility.index
# ``_drug_read``): kept unread, so it proves no use and its washout is unknown
_DRUG_NOT_READ = ("; the medication is accepted but will not be read: it proves no use of"
                  " either drug, and every criterion reading it is unknown; send the codings"
                  " of the one drug given")


def with_drug_warnings(normalised: Normalised, screened: ScreenedCodes) -> Normalised:
    """``normalised`` with a warning for each medication whose codings name different drugs
    (FHIR R4 CodeableConcept.coding: every coding represents the same concept; HL7 v2.5.1
    2A.3.13 CWE: components 4-6 are an alternate code for the same concept), which the engine
    keeps unread: the engine's own note (``ScreenedCodes.drugs_disagree``, one check for both)
    naming the codes, and that the medication will not be read, at the element coding it
    (``Bundle.entry[3].resource.medicationCodeableConcept``, ``RXE[1].2``, ``RXA[1].5``), in the
    receipt's warnings and its entry's. The warning's ``codes`` stay empty (they are for facts
    no criterion reads)."""
    paths = dict(normalised.code_paths)
    found: dict[Note, None] = {}
    for update in normalised.updates:
        for fact in update.facts:
            if (fact.kind is not FactKind.MEDICATION or fact.unread is not None
                    or fact.status in _NOT_RESULTS or len(fact.codes) < 2):
                continue
            note = screened.drugs_disagree(fact)
            if note is not None:
                path = paths.get(fact.fact_id) or fact.provenance.resource
                found.setdefault(Note(path, note.reason + _DRUG_NOT_READ))
    if not found:
        return normalised
    notes = tuple(found)
    entries = tuple(_with_notes(entry, notes) for entry in normalised.entries)
    return replace(normalised, entries=entries, warnings=(*normalised.warnings, *notes))


def with_code_warnings(normalised: Normalised, screened: ScreenedCodes) -> Normalised:
    """Every warning about what a fact's codes make of it downstream: medications whose
    codings name different drugs (``with_drug_warnings``), then facts no criterion reads
    (``with_unscreened_warnings``)."""
    return with_unscreened_warnings(with_drug_warnings(normalised, screened), screened)


def _with_notes(entry: EntryReceipt, notes: tuple[Note, ...]) -> EntryReceipt:
    mine = tuple(n for n in notes
                 if n.path == entry.path or n.path.startswith(f"{entry.path}."))
    return replace(entry, warnings=(*entry.warnings, *mine)) if mine else entry
