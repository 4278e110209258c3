"""OBX-8 abnormal flags (HL7 v2.5.1 7.4.2.8, table 0078) read as the standard defines them.

``<`` "Below absolute low-off instrument scale" and ``>`` "Above absolute high-off instrument
scale" say the true value lies beyond the number sent: the number is a bound, never the value.
OBX-8 repeats (7.4.2.8: IS, repeating): every repetition is read, none silently dropped.
Messages are built as lab analysers' middleware sends them (a glucose meter above its 600 mg/dL
scale, a troponin below its low scale end).
"""

from __future__ import annotations

import pytest

from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact


def _glucose(value: str, flags: str, value_type: str = "NM") -> str:
    return (f"OBX|1|{value_type}|2345-7^Glucose [Mass/volume] in Serum or Plasma^LN||{value}"
            f"|mg/dL|70-99|{flags}|||F|||20261128073000+0000")


@pytest.mark.parametrize(("flag", "value", "comparator"), [(">", "600", ">"), ("<", "20", "<")])
def test_an_nm_value_flagged_off_instrument_scale_is_a_bound_never_the_value(
    flag: str, value: str, comparator: str
) -> None:
    fact = only_fact(message(_glucose(value, flag)))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == (
        comparator, float(value))
    assert fact.value_quantity.unit == "mg/dL"
    assert fact.received is not None
    assert fact.received.value == value
    assert fact.interpretation == flag
    (note,) = [n for n in fact.notes if n.path == "OBX[1].8"]
    assert "table 0078" in note.reason
    assert "instrument scale" in note.reason


def test_a_number_sent_as_text_and_flagged_above_scale_is_a_bound_too() -> None:
    fact = only_fact(message(_glucose("600", ">", "ST")))
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == (">", 600.0)


@pytest.mark.parametrize(("value", "flag", "comparator"),
                         [(">^600", ">", ">"), (">=^600", ">", ">="), ("<^20", "<", "<")])
def test_an_sn_bound_in_the_direction_of_its_off_scale_flag_keeps_its_comparator(
    value: str, flag: str, comparator: str
) -> None:
    fact = only_fact(message(_glucose(value, flag, "SN")))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert fact.value_quantity.comparator == comparator


@pytest.mark.parametrize(("value", "value_type", "flags"), [
    ("<^20", "SN", ">"),  # a bound below 20 flagged above the scale
    ("^20^-^40", "SN", "<"),  # a range flagged below the scale
    ("600", "NM", "<~>"),  # below and above the scale at once
])
def test_an_off_scale_flag_that_contradicts_the_value_keeps_the_result_unread_at_obx_8(
    value: str, value_type: str, flags: str
) -> None:
    fact = only_fact(message(_glucose(value, flags, value_type)))
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].8"
    assert "table 0078" in fact.unread.reason
    assert fact.value_quantity is None


# 7.4.2.8: OBX-8 repeats; the first repetition alone is not the flag


def test_an_off_scale_flag_in_a_later_repetition_still_makes_the_number_a_bound() -> None:
    # HH (critically high) and > (above the high-off scale): both read
    fact = only_fact(message(_glucose("600", "HH~>")))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == (">", 600.0)
    assert fact.interpretation == "HH"


def test_the_same_flag_repeated_is_one_flag() -> None:
    fact = only_fact(message(_glucose("250", "H~H")))
    assert fact.interpretation == "H"
    assert not [n for n in fact.notes if n.path == "OBX[1].8"]


def test_several_different_flags_are_not_read_as_their_first_and_say_so() -> None:
    # H (above high normal) and W (worse, table 0078 delta flag): a fact holds one
    # interpretation, so neither stands for both; the number is read by itself
    fact = only_fact(message(_glucose("250", "H~W")))
    assert fact.interpretation is None
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert (fact.value_quantity.comparator, fact.value_quantity.value) == (None, 250.0)
    (note,) = [n for n in fact.notes if n.path == "OBX[1].8"]
    assert "'H', 'W'" in note.reason
