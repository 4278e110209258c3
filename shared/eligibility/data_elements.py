"""Rows of the published data dictionary: one data element a criterion reads, and how."""

from __future__ import annotations

from dataclasses import dataclass

from shared.eligibility.reference_tables import TW_SYSTEM, Concept

SHORT_SYSTEM_NAMES = {
    "http://loinc.org": "LOINC",
    "http://snomed.info/sct": "SNOMED CT",
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://www.nlm.nih.gov/research/umls/rxnorm": "RxNorm",
    TW_SYSTEM: "TrialWatch facts",
    "https://trialwatch.dev/fhir/CodeSystem/local-drugs": "TrialWatch drugs",
}


@dataclass(frozen=True, slots=True)
class Row:
    element: str
    resource: str
    codes: str
    unit: str
    how: str


def codes_text(concept: Concept) -> str:
    """``LOINC `2160-0`, ICD-10-CM `M32*` ``: a concept's codes and code families; a code the
    concept keeps unread (``Concept.unread_keys``) with its reason: ``LOINC `49497-1` (kept
    unread: an estimate from a smear, not a count)``."""
    short = SHORT_SYSTEM_NAMES
    unread = dict(concept.unread_keys)
    codes = [
        f"{short.get(s, s)} `{c}`"
        + (f" (kept unread: {unread[f'{s}|{c}']})" if f"{s}|{c}" in unread else "")
        for s, c, _ in concept.codings
    ]
    codes += [f"{short.get(s, s)} `{p}*`" for s, p in concept.prefixes]
    return ", ".join(codes)


def concept_row(concept: Concept, how: str) -> Row:
    units = " or ".join(f"`{u}`" for u in concept.units) or "—"
    return Row(concept.label, concept.resource, codes_text(concept), units, how)


def fact_row(code: str, label: str, how: str) -> Row:
    """A clinician yes/no fact in the project CodeSystem."""
    return Row(label, "Observation (valueBoolean)", f"TrialWatch facts `{code}`", "—", how)
