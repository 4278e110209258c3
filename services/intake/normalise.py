"""Bytes as received -> canonical patient updates, through the one shared normaliser.

Intake only checks the framing (well-formed JSON, an MSH segment first) and turns every
refusal into a ``Refusal``; what a resource or segment means is ``shared.clinical``'s business.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import structlog

from services.intake import metrics
from services.intake.media import Format, MediaType
from services.intake.refusals import InvalidClinicalInput, MalformedInput, Refusal
from shared.clinical.errors import InvalidInput, Problem
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import parse_fhir
from shared.clinical.hl7v2 import parse_hl7v2

log = structlog.get_logger(__name__)

# MLLP framing bytes and a UTF-8 byte-order mark are transport, not message.
_HL7_FRAMING = "\ufeff\x0b\x1c \t\r\n"
MAX_IDENTIFIER_LENGTH = 200  # the width of intake_patients.source_system/source_patient_id


def normalise(
    body: bytes, media: MediaType, *, source_system: str, received_at: datetime
) -> list[PatientUpdate]:
    text = _decode(body, media.charset)
    try:
        if media.format is Format.FHIR:
            updates = parse_fhir(_json_object(text), source_system=source_system,
                                 received_at=received_at)
        else:
            updates = parse_hl7v2(_hl7_message(text), source_system=source_system,
                                  received_at=received_at)
    except InvalidInput as error:
        raise InvalidClinicalInput.from_error(error) from None
    except Refusal:
        raise
    except RecursionError:
        raise MalformedInput("the input is nested too deeply to read") from None
    except Exception as error:
        # A normaliser defect must not become a 5xx for the sender: refuse, count, and log the
        # type only (the payload may carry PHI).
        metrics.NORMALISER_DEFECTS.labels(media.format.value).inc()
        log.error("normaliser_defect", format=media.format.value, error=type(error).__name__)
        raise InvalidClinicalInput(
            "the normaliser could not read this input",
            [Problem("$", f"unreadable input ({type(error).__name__})")],
        ) from None
    _require_patients(updates)
    return updates


def _decode(body: bytes, charset: str) -> str:
    try:
        return body.decode(charset)
    except UnicodeDecodeError as error:
        raise MalformedInput(f"the body is not valid {charset} text (byte {error.start})") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_object(text: str) -> dict[str, Any]:
    try:
        document = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise MalformedInput(f"malformed JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidClinicalInput(
            "a FHIR resource must be a JSON object",
            [Problem("$", f"expected a JSON object, got {type(document).__name__}")],
        )
    return document


def _hl7_message(text: str) -> str:
    message = text.strip(_HL7_FRAMING)
    if not message.startswith("MSH") or len(message) < 8:
        raise MalformedInput("not an HL7 v2 message: it must start with an MSH segment")
    return message


def _require_patients(updates: list[PatientUpdate]) -> None:
    problems = [
        Problem(f"patient[{index}]", reason)
        for index, update in enumerate(updates)
        if (reason := identifier_problem(update.source_patient_id)) is not None
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
