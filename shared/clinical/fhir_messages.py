"""Sentences for FHIR R4 validation failures (fhir.resources / pydantic errors) in receipts.

A sender reads the reason of a refused element; the validator's own text ("Value error,
DateTime value string does not match spec regex.") names no rule. Each sentence cites the
FHIR R4 datatype rule (http://hl7.org/fhir/R4/datatypes.html, JSON form
http://hl7.org/fhir/R4/json.html). Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# FHIR R4 datatypes, dateTime: "If hours and minutes are specified, a time zone SHALL be
# populated"; a time part is written THH:MM:SS (seconds required by the regex).
_TIME_WITHOUT_ZONE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")

_DATATYPE_SENTENCES = {
    "DateTime": (
        "is not a FHIR R4 dateTime: send YYYY, YYYY-MM, YYYY-MM-DD or"
        " YYYY-MM-DDThh:mm:ss with a time zone (Z or +hh:mm), a real calendar date"),
    "Date": "is not a FHIR R4 date: send YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date",
    "Instant": (
        "is not a FHIR R4 instant: an instant is a time to the second with its time zone"
        " SHALL be populated (YYYY-MM-DDThh:mm:ss+hh:mm or Z)"),
    "Time": "is not a FHIR R4 time: send hh:mm:ss (24-hour clock)",
    "Decimal": "is not a FHIR R4 decimal: send a JSON number such as 4.5 (no unit, no comparator)",
    "Integer": "is not a FHIR R4 integer: send a whole JSON number",
    "PositiveInt": "is not a FHIR R4 positiveInt: send a whole number of 1 or more",
    "UnsignedInt": "is not a FHIR R4 unsignedInt: send a whole number of 0 or more",
    "Uri": "is not a FHIR R4 uri (no spaces allowed)",
    "Code": "is not a FHIR R4 code (no leading or trailing spaces, no double spaces)",
    "Id": "is not a FHIR R4 id: 1 to 64 letters, digits, '-' or '.'",
}
_SPEC_REGEX = re.compile(r"(\w+) value string does not match spec regex")


def fhir_validation_sentence(detail: Mapping[str, Any], resource_type: str) -> str:
    """One pydantic error of a FHIR R4 resource (``ValidationError.errors()`` item) as a sentence.

    ``detail``: a mapping with ``type``, ``msg``, ``loc`` and ``input``; ``resource_type``: the
    resource validated (e.g. "Observation"). Returns the sentence; an error of a kind not mapped
    keeps the validator's text without its "Value error, " prefix (never an empty reason).
    """
    kind = str(detail.get("type", ""))
    message = str(detail.get("msg", "invalid"))
    value = detail.get("input")
    loc = detail.get("loc") or ()
    element = str(loc[-1]) if loc and isinstance(loc[-1], str) else resource_type
    spec = _SPEC_REGEX.search(message)
    if spec:
        datatype = spec.group(1)
        if (datatype == "DateTime" and isinstance(value, str)
                and _TIME_WITHOUT_ZONE.match(value.strip())):
            return (f"time {value.strip()!r} has no UTC offset: FHIR R4 dateTime says if hours"
                    " and minutes are specified, a time zone SHALL be populated (send Z or"
                    " +hh:mm, e.g. 2026-11-20T08:30:00+01:00), or send the date alone")
        sentence = _DATATYPE_SENTENCES.get(datatype)
        if sentence:
            return f"{value!r} {sentence}" if isinstance(value, str) else f"the value {sentence}"
    if kind == "extra_forbidden":
        return (f"'{element}' is not an element of FHIR R4 {resource_type}: check its spelling"
                " and the resource type (send extra data as an extension)")
    if kind == "model_field_validation.missing" or kind == "missing":
        return (f"'{element}' is required by FHIR R4 {resource_type} (cardinality 1..1)"
                " and is missing")
    if kind == "list_type":
        return f"'{element}' repeats in FHIR R4 (0..*): send it as a JSON array, even for one item"
    if kind in ("json_invalid", "dict_type", "model_type"):
        return f"'{element}' is a FHIR R4 complex element: send a JSON object"
    if kind == "string_type":
        return f"'{element}' must be a JSON string in FHIR R4"
    if kind == "string_pattern_mismatch":
        return f"'{element}' is empty: a FHIR R4 string has at least one non-whitespace character"
    if kind in ("bool_parsing", "bool_type"):
        return f"'{element}' is a FHIR R4 boolean: send JSON true or false"
    if kind.startswith("int_"):
        return f"'{element}' is a FHIR R4 integer: send a whole JSON number"
    if "but got multiple" in message:
        return ("more than one value[x] element: FHIR R4 allows exactly one of the choice"
                " (e.g. valueQuantity or valueString, not both)")
    return message.removeprefix("Value error, ")
