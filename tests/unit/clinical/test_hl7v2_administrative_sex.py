"""PID-8 administrative sex (HL7 v2.5.1 3.4.2.8, IS, user-defined table 0001).

Table 0001's suggested values are F female, M male, O other, U unknown, A ambiguous, N not
applicable. TrialWatch reads those, exactly (F/M as female/male; O and A as other; U and N as
unknown: neither says female or male, so a reference range by sex or a pregnancy criterion is
unknown, never guessed). A value outside the table (a site's own code, ``Female``, ``f``, ``W``)
cannot be read: sex matters for reference ranges by sex and pregnancy criteria, and the
demographics keep no note, so the message is refused at ``PID[n].8`` naming table 0001 (before:
sex None silently, and an older sex on record stayed as hers).
"""

from __future__ import annotations

import pytest

from shared.clinical.errors import InvalidInput
from shared.clinical.facts import Sex
from shared.clinical.hl7v2 import parse_hl7v2

MSH = "MSH|^~\\&|LAB|HOSP|TW|TW|20260301080000+0000||ORU^R01^ORU_R01|SEX-1|P|2.5.1"
OBR = "OBR|1|ORD-9|FIL-9|57021-8^CBC^LN|||20260228080000+0000"
OBX = "OBX|1|NM|777-3^Platelets^LN||180|10*9/L|150-400|N|||F|||20260228080000+0000"


def _message(sex: str) -> str:
    pid = f"PID|1||vignette^^^TEST-EHR^MR||Doe^Jane||19900101|{sex}"
    return "\r".join([MSH, pid, OBR, OBX]) + "\r"


@pytest.mark.parametrize(("sent", "sex"), [
    ("F", Sex.FEMALE), ("M", Sex.MALE), ("O", Sex.OTHER), ("A", Sex.OTHER),
    ("U", Sex.UNKNOWN), ("N", Sex.UNKNOWN), ("", None),
])
def test_table_0001_values_are_read(sent: str, sex: Sex | None) -> None:
    (update,) = parse_hl7v2(_message(sent), source_system="lab")
    assert update.demographics.sex is sex


@pytest.mark.parametrize("sent", ["f", "m", "Female", "FEMALE", "W", "X", "1"])
def test_a_value_outside_table_0001_is_refused_at_pid_8(sent: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_hl7v2(_message(sent), source_system="lab")
    problems = [p for p in refused.value.problems if p.path == "PID[1].8"]
    assert problems, refused.value.problems
    assert "0001" in problems[0].reason
