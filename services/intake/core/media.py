"""Which media types intake reads, and the input format each one means (see
``input_formats``: every format names its own media types)."""

from __future__ import annotations

import codecs

from services.intake.core.input_formats import (
    MediaType,
    default_format_of,
    input_format,
    input_formats,
)
from services.intake.core.refusals import UnsupportedMediaType

__all__ = ["MediaType", "media_type"]


def media_type(content_type: str | None, expected: str | None = None) -> MediaType:
    """Read a Content-Type header; ``expected`` (a format's name) restricts it to that format
    (its route, or the raw topic's ``format`` header), else the media type names the format.

    Parameters other than ``charset`` (e.g. FHIR's ``fhirVersion``) are ignored. Raises
    ``UnsupportedMediaType`` (415) for any other media type or a charset that is not a text
    encoding.
    """
    essence, _, parameters = (content_type or "").partition(";")
    essence = essence.strip().lower()
    if expected is not None:
        try:
            allowed = input_format(expected).media_types
        except KeyError:
            raise UnsupportedMediaType("the format named is not an input format") from None
        format_name = expected if essence in allowed else None
    else:
        allowed = tuple(dict.fromkeys(m for f in input_formats() for m in f.media_types))
        found = default_format_of(essence)
        format_name = found.name if found is not None else None
    if format_name is None:
        raise UnsupportedMediaType(
            "the Content-Type header names a media type not accepted here; use one of "
            + ", ".join(allowed)
        )
    charset = _charset(parameters)
    return MediaType(
        format=format_name, charset=charset or "utf-8", charset_declared=charset is not None
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
