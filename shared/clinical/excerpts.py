"""Reasons that leave intake's receipt quote no free input (issue 14).

A reading note (``facts.ReadingNote``) says why an element was not read exactly and often
quotes what was sent ("unit 'g/mL' could not be read", "result status 'Q' is not in table
0085"). The receipt goes back to the sender, who sent it: it keeps the whole sentence. What
leaves intake (the events on ``patient.events.v1``, and from them the evaluator's decisions and
audit's snapshots) must not carry input excerpts, since a sender's free text can hold a name
or an identifier (a unit annotation ``{Jane Doe}`` is valid UCUM syntax; a code field can hold
anything).

The rule (:func:`without_excerpts`): a quoted sent token is kept only when it is of a closed
vocabulary TrialWatch recognises, so it cannot carry free text:

- a UCUM unit expression (UCUM 2.1 section 2, parsed by ``shared.clinical.ucum``) of at most
  40 characters holding a unit symbol (a letter or ``%``: a number alone, which UCUM also
  parses, could be a date or an identifier), no annotation (``{...}``, UCUM 2.1 section
  2.4.1: free text) and no blank;
- a LOINC code of the analyte catalogue (``analytes.yaml``);
- a code of the closed HL7 v2.5.1 / FHIR R4 value sets the readers check (:data:`CLOSED_CODES`);
- a token without a letter or a digit (a separator '^', a comparator '<'): it names no one;
- the readers' own quoted words (:data:`OWN_WORDS`, e.g. 'not equal to').

Any other quoted token becomes "[value not quoted]": the path in the note says where the value
is, and the sender's receipt has it. Pure: no I/O beyond the packaged tables.
"""

from __future__ import annotations

import re
from functools import cache

NOT_QUOTED = "[value not quoted]"

# Codes of closed value sets the readers name in their reasons: HL7 v2.5.1 table 0085
# (observation result status), 0123 (result status), 0078 (abnormal flags), 0125 (value
# type), 0136 (yes/no), 0038 (order status), 0322 (completion status), 0323 (action code);
# FHIR R4 observation-status, condition-clinical, condition-ver-status, medication statuses,
# bundle-type.
CLOSED_CODES = frozenset({
    # v2.5.1 0085 / 0123
    "C", "D", "F", "I", "N", "O", "P", "R", "S", "U", "W", "X", "A", "Y", "Z",
    # v2.5.1 0078
    "L", "H", "LL", "HH", "<", ">", "B", "VS", "MS", "QCF", "TOX", "NEG", "POS", "IND", "AA",
    # v2.5.1 0125
    "AD", "CE", "CF", "CK", "CN", "CP", "CWE", "CX", "DR", "DT", "DTM", "ED", "FT", "ID", "MA",
    "MO", "NA", "NM", "PN", "RP", "SN", "ST", "TM", "TN", "TS", "TX", "XAD", "XCN", "XON",
    "XPN", "XTN",
    # v2.5.1 0038, 0322, 0323
    "CA", "CM", "DC", "ER", "HD", "IP", "SC", "PA", "RE",
    # FHIR R4 status codes
    "registered", "preliminary", "final", "amended", "corrected", "cancelled",
    "entered-in-error", "unknown", "active", "recurrence", "relapse", "inactive", "remission",
    "resolved", "unconfirmed", "provisional", "differential", "confirmed", "refuted",
    "completed", "intended", "stopped", "on-hold", "not-taken", "draft", "in-progress",
    "not-done", "preparation", "partial", "appended", "batch", "collection", "transaction",
    "searchset", "message", "history", "document",
    # FHIR R4 medicationrequest-intent
    "proposal", "plan", "directive", "order", "original-order", "reflex-order", "filler-order",
    "instance-order", "option",
})

# words the readers themselves quote in a reason (not input)
OWN_WORDS = frozenset({"not equal to", "#id", "trialwatch evaluate --input"})

# a quoted token as Python's repr writes it: a quote not inside a word ("the sender's" is no
# quotation), up to the same quote not followed by a letter or digit
_QUOTED = re.compile(r"""(?<![A-Za-z0-9])"""
                     r"""(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)")"""
                     r"""(?![A-Za-z0-9])""")
_UCUM_MAX = 40


def without_excerpts(reason: str) -> str:
    """``reason`` with every quoted sent token that is not of a closed vocabulary (module
    docstring) replaced by "[value not quoted]". Text outside quotes is unchanged."""
    if "'" not in reason and '"' not in reason:
        return reason

    def keep_or_describe(found: re.Match[str]) -> str:
        token = found.group(1) if found.group(1) is not None else found.group(2)
        return found.group(0) if recognised(token) else NOT_QUOTED

    return _QUOTED.sub(keep_or_describe, reason)


def recognised(token: str) -> bool:
    """Whether ``token`` is of a closed vocabulary TrialWatch reads (module docstring)."""
    if token in CLOSED_CODES or token in OWN_WORDS or not any(c.isalnum() for c in token):
        return True
    return token in _catalogued_loinc() or _ucum(token)


def _ucum(token: str) -> bool:
    if not token or len(token) > _UCUM_MAX or "{" in token or any(c.isspace() for c in token):
        return False
    if not any(c.isalpha() or c == "%" for c in token):
        return False
    from shared.clinical.ucum import UnitSyntaxError, parse_unit

    try:
        parse_unit(token)
    except (UnitSyntaxError, Exception):  # pint errors too: not a unit UCUM defines
        return False
    return True


@cache
def _catalogued_loinc() -> frozenset[str]:
    from shared.clinical.units import catalogue

    return frozenset(code for analyte in catalogue().values() for code in analyte.loinc)
