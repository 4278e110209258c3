"""HL7 v2 (ER7 encoding): ORU^R01 results and ADT^A40 merges, posted to ``/hl7v2``.

Read by ``shared.clinical.hl7v2.parse_hl7v2`` from the bytes: the message's own MSH-18 names
its character set (HL7 v2.5.1 table 0211); the Content-Type charset is used only when MSH-18
is empty. MLLP framing bytes (HL7 v2.5.1 appendix C) are transport and are stripped.
"""

from __future__ import annotations

import codecs

from services.intake.core import examples
from services.intake.core.input_formats import InputFormat, MediaType, Read, ReadContext, register
from services.intake.core.refusals import MalformedInput
from shared.clinical.hl7v2 import parse_hl7v2

NAME = "hl7v2"
MEDIA_TYPES = ("x-application/hl7-v2+er7", "text/plain")
# MLLP framing bytes are transport, not message (a byte-order mark is read by the normaliser).
_FRAMING = b"\x0b\x1c \t\r\n"
_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read(body: bytes, media: MediaType, context: ReadContext) -> Read:
    """The updates of one HL7 v2 message; ``context.sender_zone`` reads times without an
    offset in messages whose MSH-7 has none."""
    return Read(parse_hl7v2(_message(body), source_system=context.source_system,
                            received_at=context.received_at, sender_zone=context.sender_zone,
                            charset=media.charset if media.charset_declared else None))


def _message(body: bytes) -> bytes:
    message = body.strip(_FRAMING)
    if message.startswith(_BOMS):
        return message  # UTF-8/16/32 with a byte-order mark: the normaliser checks for MSH
    if not message.startswith(b"MSH") or len(message) < 8:
        raise MalformedInput("not an HL7 v2 message: it must start with an MSH segment")
    return message


HL7V2 = register(InputFormat(
    name=NAME, media_types=MEDIA_TYPES, read=read, route="/hl7v2",
    summary="Submit an HL7 v2 ORU^R01 message (CR or LF segment ends)",
    body_schema={"type": "string"}, example=examples.HL7V2_ORU,
))
