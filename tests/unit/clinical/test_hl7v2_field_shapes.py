"""HL7 v2.5.1 field shapes: a value with more parts than its data type has, or a repetition in a
field that does not repeat, is never read as its first part.

NM (2A.3.47) and ST, TX, FT (string and text data, ch. 2A) are primitive data types: a
component separator inside one is not part of the value (a '^' in text is sent as the escape
\\S\\, 2.7.1), so what follows it would be dropped. Messages are built as lab interface
engines send them.
"""

from __future__ import annotations

import pytest

from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets


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
