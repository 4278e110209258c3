"""Which media types intake reads, and the format each one means."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import StrEnum

from services.intake.core.refusals import UnsupportedMediaType


class Format(StrEnum):
    FHIR = "fhir-r4"
    HL7V2 = "hl7v2"


FHIR_MEDIA_TYPES = ("application/fhir+json", "application/json")
HL7V2_MEDIA_TYPES = ("x-application/hl7-v2+er7", "text/plain")
MEDIA_TYPES = {Format.FHIR: FHIR_MEDIA_TYPES, Format.HL7V2: HL7V2_MEDIA_TYPES}


@dataclass(frozen=True, slots=True)
class MediaType:
    """``charset`` is the declared one, else UTF-8; ``charset_declared`` says which (an HL7 v2
    message's own MSH-18 comes before both, see ``shared.clinical.hl7v2``)."""

    format: Format
    charset: str
    charset_declared: bool = False


def media_type(content_type: str | None, expected: Format | None = None) -> MediaType:
    """Read a Content-Type header; ``expected`` restricts it to one format (one endpoint).

    Parameters other than ``charset`` (e.g. FHIR's ``fhirVersion``) are ignored.
    """
    essence, _, parameters = (content_type or "").partition(";")
    essence = essence.strip().lower()
    formats = [f for f, types in MEDIA_TYPES.items() if essence in types]
    if not formats or (expected is not None and expected not in formats):
        allowed = MEDIA_TYPES[expected] if expected else FHIR_MEDIA_TYPES + HL7V2_MEDIA_TYPES
        raise UnsupportedMediaType(
            f"content type {essence or '(none)'!r} is not accepted; use one of {', '.join(allowed)}"
        )
    charset = _charset(parameters)
    return MediaType(
        format=formats[0], charset=charset or "utf-8", charset_declared=charset is not None
    )


def _charset(parameters: str) -> str | None:
    for parameter in parameters.split(";"):
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"')[:40] or "utf-8"
            try:
                info = codecs.lookup(charset)
            except LookupError:
                info = None
            # Only text encodings: "base64", "zlib", "rot13" ... are codecs too, but bytes to
            # bytes (or str to str), and bytes.decode refuses them with LookupError. CPython
            # marks them with ``_is_text_encoding = False`` (what bytes.decode itself checks).
            if info is None or not getattr(info, "_is_text_encoding", True):
                raise UnsupportedMediaType("charset is not a known text encoding")
            return info.name
    return None
