"""HL7 v2.5.1 field shapes: a value with more parts than its data type has, or a repetition in a
field that does not repeat, is never read as its first part.

NM (2A.3.47) and ST, TX, FT (string and text data, ch. 2A) are primitive data types: a
component separator inside one is not part of the value (a '^' in text is sent as the escape
\\S\\, 2.7.1), so what follows it would be dropped. Messages are built as lab interface
engines send them.
"""

from __future__ import annotations

import pytest

from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems


@pytest.mark.parametrize("value", ["150^x", "150^10*9/L", "150^^L"])
def test_an_nm_value_with_components_is_unread_not_its_first_component(value: str) -> None:
    fact = only_fact(message(platelets(value)))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert "2A.3.47" in fact.unread.reason
    assert "component" in fact.unread.reason


def test_an_nm_value_with_an_empty_trailing_component_is_the_number() -> None:
    # nothing follows the separator: nothing of the value is dropped
    fact = only_fact(message(platelets("150^")))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


def test_an_st_result_with_components_is_unread_not_its_first_word() -> None:
    obx = "OBX|1|ST|2106-3^hCG Ur Ql^LN||Positive^repeat: negative||||||F|||20261128073000+0000"
    fact = only_fact(message(obx))
    assert fact.value_code is None
    assert fact.unread is not None
    assert fact.unread.path == "OBX[1].5"
    assert "ST" in fact.unread.reason
    assert "2.7" in fact.unread.reason


def test_an_sn_value_with_a_fifth_component_is_unread() -> None:
    # SN has four components (2A.3.70): comparator, num1, separator/suffix, num2
    fact = only_fact(message(platelets("^150^^^x", "SN")))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert "2A.3.70" in fact.unread.reason


# Fields v2.5.1 defines as non-repeating (OBX 7.4.2, OBR 4.5.3, PID 3.4.2, MSH 2.14.9): a second
# repetition is no part of the standard's field, and reading the first would drop it silently


def _obx(**fields: str) -> str:
    values = {3: "777-3^Platelets [#/volume] in Blood^LN", 5: "150", 6: "10*9/L", 7: "150-400",
              11: "F", 14: "20261128073000+0000", 2: "NM"}
    values.update({int(k[1:]): v for k, v in fields.items()})
    return "OBX|1|" + "|".join(values.get(n, "") for n in range(2, 15))


@pytest.mark.parametrize(("field", "sent"), [
    ("f7", "150-400~140-450"),
    ("f11", "F~C"),
    ("f3", "777-3^Platelets^LN~26515-7^Platelets^LN"),
    ("f6", "10*9/L~/nL"),
    ("f14", "20261128073000+0000~20261127073000+0000"),
    ("f2", "NM~ST"),
])
def test_a_repeated_obx_field_that_does_not_repeat_is_refused_at_its_path(
    field: str, sent: str
) -> None:
    found = problems(message(_obx(**{field: sent})))
    path = f"OBX[1].{field[1:]}"
    assert any(p.startswith(path) and "does not repeat" in p and "7.4.2" in p
               for p in found), found


def test_an_empty_trailing_repetition_of_a_non_repeating_field_drops_nothing() -> None:
    fact = only_fact(message(_obx(f11="F~", f7="150-400~")))
    assert fact.status == "final"
    assert fact.value_quantity is not None


def test_repeated_obr_collection_time_and_patient_sex_are_refused_at_their_paths() -> None:
    text = message(_obx(), collected="20261128073000+0000~20261127073000+0000")
    assert any(p.startswith("OBR[1].7") and "does not repeat" in p for p in problems(text))
    sexes = message(_obx()).replace("|19900412|F", "|19900412|F~M")
    assert any(p.startswith("PID[1].8") and "does not repeat" in p for p in problems(sexes))
