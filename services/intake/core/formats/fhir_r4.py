"""FHIR R4 JSON: one resource or a Bundle, posted to ``/fhir``.

FHIR R4 http.html#mime-type: ``application/fhir+json``; ``application/json`` is accepted as
senders use it. Read by ``shared.clinical.fhir.normalise_fhir``: a ``transaction`` Bundle is
all or nothing, the entries of a ``batch``, ``collection`` or ``message`` Bundle one by one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.intake.core import examples
from services.intake.core.input_formats import InputFormat, MediaType, Read, ReadContext, register
from services.intake.core.reading import decode_text, entry_receipt, json_object
from services.intake.core.receipts import Note
from shared.clinical.fhir import normalise_fhir

NAME = "fhir-r4"
MEDIA_TYPES = ("application/fhir+json", "application/json")


def read(body: bytes, media: MediaType, context: ReadContext) -> Read:
    """The updates of one FHIR R4 JSON resource or Bundle, and what became of each entry."""
    return read_document(json_object(decode_text(body, media.charset)), context)


def read_document(document: Mapping[str, Any], context: ReadContext) -> Read:
    """As ``read``, for a document already parsed as ``json_object`` parses it (decimals as
    ``Decimal``): the bulk import parses each NDJSON line once, in its worker (issue 13)."""
    result = normalise_fhir(document, source_system=context.source_system,
                            received_at=context.received_at,
                            site_mrn_authority=context.site_mrn_authority)
    return Read(result.updates, tuple(map(entry_receipt, result.entries)),
                tuple(path for entry in result.entries for path in entry.code_paths),
                tuple(Note(n.path, n.reason) for n in result.patient_notes))


FHIR_R4 = register(InputFormat(
    name=NAME, media_types=MEDIA_TYPES, read=read, route="/fhir",
    summary="Submit a FHIR R4 resource or Bundle",
    body_schema={"type": "object"}, example=examples.BUNDLE,
))
