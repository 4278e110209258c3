"""The message header (HL7 v2.5.1 2.14.9 MSH): one message per body, and the versions read.

A body posted to intake carries one message: two MSH segments are two messages read as one
(the second message's results would be filed under the first one's control id and time), and
batch envelopes (2.10.3: FHS/BHS/BTS/FTS) are read only by ``trialwatch evaluate --input``,
which splits them. MSH-12 (2.14.9.12, VID; table 0104) names the version whose definitions the
sender used; only versions whose read fields are defined as v2.5.1 defines them are read.
"""

from __future__ import annotations

import pytest

from shared.clinical.hl7v2 import parse_hl7v2
from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems


def test_two_messages_in_one_body_are_refused_at_the_second_msh() -> None:
    first = message(platelets("150"), control="MSG-1")
    second = message(platelets("15"), control="MSG-2", sent="20261128100000+0000")
    found = problems(first + second)
    assert any(p.startswith("MSH[2]") and "one message" in p for p in found), found


@pytest.mark.parametrize("envelope", ["BHS|^~\\&|LIS|CITY-LAB", "BTS|1", "FTS|1"])
def test_a_batch_envelope_in_a_posted_body_is_refused(envelope: str) -> None:
    found = problems(message(platelets("150")) + envelope + "\r")
    assert any(envelope[:3] in p and "2.10.3" in p for p in found), found


def _version(version: str) -> str:
    text = message(platelets("150"))
    assert "|P|2.5.1" in text
    return text.replace("|P|2.5.1", f"|P|{version}", 1)


@pytest.mark.parametrize("version", ["2.7", "2.8.2", "2.6", "2.2", "3.0", "2.5.1.9", "junk", ""])
def test_a_version_whose_definitions_are_not_read_is_refused_at_msh_12(version: str) -> None:
    found = problems(_version(version))
    assert any(p.startswith("MSH.12") and "table 0104" in p for p in found), found


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.5.1^USA^2.5.1"])
def test_versions_whose_read_fields_v2_5_1_defines_alike_are_read(version: str) -> None:
    fact = only_fact(_version(version))
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


def test_one_message_reads_as_before() -> None:
    (update,) = parse_hl7v2(message(platelets("150")))
    assert len(update.facts) == 1
