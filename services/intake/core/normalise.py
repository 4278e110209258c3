"""Bytes as received -> canonical patient updates, through the one shared normaliser.

The input format (``input_formats``: one module per format) checks the framing and reads the
bytes through ``shared.clinical``; this turns every refusal into a ``Refusal``, requires a
usable patient identifier on every update, removes free text and collects the warnings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from services.intake.core.free_text import without_free_text
from services.intake.core.input_formats import MediaType, Read, ReadContext, input_format
from services.intake.core.receipts import EntryReceipt, Note
from services.intake.core.refusals import (
    InvalidClinicalInput,
    MalformedInput,
    NormaliserDefect,
    Refusal,
)
from shared.clinical.errors import InvalidInput, Problem
from shared.clinical.facts import PatientUpdate
from shared.clinical.fhir import fact_warnings
from shared.clinical.hl7v2 import DEFAULT_PROCESSING_IDS

MAX_IDENTIFIER_LENGTH = 200  # the width of intake_patients.source_system/source_patient_id


@dataclass(frozen=True, slots=True)
class Normalised:
    """The updates to publish, and what the receipt says about how the input was read."""

    updates: list[PatientUpdate]
    entries: tuple[EntryReceipt, ...] = ()
    warnings: tuple[Note, ...] = ()
    # (fact id, path of the element coding it), for ``screening.with_code_warnings``
    code_paths: tuple[tuple[str, str], ...] = ()


def normalise(
    body: bytes,
    media: MediaType,
    *,
    source_system: str,
    received_at: datetime,
    sender_zone: tzinfo | None = None,
    site_mrn_authority: frozenset[str] = frozenset(),
    processing_ids: frozenset[str] = DEFAULT_PROCESSING_IDS,
) -> Normalised:
    """Read ``body`` as the format ``media`` names. Refuses (``Refusal``) what cannot be read
    at all; a FHIR batch, collection or message Bundle with some refused entries is accepted
    for the others (the receipt names them).

    ``sender_zone``: the zone configured for this sender (``INTAKE_HL7V2_ZONES``), for times
    sent without an offset (an HL7 v2 message whose MSH-7 has none). ``site_mrn_authority``:
    this site's own MRN assigning authority (``INTAKE_MRN_ASSIGNING_AUTHORITY``), which decides
    which of a patient's medical record numbers is the patient's. ``processing_ids``: the HL7 v2
    MSH-11 processing ids read (``INTAKE_HL7V2_PROCESSING_IDS``, v2.5.1 table 0103)."""
    read = input_format(media.format).read
    context = ReadContext(source_system, received_at, sender_zone, site_mrn_authority,
                          processing_ids)
    return normalised_by(lambda: read(body, media, context), media.format)


def normalised_by(read: Callable[[], Read], format_name: str) -> Normalised:
    """What ``normalise`` makes of what ``read`` (one format's reader, already given its
    input) returns or raises: refusals as ``Refusal``, the patient identifiers required, free
    text removed, the warnings collected. The bulk import calls it with the FHIR reader of a
    document it parsed itself (``formats.fhir_r4.read_document``)."""
    try:
        result = read()
    except InvalidInput as error:
        raise InvalidClinicalInput.from_error(error) from None
    except Refusal:
        raise
    except RecursionError:
        raise MalformedInput("the input is nested too deeply to read") from None
    except Exception as error:
        # A normaliser defect must not become a 5xx for the sender: refuse (the adapter that
        # received the input counts it and logs the type only: the payload may carry PHI).
        raise NormaliserDefect(format_name, type(error).__name__) from None
    _require_patients(result.updates)
    updates = without_free_text(result.updates)
    warnings = result.notes + tuple(
        Note(note.path, note.reason)
        for update in updates for fact in update.facts for note in fact_warnings(fact)
    )
    return Normalised(updates=updates, entries=result.entries, warnings=warnings,
                      code_paths=result.code_paths)


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
