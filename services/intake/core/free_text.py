"""Free text never leaves intake: codes travel, displays and non-code flags do not.

``Coding.display`` and an interpretation that is not a code are whatever the sender typed, and
senders type identifiers into them ("Hb for J. Roe MRN 0042"). Events, decisions and audit
snapshots carry the code only; a display for people comes from the terminology tables at the
point of display. An interpretation is kept when it is a code of HL7 v2.5.1 table 0078
(Abnormal flags) / HL7 v3 ObservationInterpretation, which include every flag the eligibility
engine reads (``POSITIVE_FLAGS``, ``NEGATIVE_FLAGS`` in shared/eligibility/primitives/labs.py);
anything else is dropped, as if no flag had been sent.
"""

from __future__ import annotations

from shared.clinical.facts import ClinicalFact, Coding, PatientUpdate

# HL7 v2.5.1 table 0078 and HL7 v3 ObservationInterpretation (FHIR R4 value set
# observation-interpretation) codes, upper-cased.
INTERPRETATION_CODES = frozenset({
    "L", "H", "LL", "HH", "LU", "HU", "<", ">", "N", "A", "AA", "U", "D", "B", "W", "S", "R",
    "I", "MS", "VS", "NEG", "POS", "IND", "DET", "ND", "NR", "RR", "QCF", "TOX", "WR", "E",
    "EX", "EXP", "HX", "LX", "CAR", "NCL", "NS", "SDD", "SYN-R", "SYN-S", "IE", "HM", "MA",
    "H>", "L<", "L>", "H<", "NI", "EQ",
})


def _coding(coding: Coding) -> Coding:
    return coding if coding.display is None else coding.model_copy(update={"display": None})


def _fact(fact: ClinicalFact) -> ClinicalFact:
    interpretation = fact.interpretation
    if interpretation is not None and interpretation.strip().upper() not in INTERPRETATION_CODES:
        interpretation = None
    return fact.model_copy(update={
        "codes": tuple(_coding(c) for c in fact.codes),
        "value_code": _coding(fact.value_code) if fact.value_code else None,
        "interpretation": interpretation,
        "components": tuple(_fact(c) for c in fact.components),
    })


def without_free_text(updates: list[PatientUpdate]) -> list[PatientUpdate]:
    """The same updates with every Coding.display removed and non-code interpretations dropped."""
    return [u.model_copy(update={"facts": tuple(_fact(f) for f in u.facts)}) for u in updates]
