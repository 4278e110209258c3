"""Format-neutral reading helpers shared by the FHIR and HL7 v2 readers.

Nothing here knows a wire format: a problem collector, the comparator set, the LOINC of a
coding list, and the reading of a result written as text (``<10``, ``>= 0.5``, ``1:160``,
``<1:80``, ``12.5``). Each format module maps its own elements onto these and names its own
paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.clinical.codes import LOINC
from shared.clinical.errors import Problem
from shared.clinical.facts import Coding

# A value reported only as a bound ("<20"): FHIR R4 Quantity.comparator (table
# quantity-comparator) and HL7 v2.5.1 ch. 2A.3.70 SN.1 share these four; SN's "=" and "<>" are
# handled by the v2 reader ("=" is no bound; "<>" is refused).
COMPARATORS = frozenset({"<", "<=", ">=", ">"})

# [0-9], not \d: HL7 v2.5.1 NM (2A.3.47) is "ASCII numeric characters"; \d and float() also
# take Arabic-Indic, fullwidth and mathematical digits (issue 14 probe)
_NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_SIGNS = {"≤": "<=", "≥": ">=", "=<": "<=", "=>": ">="}
_NUMBER_TEXT = re.compile(
    rf"^\s*(<=|>=|=<|=>|<|>|≤|≥)?\s*(?:(1)\s*:\s*({_NUMBER})|({_NUMBER}))\s*$"
)
# Longest text a reading note may quote: long enough for any number or bound, too short to
# carry a sentence (free text may name people).
MAX_QUOTED = 24


@dataclass
class ProblemLog:
    """Collects every refusal while one input is read, so one answer names them all."""

    problems: list[Problem] = field(default_factory=list)

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(path=path, reason=reason))


def loinc_of(codes: tuple[Coding, ...]) -> str | None:
    """The first LOINC code among ``codes`` (all codings name the same concept)."""
    return next((coding.code for coding in codes if coding.system == LOINC), None)


def is_number(text: str) -> bool:
    """A plain decimal as HL7 v2 NM (v2.5.1 ch. 2A.3.47) and FHIR decimal write it."""
    return re.fullmatch(_NUMBER, text.strip()) is not None


@dataclass(frozen=True, slots=True)
class NumberText:
    """A number read from text: ``value``, its bound (``<``, ``<=``, ``>=``, ``>`` or None),
    and ``titer`` when it was written ``1:N`` (the value is then N, in ``{titer}``)."""

    value: float
    comparator: str | None
    titer: bool


def number_in_text(text: str) -> NumberText | None:
    """``12.5``, ``<10``, ``<= 0.5``, ``≥5``, ``1:160``, ``>1:320`` -> NumberText, else None.

    Anything else (``<<10``, ``5-10``, ``1:80 (weak)``, words) is not a number: the caller keeps
    the result unread rather than guessing a part of it.
    """
    match = _NUMBER_TEXT.match(text)
    if match is None:
        return None
    sign, one, titer, plain = match.groups()
    comparator = _SIGNS.get(sign, sign) if sign else None
    if one is not None:
        return NumberText(value=float(titer), comparator=comparator, titer=True)
    return NumberText(value=float(plain), comparator=comparator, titer=False)


def quoted(text: str) -> str:
    """``text`` in quotes when it is short and holds no letters; otherwise only its length.

    Reading notes travel with the fact and are shown in decisions: a number may be quoted,
    free text may not (it can name people).
    """
    stripped = text.strip()
    if len(stripped) <= MAX_QUOTED and not any(char.isalpha() for char in stripped):
        return repr(stripped)
    return f"free text ({len(stripped)} characters, not quoted)"
