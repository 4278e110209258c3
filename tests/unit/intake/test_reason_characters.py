"""A coordinator's or admin's reason (re-identification, key look-up) holds no control
character anywhere: the pattern's one required non-space character was written ``\\S``, which
matches U+0000, so 'lookup: 00<NUL>00000' was accepted and its insert failed on PostgreSQL
(text cannot hold NUL: a 500 found by tests/integration/intake/test_fuzz_api.py)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.intake.adapters.http.api import LookupRequest, ReidentifyRequest


@pytest.mark.parametrize("reason", ["lookup: 00\x0000000", "00\x0000000", "\x01" * 8 + "x",
                                    "reason\x1fhere", " " * 9])
def test_a_reason_with_a_control_character_or_only_spaces_is_refused(reason: str) -> None:
    with pytest.raises(ValidationError):
        LookupRequest(reason=reason, source_patient_id="0", source_system="0")
    with pytest.raises(ValidationError):
        ReidentifyRequest(reason=reason, trial="NCT06920433")


def test_a_plain_reason_is_accepted() -> None:
    assert LookupRequest(reason="screening follow-up", source_patient_id="0",
                         source_system="lab").reason == "screening follow-up"
    assert ReidentifyRequest(reason="consent call for NCT06920433",
                             trial="NCT06920433").trial == "NCT06920433"
