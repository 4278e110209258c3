"""Bounds every string and number the normaliser will parse, BEFORE it parses anything.

Why a pre-pass: parsers are only as fast as their worst input. A 60,000-character unit held
intake's event loop for 37 s (the UCUM grammar backtracks: time grows with the square of the
length) and a 1e308 g/dL hemoglobin became infinity after unit conversion. Each limit below is
far above anything a real sender writes and far below what makes a parser slow; an input beyond
one is refused whole, naming the path, before any parser sees it.

The limits (documented in ``shared/clinical/README.md``):

FHIR R4 JSON (walked iteratively, so depth cannot exhaust the stack):
- depth <= ``MAX_DEPTH`` objects/arrays; at most ``MAX_NODES`` values in one document;
- ``code`` (Coding.code, Quantity.code), ``unit``: ``MAX_CODE`` characters. UCUM expressions and
  LOINC/SNOMED/RxNorm codes are under 40; FHIR sets no maximum, so this is ours;
- ``system``, ``url``, ``reference``, ``fullUrl``: ``MAX_URI`` (FHIR R4 datatypes: uri);
- ``value`` strings (Identifier.value, ContactPoint.value) and ``id``: ``MAX_IDENTIFIER``;
- ``versionId`` (Meta.versionId, an ``id``: FHIR R4 datatypes, 1 to 64 characters):
  ``MAX_FHIR_ID``, the bound of ``facts.Provenance.version`` it is read into;
- date, dateTime, instant, time fields (FHIR R4 datatypes: the longest valid instant,
  ``YYYY-MM-DDThh:mm:ss.sss...+zz:zz``, is under 40): ``MAX_TIME``;
- narrative ``div`` and attachment ``data``: the body limit only; every other string:
  ``MAX_TEXT``;
- every JSON number: finite and ``abs(x) <= MAX_MAGNITUDE``. No laboratory quantity reaches
  1e15 in any unit (cells per litre are ~1e12), and ``MAX_MAGNITUDE`` times any UCUM
  conversion factor the normaliser applies stays finite.
- every non-zero number at least the smallest normal float (2.2e-308): FHIR R4 decimal and
  HL7 v2 NM are exact, and ``1e-400`` read as a float is 0.0, another number (issue 14).

HL7 v2.5.1 ER7 (segments split on CR, fields on the MSH-1 separator): each field at most a
generous multiple of its HL7 v2.5.1 conformance length (``V2_FIELD_LENGTHS``: TS 64, CE/CWE
1024, OBX-6 units 512, OBX-5 and NTE-3 65,536), other fields ``MAX_V2_FIELD``, at most
``MAX_V2_SEGMENTS`` segments; numbers in OBX-5 (numeric OBX-2) and OBX-7 as for FHIR.
"""

from __future__ import annotations

import math
import re
import sys
from decimal import Decimal
from typing import Any

from shared.clinical.errors import InvalidInput, Problem

MAX_DEPTH = 64
MAX_NODES = 500_000
MAX_CODE = 256
MAX_URI = 4096
MAX_IDENTIFIER = 256
MAX_TIME = 64
MAX_FHIR_ID = 64
MAX_TEXT = 65_536
MAX_MAGNITUDE = 1e15
MAX_PROBLEMS = 50

_CODE_KEYS = frozenset({"code", "unit", "comparator", "status", "resourceType", "gender",
                        "use", "type"})
_URI_KEYS = frozenset({"system", "url", "reference", "fullUrl", "profile", "valueUri",
                       "valueUrl", "valueCanonical"})
_IDENTIFIER_KEYS = frozenset({"value", "id", "version"})
_FHIR_ID_KEYS = frozenset({"versionId"})
_UNBOUNDED_KEYS = frozenset({"div", "data"})  # narrative XHTML, base64 attachments
_TIME_KEYS = frozenset({"start", "end", "issued", "lastUpdated", "recorded", "authoredOn",
                        "date", "birthDate", "low", "high"})
_TIME_SUFFIXES = ("DateTime", "Instant", "Date", "Time")


def _string_limit(key: str) -> int | None:
    if key in _UNBOUNDED_KEYS:
        return None
    if key in _CODE_KEYS:
        return MAX_CODE
    if key in _URI_KEYS:
        return MAX_URI
    if key in _IDENTIFIER_KEYS:
        return MAX_IDENTIFIER
    if key in _FHIR_ID_KEYS:
        return MAX_FHIR_ID
    if key in _TIME_KEYS or key.endswith(_TIME_SUFFIXES):
        return MAX_TIME
    return MAX_TEXT


def fhir_problems(document: Any) -> list[Problem]:
    """Every bound the JSON document breaks (at most ``MAX_PROBLEMS``), each with its path."""
    if _within_bounds(document):
        return []
    return _fhir_problems(document)


def _within_bounds(document: Any) -> bool:
    """Whether ``_fhir_problems`` would find nothing: the same checks without building a path
    for every value (paths are only needed to name a problem; building them was most of the
    cost of reading a large Bundle, issue 13). Any doubt returns False, and the full walk then
    names the problems exactly as before."""
    nodes = 1
    stack: list[tuple[str, Any, int]] = [("", document, 0)]
    while stack:
        key, value, depth = stack.pop()
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                return False
            nodes += len(value)
            if nodes > MAX_NODES:
                return False
            for child_key, child in value.items():
                if isinstance(child, dict | list):
                    stack.append((str(child_key), child, depth + 1))
                elif not _scalar_within(str(child_key), child):
                    return False
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                return False
            nodes += len(value)
            if nodes > MAX_NODES:
                return False
            for item in value:
                if isinstance(item, dict | list):
                    stack.append((key, item, depth + 1))
                elif not _scalar_within(key, item):
                    return False
        elif not _scalar_within(key, value):
            return False
    return True


def _scalar_within(key: str, value: Any) -> bool:
    if isinstance(value, str):
        if len(value) > min(MAX_TIME, MAX_FHIR_ID):  # the smallest limits: shorter strings
            # are within any
            limit = _string_limit(key)
            if limit is not None and len(value) > limit:
                return False
        return "\x00" not in value
    if isinstance(value, float | int | Decimal) and not isinstance(value, bool):
        return _number_problem(value) is None
    return True


def _fhir_problems(document: Any) -> list[Problem]:
    problems: list[Problem] = []
    root = document.get("resourceType") if isinstance(document, dict) else None
    root_path = root if isinstance(root, str) and root.isalpha() and len(root) < 64 else "$"
    stack: list[tuple[str, str, Any, int]] = [(root_path, "", document, 0)]
    nodes = 0
    while stack and len(problems) < MAX_PROBLEMS:
        path, key, value, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            problems.append(Problem("$", f"more than {MAX_NODES} JSON values in one input"))
            break
        if isinstance(value, dict):
            if depth >= MAX_DEPTH:
                problems.append(Problem(path, f"nested deeper than {MAX_DEPTH} levels"))
                continue
            for child_key, child in value.items():
                child_path = f"{path}.{str(child_key)[:64]}"
                stack.append((child_path, str(child_key), child, depth + 1))
        elif isinstance(value, list):
            if depth >= MAX_DEPTH:
                problems.append(Problem(path, f"nested deeper than {MAX_DEPTH} levels"))
                continue
            stack.extend((f"{path}[{i}]", key, item, depth + 1) for i, item in enumerate(value))
        elif isinstance(value, str):
            limit = _string_limit(key)
            if limit is not None and len(value) > limit:
                problems.append(Problem(path, f"longer than {limit} characters"))
            elif "\x00" in value:
                # FHIR R4 string: no control characters but tab, CR and LF (and PostgreSQL
                # text cannot hold NUL at all).
                problems.append(Problem(path, "contains a NUL character"))
        elif isinstance(value, float | int | Decimal) and not isinstance(value, bool) and (
            problem := _number_problem(value)
        ):
            problems.append(Problem(path, problem))
    return problems


def _number_problem(value: float | int | Decimal) -> str | None:
    """Why a number cannot be read as the one sent, or None.

    FHIR R4 decimal (datatypes: "rational numbers that have a decimal representation") and
    HL7 v2.5.1 NM (2A.3.47) are exact decimals; the normaliser computes in binary floating
    point. A value the float cannot hold is refused, never read as another number: beyond
    ``MAX_MAGNITUDE`` (or infinite once read), or not zero yet read as 0.0 or as a subnormal
    (below 2.2250738585072014e-308, where a float keeps fewer than 53 bits: ``1e-400`` g/dL
    would otherwise be read as a hemoglobin of 0).
    """
    try:
        as_float = float(value)
    except OverflowError:
        return f"a number beyond +/-{MAX_MAGNITUDE:g} is not a clinical measurement"
    if isinstance(value, Decimal) and not value.is_finite():
        return "not a finite number"
    if not math.isfinite(as_float):
        if isinstance(value, Decimal):
            return (f"{value} is beyond +/-{MAX_MAGNITUDE:g} (it overflows a binary float):"
                    " not a clinical measurement")
        return "not a finite number"
    magnitude = abs(as_float)
    if magnitude > MAX_MAGNITUDE:
        return f"a number beyond +/-{MAX_MAGNITUDE:g} is not a clinical measurement"
    if value != 0 and magnitude < sys.float_info.min:
        shown = value if isinstance(value, Decimal) else repr(value)
        return (f"{shown} is not zero but underflows to {as_float!r} in binary floating point"
                " (FHIR R4 decimal / HL7 v2.5.1 NM are exact decimals): it cannot be read as"
                " the number sent")
    return None


def decimal_text_problem(text: str) -> str | None:
    """Why a decimal written as text (FHIR R4 valueString, HL7 v2 ST OBX-5 read as a number)
    cannot be read as the number sent, as for a JSON number or an NM; None when it can."""
    try:
        number = Decimal(text)
    except ArithmeticError:
        return "not a decimal number"
    problem = _number_problem(number)
    if problem is not None and len(text) > MAX_TIME:  # not quoted whole (a reading note)
        problem = problem.replace(str(number), f"the {len(text)}-character number")
    return problem


def check_fhir(document: Any) -> None:
    """Raise ``InvalidInput`` naming each path that breaks a bound; parse nothing."""
    if problems := fhir_problems(document):
        raise InvalidInput(problems)


# HL7 v2 field bounds. HL7 v2.5.1 gives conformance lengths (chapter 2 MSH, 3 PID, 7 OBR/OBX)
# but real senders exceed them (a 22-character MSH-10, several OBX-8 flags), so each bound is
# a generous multiple of the standard's: wide enough for every real message seen, narrow enough
# that no parser behind it slows down (TS 26 -> 64, CE/CWE 250 -> 1024, OBX-6 units 250 -> 512).
MAX_V2_FIELD = 4096
MAX_V2_SEGMENTS = 10_000
_TS = 64
_CE = 1024
V2_CE_LENGTH = _CE
V2_FIELD_LENGTHS: dict[tuple[str, int], int] = {
    ("MSH", 7): _TS, ("PID", 3): _CE, ("PID", 7): _TS, ("PID", 29): _TS,
    ("OBR", 4): _CE, ("OBR", 6): _TS, ("OBR", 7): _TS, ("OBR", 8): _TS, ("OBR", 14): _TS,
    ("OBR", 22): _TS,
    ("OBX", 2): 16, ("OBX", 3): _CE, ("OBX", 5): 65_536, ("OBX", 6): 512, ("OBX", 7): 256,
    ("OBX", 14): _TS, ("OBX", 19): _TS,
    ("NTE", 3): 65_536,
}


# Numbers the normaliser converts: OBX-5 when OBX-2 is a numeric type (HL7 v2.5.1 table 0125:
# NM, SN, NR) and OBX-7 (reference range).
_V2_NUMERIC_TYPES = frozenset({"NM", "SN", "NR"})
_NUMBER = re.compile(r"[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")


def _v2_number_problem(value: str) -> str | None:
    for match in _NUMBER.finditer(value[:MAX_TEXT]):
        try:
            number = Decimal(match.group())  # exact, so an underflow is seen (NM, 2A.3.47)
        except ArithmeticError:
            continue
        if problem := _number_problem(number):
            return problem
    return None


def _numeric(segment: str, number: int, fields: list[str]) -> bool:
    if segment != "OBX":
        return False
    value_type = fields[2].split("^")[0].strip().upper() if len(fields) > 2 else ""
    return number == 7 or (number == 5 and value_type in _V2_NUMERIC_TYPES)


def v2_problems(message: str) -> list[Problem]:
    """Every field longer than its HL7 v2.5.1 length (at most ``MAX_PROBLEMS``), by path."""
    segments = [s for s in message.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s]
    if len(segments) > MAX_V2_SEGMENTS:
        return [Problem("$", f"more than {MAX_V2_SEGMENTS} segments")]
    separator = segments[0][3] if segments and len(segments[0]) > 3 else "|"
    problems: list[Problem] = []
    if "\x00" in message:
        problems.append(Problem("$", "contains a NUL character (not HL7 v2 text)"))
    counts: dict[str, int] = {}
    for segment in segments:
        name = segment[:3]
        counts[name] = counts.get(name, 0) + 1
        fields = segment.split(separator)
        # MSH-1 is the separator itself, so MSH field n is fields[n - 1]; elsewhere fields[n].
        offset = 1 if name == "MSH" else 0
        for index, value in enumerate(fields[1:], start=1):
            number = index + offset
            limit = V2_FIELD_LENGTHS.get((name, number), MAX_V2_FIELD)
            label = "MSH" if name == "MSH" else f"{name}[{counts[name]}]"
            if len(value) > limit:
                problems.append(Problem(f"{label}.{number}", f"longer than {limit} characters "
                                        "(HL7 v2.5.1 field length)"))
            elif _numeric(name, number, fields) and (problem := _v2_number_problem(value)):
                problems.append(Problem(f"{label}.{number}", problem))
            if len(problems) >= MAX_PROBLEMS:
                return problems
    return problems


def check_v2(message: str) -> None:
    """Raise ``InvalidInput`` naming each field that breaks its length; parse nothing."""
    if problems := v2_problems(message):
        raise InvalidInput(problems)
