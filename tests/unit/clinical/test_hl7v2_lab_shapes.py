"""HL7 v2.5.1 results shaped as real lab feeds send them, each read exactly, refused with its
path, or kept unread with the reason (never a part of it silently dropped).

Chapter, section and table numbers are those of HL7 v2.5.1.
"""

from __future__ import annotations

import pytest

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


# 2.7 escape sequences: what python-hl7 drops silently is named and the result kept unread


@pytest.mark.parametrize(
    ("sent", "why"),
    [
        # a backslash the sender did not escape as \E\: "Pos" was dropped, read as negative
        ("Neg\\Pos", "without its closing one"),
        # 2.7.5 locally defined: "Pos\Zhi\" was read as positive
        ("Pos\\Zhi\\", "locally defined"),
        # 2.7.3 character set switch, not read
        ("Pos\\C2842\\", "character set switch"),
        # 2.7.4 hexadecimal data outside ASCII: its character depends on the character set
        ("Neg\\Xe9\\", "hexadecimal data"),
        # 2.7.6 formatting command with a count that is not a number (python-hl7 raised)
        ("Pos\\.spx\\", "not an escape sequence"),
        ("Pos\\Q\\", "not an escape sequence"),
    ],
)
def test_an_escape_sequence_that_cannot_be_read_keeps_the_result_unread(
    sent: str, why: str
) -> None:
    fact = only_fact(message(_hcg(sent, "ST")))
    assert fact.value_code is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert why in fact.unread.reason


def test_an_escape_in_the_unit_keeps_the_result_unread_at_obx_6() -> None:
    obx = "OBX|1|NM|777-3^Platelets^LN||150|10\\Zx\\9/L|||||F|||20261128073000+0000"
    fact = only_fact(message(obx))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].6"


@pytest.mark.parametrize(
    "sent",
    [
        "\\H\\Positive\\N\\",  # 2.7.2 highlighting: display emphasis, no character
        "Positive\\.br\\",  # 2.7.6 line break
        "Pos\\X69\\tive",  # 2.7.4 hexadecimal ASCII 'i'
    ],
)
def test_escape_sequences_the_standard_defines_are_read(sent: str) -> None:
    fact = only_fact(message(_hcg(sent, "ST")))
    assert fact.unread is None
    assert fact.value_code is not None
    assert fact.value_code.code == "10828004"
