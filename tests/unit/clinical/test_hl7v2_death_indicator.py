"""PID-30 Patient Death Indicator read exactly against HL7 table 0136 (Yes/No Indicator).

HL7 v2.5.1 3.4.2.30 PID-30 (ID): "This field indicates whether the patient is deceased. Refer
to HL7 Table 0136 - Yes/no Indicator for valid values. Y the patient is deceased, N the
patient is not deceased." Table 0136 has two codes, ``Y`` (Yes) and ``N`` (No); an ID value
"is drawn from a table of legal values" (2A.3.35). A word (``YES``, ``NO``, ``Yes``), another
case (``y``) or any other value is not a code of the table: it is refused at ``PID[n].30``,
naming the table, as PID-8 outside table 0001 is. Reading ``NO`` as N (or ``YES`` as Y) would be
a guess at what the sender meant, and a death indicator decides every decision (a deceased
patient is never eligible).

Built as a lab sends it: LAB-ORU-1 (the handout's real feed) writes PID-30 ``NO`` after 22
empty fields, and its second message ``NO `` with a trailing space.
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.hl7v2 import parse_hl7v2

PID = ("PID|1||10006579^^^1^MR^1||DUCK^DONALD^D||19241010|M||1|111 DUCK ST^^FOWL^CA^999990000^^M"
       "|1|8885551212|8885551212|1|2||40007716^^^AccMgr^VN^1|123121234|||||||||||")


def _oru(death_indicator: str, death_date: str = "") -> str:
    pid = PID[:-1] + f"{death_date}|{death_indicator}"  # PID-29, PID-30
    return "\r".join([
        "MSH|^~\\&|SomeSystem||TW||20261128090000+0000||ORU^R01|182|P|2.5.1",
        pid,
        "OBR|1|845439^GHH OE|1045813^GHH LAB|58410-2^CBC^LN|||20261128080000+0000",
        "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20261128080000+0000",
    ]) + "\r"


def test_the_message_built_like_the_real_feed_is_read_with_table_codes() -> None:
    (alive,) = parse_hl7v2(_oru("N"))
    (dead,) = parse_hl7v2(_oru("Y"))
    assert alive.demographics is not None
    assert dead.demographics is not None
    assert (alive.demographics.deceased, dead.demographics.deceased) == (False, True)


@pytest.mark.parametrize("indicator", ["NO", "YES", "NO ", "Yes", "no", "y", "n", "1", "0",
                                       "T", "F", "U", "DECEASED"])
def test_a_death_indicator_outside_table_0136_is_refused_at_pid_30(indicator: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_oru(indicator))
    (problem,) = [p for p in caught.value.problems if p.path == "PID[1].30"]
    assert "table 0136" in problem.reason
    assert "Y" in problem.reason
    assert "N" in problem.reason


def test_yes_with_a_death_date_is_refused_too_not_read_as_deceased() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_hl7v2(_oru("YES", "20261127120000+0000"))
    assert any(p.path == "PID[1].30" for p in caught.value.problems)
