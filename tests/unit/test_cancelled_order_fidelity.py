"""A result sent under a cancelled order (HL7 v2.5.1 OBR-25 'X') is not read, whatever OBX-11.

HL7 v2.5.1 4.5.3.25 OBR-25 Result Status, table 0123: 'X' = "No results available; Order
canceled". 7.4.2.11 OBX-11 (table 0085) 'F' = "Final results". The order-level status says the
order has no results, the observation-level one that this result is final: the two contradict,
and the conservative reading (hl7v2_values.order_without_results) keeps the value unread with
the reason, so the criterion reading it is unknown and her older result never decides in its
place. Checked end to end on the eligible vignette of NCT06920433 (as of
2026-03-01T09:00:00Z), which has an older platelet count of 180 x 10^9/L: a newer count under a
cancelled order leaves I6.1 unknown, whether the value would pass (150) or fail (8).
"""

from __future__ import annotations

import pytest

from shared.eligibility.decision import Outcome, Status
from tests.unit.test_real_feed_examples import _bundle, _oru, decide, outcome

# OBR-7 observation time, OBR-8..24 empty, OBR-25 result status
CANCELLED_ORDER = "OBR|1|ORD-X|FIL-X|58410-2^CBC panel^LN|||20260228080000+0000" + "|" * 18 + "X"


@pytest.mark.parametrize("value", ["8", "150"])
def test_a_final_platelet_count_under_a_cancelled_order_leaves_i6_1_unknown(value: str) -> None:
    message = _oru("CXL-1", f"OBX|1|NM|777-3^Platelets^LN||{value}|10*9/L^^UCUM|||||F"
                   "|||20260228080000+0000", obr=CANCELLED_ORDER)
    decision = decide(_bundle(), message)
    assert outcome(decision, "I6.1") == Outcome.UNKNOWN
    assert decision.status != Status.ELIGIBLE
    reason = next(r.reason for r in decision.criteria if r.id == "I6.1")
    assert "Order canceled" in reason
