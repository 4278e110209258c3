"""HL7 v2.5.1 results shaped as real lab feeds send them, each read exactly, refused with its
path, or kept unread with the reason (never a part of it silently dropped).

Chapter, section and table numbers are those of HL7 v2.5.1.
"""

from __future__ import annotations

from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact


def _hcg(value: str, value_type: str = "CWE") -> str:
    return f"OBX|1|{value_type}|2106-3^hCG Ur Ql^LN||{value}||||||F|||20261128073000+0000"


# 7.4.2.5: OBX-5 "may repeat for multipart, single answer results with appropriate data types,
# e.g., CE, TX, and FT"; one code cannot stand for several parts.


def test_a_coded_result_with_several_repetitions_is_unread_not_its_first_part() -> None:
    # a negative and a positive part: reading the first alone drops the positive
    fact = only_fact(message(_hcg("260385009^Negative^SCT~10828004^Positive^SCT")))
    assert fact.value_code is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert "2 values" in fact.unread.reason
    assert "7.4.2.5" in fact.unread.reason


def test_a_coded_result_with_one_repetition_and_an_empty_trailing_one_is_read() -> None:
    fact = only_fact(message(_hcg("10828004^Positive^SCT~")))
    assert fact.unread is None
    assert fact.value_code is not None
    assert fact.value_code.code == "10828004"
