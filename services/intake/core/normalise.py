"""Bytes as received -> canonical patient updates, through the one shared normaliser.

Intake only checks the framing (well-formed JSON, an MSH segment first) and turns every
refusal into a ``Refusal``; what a resource or segment means is ``shared.clinical``'s business.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from typing import Any

from services.intake.core.free_text import without_free_text
from services.intake.core.media import Format, MediaType
from services.intake.core.receipts import EntryReceipt, Note
from services.intake.core.refusals import (
    InvalidClinicalInput,
    MalformedInput,
    NormaliserDefect,
    Refusal,
)
from shared.clinical.errors import InvalidInput, Problem
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import EntryOutcome, fact_warnings, normalise_fhir
from shared.clinical.hl7v2 import parse_hl7v2

# MLLP framing bytes are transport, not message (a byte-order mark is read by the normaliser).
_HL7_FRAMING = b"\x0b\x1c \t\r\n"
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
MAX_IDENTIFIER_LENGTH = 200  # the width of intake_patients.source_system/source_patient_id


@dataclass(frozen=True, slots=True)
class Normalised:
    """The updates to publish, and what the receipt says about how the input was read."""

    updates: list[PatientUpdate]
    entries: tuple[EntryReceipt, ...] = ()
    warnings: tuple[Note, ...] = ()


def normalise(
    body: bytes,
    media: MediaType,
    *,
    source_system: str,
    received_at: datetime,
    sender_zone: tzinfo | None = None,
) -> Normalised:
    """Refuses (``Refusal``) what cannot be read at all; a FHIR batch, collection or message
    Bundle with some refused entries is accepted for the others (the receipt names them).

    ``sender_zone``: the zone configured for this HL7 v2 source (``INTAKE_HL7V2_ZONES``), for
    times without an offset in messages whose MSH-7 has none."""
    entries: tuple[EntryReceipt, ...] = ()
    try:
        if media.format is Format.FHIR:
            result = normalise_fhir(_json_object(_decode(body, media.charset)),
                                    source_system=source_system, received_at=received_at)
            updates, entries = result.updates, tuple(map(_entry_receipt, result.entries))
        else:
            # bytes: the message's own MSH-18 names its character set (v2.5.1 table 0211); the
            # Content-Type charset is used only when MSH-18 is empty
            updates = parse_hl7v2(_hl7_message(body), source_system=source_system,
                                  received_at=received_at, sender_zone=sender_zone,
                                  charset=media.charset if media.charset_declared else None)
    except InvalidInput as error:
        raise InvalidClinicalInput.from_error(error) from None
    except Refusal:
        raise
    except RecursionError:
        raise MalformedInput("the input is nested too deeply to read") from None
    except Exception as error:
        # A normaliser defect must not become a 5xx for the sender: refuse (the adapter that
        # received the input counts it and logs the type only: the payload may carry PHI).
        raise NormaliserDefect(media.format.value, type(error).__name__) from None
    _require_patients(updates)
    updates = without_free_text(updates)
    warnings = tuple(
        Note(note.path, note.reason)
        for update in updates for fact in update.facts for note in fact_warnings(fact)
    )
    return Normalised(updates=updates, entries=entries, warnings=warnings)


def _entry_receipt(entry: EntryOutcome) -> EntryReceipt:
    return EntryReceipt(
        path=entry.path, resource_type=entry.resource_type, outcome=entry.outcome.value,
        problems=tuple(Note(p.path, p.reason) for p in entry.problems),
        warnings=tuple(Note(n.path, n.reason) for n in entry.warnings),
    )


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset)
    except UnicodeDecodeError as error:
        raise MalformedInput(f"the body is not valid {charset} text (byte {error.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(text: str) -> dict[str, Any]:
    try:
        # Decimal keeps the precision of FHIR decimals as sent (0.50 is not 0.5)
        document = json.loads(text, parse_constant=_refuse_constant, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        raise MalformedInput(f"malformed JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidClinicalInput(
            "a FHIR resource must be a JSON object",
            [Problem("$", f"expected a JSON object, got {type(document).__name__}")],
        )
    return document


def _hl7_message(body: bytes) -> bytes:
    message = body.strip(_HL7_FRAMING)
    if message.startswith(_BOMS):
        return message  # UTF-8/16/32 with a byte-order mark: the normaliser checks for MSH
    if not message.startswith(b"MSH") or len(message) < 8:
        raise MalformedInput("not an HL7 v2 message: it must start with an MSH segment")
    return message


def _require_patients(updates: list[PatientUpdate]) -> None:
    problems = [
        Problem(f"patient[{index}]", reason)
        for index, update in enumerate(updates)
        for identifier in (
            update.source_patient_id,
            *update.aliases,
            *((update.merged_into.source_patient_id, *update.merged_into.aliases)
              if update.merged_into is not None else ()),
        )
        if (reason := identifier_problem(identifier)) is not None
    ]
    if problems:
        raise InvalidClinicalInput("a patient identifier cannot be used", problems)


def identifier_problem(identifier: str | None) -> str | None:
    """Why a source identifier cannot key a patient, or ``None`` when it can."""
    if not identifier:
        return "no patient identifier: the facts cannot be attributed"
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        return f"patient identifier longer than {MAX_IDENTIFIER_LENGTH} characters"
    if not identifier.isprintable():
        return "patient identifier contains control characters"
    return None
