"""Framing checks shared by the input formats: text decoding, JSON documents, entry receipts.

What a resource or segment means is ``shared.clinical``'s business; these only decide whether
the bytes are well-formed enough to hand to it (400 otherwise).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services.intake.core.receipts import EntryReceipt, Note
from services.intake.core.refusals import InvalidClinicalInput, MalformedInput
from shared.clinical.errors import Problem
from shared.clinical.fhir import EntryOutcome


def decode_text(body: bytes, charset: str) -> str:
    """The body as text in ``charset``; ``MalformedInput`` (400) naming the first bad byte."""
    try:
        return body.decode(charset)
    except UnicodeDecodeError as error:
        raise MalformedInput(f"the body is not valid {charset} text (byte {error.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# Decimal keeps the precision of FHIR decimals as sent (0.50 is not 0.5). One decoder for
# every call: ``json.loads`` with arguments builds a new one per call (the bulk import parses
# each NDJSON line on its own, issue 13).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=Decimal)


def json_object(text: str) -> dict[str, Any]:
    """A JSON object (RFC 8259) with decimals kept as sent; 400 if malformed (NaN, Infinity
    included: not JSON numbers), 422 at ``$`` if it is not an object (a FHIR resource is)."""
    try:
        document = _DECODER.decode(text)
    except (ValueError, RecursionError) as error:
        raise MalformedInput(f"malformed JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidClinicalInput(
            "a FHIR resource must be a JSON object",
            [Problem("$", f"expected a JSON object, got {type(document).__name__}")],
        )
    return document


def entry_receipt(entry: EntryOutcome) -> EntryReceipt:
    """What the receipt says about one FHIR entry the normaliser read."""
    return EntryReceipt(
        path=entry.path, resource_type=entry.resource_type, outcome=entry.outcome.value,
        problems=tuple(Note(p.path, p.reason) for p in entry.problems),
        warnings=tuple(Note(n.path, n.reason) for n in entry.warnings),
    )
