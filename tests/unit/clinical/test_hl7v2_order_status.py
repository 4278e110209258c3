"""OBR-25 result status (HL7 v2.5.1 4.5.3.25, table 0123) and the results under it.

Table 0123 says what the whole order's results are: O, I, S and X say no result is available
(X "No results available; Order canceled"), so a valued OBX under them is not read; Y and Z are
"used only on queries" and are no status of an unsolicited result; a code outside the table is
refused. A, P, C, R, F leave each result's own status (OBX-11, table 0085) to decide. Messages
are built as a LIS sends an ORU^R01 for a cancelled or pending order.
"""

from __future__ import annotations

import pytest

from tests.unit.clinical.test_hl7v2_fidelity import message, only_fact, platelets, problems


def _order(status: str) -> str:
    # OBR-7 (collected), then OBR-8..24 empty, OBR-25 result status
    return ("OBR|1|PLC-1|FIL-1|58410-2^CBC panel^LN|||20261128073000+0000" + "|" * 18
            + status)


@pytest.mark.parametrize("status", ["X", "I", "O", "S"])
def test_a_valued_result_under_an_order_without_results_is_unread_at_obr_25(
    status: str
) -> None:
    fact = only_fact(message(_order(status), platelets("150"), obr=False))
    assert fact.value_quantity is None
    assert fact.unread is not None
    assert fact.unread.path == "OBR[1].25"
    assert "table 0123" in fact.unread.reason
    assert "No results available" in fact.unread.reason


def test_a_cancelled_order_says_so_in_the_reason() -> None:
    fact = only_fact(message(_order("X"), platelets("150"), obr=False))
    assert fact.unread is not None
    assert "Order canceled" in fact.unread.reason


def test_a_result_without_a_value_under_a_cancelled_order_is_accepted() -> None:
    fact = only_fact(message(_order("X"), platelets("", status="X"), obr=False))
    assert fact.value_quantity is None
    assert fact.status == "cancelled"


@pytest.mark.parametrize("status", ["F", "C", "P", "R", "A", ""])
def test_under_an_order_with_results_each_result_is_read_by_its_own_status(status: str) -> None:
    fact = only_fact(message(_order(status), platelets("150"), obr=False))
    assert fact.unread is None
    assert fact.value_quantity is not None
    assert fact.value_quantity.value == 150.0


@pytest.mark.parametrize("status", ["Q", "FINAL", "Y", "Z"])
def test_an_order_status_outside_table_0123_or_only_for_queries_is_refused_at_obr_25(
    status: str
) -> None:
    found = problems(message(_order(status), platelets("150"), obr=False))
    assert any(p.startswith("OBR[1].25") and "table 0123" in p for p in found), found
