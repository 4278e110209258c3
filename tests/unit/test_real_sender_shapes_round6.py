"""Probe round 6: real-sender shapes found silently wrong, through normaliser and engine.

Each case is the eligible vignette of NCT06920433 (as of 2026-03-01T09:00:00Z, see
``test_real_feed_examples``) plus a small HL7 v2 message for the same patient, as the cited
sender writes it. Before the fix each was read as something it is not, or not read while an
older result decided, and left her ELIGIBLE; now each is read exactly, refused with its path,
or kept unread so that the criterion reading it is ``unknown``. The round's full table (350+
shapes read, refused, unread, guessed) and the probe script are in ``/work/notes/probe6/``.
"""

from __future__ import annotations

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import _bundle, _oru, decide, outcome

OBX_WHEN = "20260228080000+0000"
PLATELETS = "I6.1"  # bone marrow function: platelets >= 20e9/L (NCT06920433)


def _platelets(code: str, units: str = "10*9/L") -> str:
    return f"OBX|1|NM|{code}||8|{units}|150-400|LL|||F|||{OBX_WHEN}"


# --- a coding system named by its OID ---------------------------------------------------------


# HL7 v2.5.1 2A.3.8 CE / 2A.3.13 CWE component 3 (and 6) names the coding system; table 0396
# gives LOINC as 'LN', but real senders write the system's ISO object identifier from the HL7
# OID registry there (LOINC 2.16.840.1.113883.6.1, UCUM 2.16.840.1.113883.6.8), as v2.7 later
# gave it its own component (CWE-14 "Name of Coding System OID"): the Net_HL7 (PHP) sample ORU
# 'OBX|1|NM|29553-5^Calculated Patient Age^2.16.840.1.113883.6.1||41|a^Years^2.16.840.1.113883.6.8',
# CDC malaria case-notification messages '67187-5^Complication(s) related to this malaria
# illness^2.16.840.1.113883.6.1^67187_5^...^L', a CDC public-health-lab ORU with
# '...^L^^2.16.840.1.113883.6.1' as the alternate. An OID names one code system exactly (FHIR R4
# terminologies-systems lists LOINC's as 2.16.840.1.113883.6.1). Before, the code was not
# identified: a newer platelet count of 8 was read by no criterion and the older 180 decided
# (ELIGIBLE, a note at OBX-3.3 only). Now read as LOINC, with a note naming the spelling.
@pytest.mark.parametrize(
    "code",
    ["777-3^Platelets^2.16.840.1.113883.6.1",
     "777-3^Platelets^2.16.840.1.113883.6.1^PLT^Platelets^L",
     "PLT^Platelets^L^777-3^Platelets^2.16.840.1.113883.6.1",
     "777-3^Platelets^urn:oid:2.16.840.1.113883.6.1"],
    ids=["oid", "oid-then-local", "local-then-oid", "urn-oid"],
)
def test_a_loinc_code_named_by_its_oid_decides(code: str) -> None:
    decision = decide(_bundle(), _oru("M-OID", _platelets(code)))
    assert outcome(decision, PLATELETS) == Outcome.FAIL
    assert decision.status == Status.INELIGIBLE


def test_the_oid_read_as_loinc_is_noted_at_its_path() -> None:
    (update,) = parse_hl7v2(_oru("M-OID", _platelets("777-3^Platelets^2.16.840.1.113883.6.1")),
                            source_system="test-lab")
    (fact,) = update.facts
    assert [c.system for c in fact.codes] == ["http://loinc.org"]
    notes = [n for n in fact.notes if n.path == "OBX[1].3.3"]
    assert notes
    assert "2.16.840.1.113883.6.1" in notes[0].reason
    assert "OID" in notes[0].reason


# An OID of a code system TrialWatch does not read (ATC 2.16.840.1.113883.6.73 for a lab
# result) is still not identified: no criterion reads the code.
def test_an_oid_of_another_code_system_is_not_read_as_loinc() -> None:
    atc_oid = "777-3^Platelets^2.16.840.1.113883.6.73"
    decision = decide(_bundle(), _oru("M-OID", _platelets(atc_oid)))
    assert outcome(decision, PLATELETS) == Outcome.PASS
