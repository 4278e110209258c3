from __future__ import annotations

import pytest

from services.intake.core.media import Format, media_type
from services.intake.core.refusals import UnsupportedMediaType


@pytest.mark.parametrize(("header", "expected"), [
    ("application/fhir+json", Format.FHIR),
    ("application/json; charset=utf-8", Format.FHIR),
    ("application/fhir+json; fhirVersion=4.0", Format.FHIR),
    ("x-application/hl7-v2+er7", Format.HL7V2),
    ("text/plain; charset=ISO-8859-1", Format.HL7V2),
])
def test_accepted_media_types_name_their_format(header: str, expected: Format) -> None:
    assert media_type(header).format is expected


@pytest.mark.parametrize("header", [None, "", "text/xml", "application/fhir+xml", "*/*"])
def test_other_media_types_are_unsupported(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type(header)


def test_hl7_text_posted_to_the_fhir_endpoint_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type("text/plain", Format.FHIR)


def test_an_unknown_charset_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type("text/plain; charset=klingon")


def test_the_charset_is_normalised() -> None:
    assert media_type("text/plain; charset=ISO-8859-1").charset == "iso8859-1"
