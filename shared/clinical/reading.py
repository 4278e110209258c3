"""Format-neutral reading helpers shared by the FHIR and HL7 v2 readers.

Nothing here knows a wire format: a problem collector, the comparator set, the LOINC of a
coding list, and the reading of a result written as text (``<10``, ``>= 0.5``, ``1:160``,
``<1:80``, ``12.5``). Each format module maps its own elements onto these and names its own
paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shared.clinical import bounds
from shared.clinical.codes import LOINC, SNOMED
from shared.clinical.errors import Problem
from shared.clinical.facts import Coding, ReadingNote, ReferenceRange
from shared.clinical.units import UnitError, to_canonical

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


def result_name(codes: tuple[Coding, ...]) -> str:
    """A result named as a person would, never an internal key: ``Platelets (LOINC 777-3)``.

    The first display sent (HL7 v2 CWE.2, FHIR R4 Coding.display) with the LOINC code, else the
    first code; "a result with no code" when there is none. Values are never quoted.
    """
    display = next((coding.display for coding in codes if coding.display), None)
    loinc = loinc_of(codes)
    code = f"LOINC {loinc}" if loinc else next(
        (f"code {coding.code}" for coding in codes), "no code")
    return f"{display} ({code})" if display else code


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
    problem: str | None = None
    """Set when the decimal sent is not what ``value`` holds (beyond ``bounds.MAX_MAGNITUDE``,
    infinite, or underflowing to 0 or a subnormal: ``bounds.decimal_text_problem``); the
    caller refuses it at its path, as ``bounds`` refuses such an NM or JSON number."""


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
        return NumberText(value=float(titer), comparator=comparator, titer=True,
                          problem=bounds.decimal_text_problem(titer))
    return NumberText(value=float(plain), comparator=comparator, titer=False,
                      problem=bounds.decimal_text_problem(plain))


def quoted(text: str) -> str:
    """``text`` in quotes when it is short and holds no letters; otherwise only its length.

    Reading notes travel with the fact and are shown in decisions: a number may be quoted,
    free text may not (it can name people).
    """
    stripped = text.strip()
    if len(stripped) <= MAX_QUOTED and not any(char.isalpha() for char in stripped):
        return repr(stripped)
    return f"free text ({len(stripped)} characters, not quoted)"


# --- reference ranges written as text ---------------------------------------------------------
# HL7 v2.5.1 7.4.2.7 OBX-7 (ST): "lower limit-upper limit" (3.5-4.5), "> lower limit", "< upper
# limit", or text; FHIR R4 Observation.referenceRange.text is the same text in a FHIR result.
# ONE reader for both (``range_text``): the same text gives the same reading whichever format
# carried it. A bound, optionally followed by its unit; sex-specific ranges as labs write them
# (``M: 10-50 F: 7-35``, ``Female: 7-35 U/L``, ``7-35 (F) 10-50 (M)``), each sex labelled once.
# Any other text (an age band, "adult", "see manual", a label given twice) is not read.
_BOUND = (
    rf"(?:(?P<low>{_NUMBER})\s*(?:-|to|–)\s*(?P<high>{_NUMBER})"
    rf"|(?P<below><=|<|≤|=<)\s*(?P<upper>{_NUMBER})"
    rf"|(?P<above>>=|>|≥|=>)\s*(?P<lower>{_NUMBER}))"
)
_SEX_LABELS = {"m": "male", "male": "male", "men": "male",
               "f": "female", "female": "female", "women": "female"}
_LABEL = r"(?:female|male|women|men|f|m)"
# a unit: no space, parenthesis, colon, semicolon or comma; never a sex label
_UNIT = rf"(?!{_LABEL}\s*(?::|$|\s))[^\s():;,]+"
_PLAIN_RANGE = re.compile(rf"^\s*{_BOUND}(?:\s+(?P<unit>{_UNIT}))?\s*$", re.IGNORECASE)
_PREFIXED = re.compile(
    rf"\s*(?P<label>{_LABEL})\s*:?\s*{_BOUND}(?:\s+(?P<unit>{_UNIT}))?\s*[;,]?", re.IGNORECASE
)
_SUFFIXED = re.compile(
    rf"\s*{_BOUND}(?:\s+(?P<unit>{_UNIT}))?\s*\(\s*(?P<label>{_LABEL})\s*\)\s*[;,]?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class RangeText:
    """One range read from reference range text: ``low``/``high`` as written (inclusive, as
    OBX-7 and FHIR Range are; ``<x`` is read as the upper limit x, as before), ``unit`` as
    written after it (None: the result's unit), ``sex`` ``"female"``/``"male"`` when the text
    labels it (FHIR R4 referenceRange.appliesTo), else None."""

    low: float | None
    high: float | None
    unit: str | None
    sex: str | None


def _range_of(match: re.Match[str], sex: str | None) -> RangeText:
    low, high, upper, lower, unit = match.group("low", "high", "upper", "lower", "unit")
    if low is not None:
        return RangeText(float(low), float(high), unit, sex)
    if upper is not None:
        return RangeText(None, float(upper), unit, sex)
    return RangeText(float(lower), None, unit, sex)


def range_text(text: str) -> tuple[RangeText, ...] | str:
    """The ranges a reference range text states, or why it is not read.

    ``"7-35"``, ``"7 to 35"``, ``"<=35"``, ``">1"``, ``"7-35 U/L"`` -> one unlabelled range;
    ``"M: 10-50 F: 7-35"``, ``"Female: 7-35; Male: 10-50"``, ``"7-35 (F) 10-50 (M)"`` -> one
    range per sex. Not read (the reason is returned): any other words, a sex labelled twice,
    labelled and unlabelled parts mixed, a high below its low. Units are checked by the caller
    (``units.to_canonical``), which knows the analyte and the result's unit.
    """
    if match := _PLAIN_RANGE.match(text):
        found: tuple[RangeText, ...] = (_range_of(match, None),)
    else:
        parts: list[RangeText] = []
        for pattern in (_PREFIXED, _SUFFIXED):
            parts, at = [], 0
            while at < len(text) and (match := pattern.match(text, at)) and match.end() > at:
                parts.append(_range_of(match, _SEX_LABELS[match["label"].lower()]))
                at = match.end()
            if parts and not text[at:].strip():
                break
            parts = []
        if not parts:
            return (
                "not a range this reader reads (HL7 v2.5.1 7.4.2.7: 'low-high', '<high',"
                " '>low', optionally with its unit, or one range per sex labelled M/F)"
            )
        sexes = [part.sex for part in parts]
        if len(set(sexes)) != len(sexes):
            return "a sex is labelled more than once: which range is whose is ambiguous"
        found = tuple(parts)
    if any(r.low is not None and r.high is not None and r.high < r.low for r in found):
        return "a range whose high is below its low"
    return found


# FHIR R4 referenceRange.appliesTo for a range labelled by sex (SNOMED CT 248152002 |Female|,
# 248153007 |Male|): the engine matches them against Patient.gender / PID-8
_SEX_APPLIES_TO = {
    "female": Coding(system=SNOMED, code="248152002", display="Female"),
    "male": Coding(system=SNOMED, code="248153007", display="Male"),
}


def text_reference_ranges(
    loinc: str | None, text: str, unit: str | None, path: str
) -> tuple[ReferenceRange, ...]:
    """Reference range text (HL7 v2 OBX-7, FHIR referenceRange.text) as reference ranges in
    the result's canonical unit, by ``range_text``; ``unit`` is the result's unit as sent.

    A unit written after a range must be one the analyte is measured in (``units.to_canonical``:
    the result's unit, or one convertible to it, ``0.12-0.58 ukat/L`` for ALT in U/L); a range
    without one is in the result's unit. A sex-labelled range carries ``applies_to`` (SNOMED CT
    female/male): the engine uses it only when the patient's sex is known. A text that cannot be
    read, or a unit written for some sex-labelled parts only, gives ONE range with no bounds and
    ``unread`` at ``path`` naming why: a criterion relative to the limit of normal is then
    unknown, never judged by a site default (the lab did send its own range).
    """
    read = range_text(text)
    shown = quoted(text)
    if isinstance(read, str):
        return (_unread_range(path, f"reference range {shown} not read: {read}"),)
    written = {part.unit for part in read}
    if None in written and len(written) > 1 and written != {None, unit}:
        return (_unread_range(path, f"reference range {shown} not read: a unit is written for"
                              " some of its ranges only, so the others' unit is unknown"),)
    ranges = []
    for part in read:
        sent_unit = part.unit or unit
        if sent_unit is None:
            return (_unread_range(path, f"reference range {shown} not read: no unit"),)
        try:
            bounds = {
                name: to_canonical(loinc or "", value, sent_unit)
                for name, value in (("low", part.low), ("high", part.high))
                if value is not None
            }
        except UnitError as error:
            return (_unread_range(path, f"reference range {shown} not read: {error}"),)
        applies_to = (_SEX_APPLIES_TO[part.sex],) if part.sex else ()
        ranges.append(ReferenceRange(**bounds, applies_to=applies_to))
    return tuple(ranges)


def _unread_range(path: str, reason: str) -> ReferenceRange:
    return ReferenceRange(unread=ReadingNote(path=path, reason=reason))


def range_fields(found: tuple[ReferenceRange, ...]) -> dict[str, object]:
    """A fact's ``reference_range`` (the first range) and, when the ranges are alternatives
    (several, or one restricted by sex/age, or one sent but not read), every one of them as
    ``reference_ranges`` (FHIR R4 referenceRange repeats "for different populations")."""
    if not found:
        return {"reference_range": None}
    restricted = any(
        r.applies_to or r.age_low_years is not None or r.age_high_years is not None
        or r.unread is not None
        for r in found
    )
    if len(found) > 1 or restricted:
        return {"reference_range": found[0], "reference_ranges": found}
    return {"reference_range": found[0]}
