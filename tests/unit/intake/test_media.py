from __future__ import annotations

import pytest

from services.intake.core.media import media_type
from services.intake.core.refusals import UnsupportedMediaType


@pytest.mark.parametrize(("header", "expected"), [
    ("application/fhir+json", "fhir-r4"),
    ("application/json; charset=utf-8", "fhir-r4"),
    ("application/fhir+json; fhirVersion=4.0", "fhir-r4"),
    ("x-application/hl7-v2+er7", "hl7v2"),
    ("text/plain; charset=ISO-8859-1", "hl7v2"),
])
def test_accepted_media_types_name_their_format(header: str, expected: str) -> None:
    assert media_type(header).format == expected


@pytest.mark.parametrize("header", [None, "", "text/xml", "application/fhir+xml", "*/*"])
def test_other_media_types_are_unsupported(header: str | None) -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type(header)


def test_hl7_text_posted_to_the_fhir_endpoint_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type("text/plain", "fhir-r4")


def test_an_unknown_charset_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType):
        media_type("text/plain; charset=klingon")


def test_the_charset_is_normalised() -> None:
    assert media_type("text/plain; charset=ISO-8859-1").charset == "iso8859-1"
